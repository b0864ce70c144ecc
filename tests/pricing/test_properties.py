"""Property tests over random carts and rules: the sums always hold, nothing goes
negative, and the answer depends on the rules, not on the order they were given in."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    Minimum,
    PriceAction,
    PriceRule,
    RuleSet,
    Scope,
    Segment,
    Shipping,
    Tier,
    TierAction,
    price_cart,
)
from plugin.pricing.rules import customer_keys, in_window

from .factories import NOW, TOMORROW, YESTERDAY, assert_invariants

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PRODUCTS = ("p1", "p2", "p3", "p4", "p5")
CATEGORIES = ("c1", "c2", "c3")
GROUPS = {1: Group(1, "X", "#111111"), 2: Group(2, "Y", "#222222"), 3: Group(3, "Z", "#333333")}
SEGMENTS = {10: Segment(10, "Business"), 11: Segment(11, "Loyal"), 12: Segment(12, "New")}

percents = st.sampled_from(["1", "5", "10", "12.5", "33.33", "50", "99.99", "100"]).map(Decimal)
amounts = st.integers(0, 5000)
priorities = st.integers(0, 3)
windows = st.sampled_from(
    [(None, None), (YESTERDAY, None), (TOMORROW, None), (None, YESTERDAY), (YESTERDAY, NOW)]
    + [(None, TOMORROW), (NOW, TOMORROW)]
)

audiences = st.one_of(
    st.just(Audience()),
    st.just(Audience("guests")),
    st.frozensets(st.sampled_from(sorted(GROUPS)), max_size=2).map(lambda s: Audience("groups", s)),
    st.frozensets(st.sampled_from(sorted(SEGMENTS)), max_size=2).map(
        lambda s: Audience("segments", s)
    ),
)

scopes = st.one_of(
    st.just(Scope()),
    st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=2).map(
        lambda ids: Scope("categories", tuple(ids))
    ),
    st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=2).map(
        lambda ids: Scope("products", tuple(ids))
    ),
)

price_actions = st.one_of(
    st.builds(PriceAction, st.sampled_from(["discount_percent", "increase_percent"]), percents),
    st.builds(
        PriceAction,
        st.sampled_from(["discount_fixed", "increase_fixed", "set_price"]),
        st.integers(0, 3000),
    ),
)


@st.composite
def price_rules(draw: st.DrawFn, id: int) -> PriceRule:
    starts_at, ends_at = draw(windows)
    return PriceRule(
        id=id,
        name=f"Rule {id}",
        audience=draw(audiences),
        scope=draw(scopes),
        action=draw(price_actions),
        priority=draw(priorities),
        active=draw(st.booleans() | st.just(True)),
        starts_at=starts_at,
        ends_at=ends_at,
    )


@st.composite
def bundles(draw: st.DrawFn, id: int) -> Bundle:
    items = draw(
        st.dictionaries(st.sampled_from(PRODUCTS), st.integers(1, 3), min_size=1, max_size=3)
    )
    price = draw(
        st.one_of(
            st.builds(BundlePrice, st.just("fixed_total"), amounts),
            st.builds(BundlePrice, st.just("percent_off"), percents),
        )
    )
    return Bundle(
        id=id,
        name=f"Bundle {id}",
        audience=draw(audiences),
        items=tuple(BundleItem(p, q) for p, q in items.items()),
        price=price,
        max_applications=draw(st.none() | st.integers(0, 3)),
        priority=draw(priorities),
    )


@st.composite
def gift_rules(draw: st.DrawFn, id: int) -> GiftRule:
    trigger = draw(
        st.one_of(
            st.builds(
                GiftTrigger,
                st.just("products"),
                st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=3).map(tuple),
                st.integers(1, 4),
            ),
            st.builds(GiftTrigger, st.just("subtotal"), min=st.integers(0, 10000)),
        )
    )
    return GiftRule(id, f"Gift {id}", draw(audiences), trigger, Gift("g", draw(st.integers(1, 2))))


conditions = st.one_of(
    st.builds(
        Condition,
        st.sampled_from(
            ["shipping_city", "shipping_country", "carrier", "payment_method", "channel"]
        ),
        st.sampled_from(["is", "is_not"]),
        st.sampled_from(["paris", "FR", "Royal_Mail", "cash", "web", "paypal"]),
    ),
    st.builds(
        Condition,
        st.sampled_from(["carrier", "payment_method", "channel", "shipping_city"]),
        st.just("any_of"),
        st.lists(
            st.sampled_from(["dhl", "royal_mail", "paypal", "in_store", "Paris"]), max_size=2
        ).map(tuple),
    ),
    st.builds(
        Condition,
        st.just("product_in_cart"),
        st.sampled_from(["any_of", "all_of"]),
        st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=2).map(tuple),
    ),
)

tier_actions = st.one_of(
    st.builds(TierAction, st.just("percent_off_order"), percents),
    st.builds(TierAction, st.just("fixed_off_order"), amounts),
    st.builds(
        TierAction,
        st.just("free_shipping"),
        carriers=st.lists(st.sampled_from(["dhl", "royal_mail"]), max_size=1).map(tuple),
        max_amount=st.none() | st.integers(0, 800),
    ),
)


@st.composite
def programmes(draw: st.DrawFn, id: int) -> BenefitProgramme:
    tiers = draw(
        st.lists(
            st.builds(Tier, st.integers(0, 12000), st.lists(tier_actions, max_size=3).map(tuple)),
            max_size=3,
        )
    )
    return BenefitProgramme(
        id=id,
        name=f"Programme {id}",
        audience=draw(audiences),
        priority=draw(priorities),
        conditions=tuple(draw(st.lists(conditions, max_size=2))),
        tiers=tuple(tiers),
        earns_loyalty_points=draw(st.booleans()),
        combinable_with_codes=draw(st.booleans()),
    )


def mostly(default: Any, other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually ``default`` (so that many codes are valid), sometimes ``other``."""
    return st.sampled_from([0, 1, 2, 3]).flatmap(lambda n: other if n == 0 else st.just(default))


