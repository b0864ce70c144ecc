"""Money helpers: int minor units, Decimal percentages, one rounding function.

Every amount in the engine is an ``int`` in the currency's minor unit (cents).
Percentages are ``Decimal`` numbers of percent: ``Decimal(10)`` is 10 %,
``Decimal("12.5")`` is 12.5 %. The only place where a fraction of a minor unit
becomes a whole minor unit is :func:`round_half_up`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

#: The rounding mode of every amount the engine computes.
ROUNDING_MODE = ROUND_HALF_UP

# A private context so that results never depend on the caller's thread-local
# decimal context (precision, traps). 60 digits hold any realistic amount.
_CONTEXT = Context(prec=60, rounding=ROUNDING_MODE)
_ONE = Decimal(1)
HUNDRED = Decimal(100)


def round_half_up(value: Decimal) -> int:
    """Round ``value`` to a whole minor unit, halves away from zero (ROUND_HALF_UP)."""
    return int(value.quantize(_ONE, rounding=ROUNDING_MODE, context=_CONTEXT))


def to_percent(value: int | str | Decimal) -> Decimal:
    """Return ``value`` as a Decimal number of percent (``10`` is 10 %).

    Floats are refused: they would carry binary noise into money.
    """
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise TypeError(f"a percentage must be int, str or Decimal, not {type(value).__name__}")
    percent = Decimal(value)
    if not percent.is_finite():
        raise ValueError(f"a percentage must be finite, not {value!r}")
    return percent


def scale(amount: int, percent: Decimal) -> Decimal:
    """Return ``amount × percent / 100`` exactly (not rounded)."""
    return _CONTEXT.divide(_CONTEXT.multiply(Decimal(amount), percent), HUNDRED)


def percent_of(amount: int, percent: Decimal) -> int:
    """Return ``percent`` % of ``amount`` minor units, rounded half-up."""
    return round_half_up(scale(amount, percent))


def price_factor(percent: Decimal, increase: bool) -> tuple[int, int]:
    """``(100 ± percent) / 100`` (+ for an increase) as an exact fraction of integers
    (numerator, positive denominator): what :func:`apply_factor` multiplies by."""
    moved = _CONTEXT.add(HUNDRED, percent) if increase else _CONTEXT.subtract(HUNDRED, percent)
    numerator, denominator = _CONTEXT.divide(moved, HUNDRED).as_integer_ratio()
    return numerator, denominator


def apply_factor(amount: int, fraction: tuple[int, int]) -> int:
    """``amount × fraction`` rounded half-up (halves away from zero), in integers only:
    ``round_half_up(scale(amount, 100 ± percent))`` for ``price_factor(percent, ...)``,
    without building a Decimal (the pricing hook does this once per cart line)."""
    numerator, denominator = fraction
    product = amount * numerator
    if product >= 0:
        return (2 * product + denominator) // (2 * denominator)
    return -((denominator - 2 * product) // (2 * denominator))
