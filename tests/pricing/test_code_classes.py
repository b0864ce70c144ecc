"""Codes in classes (contract §8): one order-class and one shipping-class code per cart,
``combinable_with_other_codes``, the programme compared with the codes that stay, and
``uses_per_customer``. Hand-computed rows, then properties over random carts."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin.pricing import CodeCandidate, Discount, RuleSet

from .factories import (
    GUEST,
    assert_invariants,
    cart,
    code,
    discount,
    free_shipping,
    line,
    pct_off,
    programme,
    rules,
    run,
    tier,
)
from .test_cases import dig
from .test_properties import SETTINGS, _price, scenarios


def pct(id: int, value: int | str = 10, **fields: Any) -> Discount:
    return discount(id, "percent", value, name=f"Pct {id}", **fields)


def fixed(id: int, value: int, **fields: Any) -> Discount:
    return discount(id, "fixed", value, name=f"Fixed {id}", **fields)


def freeship(id: int, cap: int | None = None, **fields: Any) -> Discount:
    return discount(id, "free_shipping", cap, name=f"Ship {id}", **fields)


COMBINABLE = {"combinable_with_other_codes": True}

# Cart of the rows below: one line of 4000, shipping 500 (royal_mail).
CART_4000 = line("l1", "p1", 4000)

CASES: list[tuple[str, Any, dict[str, Any], RuleSet, tuple[CodeCandidate, ...]]] = [
    (
        "two combinable codes of different classes both apply",
        cart(CART_4000, codes=["TEN", "SHIP"]),
        {
            "codes.0.status": "applied",
            "codes.1.status": "applied",
            "lines.0.discount": 400,
            "shipping.total": 0,
            "total": 3600,
        },
        RuleSet.empty(),
        (code("TEN", pct(1, **COMBINABLE)), code("SHIP", freeship(2, **COMBINABLE))),
    ),
    (
        "one of the two not combinable: the one typed first stays",
        cart(CART_4000, codes=["SHIP", "TEN"]),
        {
            "codes.0.status": "applied",
            "codes.1.reason": "not_combinable_with_code",
            "codes.1.message": "This code can't be combined with your other code",
            "lines.0.discount": 0,
            "shipping.total": 0,
            "total": 4000,
        },
        RuleSet.empty(),
        (code("TEN", pct(1, **COMBINABLE)), code("SHIP", freeship(2))),
    ),
    (
        "a second code of a class already taken is one_code_per_order, even when combinable",
        cart(CART_4000, codes=["TEN", "FIVE", "SHIP"]),
        {
            "codes.0.status": "applied",
            "codes.1.reason": "one_code_per_order",
            "codes.2.status": "applied",
            "lines.0.discount": 400,
            "total": 3600,
        },
        RuleSet.empty(),
        (
            code("TEN", pct(1, **COMBINABLE)),
            code("FIVE", fixed(3, 500, **COMBINABLE)),
            code("SHIP", freeship(2, **COMBINABLE)),
        ),
    ),
    (
        "an invalid first code leaves its class to the next valid one",
        cart(CART_4000, codes=["GONE", "FIVE", "SHIP"]),
        {
            "codes.0.reason": "inactive",
            "codes.1.status": "applied",
            "codes.2.status": "applied",
            "lines.0.discount": 500,
            "total": 3500,
        },
        RuleSet.empty(),
        (
            code("GONE", pct(1, active=False, **COMBINABLE)),
            code("FIVE", fixed(3, 500, **COMBINABLE)),
            code("SHIP", freeship(2, **COMBINABLE)),
        ),
    ),
    (
        # Programme 10 % = 400; codes together 5 % (200) + shipping 500 = 700 > 400.
        "two codes against a non-combinable programme: together they save more and win",
        cart(CART_4000, codes=["FIVEPC", "SHIP"]),
        {
            "codes.0.status": "applied",
            "codes.1.status": "applied",
            "programme.status": "not_applied",
            "programme.reason": "not_combinable",
            "lines.0.discount": 200,
            "lines.0.adjustments.0.source": "code",
            "shipping.total": 0,
            "total": 3800,
        },
        rules(programme(40, tier(0, pct_off(10)), combinable=False)),
        (code("FIVEPC", pct(1, 5, **COMBINABLE)), code("SHIP", freeship(2, **COMBINABLE))),
    ),
    (
        # Programme 20 % = 800; codes 5 % (200) + shipping 500 = 700 < 800: both refused.
        "two codes against a non-combinable programme: the programme saves more, both refused",
        cart(CART_4000, codes=["FIVEPC", "SHIP"]),
        {
            "codes.0.reason": "not_combinable",
            "codes.1.reason": "not_combinable",
            "programme.status": "applied",
            "lines.0.discount": 800,
            "shipping.total": 500,
            "total": 3700,
        },
        rules(programme(40, tier(0, pct_off(20)), combinable=False)),
        (code("FIVEPC", pct(1, 5, **COMBINABLE)), code("SHIP", freeship(2, **COMBINABLE))),
    ),
    (
        # Programme 500 of shipping + 5 % (200) = 700; codes 5 % (200) + shipping 500 = 700.
        "two codes against a non-combinable programme: a tie keeps the programme",
        cart(CART_4000, codes=["FIVEPC", "SHIP"]),
        {
            "codes.0.reason": "not_combinable",
            "codes.1.reason": "not_combinable",
            "programme.status": "applied",
            "total": 3800,
        },
        rules(programme(40, tier(0, pct_off(5), free_shipping()), combinable=False)),
        (code("FIVEPC", pct(1, 5, **COMBINABLE)), code("SHIP", freeship(2, **COMBINABLE))),
    ),
    (
        # The shipping code is dropped first (not combinable), then 5 % alone (200) loses
        # to the programme's 10 % (400).
        "a non-combinable pair: only the first code meets the programme",
        cart(CART_4000, codes=["FIVEPC", "SHIP"]),
        {
            "codes.0.reason": "not_combinable",
            "codes.1.reason": "not_combinable_with_code",
            "programme.status": "applied",
            "total": 4100,
        },
        rules(programme(40, tier(0, pct_off(10)), combinable=False)),
        (code("FIVEPC", pct(1, 5)), code("SHIP", freeship(2, **COMBINABLE))),
    ),
    (
        # A combinable programme: its 10 % (400), then the fixed code's 300, then 200 off
        # shipping: 4000 − 700 + 300.
        "a combinable programme, an order code and a shipping code all apply",
        cart(CART_4000, codes=["SHIP", "THREE"]),
        {
            "codes.0.status": "applied",
            "codes.1.status": "applied",
            "lines.0.discount": 700,
            "lines.0.adjustments.0.source": "benefit_programme",
            "lines.0.adjustments.1.code": "THREE",
            "shipping.adjustments.0.code": "SHIP",
            "total": 3600,
        },
        rules(programme(40, tier(0, pct_off(10)))),
        (code("THREE", fixed(1, 300, **COMBINABLE)), code("SHIP", freeship(2, 200, **COMBINABLE))),
    ),
    (
        "uses_per_customer: used up",
        cart(CART_4000, codes=["TWICE"]),
        {"codes.0.reason": "already_used_by_customer", "total": 4500},
        RuleSet.empty(),
        (code("TWICE", pct(1, uses_per_customer=2), customer_uses=2),),
    ),
    (
        "uses_per_customer: one use left",
        cart(CART_4000, codes=["TWICE"]),
        {"codes.0.status": "applied", "total": 4100},
        RuleSet.empty(),
        (code("TWICE", pct(1, uses_per_customer=2), customer_uses=1),),
    ),
]


@pytest.mark.parametrize(("cart_", "expect", "ruleset", "codes"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_code_class_case(
    cart_: Any, expect: dict[str, Any], ruleset: RuleSet, codes: tuple[CodeCandidate, ...]
) -> None:
    result = run(cart_, ruleset=ruleset, codes=codes)
    assert_invariants(result)
    data = result.to_dict()
    for path, expected in expect.items():
        assert dig(data, path) == expected, path


def test_uses_per_customer_refuses_guests() -> None:
    result = run(cart(CART_4000, codes=["TWICE"], customer_id=None), GUEST,
                 codes=[code("TWICE", pct(1, uses_per_customer=2))])  # fmt: skip
    assert result.to_dict()["codes"][0]["reason"] == "guest_not_allowed"


def test_once_per_customer_is_uses_per_customer_one() -> None:
    assert pct(1, once_per_customer=True).uses_per_customer == 1
    assert pct(1, uses_per_customer=1).once_per_customer is True
    assert pct(1, uses_per_customer=3).once_per_customer is False
    with pytest.raises(ValueError):
        pct(1, uses_per_customer=0)
    with pytest.raises(ValueError):
        pct(1, once_per_customer=True, uses_per_customer=2)


def test_free_shipping_code_without_shipping_saves_nothing() -> None:
    result = run(cart(CART_4000, codes=["TEN", "SHIP"], shipping=None),
                 codes=[code("TEN", pct(1, **COMBINABLE)),
                        code("SHIP", freeship(2, **COMBINABLE))])  # fmt: skip
    assert result.total == 3600


# --------------------------------------------------------------------------- properties


def _combinable(scenario: dict[str, Any], flags: list[bool]) -> dict[str, Any]:
    """The scenario with each found discount's ``combinable_with_other_codes`` drawn."""
    codes = {}
    for (key, candidate), flag in zip(sorted(scenario["codes"].items()), flags, strict=False):
        if candidate.discount is not None:
            disc = dataclasses.replace(candidate.discount, combinable_with_other_codes=flag)
            candidate = dataclasses.replace(candidate, discount=disc)
        codes[key] = candidate
    return {**scenario, "codes": codes}