@st.composite
def discounts(draw: st.DrawFn, id: int) -> Discount:
    kind = draw(st.sampled_from(["percent", "fixed", "free_shipping"]))
    value: int | Decimal | None
    if kind == "percent":
        value = draw(percents)
    elif kind == "fixed":
        value = draw(amounts)
    else:
        value = draw(st.none() | st.integers(0, 800))
    starts_at, ends_at = draw(mostly((None, None), windows))
    minimum = draw(
        mostly(
            Minimum(),
            st.one_of(
                st.just(Minimum()),
                st.builds(Minimum, st.just("amount"), st.integers(0, 8000)),
                st.builds(Minimum, st.just("quantity"), st.integers(0, 6)),
            ),
        )
    )
    return Discount(
        id=id,
        name=f"Discount {id}",
        applies_to=draw(st.sampled_from(["products", "services"])),
        type=kind,
        value=value,
        carriers=draw(mostly((), st.lists(st.sampled_from(["dhl", "royal_mail"])).map(tuple))),
        starts_at=starts_at,
        ends_at=ends_at,
        usage_limit=draw(mostly(None, st.integers(0, 3))),
        once_per_customer=draw(mostly(False, st.booleans())),
        audience=draw(mostly(Audience(), audiences)),
        minimum=minimum,
        payment_methods=draw(mostly((), st.lists(st.sampled_from(["cash", "paypal"])).map(tuple))),
        channels=draw(mostly((), st.lists(st.sampled_from(["web", "in_store"])).map(tuple))),
        active=draw(mostly(True, st.booleans())),
    )


@st.composite
def candidates(draw: st.DrawFn, code: str, id: int) -> CodeCandidate:
    found = draw(mostly(True, st.booleans()))
    return CodeCandidate(
        code=code,
        found=found,
        discount=draw(discounts(id)) if found else None,
        times_used=draw(st.integers(0, 3)),
        used_by_customer=draw(mostly(False, st.booleans())),
        assigned_customer_id=draw(mostly(None, st.sampled_from(["c1", "c2"]))),
        blocked_reason=draw(mostly(None, st.just("too_many_attempts"))),
    )


@st.composite
def lines(draw: st.DrawFn, index: int) -> Line:
    return Line(
        id=f"l{index}",
        product_id=draw(st.sampled_from(PRODUCTS)),
        kind=draw(st.sampled_from(["product", "product", "service"])),
        category_ids=tuple(draw(st.lists(st.sampled_from(CATEGORIES), max_size=2))),
        quantity=draw(st.integers(0, 5)),
        unit_price=draw(st.integers(0, 5000)),
    )


@st.composite
def customers(draw: st.DrawFn) -> CustomerContext:
    if draw(st.booleans()):
        return CustomerContext.guest()
    group = GROUPS[draw(st.sampled_from(sorted(GROUPS)))]
    segs = draw(st.frozensets(st.sampled_from(sorted(SEGMENTS))))
    return CustomerContext("c1", group, tuple(SEGMENTS[s] for s in sorted(segs)))


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    customer = draw(customers())
    n_lines = draw(st.integers(0, 6))
    shipping = draw(
        st.none()
        | st.builds(
            Shipping,
            st.sampled_from(["royal_mail", "dhl", None]),
            st.integers(0, 1000),
            st.builds(Address, st.sampled_from(["Paris", "London"]), st.sampled_from(["FR", "GB"])),
        )
    )
    cart = Cart(
        cart_id="k",
        currency="EUR",
        customer_id=customer.customer_id,
        channel=draw(st.sampled_from(["web", "in_store"])),
        payment_method=draw(st.sampled_from(["cash", "paypal", "bank_transfer", None])),
        shipping=shipping,
        lines=tuple(draw(lines(i)) for i in range(n_lines)),
        codes=tuple(
            draw(
                st.lists(
                    st.sampled_from(["CODE0", "code1", " Code2 ", "NOPE", "CODE0"]), max_size=4
                )
            )
        ),
    )
    code_facts = {
        code: draw(candidates(code, i))
        for i, code in enumerate(["CODE0", "CODE1", "CODE2"])
        if draw(st.booleans() | st.just(True))
    }
    return {
        "cart": cart,
        "customer": customer,
        "price_rules": [draw(price_rules(i)) for i in range(1, draw(st.integers(0, 8)) + 1)],
        "bundles": [draw(bundles(i)) for i in range(1, draw(st.integers(0, 3)) + 1)],
        "gift_rules": [draw(gift_rules(i)) for i in range(1, draw(st.integers(0, 2)) + 1)],
        "programmes": [draw(programmes(i)) for i in range(1, draw(st.integers(0, 3)) + 1)],
        "codes": code_facts,
    }


