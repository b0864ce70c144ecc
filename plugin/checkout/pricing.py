"""Price a cart for a shop: validate the body, load who the customer is and what the
codes are, take the rule snapshot, and let the pure engine compute.

Shared by ``POST /hooks/cart/price``, ``POST /api/price-preview`` and the in-process
``cart_price`` signal, so the three give the same answer for the same input. The pricing
hook changes nothing but the brute-force guard's attempt counters (contract §4): when a
typed code is unknown, it counts against the cart, the customer and ``client_ip``
(:func:`plugin.codes.redemption.record_unknown_attempts`), in one short transaction of its
own after the reads; a cart without unknown codes writes nothing. The admin's price
preview counts nothing (a merchant trying carts is not guessing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

import orjson
from marshmallow import ValidationError
from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from plugin.checkout.schemas import (
    CartIn,
    CheckedCart,
    PricingAnswer,
    accepted_cart,
    checked_cart,
    decoded_cart,
)
from plugin.codes.lookup import attempt_subjects, code_candidates, unknown_codes
from plugin.codes.redemption import record_unknown_attempts
from plugin.customers.models import Customer
from plugin.db import SHOP_BY_JOIN, after_commit, db, enter_shop, read_rows, reading, utcnow
from plugin.errors import ApiError, ErrorCode, validation_error
from plugin.groups.models import Group as GroupRow
from plugin.groups.operations import default_group_id
from plugin.limits import parse_json_object
from plugin.pricing import (
    Cart,
    CodeCandidate,
    CustomerContext,
    Group,
    PriceEntries,
    PricingResult,
    RuleSet,
    Segment,
    price_cart,
)
from plugin.rules.snapshot import price_entries, rule_set
from plugin.segments.membership import customer_identity
from plugin.segments.models import Segment as SegmentRow
from plugin.segments.models import SegmentMember
from plugin.shops.models import Shop
from plugin.shops.operations import find_shop

__all__ = [
    "PricingAnswer",
    "load_cart",
    "price",
    "price_for_domain",
    "price_result",
    "price_with_codes",
    "read_cart",
    "read_inputs",
    "to_cart",
    "validate_cart",
]

log = logging.getLogger(__name__)

_cart_schema = CartIn()


def validate_cart(payload: dict[str, Any]) -> dict[str, Any]:
    """The body checked by the cart schema, or 400 ``invalid_payload`` naming each field."""
    try:
        data: dict[str, Any] = _cart_schema.load(payload)
    except ValidationError as err:
        raise validation_error(err, ErrorCode.INVALID_PAYLOAD, 400) from None
    return data


def read_cart(payload: dict[str, Any] | bytes) -> CheckedCart:
    """A body (raw bytes, or a dict from an in-process host) as the engine's cart, or 400
    ``invalid_payload``: what ``checked_cart(validate_cart(parse_json_object(body)))``
    answers.

    The hook's hot path: bytes holding only the fields the cart knows are parsed and
    checked in one pass (``schemas.decoded_cart``); others are parsed by orjson and checked
    by ``schemas.accepted_cart`` (which leaves the fields it does not know to the input
    limits); both make the engine's lines themselves. Anything neither vouches for (not
    JSON, past the input limits, a bad field, a NUL escaped in the text) takes the path of
    marshmallow, so a refusal and its ``details`` are exactly ``CartIn``'s.
    """
    if isinstance(payload, bytes):
        decoded = decoded_cart(payload)
        if decoded is not None:
            return decoded
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            # orjson refuses lone surrogates; a NUL can only come escaped.
            cart = accepted_cart(data, text_checked=b"\\u0000" not in payload)
            if cart is not None:
                return cart
        return checked_cart(validate_cart(parse_json_object(payload)))
    return checked_cart(validate_cart(payload))


def load_cart(shop: Shop, payload: dict[str, Any]) -> Cart:
    """The request body as the engine's :class:`Cart`, or 400 ``invalid_payload``."""
    return to_cart(shop, read_cart(payload))


