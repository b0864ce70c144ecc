"""The pricing hook's request body (contract §4) and the shape of its answer.

A bad cart is a 400 ``invalid_payload`` whose ``details`` name each bad field
(``lines.3.quantity``). Hosts may send fields we do not know yet: they are ignored.
Whether the currency is the shop's is checked by the service (it needs the shop).

A request types at most ``MAX_CODES`` (5) codes and may carry the shopper's address
(``client_ip``) for the brute-force guard (contract §2, "Guessing codes").
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from plugin.fields import HostId, Payload, StrictInteger
from plugin.limits import MAX_INTEGER, scan
from plugin.pricing import Address, Cart, Line, Shipping

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


# The hot path's cart check: the same verdict as ``CartIn`` at compiled speed -------------
#
# ``msgspec`` checks the types, ranges, lengths and choices of every field of ``CartIn`` in
# C; the few rules it cannot say (the currency's pattern as ``re.match`` reads it, distinct
# line ids, an IP address) are checked after, in Python. ``accepted_cart`` answers exactly what
# ``CartIn().load`` answers for a cart it accepts, and None for anything else: the caller
# then asks ``CartIn`` itself, whose errors (the 400 ``details``) stay the one source of
# truth. tests/hooks/test_cart_check.py compares the two on the limits corpus and on
# generated carts.

# A host id as HostId keeps it: an integer within the limits (kept as its text), or text
# of 1 to 255 characters that is already stripped (``_checked`` looks at all of them with
# one regex: a pattern per id costs more than the whole rest of the check); text that needs
# stripping is left to HostId.
_FastId = (
    Annotated[int, msgspec.Meta(ge=-MAX_INTEGER, le=MAX_INTEGER)]
    | Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
)
#: Whitespace that ``str.strip`` would take off one of the ids joined by NUL (an id holds
#: none: the caller refused the escaped NUL, or ``scan`` found none).
_UNSTRIPPED = re.compile(r"(?:\A|\x00)\s|\s(?:\x00|\Z)")
#: Any whitespace at all: what ids seldom hold, looked for before ``_UNSTRIPPED``.
_SPACE = re.compile(r"\s")
_FastAmount = Annotated[int, msgspec.Meta(ge=0, le=MAX_AMOUNT)]


class _FastAddress(msgspec.Struct):
    city: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    country: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class _FastShipping(msgspec.Struct):
    price: _FastAmount
    carrier: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    address: _FastAddress | None = None


class _FastLine(msgspec.Struct):
    id: _FastId
    product_id: _FastId
    kind: Literal["product", "service"]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]
    unit_price: _FastAmount
    category_ids: Annotated[list[_FastId], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=list
    )


class _FastCart(msgspec.Struct):
    cart_id: _FastId
    currency: str
    channel: Literal["web", "in_store"]
    lines: Annotated[list[_FastLine], msgspec.Meta(max_length=MAX_LINES)]
    customer_id: _FastId | None = None
    payment_method: Literal["cash", "paypal", "bank_transfer"] | None = None
    shipping: _FastShipping | None = None
    codes: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=255)]], msgspec.Meta(max_length=MAX_CODES)
    ] = msgspec.field(default_factory=list)
    client_ip: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None


# The same, refusing a field they do not know: what ``msgspec.json.decode`` checks the raw
# body against (``decoded_cart``), where no ``scan`` looks at such fields.
class _StrictAddress(_FastAddress, forbid_unknown_fields=True):
    pass


class _StrictShipping(_FastShipping, forbid_unknown_fields=True):
    address: _StrictAddress | None = None


class _StrictLine(_FastLine, forbid_unknown_fields=True):
    pass


class _StrictCart(_FastCart, forbid_unknown_fields=True):
    lines: Annotated[list[_StrictLine], msgspec.Meta(max_length=MAX_LINES)]
    shipping: _StrictShipping | None = None


_CART_KEYS = frozenset(_FastCart.__struct_fields__)
_LINE_KEYS = frozenset(_FastLine.__struct_fields__)
_SHIPPING_KEYS = frozenset(_FastShipping.__struct_fields__)
_ADDRESS_KEYS = frozenset(_FastAddress.__struct_fields__)
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")  # what CartIn's Regexp matches (``re.match``)


class _Refused(Exception):
    """The fast check cannot vouch for the cart: ``CartIn`` decides."""


def _known_fields_only(data: dict[str, Any]) -> bool:
    """Whether every object of the cart holds only fields ``CartIn`` knows."""
    if not data.keys() <= _CART_KEYS:
        return False
    shipping = data.get("shipping")
    if isinstance(shipping, dict):
        if not shipping.keys() <= _SHIPPING_KEYS:
            return False
        address = shipping.get("address")
        if isinstance(address, dict) and not address.keys() <= _ADDRESS_KEYS:
            return False
    lines = data.get("lines")
    if isinstance(lines, list):
        for line in lines:
            if isinstance(line, dict) and not line.keys() <= _LINE_KEYS:
                return False
    return True


@dataclass(frozen=True, slots=True)
class CheckedCart:
    """A pricing body the checks accepted: the engine's cart (its currency as sent; the
    service compares it with the shop's) and the shopper's address, for the guard on codes."""

    cart: Cart
    client_ip: str | None


def checked_cart(data: dict[str, Any]) -> CheckedCart:
    """What ``CartIn().load`` gave, as a :class:`CheckedCart`."""
    shipping = data["shipping"]
    address = shipping and shipping["address"]
    cart = Cart(
        cart_id=data["cart_id"],
        currency=data["currency"],
        customer_id=data["customer_id"],
        channel=data["channel"],
        payment_method=data["payment_method"],
        shipping=None
        if shipping is None
        else Shipping(
            carrier=shipping["carrier"],
            price=shipping["price"],
            address=None if not address else Address(address["city"], address["country"]),
        ),
        lines=tuple(
            Line(
                id=line["id"],
                product_id=line["product_id"],
                kind=line["kind"],
                category_ids=tuple(line["category_ids"]),
                quantity=line["quantity"],
                unit_price=line["unit_price"],
            )
            for line in data["lines"]
        ),
        codes=tuple(data["codes"]),
    )
    return CheckedCart(cart, data["client_ip"])


def accepted_cart(data: dict[str, Any], text_checked: bool) -> CheckedCart | None:
    """``checked_cart(CartIn().load(data))`` for a cart it accepts, None when it might not.

    ``data`` is parsed JSON; ``text_checked`` says its text held no NUL and no lone
    surrogate (the parser refused the latter, the caller looked for the escaped former),
    which leaves numbers, depth and key names to the input limits: the known fields are held
    to them by their own types, anything else by ``plugin.limits.scan`` as ``CartIn`` would.
    The engine's lines are made here, from the checked fields, with no dict between.
    """
    if not (text_checked and _known_fields_only(data)) and scan(data):
        return None
    try:
        cart = msgspec.convert(data, _FastCart)
        return _checked(cart)
    except (msgspec.ValidationError, _Refused):
        return None


def decoded_cart(body: bytes) -> CheckedCart | None:
    """What ``accepted_cart(orjson.loads(body), True)`` gives, straight from the raw body,
    for a body holding only the fields ``CartIn`` knows and no escaped NUL; None for any
    other (the caller then takes the path of ``accepted_cart``). The hook's first try: one
    pass of msgspec's parser checks the whole cart, with no dict between."""
    if b"\\u0000" in body:
        return None
    try:
        return _checked(msgspec.json.decode(body, type=_StrictCart))
    except (msgspec.DecodeError, _Refused):
        return None


