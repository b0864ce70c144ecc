"""``POST /hooks/checkout/redeem`` (contract §4a): price the cart and redeem its code at once.

The cart is priced exactly as the pricing hook prices it, by the pricing glue:
a callable ``price(shop, body, codes) -> answer`` where ``codes`` maps each
normalised code to its :class:`CodeCandidate` (from :func:`code_candidates`,
overridable here) and ``answer`` is the pricing hook's JSON answer. It is
``plugin.pricing_service.price_with_codes``, or the callable set as
``CUSTOMER_GROUPS_CHECKOUT_PRICER`` (hosts and tests).

In one transaction: claim the order id (a unique row, so a repeated or racing
call for the same order waits and then answers what the first answered), price,
redeem the applied code (conditional update + unique index, in a savepoint); if
the redeem loses, the code is reported rejected with the reason and the cart is
priced again without it. Unknown codes count toward the brute-force guard here,
never in the read-only pricing hook.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from hooks.signing import parse_json_object, read_signed_request
from plugin.api.openapi import SIGNED_HEADERS, document
from plugin.codes.lookup import attempt_subjects, code_candidates
from plugin.codes.models import CheckoutAnswer
from plugin.codes.redemption import UNKNOWN_CODE, record_unknown_attempts, redeem_code
from plugin.codes.schemas import RedeemAnswer, RedeemIn
from plugin.customers.operations import ensure_customer
from plugin.db import db, insert_ignoring_conflict, utcnow
from plugin.errors import ApiError, ErrorCode
from plugin.pricing.codes import CodeCandidate, normalise_code, rejection_message
from plugin.pricing_service import price_with_codes
from plugin.shops.models import Shop
from plugin.shops.operations import find_shop

Pricer = Callable[[Shop, dict[str, Any], Mapping[str, CodeCandidate]], dict[str, Any]]
PRICER_KEY = "CUSTOMER_GROUPS_CHECKOUT_PRICER"


def checkout_pricer() -> Pricer:
    """The pricing glue: ``CUSTOMER_GROUPS_CHECKOUT_PRICER`` when set (hosts, tests), else
    the pricing hook's own."""
    configured: Pricer | None = current_app.config.get(PRICER_KEY)
    return configured or price_with_codes


def _order_id(data: dict[str, Any]) -> str:
    value = data.get("order_id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 255:
        raise ApiError(
            ErrorCode.INVALID_PAYLOAD,
            "Some fields are not valid: order_id.",
            400,
            {"order_id": ["Must be the order's id, 1 to 255 characters."]},
        )
    return value.strip()


def _applied(answer: dict[str, Any]) -> str | None:
    return next((c["code"] for c in answer.get("codes", []) if c["status"] == "applied"), None)


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
            select(CheckoutAnswer.answer).where(
                CheckoutAnswer.shop_id == shop.id, CheckoutAnswer.order_external_id == order_id
            )
        ).scalar_one()
        return Redeemed(dict(stored or {}))
    customer_id = data.get("customer_id")
    customer_row_id: int | None = None
    if isinstance(customer_id, str | int) and not isinstance(customer_id, bool) and customer_id:
        customer_row_id = ensure_customer(shop, str(customer_id))[0].id
    typed = [c for c in data.get("codes") or [] if isinstance(c, str)]
    cart_id = data.get("cart_id") if isinstance(data.get("cart_id"), str) else None
    codes = dict(code_candidates(shop, typed, customer_row_id, cart_id=cart_id))
    answer = price(shop, data, codes)
    for _ in range(len(codes) + 1):
        applied = _applied(answer)
        if applied is None:
            break
        lost = redeem_code(shop, applied, order_id, customer_row_id)
        if lost is None:
            break
        # Lost the race: report the code rejected for that reason, price without it.
        key = normalise_code(applied)
        codes[key] = replace(codes[key], blocked_reason=lost)
        answer = price(shop, data, codes)
    unknown = [c["code"] for c in answer.get("codes", []) if c.get("reason") == UNKNOWN_CODE]
    subjects = attempt_subjects(str(customer_id) if customer_id else None, cart_id)
    verdict = record_unknown_attempts(shop, subjects, unknown)
    answer = {**answer, "order_id": order_id}
    for code in answer.get("codes", []):
        if code.get("status") == "rejected" and not code.get("message"):
            code["message"] = rejection_message(code["reason"])
    db.session.execute(
        CheckoutAnswer.__table__.update()
        .where(CheckoutAnswer.shop_id == shop.id, CheckoutAnswer.order_external_id == order_id)
        .values(answer=answer)
    )
    return Redeemed(answer, verdict.slow_down)


def register_redeem_hook(blueprint: Blueprint) -> None:
    """Attach ``POST /checkout/redeem`` to the hooks blueprint (``/hooks`` prefix)."""
    blueprint.add_url_rule("/checkout/redeem", view_func=checkout_redeem, methods=["POST"])


document(
    "/hooks/checkout/redeem",
    "post",
    "Price the cart and redeem its code for the order, once (contract §4a).",
    request=RedeemIn,
    response=RedeemAnswer,
    secured=False,
    tag="hooks",
    headers=SIGNED_HEADERS,
    description="Signed like every host request: 413, 401 invalid_signature or "
    "stale_request, 403 shop_not_installed, 400 invalid_payload, in that order. Usage "
    "limits and once-per-customer hold under racing calls; a repeated call for the same "
    "order_id answers what the first answered and redeems nothing more. Unknown codes "
    "count toward the brute-force guard (too_many_attempts).",
)


def redeem_for_domain(domain: str, data: dict[str, Any] | bytes) -> Redeemed:
    """Check the shop, then redeem and commit: what the hook (``data`` the raw body) and
    the in-process ``checkout_redeem`` signal (a dict) both run."""
    try:
        shop = find_shop(domain.strip().lower())
        if shop is None or not shop.installed:
            raise ApiError(
                ErrorCode.SHOP_NOT_INSTALLED, f"The shop {domain} has not installed the app.", 403
            )
        body = parse_json_object(data) if isinstance(data, bytes) else data
        redeemed = redeem_checkout(shop, body, checkout_pricer())
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    if redeemed.slow_down:
        time.sleep(redeemed.slow_down)  # no transaction open: nothing waits on us
    return redeemed


def checkout_redeem() -> ResponseReturnValue:
    signed = read_signed_request()
    return jsonify(redeem_for_domain(signed.shop_domain, signed.body).answer)
