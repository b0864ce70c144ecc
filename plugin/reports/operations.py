"""What discounts and groups earn, per day (contract v2 §8, "Reports").

Choices the contract left open:

- An order counts on the day it was placed (``placed_at``), in the shop's time zone. Days
  are the shop's midnights converted to UTC in Python (daylight saving included), sent as
  one ``VALUES`` table, and orders are joined to the day whose bounds hold them: one set-based
  query per report, the same on SQLite and PostgreSQL, with no time-zone arithmetic in SQL.
- Refunds and cancellations are netted by leaving the order out: a refunded or cancelled
  order counts on no day (the contract's reversals are whole orders). A report of a past
  range can therefore shrink when an order of it is refunded later.
- Discounts: a redemption counts once its order is paid (``confirmed``); what its code took
  off the order is the amount priced at the redeem hook (``redemptions.amount``), 0 for a
  paid order whose code never went through the hook. Every discount of the shop is listed,
  those without a use too.
- Groups: an order counts in the group its customer was in when it was paid
  (``orders.group_id``), wherever the customer went since; guests' orders and those of
  groups since deleted count in no group. ``customers`` are the distinct customers with such
  an order (over the range, and per day); ``members`` is the group's size today;
  ``revenue`` the orders' totals; ``discount_total`` what codes took off those orders.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, column, func, select, values

from plugin.codes.models import CONFIRMED, Discount, Redemption
from plugin.customers.models import ORDER_PAID, Customer, Order
from plugin.db import UtcDateTime, db, for_shop
from plugin.groups.models import Group
from plugin.shops.models import Shop

#: The range a report covers when none is asked for.
DEFAULT_DAYS = 30


def shop_today(shop: Shop) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(shop.timezone)).date()


def report_range(shop: Shop, start: date | None, end: date | None) -> tuple[date, date]:
    """The days asked for; a missing end is 30 days on (or today), a missing start 30 before."""
    span = timedelta(days=DEFAULT_DAYS - 1)
    if start is None and end is None:
        end = shop_today(shop)
    if start is None:
        assert end is not None
        start = end - span
    if end is None:
        end = start + span
    return start, end


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def _day_table(shop: Shop, days: list[date]) -> Any:
    """``days(day, starts_at, ends_at)``: each day of the shop and its bounds in UTC."""
    zone = ZoneInfo(shop.timezone)
    rows = [
        (n, _midnight(day, zone), _midnight(day + timedelta(days=1), zone))
        for n, day in enumerate(days)
    ]
    return (
        values(
            column("day", Integer),
            column("starts_at", UtcDateTime),
            column("ends_at", UtcDateTime),
            name="days",
        )
        .data(rows)
        .cte("days")
    )


def _in_day(days: Any) -> Any:
    return and_(Order.placed_at >= days.c.starts_at, Order.placed_at < days.c.ends_at)


def _within(shop: Shop, days: list[date]) -> Any:
    zone = ZoneInfo(shop.timezone)
    return and_(
        Order.placed_at >= _midnight(days[0], zone),
        Order.placed_at < _midnight(days[-1] + timedelta(days=1), zone),
    )


def _series(days: list[date], found: dict[int, dict[str, int]], names: Iterable[str]) -> list:
    zero = dict.fromkeys(names, 0)
    return [{"day": day, **found.get(n, zero)} for n, day in enumerate(days)]


def _sum(items: list[dict[str, Any]], names: Iterable[str]) -> dict[str, int]:
    return {name: sum(item[name] for item in items) for name in names}


DISCOUNT_FIGURES = ("redemptions", "discount_total", "orders_total")
GROUP_FIGURES = ("customers", "orders", "revenue", "discount_total")


def discounts_report(shop: Shop, start: date, end: date) -> dict[str, Any]:
    """Per discount: ``redemptions``, ``discount_total``, ``orders_total`` and their series."""
    days = _days(start, end)
    table = _day_table(shop, days)
    rows = db.session.execute(
        select(
            Redemption.discount_id,
            table.c.day,
            func.count(Redemption.id),
            func.coalesce(func.sum(Redemption.amount), 0),
            func.coalesce(func.sum(Order.total), 0),
        )
        .select_from(Redemption)
        .join(
            Order,
            and_(
                Order.shop_id == Redemption.shop_id,
                Order.external_id == Redemption.order_external_id,
            ),
        )
        .join(table, _in_day(table))
        .where(
            Redemption.shop_id == shop.id,
            Redemption.status == CONFIRMED,
            Order.status == ORDER_PAID,
            _within(shop, days),
        )
        .group_by(Redemption.discount_id, table.c.day)
    ).all()
    per_discount: dict[int, dict[int, dict[str, int]]] = {}
    for discount_id, day, redemptions, discount_total, orders_total in rows:
        per_discount.setdefault(discount_id, {})[day] = {
            "redemptions": int(redemptions),
            "discount_total": int(discount_total),
            "orders_total": int(orders_total),
        }
    discounts = db.session.execute(
        for_shop(Discount, shop.id).order_by(Discount.name_key, Discount.id)
    ).scalars()
    items = []
    for discount in discounts:
        series = _series(days, per_discount.get(discount.id, {}), DISCOUNT_FIGURES)
        items.append(
            {
                "discount": {"id": discount.id, "name": discount.name},
                **_sum(series, DISCOUNT_FIGURES),
                "series": series,
            }
        )
    return _report(shop, start, end, items, _sum(items, DISCOUNT_FIGURES))


def _code_amounts(shop: Shop) -> Any:
    """What codes took off each paid order (a subquery: order id → amount)."""
    return (
        select(
            Redemption.order_external_id.label("order_id"),
            func.sum(Redemption.amount).label("amount"),
        )
        .where(Redemption.shop_id == shop.id, Redemption.status == CONFIRMED)
        .group_by(Redemption.order_external_id)
        .subquery("code_amounts")
    )


def groups_report(shop: Shop, start: date, end: date) -> dict[str, Any]:
    """Per group: ``customers``, ``orders``, ``revenue``, ``discount_total`` and their
    series, and ``members`` (the group's size today)."""
    days = _days(start, end)
    table = _day_table(shop, days)
    amounts = _code_amounts(shop)
    paid = (
        Order.shop_id == shop.id,
        Order.status == ORDER_PAID,
        Order.group_id.is_not(None),
        _within(shop, days),
    )
    rows = db.session.execute(
        select(
            Order.group_id,
            table.c.day,
            func.count(Order.customer_id.distinct()),
            func.count(Order.id),
            func.coalesce(func.sum(Order.total), 0),
            func.coalesce(func.sum(amounts.c.amount), 0),
        )
        .select_from(Order)
        .join(table, _in_day(table))
        .outerjoin(amounts, amounts.c.order_id == Order.external_id)
        .where(*paid)
        .group_by(Order.group_id, table.c.day)
    ).all()
    per_group: dict[int, dict[int, dict[str, int]]] = {}
    for group_id, day, customers, orders, revenue, discount_total in rows:
        per_group.setdefault(group_id, {})[day] = {
            "customers": int(customers),
            "orders": int(orders),
            "revenue": int(revenue),
            "discount_total": int(discount_total),
        }
    # Customers over the whole range: distinct, not the sum of the days.
    customers = dict(
        db.session.execute(
            select(Order.group_id, func.count(Order.customer_id.distinct()))
            .where(*paid)
            .group_by(Order.group_id)
        ).all()
    )
    members = dict(
        db.session.execute(
            select(Customer.group_id, func.count(Customer.id))
            .where(Customer.shop_id == shop.id)
            .group_by(Customer.group_id)
        ).all()
    )
    groups = db.session.execute(
        for_shop(Group, shop.id).order_by(Group.name_key, Group.id)
    ).scalars()
    items = []
    for group in groups:
        series = _series(days, per_group.get(group.id, {}), GROUP_FIGURES)
        items.append(
            {
                "group": {"id": group.id, "name": group.name, "colour": group.colour},
                "members": int(members.get(group.id, 0)),
                **_sum(series, GROUP_FIGURES),
                "customers": int(customers.get(group.id, 0)),
                "series": series,
            }
        )
    totals = _sum(items, GROUP_FIGURES)
    # A customer counts once in all even if they ordered from two groups.
    totals["customers"] = int(
        db.session.execute(
            select(func.count(Order.customer_id.distinct())).where(*paid)
        ).scalar_one()
    )
    return _report(shop, start, end, items, totals)


def _report(
    shop: Shop, start: date, end: date, items: list[dict[str, Any]], totals: dict[str, int]
) -> dict[str, Any]:
    return {
        "from_": start,
        "to": end,
        "timezone": shop.timezone,
        "currency": shop.currency,
        "items": items,
        "totals": totals,
    }


__all__ = ["discounts_report", "groups_report", "report_range"]
