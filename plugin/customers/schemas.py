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
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from plugin.fields import HostId, Payload, StrictInteger, Timestamp, iso_timestamp, parse_timestamp
from plugin.limits import MAX_INTEGER, clean_text

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
