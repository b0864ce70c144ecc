"""Split an amount over lines by largest remainder, so the parts add up exactly."""

from __future__ import annotations

from collections.abc import Sequence


def allocate(amount: int, weights: Sequence[int]) -> tuple[int, ...]:
    """Split ``amount`` in proportion to ``weights`` by largest remainder.

    Each part is first rounded down; the units left over go one each to the
    parts with the largest remainders, ties to the earlier part. The parts add
    up to ``amount`` exactly, and when ``amount ≤ sum(weights)`` no part exceeds
    its weight (so allocating over what remains of lines never takes a line
    below zero). A zero weight gets nothing.
    """
    if amount < 0:
        raise ValueError(f"cannot allocate a negative amount ({amount})")
    if any(w < 0 for w in weights):
        raise ValueError("weights must be >= 0")
    total = sum(weights)
    if amount == 0:
        return tuple(0 for _ in weights)
    if total == 0:
        raise ValueError(f"cannot allocate {amount} over weights that are all zero")
    parts = [amount * w // total for w in weights]
    remainders = [amount * w % total for w in weights]
    left = amount - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        parts[i] += 1
    return tuple(parts)
