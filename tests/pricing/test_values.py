"""``quick_init``: the engine's per-line values are made faster and behave as before."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import FrozenInstanceError, InitVar, dataclass, field
from typing import Any

import pytest

from plugin.pricing import Line
from plugin.pricing.result import Adjustment, LineResult
from plugin.pricing.values import quick_init


@dataclass(frozen=True, slots=True)
class _Plain:
    a: int
    b: str
    c: tuple[int, ...] = ()
    d: int | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class _Quick:
    a: int
    b: str
    c: tuple[int, ...] = ()
    d: int | None = None


def test_the_quick_init_is_installed_on_the_per_line_values() -> None:
    for cls in (Line, LineResult, Adjustment):
        assert cls.__init__.__code__.co_filename == "<string>"
        assert "_set_0" in cls.__init__.__code__.co_names


def test_same_signature_defaults_and_values_as_the_dataclass_init() -> None:
    assert str(inspect.signature(_Quick)) == str(inspect.signature(_Plain))
    cases: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((1, "x"), {}),
        ((1, "x", (2,)), {"d": 4}),
        ((), {"b": "y", "a": 2}),
    ]
    for args, kwargs in cases:
        made, plain = _Quick(*args, **kwargs), _Plain(*args, **kwargs)
        assert dataclasses.astuple(made) == dataclasses.astuple(plain)
    with pytest.raises(TypeError):
        _Quick(1)  # type: ignore[call-arg]  # a required field missing
    with pytest.raises(TypeError):
        _Quick(1, "x", e=3)  # type: ignore[call-arg]  # no such field


def test_the_values_stay_frozen_equal_hashable_and_replaceable() -> None:
    adjustment = Adjustment("price_rule", "Rule 1", -100, rule_id=7)
    assert (adjustment.code, adjustment.discount_id, adjustment.offer_id) == (None, None, None)
    assert adjustment == Adjustment("price_rule", "Rule 1", -100, 7)
    assert hash(adjustment) == hash(Adjustment("price_rule", "Rule 1", -100, 7))
    assert repr(adjustment).startswith("Adjustment(source='price_rule', label='Rule 1'")
    with pytest.raises(FrozenInstanceError):
        adjustment.amount = 0  # type: ignore[misc]
    moved = dataclasses.replace(adjustment, amount=-50)
    assert (moved.amount, moved.rule_id, moved.label) == (-50, 7, "Rule 1")
    result = LineResult("l1", 2, 500, 400, 800, 0, 800, (adjustment,))
    assert result.to_dict()["adjustments"] == [adjustment.to_dict()]
    assert not hasattr(result, "__dict__")  # still slotted


def test_post_init_still_checks_each_line() -> None:
    line = Line("l1", "p1", "product", ("c1",), 2, 500)
    assert dataclasses.astuple(line) == ("l1", "p1", "product", ("c1",), 2, 500)
    with pytest.raises(ValueError, match="kind must be product or service"):
        Line("l1", "p1", "gift", (), 1, 100)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unit_price must be >= 0"):
        Line("l1", "p1", "product", (), 1, -1)


def test_refuses_what_it_would_build_wrongly() -> None:
    @dataclass(frozen=True, slots=True)
    class Factory:
        a: list[int] = field(default_factory=list)

    @dataclass(frozen=True, slots=True)
    class Hidden:
        a: int
        b: int = field(init=False, default=0)

    @dataclass(frozen=True, slots=True)
    class KeywordOnly:
        a: int = field(kw_only=True)

    @dataclass(frozen=True)
    class Unslotted:
        a: int

    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(frozen=True)
    class WithInitVar:
        a: int
        b: InitVar[int]

    for cls in (Factory, Hidden, KeywordOnly, Unslotted, Mutable, WithInitVar, int):
        with pytest.raises(TypeError):
            quick_init(cls)
