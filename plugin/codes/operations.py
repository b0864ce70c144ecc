"""Discounts and their codes: create, change, list, assign (contract §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, update

from plugin.codes.lookup import code_key
from plugin.codes.models import (
    CODE_ASSIGNED,
    CODE_UNASSIGNED,
    Code,
    Discount,
    Redemption,
)
from plugin.codes.schemas import READ_ONLY, DiscountIn, DiscountOut
from plugin.customers.models import Customer
from plugin.customers.operations import ensure_customer, shop_moment
from plugin.db import (
    check_name_free,
    db,
    for_shop,
    get_for_shop,
    insert_ignoring_conflict,
    name_key,
    unique_name,
    utcnow,
)
from plugin.errors import ApiError, ErrorCode
from plugin.events import COUPON_GIVEN, publish
from plugin.fields import iso_timestamp
from plugin.groups.operations import default_group_id
from plugin.paging import Page, paginate
from plugin.rules.audience import audience_loaded
from plugin.rules.operations import check_audience
from plugin.shops.models import Shop
from plugin.shops.operations import bump_rules_version


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(
        ErrorCode.VALIDATION_FAILED, f"Some fields are not valid: {field}.", 422, {field: [message]}
    )


def _apply(shop: Shop, discount: Discount, data: dict[str, Any]) -> None:
    check_audience(shop, data["audience"])
    check_name_free(Discount, shop.id, data["name"], "discount", exclude_id=discount.id)
    discount.name = data["name"].strip()
    discount.name_key = name_key(data["name"])
    discount.applies_to = data["applies_to"]
    discount.type = data["type"]
    discount.value = data["value"]
    discount.carriers = list(data["carriers"])
    discount.starts_at = shop_moment(shop, data["starts_at"])
    # A date-only end holds all of that day, as for rules (``ends_at: 2026-12-31`` still
    # applies on the 31st).
    discount.ends_at = shop_moment(shop, data["ends_at"], end=True)
    discount.usage_limit = data["usage_limit"]
    discount.uses_per_customer = data["uses_per_customer"]
    discount.once_per_customer = data["once_per_customer"]
    discount.combinable_with_other_codes = data["combinable_with_other_codes"]
    discount.aim(data["audience"]["type"], data["audience"]["ids"])
    discount.minimum_type = data["minimum"]["type"]
    discount.minimum_value = (
        0 if data["minimum"]["type"] == "none" else data["minimum"]["value"] or 0
    )
    discount.payment_methods = list(dict.fromkeys(data["payment_methods"]))
    discount.channels = list(dict.fromkeys(data["channels"]))
    discount.active = data["active"]
    if discount.starts_at and discount.ends_at and discount.ends_at <= discount.starts_at:
        raise _invalid("ends_at", "Must be after starts_at.")


def _shared_code(discount: Discount) -> Code | None:
    return db.session.execute(
        select(Code).where(Code.discount_id == discount.id, Code.shared.is_(True))
    ).scalar_one_or_none()


def _code_taken(shop: Shop, key: str, except_code_id: int | None = None) -> bool:
    query = select(Code.id).where(Code.code_key == key)
    if except_code_id is not None:
        query = query.where(Code.id != except_code_id)
    return db.session.execute(query).first() is not None


def _set_shared_code(shop: Shop, discount: Discount, typed: str | None) -> None:
    """Give the discount its shared code, change it, or take it away."""
    current = _shared_code(discount)
    if typed is None:
        if current is not None:
            if current.times_used or _has_redemptions(current.id):
                raise ApiError(
                    ErrorCode.CONFLICT,
                    "The shared code has been used; deactivate the discount instead.",
                    409,
                )
            db.session.delete(current)
        discount.code = None
        return
    key = code_key(typed)
    if current is not None:
        if _code_taken(shop, key, current.id):
            raise _invalid("code", "Another discount of the shop already has this code.")
        current.code = typed
        current.code_key = key
    elif not insert_ignoring_conflict(
        Code.__table__,
        {
            "shop_id": shop.id,
            "discount_id": discount.id,
            "code": typed,
            "code_key": key,
            "shared": True,
            "status": CODE_UNASSIGNED,
            "times_used": 0,
            "created_at": utcnow(),
        },
    ):
        raise _invalid("code", "Another discount of the shop already has this code.")
    discount.code = typed


def _has_redemptions(code_id: int) -> bool:
    found = db.session.execute(
        select(Redemption.id).where(Redemption.code_id == code_id).limit(1)
    ).first()
    return found is not None


def create_discount(shop: Shop, data: dict[str, Any]) -> Discount:
    discount = Discount(shop_id=shop.id)
    _apply(shop, discount, data)
    with unique_name("discount"):
        db.session.add(discount)
        db.session.flush()
    if data.get("code"):
        _set_shared_code(shop, discount, data["code"])
    return discount


def update_discount(shop: Shop, discount_id: int, changes: dict[str, Any]) -> Discount:
    """Overlay ``changes`` on the stored discount and validate the whole again."""
    discount = get_for_shop(Discount, shop.id, discount_id)
    stored = DiscountOut().dump(discount)
    for name in READ_ONLY:
        stored.pop(name, None)
    changes = {k: v for k, v in changes.items() if k not in READ_ONLY}
    if "uses_per_customer" in changes or "once_per_customer" in changes:
        # The two name one limit: a change of either replaces both stored values.
        stored.pop("uses_per_customer", None)
        stored.pop("once_per_customer", None)
    data = DiscountIn().load({**stored, **changes})
    _apply(shop, discount, data)
    with unique_name("discount"):
        db.session.flush()
    if "code" in changes:
        _set_shared_code(shop, discount, data["code"])
    discount.updated_at = utcnow()
    return discount


def delete_discount(shop: Shop, discount_id: int) -> None:
    discount = get_for_shop(Discount, shop.id, discount_id)
    db.session.execute(delete(Redemption).where(Redemption.discount_id == discount.id))
    db.session.execute(delete(Code).where(Code.discount_id == discount.id))
    db.session.delete(discount)
    # An automation that gives its codes or listens for them now names none (kept per
    # version of the shop's settings on the ingest path).
    db.session.flush()
    bump_rules_version(shop)


def get_discount(shop: Shop, discount_id: int) -> Discount:
    return get_for_shop(Discount, shop.id, discount_id)


def list_discounts(shop: Shop, page: int, per_page: int) -> Page[Discount]:
    query = for_shop(Discount, shop.id).order_by(Discount.id).options(*audience_loaded(Discount))
    return paginate(query, page, per_page)


def _with_customer(query: Select[Any]) -> Select[Any]:
    return query.add_columns(Customer.external_id).outerjoin(
        Customer, Customer.id == Code.assigned_customer_id
    )


def _annotated(found: Page[Any]) -> Page[Code]:
    """Codes with their assigned customer's host id, for the schema to show."""
    items = []
    for code, external_id in found["items"]:
        code.assigned_customer_external_id = external_id
        items.append(code)
    found["items"] = items
    return found


