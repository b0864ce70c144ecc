"""What the host tells about customers and orders, and everything it sets off.

A customer snapshot, a subscription, a paid or reversed order, a redaction: each updates
the customer's record and figures (``plugin.customers``), their segments
(``plugin.segments``) and the codes they hold or used (``plugin.codes``), in the webhook's
transaction. This feature sits above those three so that they never import each other
upwards; it also answers ``customers/data_request`` and the admin's view of a customer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from plugin.codes import redemption as redemptions
from plugin.codes.lookup import attempt_subjects
from plugin.codes.models import CODE_ASSIGNED, Code, CodeAttempt, Discount, Redemption
from plugin.customers.models import ORDER_PAID, Customer, CustomerProduct, Order, OrderLine
from plugin.customers.operations import (
    check_currency,
    ensure_customer,
    find_customer,
    refresh_figures,
    replace_tags,
    shop_moment,
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
from plugin.groups.operations import default_group_id
from plugin.segments import operations as segments
from plugin.shops.models import Shop


def _ensure(shop: Shop, external_id: str) -> tuple[Customer, bool]:
    """The customer, locked; created in the shop's default group if unknown."""
    return ensure_customer(shop, external_id, default_group_id(shop))


def upsert_customer(shop: Shop, data: dict[str, Any]) -> tuple[Customer, bool]:
    """Apply a full snapshot of a customer; a new customer joins the default group."""
    customer, created = _ensure(shop, data["id"])
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
    replace_tags(shop, customer, data.get("tags") or [])
    db.session.flush()
    segments.refresh_customer(shop, customer)
    return customer, created


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
    customer, _ = _ensure(shop, external_id)
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


def record_paid_order(shop: Shop, data: dict[str, Any]) -> bool:
    """Count a paid order once per order id; a reversal that came first makes it a no-op."""
    check_currency(shop, data["currency"])
    customer = None
    if data.get("customer_id"):
        customer, _ = _ensure(shop, data["customer_id"])
    shipping = data.get("shipping") or {}
    codes = [code.strip() for code in data.get("discount_codes") or [] if code.strip()]
    now = utcnow()
    inserted = insert_ignoring_conflict(
        Order.__table__,
        {
            "shop_id": shop.id,
            "external_id": data["id"],
            "customer_id": customer.id if customer else None,
            # The group the customer is in as the order is paid (the groups report).
            "group_id": customer.group_id if customer else None,
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
