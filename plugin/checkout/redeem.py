"""Redeem at checkout (contract §4a): price the cart and redeem its code at once.

The cart is priced exactly as the pricing hook prices it, by the pricing glue:
a callable ``price(shop, body, codes) -> answer`` where ``codes`` maps each
normalised code to its :class:`CodeCandidate` (from :func:`code_candidates`,
overridable here) and ``answer`` is the pricing hook's JSON answer. It is
``plugin.checkout.pricing.price_with_codes``, or the callable set as
``CUSTOMER_GROUPS_CHECKOUT_PRICER`` (hosts and tests).

In one transaction: claim the order id (a unique row, so a repeated or racing
call for the same order waits and then answers what the first answered), price,
redeem every applied code (an order code and a shipping code at most, contract §8:
conditional update + unique indexes, in one savepoint); if one loses, every use of
that round is rolled back, the loser is reported rejected with its reason and the
cart is priced again without it. Unknown codes count toward the brute-force guard against the
cart, the customer and ``client_ip`` (contract §2, "Guessing codes"), here as at the
pricing hook, in the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from flask import current_app
from marshmallow import ValidationError
from sqlalchemy import select

from plugin.checkout.pricing import price_with_codes
from plugin.checkout.schemas import RedeemIn
from plugin.codes.lookup import attempt_subjects, code_candidates, unknown_codes
from plugin.codes.models import CheckoutAnswer
from plugin.codes.redemption import record_unknown_attempts, redeem_code
from plugin.customers.operations import ensure_customer
from plugin.db import after_commit, db, enter_shop, in_shop, insert_ignoring_conflict, utcnow
from plugin.errors import ApiError, ErrorCode, validation_error
from plugin.fields import HostId, Payload
from plugin.groups.operations import default_group_id
from plugin.limits import parse_json_object
from plugin.pricing.codes import CodeCandidate, normalise_code, rejection_message
from plugin.shops.models import Shop
from plugin.shops.operations import find_shop

Pricer = Callable[[Shop, dict[str, Any], Mapping[str, CodeCandidate]], dict[str, Any]]
PRICER_KEY = "CUSTOMER_GROUPS_CHECKOUT_PRICER"


def checkout_pricer() -> Pricer:
    """The pricing glue: ``CUSTOMER_GROUPS_CHECKOUT_PRICER`` when set (hosts, tests), else
    the pricing hook's own."""
    configured: Pricer | None = current_app.config.get(PRICER_KEY)
    return configured or price_with_codes


def _validated(data: dict[str, Any]) -> dict[str, Any]:
    """The body checked like the pricing hook's cart plus ``order_id`` (every bad field
    named at once, whatever pricer is configured), or 400 ``invalid_payload``."""
    try:
        checked: dict[str, Any] = RedeemIn().load(data)
    except ValidationError as err:
        raise validation_error(err, ErrorCode.INVALID_PAYLOAD, 400) from None
    return checked


class _OrderRef(Payload):
    order_id = HostId(required=True)


def _order_id(data: dict[str, Any]) -> str:
    """The order id alone, checked before the order is claimed: a retry of an order already
    answered gets that answer even if the rest of its body no longer passes (a deploy that
    tightened a rule between the two calls)."""
    try:
        order_id: str = _OrderRef().load(data)["order_id"]
    except ValidationError as err:
        raise validation_error(err, ErrorCode.INVALID_PAYLOAD, 400) from None
    return order_id


def _applied(answer: dict[str, Any]) -> list[str]:
    """The codes the answer applies, as typed (an order code and a shipping code at most)."""
    return [c["code"] for c in answer.get("codes", []) if c["status"] == "applied"]


def _redeem_applied(
    shop: Shop, answer: dict[str, Any], order_id: str, customer_row_id: int | None
) -> dict[str, str]:
    """Redeem every code ``answer`` applies, all or none: each code that loses its race
    maps to its reason, and then the uses the others took are rolled back with it (the
    cart is priced again without the losers and what stays is redeemed anew)."""
    lost: dict[str, str] = {}
    savepoint = db.session.begin_nested()
    for code in _applied(answer):
        reason = redeem_code(
            shop, code, order_id, customer_row_id, amount=code_amount(answer, code)
        )
        if reason is not None:
            lost[code] = reason
    if lost:
        savepoint.rollback()
    else:
        savepoint.commit()
    return lost


