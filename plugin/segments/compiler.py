"""Conditions → one SQL query over ``customers`` (SQLAlchemy Core, SQLite and PostgreSQL).

Every condition becomes a predicate on the customer row: figures kept on ``customers``
(indexed per shop), or an ``EXISTS`` on ``customer_tags``, ``customer_products`` or
``orders`` that names the shop as well as the customer (a preview's session would add the
shop to the first two; a recompute's ``INSERT … SELECT`` and a customer's re-evaluation run
as Core statements, which its criteria do not reach). With the shop named, the planner may
use either of their keys: the per-customer one to test a few customers, or the per-shop one
(``(shop_id, tag_key, customer_id)``, ``(shop_id, product_id, customer_id)``) to read a
tag's or a product's customers once for the whole shop. Without it, a count of
``bench/segments.py``'s five conditions at 1,000,000 customers took 250-300 ms against
180-200 ms. A row of another shop never counts, whatever its customer id. ``match`` joins
them with AND or OR. Dates become half-open ranges of UTC instants (the shop's midnight to
the next), so the comparisons stay on the raw, indexed columns.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
)

from plugin.customers.models import ORDER_PAID, Customer, CustomerProduct, CustomerTag, Order
from plugin.db import in_shop
from plugin.segments.conditions import Condition, day_start, resolve_day
from plugin.segments.models import MATCH_ALL

_NUMBER_COLUMNS = {
    "available_points": Customer.points,
    "total_order_count": Customer.order_count,
    "total_purchase_amount": Customer.total_spent,
}
_DAY_COLUMNS = {
    "registration_date": Customer.registered_at,
    "last_order_date": Customer.last_order_at,
    "dropship_partner_registration_date": Customer.dropship_registered_at,
}
_BOOL_COLUMNS = {
    "used_discount_code": Customer.used_discount_code,
    "accepts_marketing": Customer.accepts_marketing,
}
# Keys made by plugin.customers.keys.text_key when the address is written: compared as
# they are, never through the database's lower() (ASCII only on SQLite, locale-bound on
# PostgreSQL), so that SQL and the Python evaluator agree.
_TEXT_COLUMNS = {"city": Customer.city_key, "country": Customer.country_key}


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    return {
        "eq": column == value,
        "ne": column != value,
        "gt": column > value,
        "gte": column >= value,
        "lt": column < value,
        "lte": column <= value,
    }[op]


def _day_range(column: Any, op: str, day: date, timezone: str) -> ColumnElement[bool]:
    start = day_start(day, timezone)
    end = day_start(day + timedelta(days=1), timezone)
    if op == "is":
        return and_(column >= start, column < end)
    if op == "before":
        return column < start
    return column >= end  # after: from the next day on


def compile_condition(
    shop_id: int, condition: Condition, today: date, timezone: str
) -> ColumnElement[bool]:
    """One condition as a predicate on a ``customers`` row of the shop."""
    field, op, value = condition.field, condition.op, condition.value
    if field in _NUMBER_COLUMNS:
        return _compare(_NUMBER_COLUMNS[field], op, value)
    if field in _DAY_COLUMNS:
        return _day_range(_DAY_COLUMNS[field], op, resolve_day(value, today), timezone)
    if field in _BOOL_COLUMNS:
        return _BOOL_COLUMNS[field].is_(true()) if value else _BOOL_COLUMNS[field].is_(false())
    if field in _TEXT_COLUMNS:
        column = _TEXT_COLUMNS[field]
        if op == "is":
            return column == value
        # A customer without that part of an address is "not" any given value.
        return or_(column.is_(None), column != value)
    if field == "customer_type":
        return Customer.type == value
    if field == "customer_tag":
        has = exists().where(
            in_shop(CustomerTag, shop_id),
            CustomerTag.customer_id == Customer.id,
            CustomerTag.tag_key == value,
        )
        return has if op == "has" else not_(has)
    if field == "purchased_product":
        return _purchased_product(shop_id, op, value)
    if field == "purchased_date":
        day = resolve_day(value, today)
        if op == "before":  # some paid order before the day ⇔ the first one is
            return _day_range(Customer.first_order_at, "before", day, timezone)
        if op == "after":  # some paid order after the day ⇔ the last one is
            return _day_range(Customer.last_order_at, "after", day, timezone)
        return exists().where(
            in_shop(Order, shop_id),  # inside an INSERT … SELECT too: the index leads with it
            Order.customer_id == Customer.id,
            Order.status == ORDER_PAID,
            _day_range(Order.placed_at, "is", day, timezone),
        )
    raise ValueError(f"no SQL for field {field!r}")


def _bought(shop_id: int, product_ids: tuple[str, ...]) -> ColumnElement[bool]:
    return exists().where(
        in_shop(CustomerProduct, shop_id),
        CustomerProduct.customer_id == Customer.id,
        CustomerProduct.product_id.in_(product_ids)
        if len(product_ids) > 1
        else CustomerProduct.product_id == product_ids[0],
    )


def _purchased_product(shop_id: int, op: str, ids: tuple[str, ...]) -> ColumnElement[bool]:
    if op == "any_of":
        return _bought(shop_id, ids)
    if op == "none_of":
        return not_(_bought(shop_id, ids))
    # all_of: one probe per product
    return and_(*(_bought(shop_id, (product_id,)) for product_id in ids))


def segment_predicate(
    shop_id: int, match: str, conditions: tuple[Condition, ...], today: date, timezone: str
) -> ColumnElement[bool]:
    """The WHERE clause selecting the shop's customers who meet ``conditions``."""
    parts = [compile_condition(shop_id, c, today, timezone) for c in conditions]
    if not parts:
        return true() if match == MATCH_ALL else false()
    return and_(*parts) if match == MATCH_ALL else or_(*parts)


def segment_customer_ids(
    shop_id: int, match: str, conditions: tuple[Condition, ...], today: date, timezone: str
) -> Select[Any]:
    """``SELECT customers.id`` of the members: the one query behind counts and recomputes."""
    predicate = segment_predicate(shop_id, match, conditions, today, timezone)
    # An INSERT … SELECT embeds it: the shop is named here, not left to the ORM's criteria.
    return select(Customer.id).where(in_shop(Customer, shop_id), predicate)


def segment_count(
    shop_id: int, match: str, conditions: tuple[Condition, ...], today: date, timezone: str
) -> Select[Any]:
    predicate = segment_predicate(shop_id, match, conditions, today, timezone)
    return select(func.count()).select_from(Customer).where(in_shop(Customer, shop_id), predicate)
