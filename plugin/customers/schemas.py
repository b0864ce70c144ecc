"""Payload schemas of the customer and order webhooks (contract §3).

A customer snapshot (``customer/created``, ``customer/updated``) is never refused for a
flaw in an optional field: the host must not retry a 400, so refusing would lose the
customer. Only an unusable ``id`` refuses the event; every other field is cleaned, or
dropped to what an absent field means, by :func:`clean_snapshot` (the table in the
README, "Customer fields", says which flaw gets what). Orders and the other topics are
refused, naming the field, as before.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Annotated, Any, Literal

import msgspec
from marshmallow import Schema, ValidationError, fields, pre_load, validate

from plugin.fields import HostId, Payload, StrictInteger, Timestamp, iso_timestamp, parse_timestamp
from plugin.limits import MAX_INTEGER, clean_text, scan

log = logging.getLogger(__name__)

E164 = r"^\+[1-9][0-9]{1,14}$"
CUSTOMER_TYPES = ("individual", "business")
_PHONE_PUNCTUATION = re.compile(r"[\s\-.()/\u00a0]")
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,40}")
_is_email = validate.Email()


# Cleaning a customer snapshot -------------------------------------------------------------


def cleaned_by_customer_schema(path: str) -> bool:
    """Whether the text or number at ``path`` of a webhook body is a customer snapshot's
    own field, which :func:`clean_snapshot` cleans or drops instead of refusing (the
    input limits of ``plugin.limits`` leave it to us); the id is not one of them."""
    head, _, rest = path.partition(".")
    return head == "customer" and bool(rest) and rest.partition(".")[0] != "id"


def _text(value: Any, max_length: int) -> str | None:
    """Text without NULs and lone surrogates, trimmed; None when not text, blank or too long."""
    if not isinstance(value, str):
        return None
    text = clean_text(value).strip()
    return text if 0 < len(text) <= max_length else None


def _email(value: Any) -> str | None:
    text = _text(value, 320)
    try:
        return None if text is None else _is_email(text)
    except ValidationError:
        return None


def _phone(value: Any) -> str | None:
    """E.164 once spaces, dashes, dots, slashes and parentheses are gone (``00`` → ``+``)."""
    text = _text(value, 64)
    if text is None:
        return None
    digits = _PHONE_PUNCTUATION.sub("", text)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    return digits if re.fullmatch(E164, digits) else None


def _points(value: Any) -> int:
    """A whole number (also as ``12.0`` or ``"12"``) held within 0 and 2^53 − 1; else 0."""
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, float) and not math.isnan(value):
        if math.isinf(value) or abs(value) > MAX_INTEGER:
            value = MAX_INTEGER if value > 0 else 0
        elif value.is_integer():
            value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(0, min(MAX_INTEGER, value))


def _type(value: Any) -> str | None:
    """``individual`` or ``business`` ignoring case and spaces; anything else is unknown."""
    text = _text(value, 32)
    text = text.lower() if text else None
    return text if text in CUSTOMER_TYPES else None


def _moment(value: Any) -> str | None:
    """The date or date-time as sent when :class:`Timestamp` takes it; else None."""
    try:
        parse_timestamp(value)
    except ValidationError:
        return None
    return str(value)


def _tags(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [tag for tag in (_text(item, 255) for item in value) if tag is not None]


def _address(value: Any) -> dict[str, str | None] | None:
    if not isinstance(value, dict):
        return None
    address = {
        "city": _text(value.get("city"), 255),
        "country": _text(value.get("country"), 64),
        "zip": _text(value.get("zip"), 32),
    }
    return address if any(address.values()) else None


def _partner(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    try:
        partner_id = HostId().deserialize(value.get("id"))
    except ValidationError:
        return None
    return {"id": partner_id, "registered_at": _moment(value.get("registered_at"))}


#: How each optional field of a snapshot is cleaned (README, "Customer fields").
CLEANERS: dict[str, Any] = {
    "email": _email,
    "phone": _phone,
    "first_name": lambda value: _text(value, 255),
    "last_name": lambda value: _text(value, 255),
    "registered_at": _moment,
    "tags": _tags,
    "points": _points,
    "accepts_marketing": lambda value: value if isinstance(value, bool) else False,
    "type": _type,
    "default_address": _address,
    "dropship_partner": _partner,
}


def clean_snapshot(raw: Any) -> Any:
    """The snapshot with every optional field cleaned; ``id`` is left for :class:`HostId`
    to accept or refuse. Fields we do not know are left out, as unknown fields are."""
    if not isinstance(raw, dict):
        return raw
    cleaned: dict[str, Any] = {"id": raw["id"]} if "id" in raw else {}
    for name, clean in CLEANERS.items():
        if name in raw:
            cleaned[name] = clean(raw[name])
    changed = [name for name in CLEANERS if name in raw and cleaned[name] != raw[name]]
    if changed:
        log.info("Customer %r: cleaned or dropped %s", cleaned.get("id"), ", ".join(changed))
    return cleaned


class AddressSchema(Payload):
    city = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=255))
    country = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    zip = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=32))


class DropshipPartnerSchema(Payload):
    id = HostId(required=True)
    registered_at = Timestamp(allow_none=True, load_default=None)


class CustomerSchema(Payload):
    """A customer snapshot: cleaned first (:func:`clean_snapshot`), so only ``id`` can fail."""

    id = HostId(required=True)
    email = fields.Email(allow_none=True, load_default=None, validate=validate.Length(max=320))
    phone = fields.String(
        allow_none=True,
        load_default=None,
        validate=validate.Regexp(E164, error="Must be an E.164 number such as +33612345678."),
    )
    first_name = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(max=255)
    )
    last_name = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=255))
    registered_at = Timestamp(allow_none=True, load_default=None)
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=255)), load_default=list)
    points = StrictInteger(load_default=0, validate=validate.Range(min=0))
    accepts_marketing = fields.Boolean(load_default=False)
    # Absent: individual (contract §3); present but neither type: not known (null).
    type = fields.String(
        load_default="individual", allow_none=True, validate=validate.OneOf(CUSTOMER_TYPES)
    )
    default_address = fields.Nested(AddressSchema, allow_none=True, load_default=None)
    dropship_partner = fields.Nested(DropshipPartnerSchema, allow_none=True, load_default=None)

    def tolerates(self, path: str) -> bool:
        return path.partition(".")[0] != "id"  # its own fields, cleaned below

    @pre_load
    def _clean(self, data: Any, **kwargs: Any) -> Any:
        return clean_snapshot(data)


class CustomerEventSchema(Payload):
    customer = fields.Nested(CustomerSchema, required=True)

    def tolerates(self, path: str) -> bool:
        return cleaned_by_customer_schema(path)


class CustomerRefSchema(Payload):
    id = HostId(required=True)

    def tolerates(self, path: str) -> bool:
        return path.partition(".")[0] != "id"  # the rest is ignored


class CustomerDeletedSchema(Payload):
    customer = fields.Nested(CustomerRefSchema, required=True)

    def tolerates(self, path: str) -> bool:
        return cleaned_by_customer_schema(path)  # as a body is parsed: only the id counts


class CustomerIdSchema(Payload):
    customer_id = HostId(required=True)


class CustomerSubscribedSchema(Payload):
    customer_id = HostId(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(["email", "sms"]))


class OrderLineSchema(Payload):
    product_id = HostId(required=True)
    kind = fields.String(load_default="product", validate=validate.OneOf(["product", "service"]))
    quantity = StrictInteger(required=True, validate=validate.Range(min=1))
    unit_price = StrictInteger(required=True, validate=validate.Range(min=0))


class ShippingSchema(Payload):
    carrier = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    address = fields.Dict(allow_none=True, load_default=None)


class OrderSchema(Payload):
    id = HostId(required=True)
    customer_id = HostId(allow_none=True, load_default=None)
    placed_at = Timestamp(required=True)
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z]{3}$"))
    total = StrictInteger(required=True, validate=validate.Range(min=0))
    lines = fields.List(fields.Nested(OrderLineSchema), load_default=list)
    discount_codes = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)), load_default=list
    )
    shipping = fields.Nested(ShippingSchema, allow_none=True, load_default=None)
    payment_method = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(max=32)
    )
    channel = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=32))


class OrderPaidSchema(Payload):
    order = fields.Nested(OrderSchema, required=True)


class OrderRefSchema(Payload):
    id = HostId(required=True)


class OrderReversedSchema(Payload):
    order = fields.Nested(OrderRefSchema, required=True)


# The ingest path's order check: the same verdict as the schemas above at compiled speed --
#
# ``msgspec`` checks the types, ranges, lengths and choices of an order's fields in C; what
# it cannot say (a host id already stripped, the currency's pattern as ``re.match`` reads
# it, a timestamp within the limits) is checked after, in Python, by the same functions the
# schemas use. ``accepted_order_paid`` and ``accepted_order_reversed`` answer exactly what
# ``OrderPaidSchema().load`` and ``OrderReversedSchema().load`` answer for a body they
# accept, and None for anything else: the caller then asks the schema itself, whose errors
# (the 400 ``details``) stay the one source of truth, as for the pricing hook's cart
# (``plugin.checkout.schemas.accepted_cart``). tests/hooks/test_order_check.py compares the
# two on the input-limits corpus and on generated orders.

_FastId = (
    Annotated[int, msgspec.Meta(ge=-MAX_INTEGER, le=MAX_INTEGER)]
    | Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
)
_FastCount = Annotated[int, msgspec.Meta(ge=0, le=MAX_INTEGER)]
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")  # what OrderSchema's Regexp matches (``re.match``)


class _FastLine(msgspec.Struct):
    product_id: _FastId
    quantity: Annotated[int, msgspec.Meta(ge=1, le=MAX_INTEGER)]
    unit_price: _FastCount
    kind: Literal["product", "service"] = "product"


class _FastShipping(msgspec.Struct):
    carrier: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    address: dict[str, Any] | None = None


class _FastOrder(msgspec.Struct):
    id: _FastId
    placed_at: str
    currency: str
    total: _FastCount
    customer_id: _FastId | None = None
    lines: list[_FastLine] = msgspec.field(default_factory=list)
    discount_codes: list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]] = msgspec.field(
        default_factory=list
    )
    shipping: _FastShipping | None = None
    payment_method: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    channel: Annotated[str, msgspec.Meta(max_length=32)] | None = None


class _FastOrderPaid(msgspec.Struct):
    order: _FastOrder


class _FastOrderRef(msgspec.Struct):
    id: _FastId


class _FastOrderReversed(msgspec.Struct):
    order: _FastOrderRef


_ORDER_KEYS = frozenset(_FastOrder.__struct_fields__)
_LINE_KEYS = frozenset(_FastLine.__struct_fields__)
_SHIPPING_KEYS = frozenset(_FastShipping.__struct_fields__)


class _Refused(Exception):
    """The fast check cannot vouch for the body: the schema decides."""


def _host_id(value: int | str) -> str:
    """What ``HostId`` keeps of an id msgspec let through (text that needs stripping is
    left to it)."""
    if value.__class__ is int:
        return str(value)
    assert isinstance(value, str)
    if value.strip() != value:
        raise _Refused
    return value


def _typed_only(body: dict[str, Any]) -> bool:
    """Whether every value of an ``order/paid`` body is held to the limits by its own type:
    no field the schema does not know, and no shipping address (free JSON)."""
    order = body.get("order")
    if body.keys() != {"order"} or not isinstance(order, dict) or not order.keys() <= _ORDER_KEYS:
        return False
    shipping = order.get("shipping")
    if shipping is not None and (
        not isinstance(shipping, dict)
        or not shipping.keys() <= _SHIPPING_KEYS
        or shipping.get("address") is not None
    ):
        return False
    lines = order.get("lines")
    return not isinstance(lines, list) or all(
        not isinstance(line, dict) or line.keys() <= _LINE_KEYS for line in lines
    )


def accepted_order_paid(body: dict[str, Any], text_checked: bool) -> dict[str, Any] | None:
    """``OrderPaidSchema().load(body)`` for a body it accepts, None when it might not.

    ``body`` is parsed JSON; ``text_checked`` says its text held no NUL and no lone
    surrogate (the parser refused the latter, the caller looked for the escaped former).
    Anything not held to the input limits by a type of its own (a field we do not know, a
    shipping address) is scanned by ``plugin.limits.scan``, as the schema's ``Payload``
    does."""
    if not (text_checked and _typed_only(body)) and scan(body):
        return None
    try:
        order = msgspec.convert(body, _FastOrderPaid).order
        return {"order": _order_dict(order)}
    except (msgspec.ValidationError, ValidationError, _Refused):
        return None


def _order_dict(order: _FastOrder) -> dict[str, Any]:
    if not _CURRENCY.match(order.currency):
        raise _Refused
    shipping = order.shipping
    return {
        "id": _host_id(order.id),
        "customer_id": None if order.customer_id is None else _host_id(order.customer_id),
        "placed_at": parse_timestamp(order.placed_at),
        "currency": order.currency,
        "total": order.total,
        "lines": [
            {
                "product_id": _host_id(line.product_id),
                "kind": line.kind,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
            }
            for line in order.lines
        ],
        "discount_codes": order.discount_codes,
        "shipping": None
        if shipping is None
        else {"carrier": shipping.carrier, "address": shipping.address},
        "payment_method": order.payment_method,
        "channel": order.channel,
    }


def accepted_order_reversed(body: dict[str, Any], text_checked: bool) -> dict[str, Any] | None:
    """``OrderReversedSchema().load(body)`` for a body it accepts, None when it might not
    (as :func:`accepted_order_paid`)."""
    order = body.get("order")
    typed = body.keys() == {"order"} and isinstance(order, dict) and order.keys() == {"id"}
    if not (text_checked and typed) and scan(body):
        return None
    try:
        return {"order": {"id": _host_id(msgspec.convert(body, _FastOrderReversed).order.id)}}
    except (msgspec.ValidationError, _Refused):
        return None


# What we answer: customers/data_request and the admin's view of a customer.


class TagOut(Schema):
    tag = fields.String()


class CustomerProductOut(Schema):
    product_id = fields.String()
    quantity = fields.Integer()
    first_purchased_at = Timestamp()
    last_purchased_at = Timestamp()


class DiscountRef(Schema):
    id = fields.Integer()
    name = fields.String()


class CustomerCodeOut(Schema):
    """A code handed to the customer: ``assigned``, or ``redeemed`` once used."""

    code = fields.String()
    status = fields.String()
    assigned_at = Timestamp()
    expires_at = Timestamp()
    discount = fields.Nested(DiscountRef)


class CustomerRedemptionOut(Schema):
    """One use of a code by one of the customer's orders (``customers/data_request``)."""

    order_id = fields.String()
    code = fields.String()
    status = fields.String()
    at = Timestamp()


