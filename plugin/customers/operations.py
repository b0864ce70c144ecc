"""Customers and their figures, kept from the host's customer and order webhooks."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.util import identity_key

from plugin.customers.keys import text_key
from plugin.customers.models import (
    ORDER_PAID,
    Customer,
    CustomerProduct,
    CustomerTag,
    Order,
    OrderLine,
)
from plugin.db import (
    UtcDateTime,
    built,
    db,
    for_shop,
    insert_ignoring_conflict,
    run_built,
    shop_param,
    utcnow,
)
from plugin.errors import ApiError, ErrorCode
from plugin.limits import MAX_INTEGER, saturate
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
    for key, spelled in wanted.items():
        if key not in current:
            customer.tags.append(CustomerTag(shop_id=shop.id, tag_key=key, tag=spelled))


def check_currency(shop: Shop, currency: str) -> None:
    if currency.upper() != shop.currency.upper():
        raise ApiError(
            ErrorCode.INVALID_PAYLOAD,
            f"The order is in {currency.upper()}, the shop counts in {shop.currency}.",
            400,
            {"order.currency": [f"Must be the shop's currency, {shop.currency}."]},
        )


def _sum(column: Any, dialect: str | None = None) -> Any:
    """A sum of non-negative integers that cannot overflow: PostgreSQL sums BIGINT as
    NUMERIC; SQLite's ``sum()`` fails past 2^63, so its ``total()`` (a float, exact while
    the sum is below 2^53, which is all :func:`saturate` keeps) is used instead."""
    if (dialect or db.session.get_bind().dialect.name) == "sqlite":
        return func.total(column)
    return func.sum(column)


# Incremental figures -------------------------------------------------------------------
#
# A paid order adds to its customer's figures and a reversal subtracts from them, each in
# one UPDATE that the row lock serialises (no read-modify-write in Python). Sums saturate
# at MAX_INTEGER: a figure below it is exact, so subtracting from it is exact too; a figure
# at it may hide more, so a reversal recounts it from the paid orders instead (as it does
# for the first and last order times when the reversed order was the first or the last,
# and for ``used_discount_code`` when the reversed order carried a code).

_CUSTOMERS = Customer.__table__
_ORDERS = Order.__table__
_LINES = OrderLine.__table__
_PRODUCTS = CustomerProduct.__table__


@dataclass(frozen=True, slots=True)
class OrderFigures:
    """What one paid order adds to its customer's figures."""

    total: int
    placed_at: datetime
    used_code: bool
    # Quantity per product over the order's lines, saturated.
    products: Mapping[str, int] = field(default_factory=dict)


def order_figures(
    total: int, placed_at: datetime, codes: Iterable[str], lines: Iterable[tuple[str, int]]
) -> OrderFigures:
    """An order's contribution: ``lines`` as ``(product_id, quantity)``."""
    products: dict[str, int] = {}
    for product_id, quantity in lines:
        products[product_id] = saturate(products.get(product_id, 0) + quantity)
    return OrderFigures(total, placed_at, any(bool(c) for c in codes), products)


def least(dialect: str) -> Any:
    return func.least if dialect == "postgresql" else func.min


def greatest(dialect: str) -> Any:
    return func.greatest if dialect == "postgresql" else func.max


