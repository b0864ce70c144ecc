"""The same conditions, evaluated in Python for one customer (incremental updates).

Pure: :class:`CustomerFacts` in, a bool out. It must agree with :mod:`compiler` on every
customer; ``tests/segments/test_agreement.py`` checks that with random data.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from plugin.segments.conditions import Condition, resolve_day, shop_day
from plugin.segments.models import MATCH_ALL

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """What conditions look at. ``city_key``, ``country_key`` and ``tags`` are the keys
    stored with the texts (:func:`plugin.customers.keys.text_key`), as the SQL compiler
    reads them; ``order_times`` are the placing times of paid, not reversed orders (only
    needed for ``purchased_date is``)."""

    registered_at: datetime | None = None
    points: int = 0
    order_count: int = 0
    total_spent: int = 0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    used_discount_code: bool = False
    city_key: str | None = None
    country_key: str | None = None
    type: str = "individual"
    accepts_marketing: bool = False
    dropship_registered_at: datetime | None = None
    tags: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()
    order_times: tuple[datetime, ...] = ()


_NUMBERS = {
    "available_points": "points",
    "total_order_count": "order_count",
    "total_purchase_amount": "total_spent",
}
_DAYS = {
    "registration_date": "registered_at",
    "last_order_date": "last_order_at",
    "dropship_partner_registration_date": "dropship_registered_at",
}


def _day_matches(moment: datetime | None, op: str, day: date, timezone: str) -> bool:
    if moment is None:
        return False
    own = shop_day(moment, timezone)
    if op == "is":
        return own == day
    return own < day if op == "before" else own > day


def meets(facts: CustomerFacts, condition: Condition, today: date, timezone: str) -> bool:
    field, op, value = condition.field, condition.op, condition.value
    if field in _NUMBERS:
        return _COMPARE[op](getattr(facts, _NUMBERS[field]), value)
    if field in _DAYS:
        return _day_matches(getattr(facts, _DAYS[field]), op, resolve_day(value, today), timezone)
    if field == "used_discount_code":
        return facts.used_discount_code is value
    if field == "accepts_marketing":
        return facts.accepts_marketing is value
    if field in ("city", "country"):
        own = facts.city_key if field == "city" else facts.country_key
        same = own is not None and own == value
        return same if op == "is" else not same
    if field == "customer_type":
        return facts.type == value
    if field == "customer_tag":
        return (value in facts.tags) is (op == "has")
    if field == "purchased_product":
        bought = [product_id in facts.products for product_id in value]
        if op == "any_of":
            return any(bought)
        return all(bought) if op == "all_of" else not any(bought)
    if field == "purchased_date":
        day = resolve_day(value, today)
        if op == "before":
            return _day_matches(facts.first_order_at, "before", day, timezone)
        if op == "after":
            return _day_matches(facts.last_order_at, "after", day, timezone)
        return any(_day_matches(t, "is", day, timezone) for t in facts.order_times)
    raise ValueError(f"no evaluation for field {field!r}")


def evaluate(
    facts: CustomerFacts, match: str, conditions: tuple[Condition, ...], today: date, timezone: str
) -> bool:
    """Whether the customer is in a segment of ``match`` over ``conditions``."""
    results = (meets(facts, c, today, timezone) for c in conditions)
    return all(results) if match == MATCH_ALL else any(results)