def to_cart(shop: Shop | ShopFacts, checked: CheckedCart) -> Cart:
    """A checked body as the engine's :class:`Cart`; 400 unless in the shop's currency."""
    cart = checked.cart
    if cart.currency == shop.currency:
        return cart
    if cart.currency.upper() != shop.currency.upper():
        raise ApiError(
            ErrorCode.INVALID_PAYLOAD,
            "Some fields are not valid: currency.",
            400,
            {"currency": [f"Must be {shop.currency}, the shop's currency."]},
        )
    return replace(cart, currency=shop.currency)


def customer_context(
    shop: Shop | ShopFacts, external_id: str | None
) -> tuple[CustomerContext, int | None]:
    """Who is buying, and their customer row id (None for a guest or a customer we have
    not heard of yet).

    A customer id we have no ``customer/created`` for yet is a registered customer all the
    same: they are in the default group (where a new customer lands) and in no segment.
    """
    if external_id is None:
        return CustomerContext.guest(), None
    identity = customer_identity(shop.id, external_id)
    if identity is None:
        group_id = default_group_id(shop)
        row = db.session.get_one(GroupRow, group_id)
        group = Group(row.id, row.name, row.colour)
        return CustomerContext(external_id, group, ()), None
    return (
        CustomerContext(
            external_id,
            Group(identity.group_id, identity.group_name, identity.group_colour),
            tuple(Segment(sid, name) for sid, name in identity.segments),
        ),
        identity.customer_id,
    )


@dataclass(frozen=True, slots=True)
class ShopFacts:
    """What the hot path reads of the shop's row: all the pricing inputs need of it (its
    id, currency and rules version). Read as plain columns, not as a ``Shop`` entity: the
    ORM's loading would cost the hook more than its one query does."""

    id: int
    domain: str
    currency: str
    timezone: str
    installed: bool
    rules_version: int


# Built once: the hook's hot path only binds the values.
_SHOP = (
    select(Shop.id, Shop.domain, Shop.currency, Shop.timezone, Shop.installed, Shop.rules_version)
    .where(Shop.domain == bindparam("domain"))
    .execution_options(**{SHOP_BY_JOIN: True})  # the shop is not known before this query
)
_SHOP_AND_CUSTOMER = (
    _SHOP.add_columns(
        Customer.id, GroupRow.id, GroupRow.name, GroupRow.colour, SegmentRow.id, SegmentRow.name
    )
    .outerjoin(
        Customer,
        and_(Customer.shop_id == Shop.id, Customer.external_id == bindparam("external_id")),
    )
    # The customer's group; for a customer not heard of yet, the shop's default group
    # (where a new customer lands), so that no second query is needed for them either.
    .outerjoin(
        GroupRow,
        or_(
            GroupRow.id == Customer.group_id,
            and_(Customer.id.is_(None), GroupRow.shop_id == Shop.id, GroupRow.is_default.is_(True)),
        ),
    )
    .outerjoin(SegmentMember, SegmentMember.customer_id == Customer.id)
    .outerjoin(SegmentRow, SegmentRow.id == SegmentMember.segment_id)
)


def _shop_facts(row: Any) -> ShopFacts:
    shop_id, domain, currency, timezone, installed, rules_version = row[:6]
    return ShopFacts(shop_id, domain, currency, timezone, bool(installed), rules_version)