def upsert(dialect: str, table: Any) -> Any:
    """``INSERT`` with ``ON CONFLICT`` clauses in ``dialect``."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def _moment(name: str) -> Any:
    return bindparam(name, type_=UtcDateTime())


def _expire(customer_id: int) -> None:
    """A Customer loaded in this session no longer holds the figures written past it."""
    loaded = db.session.identity_map.get(identity_key(Customer, customer_id))
    if loaded is not None:
        db.session.expire(loaded)


def _add_figures(dialect: str) -> Any:
    c, at = _CUSTOMERS.c, _moment("b_at")
    low, high = least(dialect), greatest(dialect)
    return (
        update(_CUSTOMERS)
        .where(c.id == bindparam("b_customer"), shop_param(c))
        .values(
            order_count=low(c.order_count + 1, MAX_INTEGER),
            total_spent=low(c.total_spent + bindparam("b_total", type_=BigInteger()), MAX_INTEGER),
            first_order_at=low(func.coalesce(c.first_order_at, at), at),
            last_order_at=high(func.coalesce(c.last_order_at, at), at),
            used_discount_code=or_(c.used_discount_code, bindparam("b_used", type_=Boolean())),
            updated_at=_moment("b_now"),
        )
    )


def _add_products(dialect: str) -> Any:
    statement = upsert(dialect, _PRODUCTS)
    p, new = _PRODUCTS.c, statement.excluded
    low, high = least(dialect), greatest(dialect)
    return statement.on_conflict_do_update(
        index_elements=[p.customer_id, p.product_id],
        set_={
            "quantity": low(p.quantity + new.quantity, MAX_INTEGER),
            "first_purchased_at": low(p.first_purchased_at, new.first_purchased_at),
            "last_purchased_at": high(p.last_purchased_at, new.last_purchased_at),
        },
    )


def add_order(shop: Shop, customer_id: int, order: OrderFigures) -> None:
    """Add one paid order to the customer's figures and bought products (two statements)."""
    run_built(
        built("add_figures", _add_figures),
        {
            "b_customer": customer_id,
            "b_shop": shop.id,
            "b_total": order.total,
            "b_at": order.placed_at,
            "b_used": order.used_code,
            "b_now": utcnow(),
        },
    )
    _expire(customer_id)
    if order.products:
        run_built(
            built("add_products", _add_products),
            [
                {
                    "customer_id": customer_id,
                    "product_id": product_id,
                    "shop_id": shop.id,
                    "quantity": quantity,
                    "first_purchased_at": order.placed_at,
                    "last_purchased_at": order.placed_at,
                }
                for product_id, quantity in sorted(order.products.items())
            ],
        )


def _paid_orders(customer: Any) -> ColumnElement[bool]:
    o = _ORDERS.c
    return and_(shop_param(o), o.customer_id == customer, o.status == ORDER_PAID)


def _subtract_figures(dialect: str, used_code: bool) -> Any:
    c, o = _CUSTOMERS.c, _ORDERS.c
    paid = _paid_orders(c.id)
    at = _moment("b_at")
    total = _sum(o.total, dialect)
    values: dict[str, Any] = {
        "order_count": case(
            (c.order_count >= MAX_INTEGER, select(func.count()).where(paid).scalar_subquery()),
            else_=c.order_count - 1,
        ),
        "total_spent": case(
            (
                c.total_spent >= MAX_INTEGER,
                select(least(dialect)(func.coalesce(total, 0), MAX_INTEGER))
                .where(paid)
                .scalar_subquery(),
            ),
            else_=c.total_spent - bindparam("b_total", type_=BigInteger()),
        ),
        "first_order_at": case(
            (c.first_order_at >= at, select(func.min(o.placed_at)).where(paid).scalar_subquery()),
            else_=c.first_order_at,
        ),
        "last_order_at": case(
            (c.last_order_at <= at, select(func.max(o.placed_at)).where(paid).scalar_subquery()),
            else_=c.last_order_at,
        ),
        "updated_at": _moment("b_now"),
    }
    if used_code:
        values["used_discount_code"] = exists().where(
            paid, func.json_array_length(o.discount_codes) > 0
        )
    return update(_CUSTOMERS).where(c.id == bindparam("b_customer"), shop_param(c)).values(values)