def _checked(cart: _FastCart) -> CheckedCart:
    if not _CURRENCY.match(cart.currency):
        raise _Refused
    if cart.client_ip is not None:
        try:
            ipaddress.ip_address(cart.client_ip)
        except ValueError:
            raise _Refused from None
    lines = []
    seen: set[str] = set()
    texts: list[str] = []  # every id given as text, checked for stripping at the end
    # An id is text or an integer kept as its text: str() gives either (a text as it is).
    for line in cart.lines:
        line_id = str(line.id)
        if line_id in seen:
            raise _Refused
        seen.add(line_id)
        product_id = str(line.product_id)
        categories = tuple(map(str, line.category_ids))
        texts.append(line_id)
        texts.append(product_id)
        texts.extend(categories)
        lines.append(
            Line(line_id, product_id, line.kind, categories, line.quantity, line.unit_price)
        )
    cart_id = str(cart.cart_id)
    customer_id = None if cart.customer_id is None else str(cart.customer_id)
    texts.append(cart_id)
    if customer_id is not None:
        texts.append(customer_id)
    joined = "\x00".join(texts)
    if _SPACE.search(joined) and _UNSTRIPPED.search(joined):  # the first: 10x faster
        raise _Refused
    shipping = cart.shipping
    address = None if shipping is None else shipping.address
    checked = Cart(
        cart_id=cart_id,
        currency=cart.currency,
        customer_id=customer_id,
        channel=cart.channel,
        payment_method=cart.payment_method,
        shipping=None
        if shipping is None
        else Shipping(
            carrier=shipping.carrier,
            price=shipping.price,
            address=None if address is None else Address(address.city, address.country),
        ),
        lines=tuple(lines),
        codes=tuple(cart.codes),
    )
    return CheckedCart(checked, cart.client_ip)


# The answer (documentation of what ``PricingResult.to_dict()`` gives) ---------------------


class AdjustmentOut(Schema):
    source = fields.String(
        validate=validate.OneOf(
            ["price_list", "price_rule", "bundle", "offer", "benefit_programme", "code"]
        )
    )
    rule_id = fields.Integer()
    code = fields.String()
    discount_id = fields.Integer()
    price_list_id = fields.Integer(metadata={"description": "Of a price_list adjustment."})
    offer_id = fields.Integer(metadata={"description": "Of an offer adjustment."})
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
