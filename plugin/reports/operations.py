"""What discounts and groups earn, per day (contract v2 §8, "Reports").

Choices the contract left open:

- An order counts on the day it was placed (``placed_at``), in the shop's time zone
  (daylight saving included): one set-based query per report. PostgreSQL converts each
  ``placed_at`` itself (``timezone(zone, placed_at)::date``); SQLite, which has no time
  zones, shifts it by the zone's offset, a ``CASE`` over the offset's changes inside the
  range found here in Python (``_offsets``: a few per year).
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

from sqlalchemy import Date, and_, bindparam, case, cast, func, select

from plugin.codes.models import CONFIRMED, Discount, Redemption
from plugin.customers.models import ORDER_PAID, Customer, Order
from plugin.db import db, for_shop
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


def _offset(moment: datetime, zone: ZoneInfo) -> int:
    offset = moment.astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _offsets(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The zone's offset from UTC over ``[start, end)``, as ``(from, seconds)`` pieces: an
    hourly walk finds each change, then the minute it happens (zones change on the minute)."""
    pieces = [(start, _offset(start, zone))]
    moment = start
    while moment < end:
        later = min(moment + timedelta(hours=1), end)
        if _offset(later, zone) != pieces[-1][1]:
            change = moment
            while _offset(change, zone) == pieces[-1][1]:
                change += timedelta(minutes=1)
            pieces.append((change, _offset(change, zone)))
        moment = later
    return pieces


def _on_days(shop: Shop, days: list[date]) -> tuple[Any, Any]:
    """The day of an order's row (a column to select and group by), and how to read it
    back as the day's number in ``days``. PostgreSQL converts each ``placed_at`` to the shop's day
    itself (``timezone(zone, placed_at)::date``: daylight saving included); SQLite, which
    has no time zones, shifts it by the zone's offset at that moment (``_offsets``)."""
    if db.session.get_bind().dialect.name == "postgresql":
        number = {day: n for n, day in enumerate(days)}
        zone = bindparam("zone", shop.timezone)
        return cast(func.timezone(zone, Order.placed_at), Date), number.get
    zone_info = ZoneInfo(shop.timezone)
    pieces = _offsets(
        zone_info, _midnight(days[0], zone_info), _midnight(days[-1] + timedelta(days=1), zone_info)
    )
    shift: Any = f"{pieces[-1][1]:+d} seconds"
    if len(pieces) > 1:
        shift = case(
            *[
                (Order.placed_at < pieces[n + 1][0], f"{offset:+d} seconds")
                for n, (_, offset) in enumerate(pieces[:-1])
            ],
            else_=shift,
        )
    number = {day.isoformat(): n for n, day in enumerate(days)}
    return func.date(Order.placed_at, shift), number.get


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
    day, number = _on_days(shop, days)
    query = (
        select(
            Redemption.discount_id,
            day,
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
        .where(
            Redemption.status == CONFIRMED,
            Order.status == ORDER_PAID,
            _within(shop, days),
        )
        .group_by(Redemption.discount_id, day)
    )
    rows = db.session.execute(query).all()
    per_discount: dict[int, dict[int, dict[str, int]]] = {}
    for discount_id, on, redemptions, discount_total, orders_total in rows:
        per_discount.setdefault(discount_id, {})[number(on)] = {
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
        .where(Redemption.status == CONFIRMED)
        .group_by(Redemption.order_external_id)
        .subquery("code_amounts")
    )


def groups_report(shop: Shop, start: date, end: date) -> dict[str, Any]:
    """Per group: ``customers``, ``orders``, ``revenue``, ``discount_total`` and their
    series, and ``members`` (the group's size today)."""
    days = _days(start, end)
    day, number = _on_days(shop, days)
    amounts = _code_amounts(shop)
    paid = (
        Order.status == ORDER_PAID,
        Order.group_id.is_not(None),
        _within(shop, days),
    )
    query = (
        select(
            Order.group_id,
            day,
            func.count(Order.customer_id.distinct()),
            func.count(Order.id),
            func.coalesce(func.sum(Order.total), 0),
            func.coalesce(func.sum(amounts.c.amount), 0),
        )
        .select_from(Order)
        .outerjoin(amounts, amounts.c.order_id == Order.external_id)
        .where(*paid)
        .group_by(Order.group_id, day)
    )
    rows = db.session.execute(query).all()
    per_group: dict[int, dict[int, dict[str, int]]] = {}
    for group_id, on, customers, orders, revenue, discount_total in rows:
        per_group.setdefault(group_id, {})[number(on)] = {
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
            select(Customer.group_id, func.count(Customer.id)).group_by(Customer.group_id)
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