def _subtract_products(dialect: str) -> Any:
    p, o, line = _PRODUCTS.c, _ORDERS.c, _LINES.c
    at = _moment("b_at")
    bought = (
        select()
        .select_from(_LINES.join(_ORDERS, o.id == line.order_id))
        .where(_paid_orders(p.customer_id), line.product_id == p.product_id)
    )
    quantity = func.coalesce(_sum(line.quantity, dialect), 0)
    return (
        update(_PRODUCTS)
        .where(
            p.customer_id == bindparam("b_customer"),
            p.product_id == bindparam("b_product"),
            shop_param(p),
        )
        .values(
            quantity=case(
                (
                    p.quantity >= MAX_INTEGER,
                    bought.add_columns(least(dialect)(quantity, MAX_INTEGER)).scalar_subquery(),
                ),
                else_=p.quantity - bindparam("b_quantity", type_=BigInteger()),
            ),
            first_purchased_at=case(
                (
                    p.first_purchased_at >= at,
                    func.coalesce(
                        bought.add_columns(func.min(o.placed_at)).scalar_subquery(),
                        p.first_purchased_at,
                    ),
                ),
                else_=p.first_purchased_at,
            ),
            last_purchased_at=case(
                (
                    p.last_purchased_at <= at,
                    func.coalesce(
                        bought.add_columns(func.max(o.placed_at)).scalar_subquery(),
                        p.last_purchased_at,
                    ),
                ),
                else_=p.last_purchased_at,
            ),
        )
    )


def _drop_unbought(dialect: str) -> Any:
    p = _PRODUCTS.c
    return delete(_PRODUCTS).where(
        p.customer_id == bindparam("b_customer"), shop_param(p), p.quantity <= 0
    )


def subtract_order(shop: Shop, customer_id: int, order: OrderFigures) -> None:
    """Take one order, already marked reversed, out of the customer's figures and bought
    products: subtracted where exact, recounted from the paid orders where not."""
    params = {
        "b_customer": customer_id,
        "b_shop": shop.id,
        "b_total": order.total,
        "b_at": order.placed_at,
        "b_now": utcnow(),
    }
    if order.used_code:
        statement = built("subtract_figures_code", lambda d: _subtract_figures(d, True))
    else:
        statement = built("subtract_figures", lambda d: _subtract_figures(d, False))
    run_built(statement, params)
    _expire(customer_id)
    if not order.products:
        return
    run_built(
        built("subtract_products", _subtract_products),
        [
            {
                "b_customer": customer_id,
                "b_shop": shop.id,
                "b_product": product_id,
                "b_quantity": quantity,
                "b_at": order.placed_at,
            }
            for product_id, quantity in sorted(order.products.items())
        ],
    )
    # A product no paid order holds any more is no longer bought.
    run_built(
        built("drop_unbought", _drop_unbought), {"b_customer": customer_id, "b_shop": shop.id}
    )


#: order/paid on PostgreSQL in one round trip: the order (unless its id is known: a
#: re-delivery, or a reversal that came first), its lines, and only if the order is new,
#: what it adds to its customer's figures and bought products.
_PAID_ORDER_SQL = """
WITH o AS (
  INSERT INTO orders (shop_id, external_id, customer_id, group_id, status, placed_at,
                      paid_at, currency, total, discount_codes, payment_method, channel,
                      carrier, shipping_address)
  VALUES (:b_shop, :external_id, :customer, :group_id, :status, :placed_at, :paid_at,
          :currency, :total,
          CAST(:discount_codes AS json), :payment_method, :channel, :carrier,
          CAST(:shipping_address AS json))
  ON CONFLICT (shop_id, external_id) DO NOTHING
  RETURNING id
), l AS (
  INSERT INTO order_lines (order_id, shop_id, product_id, kind, quantity, unit_price)
  SELECT o.id, :b_shop, v.product_id, v.kind, v.quantity, v.unit_price
  FROM o, unnest(CAST(:line_products AS text[]), CAST(:line_kinds AS text[]),
                 CAST(:line_quantities AS bigint[]), CAST(:line_prices AS bigint[]))
          WITH ORDINALITY AS v(product_id, kind, quantity, unit_price, n)
  ORDER BY v.n
)%(figures)s
SELECT id FROM o
"""
_PAID_ORDER_FIGURES_SQL = """, f AS (
  UPDATE customers SET
    order_count = least(order_count + 1, %(max)d),
    total_spent = least(total_spent + :total, %(max)d),
    first_order_at = least(coalesce(first_order_at, :placed_at), :placed_at),
    last_order_at = greatest(coalesce(last_order_at, :placed_at), :placed_at),
    used_discount_code = used_discount_code OR :used_code,
    updated_at = :paid_at
  WHERE id = :customer AND shop_id = :b_shop AND EXISTS (SELECT FROM o)
), p AS (
  INSERT INTO customer_products (customer_id, product_id, shop_id, quantity,
                                 first_purchased_at, last_purchased_at)
  SELECT :customer, v.product_id, :b_shop, v.quantity, :placed_at, :placed_at
  FROM unnest(CAST(:products AS text[]), CAST(:quantities AS bigint[]))
       AS v(product_id, quantity)
  WHERE EXISTS (SELECT FROM o)
  ON CONFLICT (customer_id, product_id) DO UPDATE SET
    quantity = least(customer_products.quantity + excluded.quantity, %(max)d),
    first_purchased_at = least(customer_products.first_purchased_at,
                               excluded.first_purchased_at),
    last_purchased_at = greatest(customer_products.last_purchased_at,
                                 excluded.last_purchased_at)
)"""


