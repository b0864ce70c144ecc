"""Small builders for the pricing tests: sensible defaults, only what a case changes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from plugin.pricing import (
    Address,
    Audience,
    BenefitProgramme,
    Bundle,
    BundleItem,
    BundlePrice,
    Cart,
    CodeCandidate,
    Condition,
    CustomerContext,
    Discount,
    Gift,
    GiftRule,
    GiftTrigger,
    Group,
    Line,
    PriceAction,
    PriceRule,
    PricingResult,
    RuleSet,
    Scope,
    Segment,
    Shipping,
    Tier,
    TierAction,
    normalise_code,
    price_cart,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
YESTERDAY = NOW - timedelta(days=1)
TOMORROW = NOW + timedelta(days=1)

GROUP_X = Group(1, "Group X", "#e53935")
GROUP_Y = Group(2, "Group Y", "#1e88e5")
STANDARD = Group(3, "Standard", "#9e9e9e")
BUSINESS = Segment(10, "Business customers")
FIVE_ORDERS = Segment(11, "At least 5 orders")
SEGMENT_Y = Segment(12, "Segment Y")

EVERYONE = Audience()
GUESTS = Audience("guests")


def groups(*ids: int) -> Audience:
    return Audience("groups", frozenset(ids))


def segments(*ids: int) -> Audience:
    return Audience("segments", frozenset(ids))


def member(
    group: Group | None = GROUP_X, *segs: Segment, customer_id: str = "c1"
) -> CustomerContext:
    return CustomerContext(customer_id, group, tuple(segs))


GUEST = CustomerContext.guest()
MEMBER = member()


def line(
    id: str = "l1",
    product: str = "p1",
    price: int = 1000,
    qty: int = 1,
    kind: str = "product",
    cats: tuple[str, ...] = (),
) -> Line:
    return Line(id, product, kind, cats, qty, price)  # type: ignore[arg-type]


def ship(
    carrier: str | None = "royal_mail", price: int = 500, city: str = "London", country: str = "GB"
) -> Shipping:
    return Shipping(carrier, price, Address(city, country))


_DEFAULT_SHIPPING = object()


def cart(
    *lines: Line,
    codes: Iterable[str] = (),
    customer_id: str | None = "c1",
    channel: str = "web",
    payment: str | None = "paypal",
    shipping: Any = _DEFAULT_SHIPPING,
) -> Cart:
    if shipping is _DEFAULT_SHIPPING:
        shipping = ship()
    return Cart("k1", "EUR", customer_id, channel, payment, shipping, tuple(lines), tuple(codes))


def price_rule(
    id: int,
    action: str,
    value: int | str | Decimal,
    *,
    audience: Audience = EVERYONE,
    scope: Scope | None = None,
    priority: int = 0,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    active: bool = True,
    name: str | None = None,
) -> PriceRule:
    value = Decimal(value) if isinstance(value, str) else value
    return PriceRule(
        id=id,
        name=name or f"Rule {id}",
        audience=audience,
        scope=scope or Scope(),
        action=PriceAction(action, value),  # type: ignore[arg-type]
        priority=priority,
        active=active,
        starts_at=starts_at,
        ends_at=ends_at,
    )


def categories(*ids: str) -> Scope:
    return Scope("categories", ids)


def products(*ids: str) -> Scope:
    return Scope("products", ids)


def bundle(
    id: int,
    items: dict[str, int],
    type: str,
    value: int | str,
    *,
    max_applications: int | None = None,
    priority: int = 0,
    audience: Audience = EVERYONE,
) -> Bundle:
    price_value: int | Decimal = Decimal(value) if isinstance(value, str) else value
    return Bundle(
        id=id,
        name=f"Bundle {id}",
        audience=audience,
        items=tuple(BundleItem(p, q) for p, q in items.items()),
        price=BundlePrice(type, price_value),  # type: ignore[arg-type]
        max_applications=max_applications,
        priority=priority,
    )


def gift_on_products(
    id: int, product_ids: tuple[str, ...], min_quantity: int, *, audience: Audience = EVERYONE
) -> GiftRule:
    return GiftRule(
        id, f"Gift {id}", audience, GiftTrigger("products", product_ids, min_quantity), Gift("g1")
    )


def gift_on_subtotal(id: int, minimum: int, *, audience: Audience = EVERYONE) -> GiftRule:
    return GiftRule(id, f"Gift {id}", audience, GiftTrigger("subtotal", min=minimum), Gift("g2", 2))


def pct_off(value: int | str) -> TierAction:
    return TierAction("percent_off_order", Decimal(value))


def fixed_off(value: int) -> TierAction:
    return TierAction("fixed_off_order", value)


def free_shipping(*carriers: str, max_amount: int | None = None) -> TierAction:
    return TierAction("free_shipping", carriers=carriers, max_amount=max_amount)


def tier(min_subtotal: int, *actions: TierAction) -> Tier:
    return Tier(min_subtotal, actions)


def cond(field: str, op: str, value: str | tuple[str, ...]) -> Condition:
    return Condition(field, op, value)  # type: ignore[arg-type]


def programme(
    id: int,
    *tiers: Tier,
    conditions: tuple[Condition, ...] = (),
    audience: Audience = EVERYONE,
    priority: int = 0,
    points: bool = True,
    combinable: bool = True,
    name: str | None = None,
) -> BenefitProgramme:
    return BenefitProgramme(
        id=id,
        name=name or f"Programme {id}",
        audience=audience,
        priority=priority,
        conditions=conditions,
        tiers=tiers,
        earns_loyalty_points=points,
        combinable_with_codes=combinable,
    )


def discount(
    id: int = 1,
    type: str = "percent",
    value: int | str | None = 10,
    *,
    name: str = "Summer 10%",
    applies_to: str = "products",
    **fields: Any,
) -> Discount:
    decimal_value: int | Decimal | None = Decimal(value) if isinstance(value, str) else value
    return Discount(
        id=id,
        name=name,
        applies_to=applies_to,  # type: ignore[arg-type]
        type=type,  # type: ignore[arg-type]
        value=decimal_value,
        **fields,
    )


def code(text: str, disc: Discount | None = None, **state: Any) -> CodeCandidate:
    return CodeCandidate(normalise_code(text), disc is not None, disc, **state)


def rules(*items: Any) -> RuleSet:
    """Build a RuleSet from a mix of price rules, bundles, gift rules and programmes."""
    return RuleSet.build(
        [r for r in items if isinstance(r, PriceRule)],
        [b for b in items if isinstance(b, Bundle)],
        [g for g in items if isinstance(g, GiftRule)],
        [p for p in items if isinstance(p, BenefitProgramme)],
    )


def run(
    the_cart: Cart,
    customer: CustomerContext = MEMBER,
    ruleset: RuleSet | None = None,
    codes: Iterable[CodeCandidate] = (),
) -> PricingResult:
    mapping = {c.code: c for c in codes}
    return price_cart(the_cart, customer, ruleset or RuleSet.empty(), mapping, NOW)


def assert_invariants(result: PricingResult) -> None:
    """The sums of contract §4 hold exactly and nothing is negative."""
    data = result.to_dict()
    for ln in data["lines"]:
        assert ln["subtotal"] == ln["rule_unit_price"] * ln["quantity"]
        assert ln["total"] == ln["subtotal"] - ln["discount"]
        moved = (ln["unit_price"] - ln["rule_unit_price"]) * ln["quantity"] + ln["discount"]
        assert sum(a["amount"] for a in ln["adjustments"]) == -moved
        assert ln["rule_unit_price"] >= 0 and ln["discount"] >= 0 and ln["total"] >= 0
        assert all(a["amount"] != 0 for a in ln["adjustments"])
    shipping = data["shipping"]
    assert shipping["total"] == shipping["price"] - shipping["discount"]
    assert sum(a["amount"] for a in shipping["adjustments"]) == -shipping["discount"]
    assert 0 <= shipping["total"] <= shipping["price"]
    assert data["subtotal"] == sum(ln["subtotal"] for ln in data["lines"])
    assert data["discount_total"] == sum(ln["discount"] for ln in data["lines"])
    assert data["shipping_total"] == shipping["total"]
    assert data["total"] == data["subtotal"] - data["discount_total"] + data["shipping_total"]
    assert data["total"] == sum(ln["total"] for ln in data["lines"]) + data["shipping_total"]
    assert data["total"] >= 0
    # At most one code of each class (contract §8): two at most.
    assert sum(1 for c in data["codes"] if c["status"] == "applied") <= 2
