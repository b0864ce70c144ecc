"""What the host tells about customers and orders, and everything it sets off.

A customer snapshot, a subscription, a paid or reversed order, a redaction: each updates
the customer's record and figures (``plugin.customers``), their segments
(``plugin.segments``) and the codes they hold or used (``plugin.codes``), in the webhook's
transaction. This feature sits above those three so that they never import each other
upwards; it also answers ``customers/data_request`` and the admin's view of a customer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm.util import identity_key

from plugin.codes import redemption as redemptions
from plugin.codes.lookup import attempt_subjects
from plugin.codes.models import CODE_ASSIGNED, Code, CodeAttempt, Discount, Redemption
from plugin.customers.models import ORDER_PAID, Customer, CustomerProduct, Order, OrderLine
from plugin.customers.operations import (
    check_currency,
    ensure_customer,
    find_customer,
    insert_paid_order,
    order_figures,
    replace_tags,
    shop_moment,
    subtract_order,
    upsert,
)
from plugin.customers.schemas import (
    CustomerCodeOut,
    CustomerOut,
    CustomerRecordSchema,
    CustomerRedemptionOut,
)
from plugin.db import (
    SHOP_PARAM,
    UtcDateTime,
    built,
    db,
    for_shop,
    in_shop,
    insert_ignoring_conflict,
    run_built,
    shop_param,
    utcnow,
)
from plugin.errors import ApiError, ErrorCode
from plugin.events import CUSTOMER_SUBSCRIBED, notify
from plugin.events import ORDER_PAID as ORDER_PAID_TOPIC
from plugin.groups.models import Group
from plugin.groups.operations import default_group_id
from plugin.segments import operations as segments
from plugin.segments.operations import CustomerRef
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
        .where(Order.customer_id == customer.id)
        .values(customer_id=None, shipping_address=None)
    )
    # Codes handed to them and never used go with them: nobody else may use them. Used
    # ones stay (redemptions count toward limits), no longer pointing at anyone.
    db.session.execute(
        delete(Code).where(
            Code.assigned_customer_id == customer.id,
            Code.status == CODE_ASSIGNED,
            Code.times_used == 0,
        )
    )
    db.session.execute(
        delete(CodeAttempt).where(
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
        .where(Redemption.customer_id == customer.id)
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


def _customer_upsert(dialect: str) -> Any:
    """The customer's row id, the row created in the shop's default group when unknown and
    locked either way (the conflict's update takes the row lock): one statement."""
    groups = Group.__table__.c
    statement = upsert(dialect, Customer.__table__).values(
        shop_id=bindparam(SHOP_PARAM),
        external_id=bindparam("b_external"),
        group_id=select(groups.id)
        .where(shop_param(groups), groups.is_default.is_(True))
        .scalar_subquery(),
        points=0,
        accepts_marketing=False,
        type="individual",
        city_key=None,
        country_key=None,
        order_count=0,
        total_spent=0,
        used_discount_code=False,
        created_at=bindparam("b_now", type_=UtcDateTime()),
        updated_at=bindparam("b_now", type_=UtcDateTime()),
    )
    statement = statement.on_conflict_do_update(
        index_elements=["shop_id", "external_id"],
        set_={"external_id": statement.excluded.external_id},
    )
    columns = [Customer.__table__.c.id, Customer.__table__.c.group_id]
    if dialect != "postgresql":
        return statement.returning(*columns)
    # PostgreSQL: the order's first redemption (the codes feature's read) rides along, so
    # that order/paid does not ask for it in a statement of its own. Read at the start
    # of this statement, as a statement of its own would read it; nothing between here
    # and its use changes redemptions.
    held = redemptions.order_redemption().cte("held")
    return statement.add_cte(held).returning(
        *columns,
        select(held.c.status).scalar_subquery(),
        select(held.c.code_id).scalar_subquery(),
    )


def record_paid_order(shop: Shop, data: dict[str, Any]) -> bool:
    """Count a paid order once per order id; a reversal that came first makes it a no-op.

    Its figures are added to the customer's in place (:func:`add_order`), and the
    customer's segments are re-evaluated in SQL: a handful of statements, whatever the
    number of orders the customer already has."""
    check_currency(shop, data["currency"])
    now = utcnow()
    customer_id: int | None = None
    group_id: int | None = None
    held: redemptions.OrderRedemption | None = None
    external_customer = data.get("customer_id")
    if external_customer:
        # Locks the customer first, as reversals do, so their figures change in turn.
        row = run_built(
            built("customer_upsert", _customer_upsert),
            {
                "b_shop": shop.id,
                "b_external": external_customer,
                "b_now": now,
                "b_order": data["id"],
            },
        ).one()
        customer_id, group_id = row[0], row[1]
        if len(row) > 2:
            held = redemptions.OrderRedemption(row[2], row[3])
    shipping = data.get("shipping") or {}
    codes = [code.strip() for code in data.get("discount_codes") or [] if code.strip()]
    placed_at = shop_moment(shop, data["placed_at"])
    assert placed_at is not None
    lines = [
        {
            "product_id": line["product_id"],
            "kind": line["kind"],
            "quantity": line["quantity"],
            "unit_price": line["unit_price"],
        }
        for line in data.get("lines") or []
    ]
    figures = order_figures(
        data["total"], placed_at, codes, ((line["product_id"], line["quantity"]) for line in lines)
    )
    order_id = insert_paid_order(
        shop,
        customer_id,
        {
            "external_id": data["id"],
            "customer_id": customer_id,
            # The group the customer is in as the order is paid (the groups report).
            "group_id": group_id,
            "status": ORDER_PAID,
            "placed_at": placed_at,
            "paid_at": now,
            "currency": data["currency"].upper(),
            "total": data["total"],
            "discount_codes": codes,
            "payment_method": data.get("payment_method"),
            "channel": data.get("channel"),
            "carrier": shipping.get("carrier"),
            "shipping_address": shipping.get("address"),
        },
        lines,
        figures,
    )
    if order_id is None:
        return False
    redemptions.confirm_for_order(shop, data["id"], codes, customer_id, held)
    if customer_id is not None:
        segments.refresh_customer(shop, CustomerRef(customer_id, external_customer))
        notify(
            shop,
            ORDER_PAID_TOPIC,
            [{"customer_id": external_customer, "order_id": data["id"]}],
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
    orders = Order.__table__.c
    order = db.session.execute(
        select(orders.id, orders.customer_id).where(
            in_shop(orders, shop.id), orders.external_id == external_id
        )
    ).one()
    customer: Any = None
    if order.customer_id is not None:
        # Lock the customer first, as order/paid does, so figures change in turn.
        customer = db.session.execute(
            select(Customer.__table__.c.id, Customer.__table__.c.external_id)
            .where(
                Customer.__table__.c.id == order.customer_id,
                in_shop(Customer.__table__.c, shop.id),
            )
            .with_for_update()
        ).one_or_none()
    reversed_order = db.session.execute(
        update(Order.__table__)
        .where(orders.id == order.id, in_shop(orders, shop.id), orders.status == ORDER_PAID)
        .values(status=status, reversed_at=now)
        .returning(orders.total, orders.placed_at, orders.discount_codes)
    ).one_or_none()
    if reversed_order is None:
        return False
    _expire_order(order.id)
    if customer is not None:
        lines = db.session.execute(
            select(OrderLine.__table__.c.product_id, OrderLine.__table__.c.quantity).where(
                OrderLine.__table__.c.order_id == order.id,
                in_shop(OrderLine.__table__.c, shop.id),
            )
        ).all()
        total, placed_at, codes = reversed_order
        subtract_order(
            shop,
            customer.id,
            order_figures(total, placed_at, codes or [], ((p, q) for p, q in lines)),
        )
        segments.refresh_customer(shop, CustomerRef(customer.id, customer.external_id))
    return True


def _expire_order(order_id: int) -> None:
    loaded = db.session.identity_map.get(identity_key(Order, order_id))
    if loaded is not None:
        db.session.expire(loaded)


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
        .where(Code.assigned_customer_id == customer_id)
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