def _paid_order_sql(with_customer: bool) -> Any:
    figures = _PAID_ORDER_FIGURES_SQL % {"max": MAX_INTEGER} if with_customer else ""
    return text(_PAID_ORDER_SQL % {"figures": figures}).bindparams(
        bindparam("placed_at", type_=UtcDateTime()), bindparam("paid_at", type_=UtcDateTime())
    )


def _order_insert(dialect: str) -> Any:
    return upsert(dialect, _ORDERS).on_conflict_do_nothing().returning(_ORDERS.c.id)


def insert_paid_order(
    shop: Shop,
    customer_id: int | None,
    row: dict[str, Any],
    lines: list[dict[str, Any]],
    figures: OrderFigures | None,
) -> int | None:
    """Insert a paid order (``row``: the columns of ``orders`` but ``shop_id``) and its
    lines, and add ``figures`` to its customer's (:func:`add_order`); the order's id, or
    None when the order id was already known, in which case nothing changed. One
    statement on PostgreSQL."""
    if db.session.get_bind().dialect.name != "postgresql":
        order_id: int | None = run_built(
            built("order_insert", _order_insert), {"shop_id": shop.id, **row}
        ).scalar_one_or_none()
        if order_id is None:
            return None
        if lines:
            db.session.execute(
                insert(_LINES),
                [{"order_id": order_id, "shop_id": shop.id, **line} for line in lines],
            )
        if customer_id is not None and figures is not None:
            add_order(shop, customer_id, figures)
        return order_id
    with_customer = customer_id is not None and figures is not None
    statement = built(f"paid_order_{with_customer}", lambda _: _paid_order_sql(with_customer))
    params = {
        "b_shop": shop.id,
        "external_id": row["external_id"],
        "customer": customer_id,
        "group_id": row["group_id"],
        "status": row["status"],
        "placed_at": row["placed_at"],
        "paid_at": row["paid_at"],
        "currency": row["currency"],
        "total": row["total"],
        "discount_codes": json.dumps(row["discount_codes"]),
        "payment_method": row["payment_method"],
        "channel": row["channel"],
        "carrier": row["carrier"],
        "shipping_address": None
        if row["shipping_address"] is None
        else json.dumps(row["shipping_address"]),
        "line_products": [line["product_id"] for line in lines],
        "line_kinds": [line["kind"] for line in lines],
        "line_quantities": [line["quantity"] for line in lines],
        "line_prices": [line["unit_price"] for line in lines],
    }
    if with_customer:
        assert figures is not None
        products = sorted(figures.products.items())
        params |= {
            "used_code": figures.used_code,
            "products": [product_id for product_id, _ in products],
            "quantities": [quantity for _, quantity in products],
        }
    order_id = run_built(statement, params).scalar_one_or_none()
    if order_id is not None and customer_id is not None:
        _expire(customer_id)
    return order_id