def list_codes(
    shop: Shop,
    discount_id: int,
    status: str | None,
    page: int,
    per_page: int,
    q: str | None = None,
    after: int | None = None,
) -> Page[Code]:
    """The pool of a discount (its shared code is not part of the pool), oldest first;
    ``q``: codes containing that text, ignoring case; ``after``: only codes added after
    the code of that id (a batch just made)."""
    discount = get_for_shop(Discount, shop.id, discount_id)
    query = for_shop(Code, shop.id).where(Code.discount_id == discount.id, Code.shared.is_(False))
    if status:
        query = query.where(Code.status == status)
    if q and q.strip():
        query = query.where(Code.code_key.contains(code_key(q.strip()), autoescape=True))
    if after is not None:
        query = query.where(Code.id > after)
    return _annotated(paginate(_with_customer(query.order_by(Code.id)), page, per_page))


def last_code_id(shop: Shop, discount_id: int) -> int:
    """The id of the discount's newest pool code (0 when it has none): codes added later
    have larger ids, so ``list_codes(..., after=last_code_id(...))`` lists a new batch."""
    newest = db.session.execute(
        for_shop(Code, shop.id)
        .with_only_columns(func.max(Code.id))
        .where(Code.discount_id == discount_id, Code.shared.is_(False))
    ).scalar()
    return int(newest or 0)