def _price(scenario: dict[str, Any], order: Any = None) -> dict[str, Any]:
    lists = {k: list(scenario[k]) for k in ("price_rules", "bundles", "gift_rules", "programmes")}
    if order is not None:
        for k in lists:
            order.shuffle(lists[k])
    ruleset = RuleSet.build(**lists)
    result = price_cart(scenario["cart"], scenario["customer"], ruleset, scenario["codes"], NOW)
    assert_invariants(result)
    return result.to_dict()


@SETTINGS
@given(scenarios())
def test_sums_hold_and_nothing_is_negative(scenario: dict[str, Any]) -> None:
    data = _price(scenario)
    json.dumps(data)  # the answer is plain JSON
    cart: Cart = scenario["cart"]
    assert [c["code"] for c in data["codes"]] == list(cart.codes)
    assert [ln["id"] for ln in data["lines"]] == [line.id for line in cart.lines]
    for ln in data["lines"]:
        for adjustment in ln["adjustments"]:
            if adjustment["source"] != "price_rule":
                assert adjustment["amount"] < 0


@SETTINGS
@given(scenarios(), st.randoms(use_true_random=False))
def test_deterministic_and_rule_order_does_not_matter(
    scenario: dict[str, Any], random: Any
) -> None:
    first = _price(scenario)
    assert _price(scenario) == first
    assert _price(scenario, random) == first


@SETTINGS
@given(
    st.lists(st.integers(0, 20), max_size=20).flatmap(
        lambda rules: st.tuples(st.just(rules), customers(), st.sampled_from(PRODUCTS))
    ),
    st.data(),
)
def test_index_picks_what_a_full_scan_picks(args: Any, data: st.DataObject) -> None:
    """The indexed look-up chooses exactly the rule a scan of every rule would."""
    ids, customer, product = args
    rules = [data.draw(price_rules(i)) for i in sorted(set(ids))]
    categories = tuple(data.draw(st.lists(st.sampled_from(CATEGORIES), max_size=2)))
    ruleset = RuleSet.build(rules)
    chosen = ruleset.price_rule_for(product, categories, customer_keys(customer), NOW)

    def covers(rule: PriceRule) -> bool:
        scope = rule.scope
        return (
            scope.type == "all"
            or (scope.type == "products" and product in scope.ids)
            or (scope.type == "categories" and bool(set(scope.ids) & set(categories)))
        )

    eligible = [
        r
        for r in rules
        if r.active
        and covers(r)
        and r.audience.matches(customer)
        and in_window(r.starts_at, r.ends_at, NOW)
    ]
    expected = min(eligible, key=lambda r: (r.priority, r.id), default=None)
    assert chosen == expected


@SETTINGS
@given(
    st.lists(st.integers(0, 5000), max_size=6).flatmap(
        lambda prices: st.tuples(*(lines(i) for i in range(len(prices))))
    ),
    st.none() | st.integers(0, 1000),
    customers(),
)
def test_without_rules_or_codes_the_host_prices_stand(
    cart_lines: tuple[Line, ...], shipping_price: int | None, customer: CustomerContext
) -> None:
    shipping = None if shipping_price is None else Shipping("dhl", shipping_price)
    cart = Cart("k", "EUR", customer.customer_id, "web", None, shipping, cart_lines)
    result = price_cart(cart, customer, RuleSet.empty(), {}, NOW)
    shipping = 0 if cart.shipping is None else cart.shipping.price
    assert result.total == sum(ln.unit_price * ln.quantity for ln in cart.lines) + shipping
    assert result.discount_total == 0 and result.gifts == () and result.earns_loyalty_points


def test_now_must_be_aware() -> None:
    import pytest

    cart = Cart("k", "EUR", None, "web", None, None, ())
    with pytest.raises(ValueError):
        price_cart(cart, CustomerContext.guest(), RuleSet.empty(), {}, datetime(2026, 1, 1))
