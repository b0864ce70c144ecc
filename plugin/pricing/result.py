"""The engine's answer, and its JSON form (the pricing hook's response, contract §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .cart import Group, Segment
from .values import quick_init

AdjustmentSource = Literal[
    "price_list", "price_rule", "bundle", "offer", "benefit_programme", "code"
]

JSON = dict[str, Any]


@quick_init  # one per cart line: plugin/pricing/values.py
@dataclass(frozen=True, slots=True)
class Adjustment:
    """One explained move of a price: negative for a reduction, positive for an increase.

    Rules (``price_rule``, ``bundle``, ``benefit_programme``) carry ``rule_id``;
    a ``code`` carries ``code`` (as typed) and ``discount_id``; a ``price_list``
    its ``price_list_id`` and an ``offer`` its ``offer_id`` (contract §8).
    """

    source: AdjustmentSource
    label: str
    amount: int
    rule_id: int | None = None
    code: str | None = None
    discount_id: int | None = None
    price_list_id: int | None = None
    offer_id: int | None = None

    def to_dict(self) -> JSON:
        data: JSON = {"source": self.source}
        if self.source == "code":
            data["code"] = self.code
            data["discount_id"] = self.discount_id
        elif self.source == "price_list":
            data["price_list_id"] = self.price_list_id
        elif self.source == "offer":
            data["offer_id"] = self.offer_id
        else:
            data["rule_id"] = self.rule_id
        data["label"] = self.label
        data["amount"] = self.amount
        return data


@quick_init  # one per cart line: plugin/pricing/values.py
@dataclass(frozen=True, slots=True)
class LineResult:
    """A priced line: ``subtotal = rule_unit_price × quantity``, ``total = subtotal − discount``."""

    id: str
    quantity: int
    unit_price: int
    rule_unit_price: int
    subtotal: int
    discount: int
    total: int
    adjustments: tuple[Adjustment, ...]

    def to_dict(self) -> JSON:
        return {
            "id": self.id,
            "quantity": self.quantity,
            "unit_price": self.unit_price,
            "rule_unit_price": self.rule_unit_price,
            "subtotal": self.subtotal,
            "discount": self.discount,
            "total": self.total,
            "adjustments": [a.to_dict() for a in self.adjustments],
        }


@dataclass(frozen=True, slots=True)
class GiftResult:
    product_id: str
    quantity: int
    rule_id: int
    label: str
    unit_price: int = 0

    def to_dict(self) -> JSON:
        return {
            "product_id": self.product_id,
            "quantity": self.quantity,
            "unit_price": self.unit_price,
            "rule_id": self.rule_id,
            "label": self.label,
        }


@dataclass(frozen=True, slots=True)
class ShippingResult:
    """Shipping after benefits; ``price`` is 0 when the cart has no shipping."""

    price: int
    discount: int
    total: int
    adjustments: tuple[Adjustment, ...]

    def to_dict(self) -> JSON:
        return {
            "price": self.price,
            "discount": self.discount,
            "total": self.total,
            "adjustments": [a.to_dict() for a in self.adjustments],
        }


@dataclass(frozen=True, slots=True)
class CodeResult:
    """What became of one typed code; ``code`` is as typed, ``reason`` None when applied."""

    code: str
    status: Literal["applied", "rejected"]
    reason: str | None
    message: str
    discount_id: int | None = None

    def to_dict(self) -> JSON:
        return {
            "code": self.code,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class CustomerResult:
    group: Group | None
    segments: tuple[Segment, ...]

    def to_dict(self) -> JSON:
        group = self.group
        return {
            "group": None
            if group is None
            else {"id": group.id, "name": group.name, "colour": group.colour},
            "segments": [{"id": s.id, "name": s.name} for s in self.segments],
        }


@dataclass(frozen=True, slots=True)
class ProgrammeResult:
    """The benefit programme that matched (an extension of the contract's answer).

    ``tier`` is the index of the tier reached (None: no tier reached);
    ``status`` is ``not_applied`` with ``reason`` ``not_combinable`` when a code
    gave the customer a larger saving, or ``no_tier_reached``.
    """

    id: int
    name: str
    tier: int | None
    status: Literal["applied", "not_applied"]
    reason: str | None

    def to_dict(self) -> JSON:
        return {
            "id": self.id,
            "name": self.name,
            "tier": self.tier,
            "status": self.status,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class PricingResult:
    """The priced cart. ``to_dict()`` is the pricing hook's JSON answer."""

    currency: str
    customer: CustomerResult
    lines: tuple[LineResult, ...]
    gifts: tuple[GiftResult, ...]
    shipping: ShippingResult
    codes: tuple[CodeResult, ...]
    earns_loyalty_points: bool
    subtotal: int
    discount_total: int
    shipping_total: int
    total: int
    programme: ProgrammeResult | None = None

    @property
    def applied_code(self) -> CodeResult | None:
        """The code that applied, if any (what the redeem hook redeems)."""
        return next((c for c in self.codes if c.status == "applied"), None)

    def to_dict(self) -> JSON:
        return {
            "currency": self.currency,
            "customer": self.customer.to_dict(),
            "lines": [line.to_dict() for line in self.lines],
            "gifts": [gift.to_dict() for gift in self.gifts],
            "shipping": self.shipping.to_dict(),
            "codes": [code.to_dict() for code in self.codes],
            "earns_loyalty_points": self.earns_loyalty_points,
            "subtotal": self.subtotal,
            "discount_total": self.discount_total,
            "shipping_total": self.shipping_total,
            "total": self.total,
            "programme": None if self.programme is None else self.programme.to_dict(),
        }