def shop_and_customer(
    domain: str, external_id: str | None
) -> tuple[ShopFacts | None, CustomerContext, int | None]:
    """The shop of ``domain`` and who is buying, in one query (the hook's hot path).

    The same facts as :func:`installed_shop` then :func:`customer_context` (the group, the
    segments of ``segment_members``), one row per segment of the customer: one round trip
    instead of three; for a customer we have not heard of yet, the same row brings the
    shop's default group. The query runs as SQL on a pooled connection of its own, outside
    the session and any transaction (:func:`plugin.db.read_rows`): its columns need no ORM
    loading, and it finds its shop by joining the shop's row.
    """
    domain = domain.strip().lower()
    if external_id is None:
        rows = read_rows(_SHOP, {"domain": domain})
        return (None if not rows else _shop_facts(rows[0])), CustomerContext.guest(), None
    rows = read_rows(_SHOP_AND_CUSTOMER, {"domain": domain, "external_id": external_id})
    if not rows:
        return None, CustomerContext.guest(), None
    shop = _shop_facts(rows[0])
    customer_id, group_id, group_name, group_colour, _, _ = rows[0][6:]
    enter_shop(shop.id)
    if customer_id is None:
        if not shop.installed:
            return shop, CustomerContext.guest(), None
        if group_id is None:  # a shop without its default group: as customer_context says
            with reading():
                customer, _ = customer_context(shop, external_id)
            return shop, customer, None
        group = Group(group_id, group_name, group_colour)
        return shop, CustomerContext(external_id, group, ()), None
    found = sorted((row[10], row[11]) for row in rows if row[10] is not None)  # by id
    segments = tuple(Segment(segment_id, name) for segment_id, name in found)
    group = Group(group_id, group_name, group_colour)
    return shop, CustomerContext(external_id, group, segments), customer_id


def code_facts(
    shop: Shop,
    cart: Cart,
    customer_row_id: int | None,
    now: datetime,
    client_ip: str | None = None,
) -> dict[str, CodeCandidate]:
    """What the database knows about the cart's codes (none typed: no query)."""
    if not cart.codes:
        return {}
    customer: int | str | None = cart.customer_id if customer_row_id is None else customer_row_id
    return code_candidates(
        shop, list(cart.codes), customer, cart_id=cart.cart_id, client_ip=client_ip, now=now
    )


@dataclass(frozen=True, slots=True)
class PricingInputs:
    """Everything the engine needs, read from the database in one short transaction."""

    cart: Cart
    customer: CustomerContext
    codes: Mapping[str, CodeCandidate]
    rules: RuleSet
    #: The entries of the price lists that apply to the customer, for the cart's products.
    price_entries: PriceEntries = field(default_factory=dict)


def with_rules(
    shop: Shop,
    cart: Cart,
    customer: CustomerContext,
    codes: Mapping[str, CodeCandidate],
    now: datetime,
) -> PricingInputs:
    """The inputs with the rule snapshot and, when price lists apply to this customer now,
    their entries for the cart's products (cached with the snapshot; the products not seen
    yet in one indexed query; never a whole list)."""
    rules = rule_set(shop)
    entries: PriceEntries = {}
    if rules.price_lists:
        lists = rules.price_lists_for(customer, now)
        if lists:
            entries = price_entries(
                shop, (p.id for p in lists), (line.product_id for line in cart.lines)
            )
    return PricingInputs(cart, customer, codes, rules, entries)


def read_inputs(
    shop: Shop,
    cart: Cart,
    now: datetime,
    codes: Mapping[str, CodeCandidate] | None = None,
    client_ip: str | None = None,
) -> PricingInputs:
    """Who the customer is, what the codes are, the rule snapshot: a few reads."""
    customer, customer_row_id = customer_context(shop, cart.customer_id)
    if codes is None:
        codes = code_facts(shop, cart, customer_row_id, now, client_ip)
    return with_rules(shop, cart, customer, codes, now)


def compute(inputs: PricingInputs, now: datetime) -> PricingResult:
    """The pure part: no database."""
    return price_cart(
        inputs.cart, inputs.customer, inputs.rules, inputs.codes, now, inputs.price_entries
    )


def price_result(
    shop: Shop,
    payload: dict[str, Any],
    now: datetime,
    codes: Mapping[str, CodeCandidate] | None = None,
) -> PricingResult:
    """Price ``payload`` for ``shop`` at ``now``: the engine's result.

    ``codes`` (normalised code → candidate) replaces the lookup of the cart's codes: the
    redeem hook passes what it knows after a lost race.
    """
    checked = read_cart(payload)
    cart = to_cart(shop, checked)
    return compute(read_inputs(shop, cart, now, codes, checked.client_ip), now)