class CustomerSummary(Schema):
    """A customer in lists (a group's members, a segment's sample)."""

    id = fields.String(attribute="external_id")
    email = fields.String(allow_none=True)
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    group_id = fields.Integer()


class CustomerOut(Schema):
    id = fields.String(attribute="external_id")
    email = fields.String()
    phone = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    registered_at = Timestamp()
    tags = fields.Function(lambda c: [t.tag for t in c.tags])
    points = fields.Integer()
    accepts_marketing = fields.Boolean()
    type = fields.String()
    default_address = fields.Function(
        lambda c: (
            None
            if not (c.city or c.country or c.zip)
            else {"city": c.city, "country": c.country, "zip": c.zip}
        )
    )
    dropship_partner = fields.Function(
        lambda c: (
            None
            if not c.dropship_partner_id
            else {
                "id": c.dropship_partner_id,
                "registered_at": iso_timestamp(c.dropship_registered_at),
            }
        )
    )
    group_id = fields.Integer()
    figures = fields.Function(
        lambda c: {
            "order_count": c.order_count,
            "total_spent": c.total_spent,
            "first_order_at": iso_timestamp(c.first_order_at),
            "last_order_at": iso_timestamp(c.last_order_at),
            "used_discount_code": c.used_discount_code,
        }
    )
    subscribed_email_at = Timestamp()
    subscribed_sms_at = Timestamp()
    created_at = Timestamp()
    updated_at = Timestamp()


class OrderLineOut(Schema):
    product_id = fields.String()
    kind = fields.String()
    quantity = fields.Integer()
    unit_price = fields.Integer()


class OrderOut(Schema):
    id = fields.String(attribute="external_id")
    status = fields.String()
    placed_at = Timestamp()
    paid_at = Timestamp()
    reversed_at = Timestamp()
    currency = fields.String()
    total = fields.Integer()
    discount_codes = fields.List(fields.String())
    payment_method = fields.String()
    channel = fields.String()
    carrier = fields.String()
    shipping_address = fields.Dict()
    lines = fields.List(fields.Nested(OrderLineOut))


class CustomerRecordSchema(Schema):
    customer = fields.Nested(CustomerOut)
    products = fields.Function(lambda r: CustomerProductOut(many=True).dump(r.get("products", [])))
    orders = fields.List(fields.Nested(OrderOut))
