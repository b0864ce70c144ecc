"""The segment condition language of contract §5: fields, operators, values.

A condition is ``{"field", "op", "value"}``. :func:`parse_condition` turns a stored or
submitted condition into a :class:`Condition` whose value has the right Python type;
the SQL compiler and the Python evaluator both work from that form, so they read the
same language. Relative dates (``-30d``) stay relative until :func:`resolve_day` pins
them to a calendar day in the shop's time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from plugin.customers.keys import text_key
from plugin.limits import day_flaw

DATE_OPS = ("is", "before", "after")
NUMBER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte")
TEXT_OPS = ("is", "is_not")

#: field → (kind of value, operators allowed)
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "registration_date": ("date", DATE_OPS),
    "customer_tag": ("text", ("has", "has_not")),
    "available_points": ("int", NUMBER_OPS),
    "total_order_count": ("int", NUMBER_OPS),
    "total_purchase_amount": ("int", NUMBER_OPS),
    "purchased_date": ("date", DATE_OPS),
    "last_order_date": ("date", DATE_OPS),
    "purchased_product": ("ids", ("any_of", "all_of", "none_of")),
    "dropship_partner_registration_date": ("date", DATE_OPS),
    "used_discount_code": ("bool", ("is",)),
    "city": ("text", TEXT_OPS),
    "country": ("text", TEXT_OPS),
    "customer_type": ("choice", ("is",)),
    "accepts_marketing": ("bool", ("is",)),
}
CUSTOMER_TYPES = ("individual", "business")
MAX_PRODUCT_IDS = 100
# Keep values inside what both SQLite and PostgreSQL compare as integers.
MAX_INT = 2**53
RELATIVE_DAYS = re.compile(r"^([+-]?)(\d{1,5})d$")


@dataclass(frozen=True, slots=True)
class DayValue:
    """A calendar day: a fixed date, or a number of days from today in the shop's zone."""

    day: date | None = None
    offset_days: int | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: str
    value: Any  # DayValue, int, bool, str (text_key for text) or tuple[str, ...]


class ConditionError(ValueError):
    """A condition that does not fit the language; ``part`` names ``field``/``op``/``value``."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(message)
        self.part = part
        self.message = message


def normalise(raw: dict[str, Any]) -> dict[str, Any]:
    """Check one condition and give it back in its stored form, or raise ConditionError."""
    field = raw.get("field")
    if field not in FIELDS:
        raise ConditionError("field", f"Must be one of: {', '.join(FIELDS)}.")
    kind, ops = FIELDS[field]
    op = raw.get("op")
    if op not in ops:
        raise ConditionError("op", f"{field} takes one of: {', '.join(ops)}.")
    value = raw.get("value")
    return {"field": field, "op": op, "value": _normalise_value(kind, value)}


def _normalise_value(kind: str, value: Any) -> Any:
    if kind == "date":
        if isinstance(value, str):
            text = value.strip()
            if RELATIVE_DAYS.match(text):
                return text
            if len(text) == 10:
                try:
                    day = date.fromisoformat(text)
                except ValueError:
                    pass
                else:
                    flaw = day_flaw(day)  # the input limits: a day of years 1900-9999
                    if flaw:
                        raise ConditionError("value", flaw)
                    return day.isoformat()
        raise ConditionError("value", "Must be a date YYYY-MM-DD or a relative day such as -30d.")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_INT:
            raise ConditionError("value", "Must be a whole number.")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConditionError("value", "Must be true or false.")
        return value
    if kind == "text":
        if not isinstance(value, str) or not text_key(value) or len(value.strip()) > 255:
            raise ConditionError("value", "Must be a text of 1 to 255 characters.")
        return value.strip()
    if kind == "choice":
        if value not in CUSTOMER_TYPES:
            raise ConditionError("value", f"Must be one of: {', '.join(CUSTOMER_TYPES)}.")
        return value
    # ids: a non-empty list of product ids
    if not isinstance(value, list) or not value or len(value) > MAX_PRODUCT_IDS:
        raise ConditionError("value", f"Must be a list of 1 to {MAX_PRODUCT_IDS} product ids.")
    ids: list[str] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, str | int) or not str(item).strip():
            raise ConditionError("value", "Every product id must be a non-empty string.")
        text = str(item).strip()
        if len(text) > 255:
            raise ConditionError("value", "A product id has at most 255 characters.")
        if text not in ids:
            ids.append(text)
    return ids


def parse_condition(raw: dict[str, Any]) -> Condition:
    """A stored (or submitted) condition as typed values for the compiler and evaluator."""
    stored = normalise(raw)
    field, op, value = stored["field"], stored["op"], stored["value"]
    kind = FIELDS[field][0]
    if kind == "date":
        match = RELATIVE_DAYS.match(value)
        if match:
            sign = -1 if match.group(1) == "-" else 1
            value = DayValue(offset_days=sign * int(match.group(2)))
        else:
            value = DayValue(day=date.fromisoformat(value))
    elif kind == "text":
        value = text_key(value)  # as tags, cities and countries are stored
    elif kind == "ids":
        value = tuple(value)
    return Condition(field, op, value)


def parse_conditions(raws: list[dict[str, Any]]) -> tuple[Condition, ...]:
    return tuple(parse_condition(raw) for raw in raws)


def shop_today(timezone: str, now: datetime | None = None) -> date:
    """Today's calendar day in the shop's time zone."""
    moment = now or datetime.now(UTC)
    return moment.astimezone(ZoneInfo(timezone)).date()


def resolve_day(value: DayValue, today: date) -> date:
    if value.day is not None:
        return value.day
    return today + timedelta(days=value.offset_days or 0)


def day_start(day: date, timezone: str) -> datetime:
    """The UTC instant a calendar day of the shop begins (midnight in the shop's zone)."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def shop_day(moment: datetime, timezone: str) -> date:
    """The shop's calendar day of an instant."""
    return moment.astimezone(ZoneInfo(timezone)).date()


def uses_order_days(conditions: tuple[Condition, ...]) -> bool:
    """Whether evaluating needs every paid order's time (``purchased_date is``)."""
    return any(c.field == "purchased_date" and c.op == "is" for c in conditions)


def uses_products(conditions: tuple[Condition, ...]) -> bool:
    return any(c.field == "purchased_product" for c in conditions)


def uses_tags(conditions: tuple[Condition, ...]) -> bool:
    return any(c.field == "customer_tag" for c in conditions)