def price_with_codes(
    shop: Shop,
    payload: dict[str, Any],
    codes: Mapping[str, CodeCandidate],
    now: datetime | None = None,
) -> dict[str, Any]:
    """The pricing hook's answer with the code facts given (the redeem hook's pricer)."""
    return price_result(shop, payload, now or utcnow(), codes).to_dict()


def price(shop: Shop, payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The pricing hook's JSON answer for ``payload``."""
    return price_result(shop, payload, now).to_dict()


def installed_shop(domain: str) -> Shop:
    """The installed shop of ``domain``, or 403 ``shop_not_installed``."""
    shop = find_shop(domain.strip().lower())
    if shop is None or not shop.installed:
        raise _not_installed(domain)
    enter_shop(shop.id)
    return shop


def _not_installed(domain: str) -> ApiError:
    return ApiError(
        ErrorCode.SHOP_NOT_INSTALLED, f"The shop {domain} has not installed the app.", 403
    )


def price_for_domain(
    domain: str, payload: dict[str, Any] | bytes, now: datetime | None = None
) -> dict[str, Any]:
    """Check the shop, then the payload, price the cart and write nothing but the count
    of unknown codes typed: what the hook (``payload`` the raw body) and the
    ``cart_price`` signal (a dict) both run.

    The body is parsed and validated before the database is touched, and its faults are
    reported only after the shop check (contract §2 order); the database reads then run
    without a transaction (``plugin.db.reading``: no lock, no BEGIN/ROLLBACK round trips),
    ended before the engine computes, so concurrent hooks never queue behind each other
    or behind writers. A database that cannot answer (locked past
    its timeout, unreachable) is a 503 ``unavailable``: never a half-computed price.
    """
    now = now or utcnow()
    checked: CheckedCart | None = None
    fault: ApiError | None = None
    try:
        checked = read_cart(payload)
    except ApiError as err:
        fault = err
    try:
        shop, customer, customer_row_id = shop_and_customer(
            domain, None if checked is None else checked.cart.customer_id
        )
        if shop is None or not shop.installed:
            raise _not_installed(domain)
        enter_shop(shop.id)
        if fault is not None or checked is None:
            raise fault or ApiError(ErrorCode.INVALID_PAYLOAD, "The cart is missing.", 400)
        cart = to_cart(shop, checked)
        # Ended (nothing to keep) before computing; no round trip when the codes are none
        # and the rule snapshot is current.
        with reading():
            codes = code_facts(shop, cart, customer_row_id, now, checked.client_ip)
            inputs = with_rules(shop, cart, customer, codes, now)
    except (OperationalError, SQLAlchemyTimeoutError):
        raise _unavailable(domain) from None
    answer = compute(inputs, now).to_dict()
    unknown = unknown_codes(codes)
    if unknown:
        subjects = attempt_subjects(cart.customer_id, cart.cart_id, checked.client_ip)
        count_unknown_codes(shop, subjects, unknown, now, domain)
    return answer


def count_unknown_codes(
    shop: Shop, subjects: list[str], unknown: list[str], now: datetime, domain: str
) -> None:
    """The pricing hook's one write: count the unknown codes typed; once the boundary has
    committed that, hold the answer back when the guard says so (no transaction open
    meanwhile)."""
    try:
        verdict = record_unknown_attempts(shop, subjects, unknown, now)
    except (OperationalError, SQLAlchemyTimeoutError):
        raise _unavailable(domain) from None
    if verdict.slow_down:
        after_commit(partial(time.sleep, verdict.slow_down))


def _unavailable(domain: str) -> ApiError:
    log.exception("The database did not answer while pricing a cart of %s", domain)
    return ApiError(ErrorCode.UNAVAILABLE, "Pricing is unavailable right now; try again.", 503)
