"""What the host tells about customers and orders, and everything it sets off.

A customer snapshot, a subscription, a paid or reversed order, a redaction: each updates
the customer's record and figures (``plugin.customers``), their segments
(``plugin.segments``) and the codes they hold or used (``plugin.codes``), in the webhook's
transaction. This feature sits above those three so that they never import each other
upwards; it also answers ``customers/data_request`` and the admin's view of a customer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    bindparam,
    delete,
    false,
    literal_column,
    null,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
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
from plugin.shops.operations import ClaimAlong


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


_ZERO = literal_column("0", BigInteger)


def _customer_values(shop: Any, groups_of_shop: Any) -> dict[str, Any]:
    """A new customer's row in the shop ``shop`` (an expression), in its default group
    (``groups_of_shop``: the clause that limits ``groups`` to that shop)."""
    groups = Group.__table__.c
    return {
        "shop_id": shop,
        "external_id": bindparam("b_external"),
        "group_id": select(groups.id)
        .where(groups_of_shop, groups.is_default.is_(True))
        .scalar_subquery(),
        # Every column the model gives a default: a statement in a WITH clause (the claim's)
        # gets none of them filled in. Constants written in the SQL, not bound: fewer
        # parameters to send on every webhook.
        "group_locked": false(),
        "points": _ZERO,
        "accepts_marketing": false(),
        "type": literal_column("'individual'", String),
        "city_key": null(),
        "country_key": null(),
        "order_count": _ZERO,
        "total_spent": _ZERO,
        "used_discount_code": false(),
        "created_at": bindparam("b_customer_now", type_=UtcDateTime()),
        "updated_at": bindparam("b_customer_now", type_=UtcDateTime()),
    }


def _locked(statement: Any) -> Any:
    """The upsert's conflict: the row stays, and the update takes its lock."""
    return statement.on_conflict_do_update(
        index_elements=["shop_id", "external_id"],
        set_={"external_id": statement.excluded.external_id},
    )


def _customer_upsert(dialect: str) -> Any:
    """The customer's row id, the row created in the shop's default group when unknown and
    locked either way (the conflict's update takes the row lock): one statement."""
    statement = _locked(
        upsert(dialect, Customer.__table__).values(
            _customer_values(bindparam(SHOP_PARAM), shop_param(Group.__table__.c))
        )
    )
    return statement.returning(Customer.__table__.c.id, Customer.__table__.c.group_id)


def _customer_on_claim(dialect: str, claim: Any) -> tuple[list[Any], list[Any]]:
    """:func:`_customer_upsert` and the order's first redemption (the codes feature's read),
    in the statement that claims the event (:class:`ClaimAlong`): made only when the event
    was claimed, read as the claim is made."""
    values = _customer_values(claim.c.shop_id, Group.__table__.c.shop_id == claim.c.shop_id)
    chosen = select(*values.values()).select_from(claim)
    table = Customer.__table__
    customer = (
        _locked(postgresql.insert(table).from_select(list(values), chosen))
        .returning(table.c.id, table.c.group_id)
        .cte("customer")
    )
    held = redemptions.order_redemption(claim.c.shop_id).cte("held")
    columns = [
        select(customer.c.id).scalar_subquery(),
        select(customer.c.group_id).scalar_subquery(),
        select(held.c.status).scalar_subquery(),
        select(held.c.code_id).scalar_subquery(),
    ]
    return [customer, held], columns


def paid_order_claim(order: dict[str, Any]) -> ClaimAlong | None:
    """What order/paid does first, done by the statement that claims its event
    (PostgreSQL): the customer's upsert and the order's first redemption. Its columns go to
    :func:`record_paid_order` as ``claimed``."""
    if not order.get("customer_id"):
        return None
    return ClaimAlong(
        "paid_order_customer",
        _customer_on_claim,
        {"b_external": order["customer_id"], "b_customer_now": utcnow(), "b_order": order["id"]},
    )


def record_paid_order(
    shop: Shop, data: dict[str, Any], claimed: tuple[Any, ...] | None = None
) -> bool:
    """Count a paid order once per order id; a reversal that came first makes it a no-op.

    Its figures are added to the customer's in place (:func:`add_order`), and the
    customer's segments are re-evaluated in SQL: a handful of statements, whatever the
    number of orders the customer already has. ``claimed``: the columns of
    :func:`paid_order_claim`, when the event's claim made the customer's upsert."""
    check_currency(shop, data["currency"])
    now = utcnow()
    customer_id: int | None = None
    group_id: int | None = None
    held: redemptions.OrderRedemption | None = None
    external_customer = data.get("customer_id")
    if external_customer and claimed is not None:
        customer_id, group_id, status, code_id = claimed
        held = redemptions.OrderRedemption(status, code_id)
    elif external_customer:
        # Locks the customer first, as reversals do, so their figures change in turn.
        customer_id, group_id = run_built(
            built("customer_upsert", _customer_upsert),
            {"b_shop": shop.id, "b_external": external_customer, "b_customer_now": now},
        ).one()
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