def list_redemptions(
    shop: Shop,
    discount_id: int,
    status: str | None,
    flagged: bool | None,
    page: int,
    per_page: int,
) -> Page[Redemption]:
    """The orders that used the discount's codes, newest first; ``flagged`` ones went
    past a limit when paid without the redeem hook."""
    discount = get_for_shop(Discount, shop.id, discount_id)
    query = (
        select(Redemption, Code.code, Customer.external_id)
        .join(Code, Code.id == Redemption.code_id)
        .outerjoin(Customer, Customer.id == Redemption.customer_id)
        .where(Redemption.discount_id == discount.id)
        .order_by(Redemption.id.desc())
    )
    if status:
        query = query.where(Redemption.status == status)
    if flagged is not None:
        query = query.where(Redemption.flagged.is_(flagged))
    found = paginate(query, page, per_page)
    items = []
    for redemption, code, customer_external_id in found["items"]:
        redemption.code = code
        redemption.customer_external_id = customer_external_id
        items.append(redemption)
    found["items"] = items
    return found


def assign_code(shop: Shop, discount_id: int, customer_external_id: str) -> Code:
    """Give the next unassigned pool code to a customer, atomically; 409 ``pool_empty``."""
    discount = get_for_shop(Discount, shop.id, discount_id)
    customer, _ = ensure_customer(shop, customer_external_id, default_group_id(shop))
    code = take_pool_code(discount, customer)
    if code is None:
        db.session.rollback()
        raise ApiError(
            ErrorCode.POOL_EMPTY,
            f"Discount {discount.id} has no unassigned code left; generate or import more.",
            409,
        )
    # Hosts and other automations hear of a code handed out by hand as of any other.
    publish(
        shop,
        COUPON_GIVEN,
        {
            "customer_id": customer_external_id,
            "discount_id": discount.id,
            "code": code.code,
            "expires_at": iso_timestamp(code.expires_at),
            "automation_id": None,
        },
    )
    code.assigned_customer_external_id = customer_external_id
    return code


def take_pool_code(
    discount: Discount, customer: Customer, expires_at: datetime | None = None
) -> Code | None:
    """Mark the next unassigned pool code of ``discount`` as ``customer``'s, in the current
    transaction (the caller commits); None when the pool is empty.

    PostgreSQL skips rows other transactions are assigning (FOR UPDATE SKIP LOCKED),
    so concurrent assigns never wait on or hand out the same code; SQLite's writer
    lock (BEGIN IMMEDIATE) serialises them.
    """
    next_code = (
        select(Code.id)
        .where(
            Code.discount_id == discount.id,
            Code.status == CODE_UNASSIGNED,
            Code.shared.is_(False),
        )
        .order_by(Code.id)
        .limit(1)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        next_code = next_code.with_for_update(skip_locked=True)
    code_id = db.session.execute(
        update(Code)
        .where(Code.id == next_code.scalar_subquery())
        .values(
            status=CODE_ASSIGNED,
            assigned_customer_id=customer.id,
            assigned_at=utcnow(),
            expires_at=expires_at,
        )
        .returning(Code.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if code_id is None:
        return None
    return db.session.execute(
        select(Code).where(Code.id == code_id).execution_options(populate_existing=True)
    ).scalar_one()
