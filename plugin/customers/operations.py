"""Customers and their figures, kept from the host's customer and order webhooks."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update

from plugin.codes import redemption as redemptions
from plugin.codes.lookup import attempt_subjects
from plugin.codes.models import CODE_ASSIGNED, Code, CodeAttempt, Discount, Redemption
from plugin.customers.models import (
    ORDER_PAID,
    Customer,
    CustomerProduct,
    CustomerTag,
    Order,
    OrderLine,
)
from plugin.customers.schemas import (
    CustomerCodeOut,
    CustomerOut,
    CustomerRecordSchema,
    CustomerRedemptionOut,
)
from plugin.db import db, for_shop, insert_ignoring_conflict, utcnow
from plugin.errors import ApiError, ErrorCode
from plugin.events import CUSTOMER_SUBSCRIBED, notify
from plugin.events import ORDER_PAID as ORDER_PAID_TOPIC
from plugin.groups.models import Group
from plugin.limits import saturate
from plugin.segments import operations as segments
from plugin.segments.keys import text_key
from plugin.shops.models import Shop


def shop_moment(shop: Shop, value: date | datetime | None, *, end: bool = False) -> datetime | None:
    """A date-time as given; a date is the start of that day in the shop's time zone, or for
    an end, the end of that day (``ends_at: 2026-03-31`` still holds on the 31st)."""
    if value is None or isinstance(value, datetime):
        return value
    day = value + timedelta(days=1) if end else value
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(shop.timezone))


def default_group_id(shop: Shop) -> int:
    group_id = db.session.execute(
        select(Group.id).where(Group.shop_id == shop.id, Group.is_default.is_(True))
    ).scalar_one()
    return group_id


def find_customer(shop: Shop, external_id: str, lock: bool = False) -> Customer | None:
    query = for_shop(Customer, shop.id).where(Customer.external_id == external_id)
    if lock:
        query = query.with_for_update()
    return db.session.execute(query).scalar_one_or_none()


def ensure_customer(shop: Shop, external_id: str) -> tuple[Customer, bool]:
    """The customer, locked for this transaction; created in the default group if unknown."""
    inserted = insert_ignoring_conflict(
        Customer.__table__,
        {
            "shop_id": shop.id,
            "external_id": external_id,
            "group_id": default_group_id(shop),
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


def upsert_customer(shop: Shop, data: dict[str, Any]) -> tuple[Customer, bool]:
    """Apply a full snapshot of a customer; a new customer joins the default group."""
    customer, created = ensure_customer(shop, data["id"])
    address = data.get("default_address") or {}
    partner = data.get("dropship_partner") or {}
    customer.email = data.get("email")
    customer.phone = data.get("phone")
    customer.first_name = data.get("first_name")
    customer.last_name = data.get("last_name")
    customer.registered_at = shop_moment(shop, data.get("registered_at"))
    customer.points = data.get("points", 0)
    customer.accepts_marketing = bool(data.get("accepts_marketing"))
    customer.type = data.get("type", "individual")
    customer.city = address.get("city")
    customer.country = address.get("country")
    customer.zip = address.get("zip")
    customer.dropship_partner_id = partner.get("id")
    customer.dropship_registered_at = shop_moment(shop, partner.get("registered_at"))
    _replace_tags(shop, customer, data.get("tags") or [])
    db.session.flush()
    segments.refresh_customer(shop, customer)
    return customer, created


def _replace_tags(shop: Shop, customer: Customer, tags: list[str]) -> None:
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


def delete_customer(shop: Shop, external_id: str) -> bool:
    """Remove a customer and what hangs on them; their orders stay, anonymised."""
    customer = find_customer(shop, external_id, lock=True)
    if customer is None:
        return False
    db.session.execute(
        update(Order)
        .where(Order.shop_id == shop.id, Order.customer_id == customer.id)
        .values(customer_id=None, shipping_address=None)
    )
    # Codes handed to them and never used go with them: nobody else may use them. Used
    # ones stay (redemptions count toward limits), no longer pointing at anyone.
    db.session.execute(
        delete(Code).where(
            Code.shop_id == shop.id,
            Code.assigned_customer_id == customer.id,
            Code.status == CODE_ASSIGNED,
            Code.times_used == 0,
        )
    )
    db.session.execute(
        delete(CodeAttempt).where(
            CodeAttempt.shop_id == shop.id,
            CodeAttempt.subject.in_(attempt_subjects(external_id, None)),
        )
    )
    db.session.delete(customer)
    db.session.flush()
    return True


def record_subscription(shop: Shop, external_id: str, channel: str) -> Customer:
    customer, _ = ensure_customer(shop, external_id)
    now = utcnow()
    if channel == "email":
        customer.subscribed_email_at = now
    else:
        customer.subscribed_sms_at = now
    customer.accepts_marketing = True
    db.session.flush()
    segments.refresh_customer(shop, customer)
    notify(shop, CUSTOMER_SUBSCRIBED, [{"customer_id": external_id, "channel": channel}])
    return customer


def customer_data(shop: Shop, external_id: str) -> dict[str, Any]:
    """Everything held about one customer (``customers/data_request``)."""
    customer = find_customer(shop, external_id)
    if customer is None:
        return {"customer_id": external_id, "customer": None, "orders": []}
    orders = db.session.execute(
        for_shop(Order, shop.id).where(Order.customer_id == customer.id).order_by(Order.id)
    ).scalars()
    products = db.session.execute(
        for_shop(CustomerProduct, shop.id)
        .where(CustomerProduct.customer_id == customer.id)
        .order_by(CustomerProduct.product_id)
    ).scalars()
    record = CustomerRecordSchema().dump(
        {"customer": customer, "orders": list(orders), "products": list(products)}
    )
    used = db.session.execute(
        select(Redemption.order_external_id, Code.code, Redemption.status, Redemption.created_at)
        .join(Code, Code.id == Redemption.code_id)
        .where(Redemption.shop_id == shop.id, Redemption.customer_id == customer.id)
        .order_by(Redemption.id)
    ).all()
    return {
        "customer_id": external_id,
        **record,
        "group": _group_ref(customer.group_id),
        "segments": segments.customer_segments(shop, customer.id),
        "codes": customer_codes(shop, customer.id),
        "redemptions": CustomerRedemptionOut(many=True).dump(
            {"order_id": order_id, "code": code, "status": status, "at": at}
            for order_id, code, status, at in used
        ),
    }


def _group_ref(group_id: int) -> dict[str, Any] | None:
    group = db.session.get(Group, group_id)
    return {"id": group.id, "name": group.name, "colour": group.colour} if group else None


def _check_currency(shop: Shop, currency: str) -> None:
    if currency.upper() != shop.currency.upper():
        raise ApiError(
            ErrorCode.INVALID_PAYLOAD,
            f"The order is in {currency.upper()}, the shop counts in {shop.currency}.",
            400,
            {"order.currency": [f"Must be the shop's currency, {shop.currency}."]},
        )


def record_paid_order(shop: Shop, data: dict[str, Any]) -> bool:
    """Count a paid order once per order id; a reversal that came first makes it a no-op."""
    _check_currency(shop, data["currency"])
    customer = None
    if data.get("customer_id"):
        customer, _ = ensure_customer(shop, data["customer_id"])
    shipping = data.get("shipping") or {}
    codes = [code.strip() for code in data.get("discount_codes") or [] if code.strip()]
    now = utcnow()
    inserted = insert_ignoring_conflict(
        Order.__table__,
        {
            "shop_id": shop.id,
            "external_id": data["id"],
            "customer_id": customer.id if customer else None,
            "status": ORDER_PAID,
            "placed_at": shop_moment(shop, data["placed_at"]),
            "paid_at": now,
            "currency": data["currency"].upper(),
            "total": data["total"],
            "discount_codes": codes,
            "payment_method": data.get("payment_method"),
            "channel": data.get("channel"),
            "carrier": shipping.get("carrier"),
            "shipping_address": shipping.get("address"),
        },
    )
    if not inserted:
        return False
    order = db.session.execute(
        for_shop(Order, shop.id).where(Order.external_id == data["id"])
    ).scalar_one()
    for line in data.get("lines") or []:
        order.lines.append(
            OrderLine(
                shop_id=shop.id,
                product_id=line["product_id"],
                kind=line["kind"],
                quantity=line["quantity"],
                unit_price=line["unit_price"],
            )
        )
    db.session.flush()
    redemptions.confirm_for_order(shop, data["id"], codes, customer)
    if customer is not None:
        refresh_figures(shop, customer)
        segments.refresh_customer(shop, customer)
        notify(
            shop,
            ORDER_PAID_TOPIC,
            [{"customer_id": customer.external_id, "order_id": data["id"]}],
        )
    return True


def reverse_order(shop: Shop, external_id: str, status: str) -> bool:
    """Undo everything a paid order added; remember a reversal that arrives first."""
    now = utcnow()
    # A code held at checkout is given back even when the order was never paid.
    redemptions.release_for_order(shop, external_id)
    if insert_ignoring_conflict(
        Order.__table__,
        {
            "shop_id": shop.id,
            "external_id": external_id,
            "status": status,
            "reversed_at": now,
            "total": 0,
            "discount_codes": [],
        },
    ):
        return False  # nothing was counted yet; a later order/paid is a no-op
    order = db.session.execute(
        for_shop(Order, shop.id).where(Order.external_id == external_id)
    ).scalar_one()
    customer = None
    if order.customer_id is not None:
        # Lock the customer first, as order/paid does, so figures are recomputed in turn.
        customer = db.session.execute(
            for_shop(Customer, shop.id).where(Customer.id == order.customer_id).with_for_update()
        ).scalar_one_or_none()
    changed = db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == ORDER_PAID)
        .values(status=status, reversed_at=now)
    ).rowcount
    if not changed:
        return False
    db.session.expire(order)
    if customer is not None:
        refresh_figures(shop, customer)
        segments.refresh_customer(shop, customer)
    return True


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


__all__ = [
    "customer_data",
    "default_group_id",
    "delete_customer",
    "ensure_customer",
    "find_customer",
    "record_paid_order",
    "record_subscription",
    "refresh_figures",
    "reverse_order",
    "upsert_customer",
]


def customer_view(shop: Shop, external_id: str) -> dict[str, Any]:
    """The admin's view of one customer: snapshot, figures, group (404 when unknown)."""
    customer = find_customer(shop, external_id)
    if customer is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"Customer {external_id} was not found.", 404)
    data: dict[str, Any] = CustomerOut().dump(customer)
    data["group"] = _group_ref(customer.group_id)
    data["segments"] = segments.customer_segments(shop, customer.id)
    data["codes"] = customer_codes(shop, customer.id)
    return data


def customer_codes(shop: Shop, customer_id: int) -> list[dict[str, Any]]:
    """The codes handed to a customer (assigned or already redeemed), newest first."""
    rows = db.session.execute(
        select(
            Code.code, Code.status, Code.assigned_at, Code.expires_at, Discount.id, Discount.name
        )
        .join(Discount, Discount.id == Code.discount_id)
        .where(Code.shop_id == shop.id, Code.assigned_customer_id == customer_id)
        .order_by(Code.assigned_at.desc(), Code.id.desc())
    ).all()
    codes: list[dict[str, Any]] = CustomerCodeOut(many=True).dump(
        {
            "code": code,
            "status": status,
            "assigned_at": assigned_at,
            "expires_at": expires_at,
            "discount": {"id": discount_id, "name": name},
        }
        for code, status, assigned_at, expires_at, discount_id, name in rows
    )
    return codes
