"""Customers and their figures, kept from the host's customer and order webhooks."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select

from plugin.customers.keys import text_key
from plugin.customers.models import (
    ORDER_PAID,
    Customer,
    CustomerProduct,
    CustomerTag,
    Order,
    OrderLine,
)
from plugin.db import db, for_shop, insert_ignoring_conflict, utcnow
from plugin.errors import ApiError, ErrorCode
from plugin.limits import saturate
from plugin.shops.models import Shop


def shop_moment(shop: Shop, value: date | datetime | None, *, end: bool = False) -> datetime | None:
    """A date-time as given; a date is the start of that day in the shop's time zone, or for
    an end, the end of that day (``ends_at: 2026-03-31`` still holds on the 31st)."""
    if value is None or isinstance(value, datetime):
        return value
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(shop.timezone))


def find_customer(shop: Shop, external_id: str, lock: bool = False) -> Customer | None:
    query = for_shop(Customer, shop.id).where(Customer.external_id == external_id)
    if lock:
        query = query.with_for_update()
    return db.session.execute(query).scalar_one_or_none()


def ensure_customer(shop: Shop, external_id: str, group_id: int) -> tuple[Customer, bool]:
    """The customer, locked for this transaction; created in ``group_id`` (the shop's
    default group, ``plugin.groups.operations.default_group_id``) if unknown."""
    inserted = insert_ignoring_conflict(
        Customer.__table__,
        {
            "shop_id": shop.id,
            "external_id": external_id,
            "group_id": group_id,
            "points": 0,
            "accepts_marketing": False,
            "type": "individual",
            "order_count": 0,
            "total_spent": 0,
            "used_discount_code": False,
            "created_at": utcnow(),
            "updated_at": utcnow(),
        },
    )
    customer = find_customer(shop, external_id, lock=True)
    assert customer is not None
    return customer, inserted


def replace_tags(shop: Shop, customer: Customer, tags: list[str]) -> None:
    wanted: dict[str, str] = {}
    for tag in tags:
        wanted.setdefault(text_key(tag), tag.strip())
    current = {t.tag_key: t for t in customer.tags}
    for key, tag in list(current.items()):
        if key not in wanted:
            customer.tags.remove(tag)
        else:
            tag.tag = wanted[key]
    for key, text in wanted.items():
        if key not in current:
            customer.tags.append(CustomerTag(shop_id=shop.id, tag_key=key, tag=text))


def check_currency(shop: Shop, currency: str) -> None:
    if currency.upper() != shop.currency.upper():
        raise ApiError(
            ErrorCode.INVALID_PAYLOAD,
            f"The order is in {currency.upper()}, the shop counts in {shop.currency}.",
            400,
            {"order.currency": [f"Must be the shop's currency, {shop.currency}."]},
        )


def refresh_figures(shop: Shop, customer: Customer) -> None:
    """Recompute one customer's figures from their paid, not reversed orders."""
    paid = (Order.shop_id == shop.id, Order.customer_id == customer.id, Order.status == ORDER_PAID)
    count, total, first, last = db.session.execute(
        select(
            func.count(Order.id),
            func.coalesce(_sum(Order.total), 0),
            func.min(Order.placed_at),
            func.max(Order.placed_at),
        ).where(*paid)
    ).one()
    codes = db.session.execute(select(Order.discount_codes).where(*paid)).scalars()
    # Saturated, never overflowing: one huge order cannot make the next ones fail.
    customer.order_count = saturate(count)
    customer.total_spent = saturate(int(total))
    customer.first_order_at = _as_utc(first)
    customer.last_order_at = _as_utc(last)
    customer.used_discount_code = any(bool(c) for c in codes)
    db.session.execute(
        delete(CustomerProduct).where(
            CustomerProduct.shop_id == shop.id, CustomerProduct.customer_id == customer.id
        )
    )
    rows = db.session.execute(
        select(
            OrderLine.product_id,
            _sum(OrderLine.quantity),
            func.min(Order.placed_at),
            func.max(Order.placed_at),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(*paid)
        .group_by(OrderLine.product_id)
    ).all()
    for product_id, quantity, first_at, last_at in rows:
        db.session.add(
            CustomerProduct(
                shop_id=shop.id,
                customer_id=customer.id,
                product_id=product_id,
                quantity=saturate(int(quantity)),
                first_purchased_at=_as_utc(first_at),
                last_purchased_at=_as_utc(last_at),
            )
        )
    db.session.flush()


def _sum(column: Any) -> Any:
    """A sum of non-negative integers that cannot overflow: PostgreSQL sums BIGINT as
    NUMERIC; SQLite's ``sum()`` fails past 2^63, so its ``total()`` (a float, exact while
    the sum is below 2^53, which is all :func:`saturate` keeps) is used instead."""
    if db.session.get_bind().dialect.name == "sqlite":
        return func.total(column)
    return func.sum(column)


def _as_utc(value: Any) -> datetime | None:
    """Aggregates bypass the column type on SQLite: give them back aware and in UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