def code_amount(answer: dict[str, Any], code: str) -> int:
    """What ``code`` takes off the priced order: its adjustments on the lines and on
    shipping, as a positive amount (the discounts report sums it)."""
    key = normalise_code(code)
    adjustments = [a for line in answer.get("lines", []) for a in line.get("adjustments", [])]
    adjustments += (answer.get("shipping") or {}).get("adjustments", [])
    return -sum(
        a["amount"]
        for a in adjustments
        if a.get("source") == "code" and normalise_code(a.get("code") or "") == key
    )


@dataclass(frozen=True)
class Redeemed:
    answer: dict[str, Any]
    #: Seconds to hold the answer back once committed (the brute-force guard's slow-down).
    slow_down: float = 0.0


def redeem_checkout(shop: Shop, data: dict[str, Any], price: Pricer) -> Redeemed:
    """Price and redeem for one order, once; the caller commits."""
    order_id = _order_id(data)
    if not insert_ignoring_conflict(
        CheckoutAnswer.__table__,
        {"shop_id": shop.id, "order_external_id": order_id, "created_at": utcnow()},
    ):
        stored = db.session.execute(
            select(CheckoutAnswer.answer).where(CheckoutAnswer.order_external_id == order_id)
        ).scalar_one()
        return Redeemed(dict(stored or {}))
    checked = _validated(data)  # a refusal rolls the claim back with everything else
    customer_id: str | None = checked["customer_id"]
    customer_row_id: int | None = None
    if customer_id:
        customer_row_id = ensure_customer(shop, customer_id, default_group_id(shop))[0].id
    cart_id, client_ip = checked["cart_id"], checked["client_ip"]
    codes = dict(
        code_candidates(
            shop, checked["codes"], customer_row_id, cart_id=cart_id, client_ip=client_ip
        )
    )
    unknown = unknown_codes(codes)
    answer = price(shop, data, codes)
    # Each round that loses blocks at least one more code: the loop ends.
    for _ in range(len(codes) + 1):
        lost = _redeem_applied(shop, answer, order_id, customer_row_id)
        if not lost:
            break
        # Lost the race: report each loser rejected for its reason and price without it;
        # the other code and the programme are compared anew (contract §8).
        for code, reason in lost.items():
            key = normalise_code(code)
            codes[key] = replace(codes[key], blocked_reason=reason)
        answer = price(shop, data, codes)
    subjects = attempt_subjects(customer_id, cart_id, client_ip)
    verdict = record_unknown_attempts(shop, subjects, unknown)
    answer = {**answer, "order_id": order_id}
    for code in answer.get("codes", []):
        if code.get("status") == "rejected" and not code.get("message"):
            code["message"] = rejection_message(code["reason"])
    db.session.execute(
        CheckoutAnswer.__table__.update()
        .where(in_shop(CheckoutAnswer, shop.id), CheckoutAnswer.order_external_id == order_id)
        .values(answer=answer)
    )
    return Redeemed(answer, verdict.slow_down)


def redeem_for_domain(domain: str, data: dict[str, Any] | bytes) -> Redeemed:
    """Check the shop, then redeem: what the hook (``data`` the raw body) and the
    in-process ``checkout_redeem`` signal (a dict) both run, each committing once."""
    shop = find_shop(domain.strip().lower())
    if shop is None or not shop.installed:
        raise ApiError(
            ErrorCode.SHOP_NOT_INSTALLED, f"The shop {domain} has not installed the app.", 403
        )
    enter_shop(shop.id)
    body = parse_json_object(data) if isinstance(data, bytes) else data
    redeemed = redeem_checkout(shop, body, checkout_pricer())
    if redeemed.slow_down:
        # Once the boundary committed: no transaction open, nothing waits on us.
        after_commit(partial(time.sleep, redeemed.slow_down))
    return redeemed