def _without_code(scenario: dict[str, Any], index: int) -> dict[str, Any]:
    cart_ = scenario["cart"]
    codes = cart_.codes[:index] + cart_.codes[index + 1 :]
    return {**scenario, "cart": dataclasses.replace(cart_, codes=codes)}


@SETTINGS
@given(scenarios(), st.lists(st.booleans(), min_size=3, max_size=3))
def test_codes_never_raise_the_total(scenario: dict[str, Any], flags: list[bool]) -> None:
    """Whatever codes are typed, the total is never above the total without any code."""
    scenario = _combinable(scenario, flags)
    with_codes = _price(scenario)
    without = _price({**scenario, "cart": dataclasses.replace(scenario["cart"], codes=())})
    assert with_codes["total"] <= without["total"]
    applied = [c for c in with_codes["codes"] if c["status"] == "applied"]
    assert len(applied) <= 2
    assert len({c["code"].strip().upper() for c in applied}) == len(applied)


@SETTINGS
@given(scenarios(), st.lists(st.booleans(), min_size=3, max_size=3), st.data())
def test_removing_a_rejected_code_never_raises_the_total(
    scenario: dict[str, Any], flags: list[bool], data: st.DataObject
) -> None:
    scenario = _combinable(scenario, flags)
    before = _price(scenario)
    rejected = [i for i, c in enumerate(before["codes"]) if c["status"] == "rejected"]
    if not rejected:
        return
    index = data.draw(st.sampled_from(rejected))
    after = _price(_without_code(scenario, index))
    assert after["total"] <= before["total"]
