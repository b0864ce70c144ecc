"""The engine's building blocks: rounding, allocation, inputs that refuse nonsense, purity."""

from __future__ import annotations

import ast
from datetime import datetime
from decimal import Decimal, localcontext
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plugin.pricing as pricing
from plugin.pricing import (
    Cart,
    CodeCandidate,
    CustomerContext,
    Line,
    PriceAction,
    RuleSet,
    Scope,
    Segment,
    allocate,
    index_codes,
    percent_of,
    round_half_up,
    to_percent,
)
from plugin.pricing.rules import customer_keys

from .factories import (
    BUSINESS,
    GROUP_X,
    GROUP_Y,
    GUESTS,
    NOW,
    TOMORROW,
    groups,
    price_rule,
    segments,
)


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        ("2.5", 3),
        ("3.5", 4),
        ("2.4999", 2),
        ("2.5001", 3),
        ("-2.5", -3),
        ("0", 0),
        ("1795.5", 1796),
    ],
)
def test_round_half_up(value: str, rounded: int) -> None:
    assert round_half_up(Decimal(value)) == rounded


def test_percent_of_is_exact_then_rounded_once() -> None:
    assert percent_of(1999, Decimal(5)) == 100  # 99.95
    assert percent_of(4, Decimal("12.5")) == 1  # 0.5
    assert percent_of(3, Decimal("33.33")) == 1  # 0.9999


def test_percentages_are_never_floats() -> None:
    with pytest.raises(TypeError):
        to_percent(0.1)  # type: ignore[arg-type]
    assert PriceAction("discount_percent", 10).value == Decimal(10)


@pytest.mark.parametrize(
    ("amount", "weights", "parts"),
    [
        (100, [100, 100, 100], (34, 33, 33)),  # a tie goes to the earlier line
        (300, [1000, 800], (167, 133)),
        (500, [4000, 2000], (333, 167)),
        (5, [0, 10, 0, 10], (0, 3, 0, 2)),
        (0, [0, 0], (0, 0)),
        (7, [7], (7,)),
        (2, [1, 1, 1], (1, 1, 0)),
    ],
)
def test_allocate_table(amount: int, weights: list[int], parts: tuple[int, ...]) -> None:
    assert allocate(amount, weights) == parts


def test_allocate_refuses_what_cannot_be_split() -> None:
    with pytest.raises(ValueError):
        allocate(-1, [1])
    with pytest.raises(ValueError):
        allocate(1, [0, 0])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=12), st.data())
def test_allocate_adds_up_and_stays_within_weights(weights: list[int], data: st.DataObject) -> None:
    amount = data.draw(st.integers(0, sum(weights)))
    parts = allocate(amount, weights)
    assert sum(parts) == amount
    total = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert 0 <= part <= weight
        if total:
            exact = Decimal(amount * weight) / total
            assert exact - 1 < part < exact + 1


def test_inputs_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        Line("l1", "p1", "gift", (), 1, 100)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Line("l1", "p1", "product", (), -1, 100)
    with pytest.raises(ValueError):
        price_rule(1, "set_price", 100, starts_at=datetime(2026, 1, 1))  # naive
    with pytest.raises(ValueError):
        PriceAction("discount_fixed", Decimal("1.5"))  # not whole minor units


def test_customer_context_derives_segment_ids() -> None:
    customer = CustomerContext("c1", GROUP_X, (Segment(10, "a"), Segment(11, "b")))
    assert customer.segment_ids == frozenset({10, 11})
    assert not customer.is_guest and CustomerContext.guest().is_guest


def test_code_keys_and_index_codes() -> None:
    cart = Cart("k", "EUR", None, "web", None, None, (), (" summer10", "SUMMER10 ", "vip"))
    assert cart.code_keys() == ("SUMMER10", "VIP")
    candidate = CodeCandidate("summer10", False)
    assert index_codes([candidate]) == {"SUMMER10": candidate}


def test_rule_set_is_reusable_and_drops_inactive_rules() -> None:
    ruleset = RuleSet.build(
        [price_rule(1, "set_price", 1), price_rule(2, "set_price", 2, active=False)]
    )
    assert ruleset.price_rule_count == 1
    keys = (("all", 0),)
    first = ruleset.price_rule_for("p1", (), keys, NOW)
    assert first is not None and first.id == 1
    assert ruleset.price_rule_for("p1", (), keys, NOW) is first


