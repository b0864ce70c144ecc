"""The pricing hook's request body (contract §4) and the shape of its answer.

A bad cart is a 400 ``invalid_payload`` whose ``details`` name each bad field
(``lines.3.quantity``). Hosts may send fields we do not know yet: they are ignored.
Whether the currency is the shop's is checked by the service (it needs the shop).

A request types at most ``MAX_CODES`` (5) codes and may carry the shopper's address
(``client_ip``) for the brute-force guard (contract §2, "Guessing codes").
"""

from __future__ import annotations

import ipaddress
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from plugin.fields import HostId, Payload, StrictInteger

MAX_LINES = 500
#: Codes one request may type (contract §2): more is a 400 on ``codes``, not a guess.
MAX_CODES = 5
MAX_QUANTITY = 1_000_000
MAX_AMOUNT = 10**12
CHANNELS = ("web", "in_store")
PAYMENT_METHODS = ("cash", "paypal", "bank_transfer")
LINE_KINDS = ("product", "service")

_amount = validate.Range(min=0, max=MAX_AMOUNT)


class CartAddressIn(Payload):
    city = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=255))
    country = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))


class CartShippingIn(Payload):
    carrier = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    price = StrictInteger(required=True, validate=_amount)
    address = fields.Nested(CartAddressIn, allow_none=True, load_default=None)


def _ip_address(value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValidationError("Must be an IPv4 or IPv6 address.") from None


class CartLineIn(Payload):
    id = HostId(required=True)
    product_id = HostId(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(LINE_KINDS))
    category_ids = fields.List(HostId(), load_default=list, validate=validate.Length(max=100))
    quantity = StrictInteger(required=True, validate=validate.Range(min=1, max=MAX_QUANTITY))
    unit_price = StrictInteger(required=True, validate=_amount)


class CartIn(Payload):
    """The pricing hook's body: ``customer_id`` null is a guest, ``shipping`` may be null;
    at most 5 ``codes``; ``client_ip`` (optional) is the shopper's address, counted by the
    brute-force guard on codes (an IPv6 address as its /64)."""

    cart_id = HostId(required=True)
    currency = fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Za-z]{3}$", error="Must be a 3-letter currency code."),
    )
    customer_id = HostId(allow_none=True, load_default=None)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    payment_method = fields.String(
        allow_none=True, load_default=None, validate=validate.OneOf(PAYMENT_METHODS)
    )
    shipping = fields.Nested(CartShippingIn, allow_none=True, load_default=None)
    lines = fields.List(
        fields.Nested(CartLineIn),
        required=True,
        validate=validate.Length(max=MAX_LINES, error=f"A cart has at most {MAX_LINES} lines."),
    )
    codes = fields.List(
        fields.String(validate=validate.Length(max=255)),
        load_default=list,
        validate=validate.Length(
            max=MAX_CODES, error=f"A request may type at most {MAX_CODES} codes."
        ),
    )
    client_ip = fields.String(
        allow_none=True,
        load_default=None,
        validate=[validate.Length(min=1, max=100), _ip_address],
        metadata={
            "description": "The shopper's address as the host saw it (IPv4 or IPv6), for "
            "the brute-force guard on codes; hosts should send it for guests. An IPv6 "
            "address counts as its /64."
        },
    )

    @validates_schema
    def _distinct_line_ids(self, data: dict[str, Any], **kwargs: Any) -> None:
        seen: set[str] = set()
        errors: dict[int, dict[str, list[str]]] = {}
        for index, line in enumerate(data.get("lines") or []):
            if line["id"] in seen:
                errors[index] = {"id": [f"The line id {line['id']} is used twice."]}
            seen.add(line["id"])
        if errors:
            raise ValidationError({"lines": errors})


# The answer (documentation of what ``PricingResult.to_dict()`` gives) ---------------------


class AdjustmentOut(Schema):
    source = fields.String(
        validate=validate.OneOf(["price_rule", "bundle", "benefit_programme", "code"])
    )
    rule_id = fields.Integer()
    code = fields.String()
    discount_id = fields.Integer()
    label = fields.String()
    amount = fields.Integer()


class LineOut(Schema):
    id = fields.String()
    quantity = fields.Integer()
    unit_price = fields.Integer()
    rule_unit_price = fields.Integer()
    subtotal = fields.Integer()
    discount = fields.Integer()
    total = fields.Integer()
    adjustments = fields.List(fields.Nested(AdjustmentOut))


class GiftOut(Schema):
    product_id = fields.String()
    quantity = fields.Integer()
    unit_price = fields.Integer()
    rule_id = fields.Integer()
    label = fields.String()


class ShippingOut(Schema):
    price = fields.Integer()
    discount = fields.Integer()
    total = fields.Integer()
    adjustments = fields.List(fields.Nested(AdjustmentOut))


class CodeOut(Schema):
    code = fields.String()
    status = fields.String(validate=validate.OneOf(["applied", "rejected"]))
    reason = fields.String(allow_none=True)
    message = fields.String()


class GroupRefOut(Schema):
    id = fields.Integer()
    name = fields.String()
    colour = fields.String()


class SegmentRefOut(Schema):
    id = fields.Integer()
    name = fields.String()


class CustomerRefOut(Schema):
    group = fields.Nested(GroupRefOut, allow_none=True)
    segments = fields.List(fields.Nested(SegmentRefOut))


class ProgrammeOut(Schema):
    id = fields.Integer()
    name = fields.String()
    tier = fields.Integer(allow_none=True)
    status = fields.String()
    reason = fields.String(allow_none=True)


class PricingAnswer(Schema):
    """The pricing hook's answer: totals, lines with their adjustments, gifts, codes."""

    currency = fields.String()
    customer = fields.Nested(CustomerRefOut)
    lines = fields.List(fields.Nested(LineOut))
    gifts = fields.List(fields.Nested(GiftOut))
    shipping = fields.Nested(ShippingOut)
    codes = fields.List(fields.Nested(CodeOut))
    earns_loyalty_points = fields.Boolean()
    subtotal = fields.Integer()
    discount_total = fields.Integer()
    shipping_total = fields.Integer()
    total = fields.Integer()
    programme = fields.Nested(ProgrammeOut, allow_none=True)


class RedeemIn(CartIn):
    """The pricing hook's cart and the order it becomes (contract §4a)."""

    order_id = HostId(required=True)


class RedeemAnswer(PricingAnswer):
    """The pricing hook's answer for the order, the code redeemed (or rejected with the
    reason, e.g. ``usage_limit_reached`` after a lost race or ``too_many_attempts``)."""

    order_id = fields.String()