def test_the_engine_is_pure() -> None:
    """No Flask, SQLAlchemy or I/O module is imported anywhere in plugin/pricing."""
    allowed = {
        "__future__",
        "collections",
        "dataclasses",
        "datetime",
        "decimal",
        "enum",
        "functools",
        "typing",
        "unicodedata",  # pure: how texts compare (plugin/pricing/text.py)
    }
    for path in Path(pricing.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: inside the engine
                    continue
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


# A percent as the admin may set one (up to 4 decimals), or any Decimal the engine accepts.
any_percent = st.one_of(
    st.decimals(min_value=-1000, max_value=1000, places=4),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**6), max_value=10**6),
)


@given(
    amount=st.integers(min_value=0, max_value=10**12),
    percent=any_percent,
    kind=st.sampled_from(["discount_percent", "increase_percent"]),
)
@settings(max_examples=400, deadline=None)
def test_a_percent_rule_prices_in_integers_as_the_decimal_formula_does(amount, percent, kind):
    from plugin.pricing.engine import rule_unit_price
    from plugin.pricing.money import scale

    with localcontext(prec=100):  # exact, as the engine's own context is
        moved = Decimal(100) - percent if kind == "discount_percent" else Decimal(100) + percent
    expected = max(0, round_half_up(scale(amount, moved)))
    assert rule_unit_price(amount, PriceAction(kind, percent)) == expected


@pytest.mark.parametrize(
    ("amount", "kind", "percent", "unit"),
    [
        (1999, "discount_percent", "10", 1799),  # 1799.1
        (5, "discount_percent", "50", 3),  # 2.5: half up
        (3, "discount_percent", "50", 2),  # 1.5
        (1, "increase_percent", "50", 2),  # 1.5
        (1000, "discount_percent", "12.345", 877),  # 876.55
        (1000, "discount_percent", "150", 0),  # never below 0
        (7, "increase_percent", "-250", 0),  # -10.5 rounds away from zero, then 0
    ],
)
def test_percent_rules_round_half_up(amount, kind, percent, unit):
    from plugin.pricing.engine import rule_unit_price

    assert rule_unit_price(amount, PriceAction(kind, Decimal(percent))) == unit


def test_everyones_rules_and_a_groups_are_looked_up_as_one_table_made_once():
    by_product = Scope("products", ("p1",))
    by_category = Scope("categories", ("shoes",))
    ruleset = RuleSet.build(
        [
            price_rule(1, "set_price", 100, scope=by_product, priority=5),
            price_rule(2, "set_price", 200, audience=groups(1), scope=by_category, priority=3),
            price_rule(3, "set_price", 300, audience=groups(2), scope=by_product, priority=9),
            price_rule(4, "set_price", 400, audience=GUESTS, priority=1),
            price_rule(5, "set_price", 500, audience=segments(10), scope=by_product, priority=0),
            price_rule(6, "set_price", 600, audience=groups(1), priority=4, starts_at=TOMORROW),
        ]
    )
    lines = [("p1", ("shoes",)), ("p2", ()), ("p1", ())]

    def chosen(customer: CustomerContext) -> list[int | None]:
        picked = ruleset.price_rules_for(lines, customer_keys(customer), NOW)
        return [None if rule is None else rule.id for rule in picked]

    in_x = CustomerContext("c1", GROUP_X)
    assert chosen(in_x) == [2, None, 1]  # the group's category rule beats everyone's (3 < 5)
    merged = ruleset._with_everyone[("groups", 1)]
    assert chosen(in_x) == [2, None, 1] and ruleset._with_everyone[("groups", 1)] is merged
    assert chosen(CustomerContext("c2", GROUP_Y)) == [1, None, 1]  # its rule loses (9 > 5)
    assert chosen(CustomerContext.guest()) == [4, 4, 4]
    # A segment's table is looked in beside the merged one.
    assert chosen(CustomerContext("c3", GROUP_X, (BUSINESS,))) == [5, None, 5]
    assert set(ruleset._with_everyone) == {("groups", 1), ("groups", 2), ("guests", 0)}
