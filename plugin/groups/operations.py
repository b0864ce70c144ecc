"""Groups and memberships: every registered customer is in exactly one group."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from plugin.customers.models import Customer
from plugin.db import db, for_shop, get_for_shop, name_key, unique_name
from plugin.errors import ApiError, ErrorCode
from plugin.events import publish
from plugin.groups.models import DEFAULT_GROUP_COLOUR, DEFAULT_GROUP_NAME, Group
from plugin.paging import Page, paginate
from plugin.shops.models import Shop
from plugin.shops.operations import bump_rules_version

GROUP_CHANGED = "customer/group_changed"


def default_group_id(shop: Shop) -> int:
    """The id of the shop's default group (where new customers land)."""
    group_id = db.session.execute(select(Group.id).where(Group.is_default.is_(True))).scalar_one()
    return group_id


def ensure_default_group(shop: Shop) -> Group:
    """The shop's default group, created (``Standard``) when the shop has none: on its
    first install (contract §3)."""
    found = db.session.execute(
        for_shop(Group, shop.id).where(Group.is_default.is_(True))
    ).scalar_one_or_none()
    if found is not None:
        return found
    group = Group(
        shop_id=shop.id,
        name=DEFAULT_GROUP_NAME,
        name_key=name_key(DEFAULT_GROUP_NAME),
        colour=DEFAULT_GROUP_COLOUR,
        is_default=True,
    )
    db.session.add(group)
    db.session.flush()
    return group


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(
        ErrorCode.VALIDATION_FAILED, f"Some fields are not valid: {field}.", 422, {field: [message]}
    )


def _check_name_free(shop: Shop, name: str, exclude_id: int | None = None) -> None:
    query = select(Group.id).where(Group.name_key == name_key(name))
    if exclude_id is not None:
        query = query.where(Group.id != exclude_id)
    if db.session.execute(query).first() is not None:
        raise _invalid("name", "A group with this name already exists.")


def _member_counts(shop: Shop, group_ids: list[int]) -> dict[int, int]:
    if not group_ids:
        return {}
    rows = db.session.execute(
        select(Customer.group_id, func.count())
        .where(Customer.group_id.in_(group_ids))
        .group_by(Customer.group_id)
    ).all()
    return {group_id: count for group_id, count in rows}


def _with_count(group: Group, count: int) -> Group:
    group.member_count = count  # type: ignore[attr-defined]  (read by the output schema)
    return group


def list_groups(shop: Shop, page: int, per_page: int) -> Page[Group]:
    found = paginate(for_shop(Group, shop.id).order_by(Group.id), page, per_page)
    counts = _member_counts(shop, [g.id for g in found["items"]])
    found["items"] = [_with_count(g, counts.get(g.id, 0)) for g in found["items"]]
    return found


def get_group(shop: Shop, group_id: int) -> Group:
    group = get_for_shop(Group, shop.id, group_id)
    return _with_count(group, _member_counts(shop, [group.id]).get(group.id, 0))


def _make_default(shop: Shop, group: Group) -> None:
    """Move the default flag: clear the old one first (one default per shop is a unique index)."""
    db.session.execute(
        update(Group)
        .where(Group.is_default.is_(True), Group.id != group.id)
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
    db.session.flush()
    group.is_default = True


def create_group(shop: Shop, data: dict[str, Any]) -> Group:
    _check_name_free(shop, data["name"])
    group = Group(
        shop_id=shop.id,
        name=data["name"].strip(),
        name_key=name_key(data["name"]),
        colour=data.get("colour") or DEFAULT_GROUP_COLOUR,
        is_default=False,
        auto_segment_id=data.get("auto_segment_id"),
        auto_priority=data.get("auto_priority") or 0,
    )
    with unique_name("group"):
        db.session.add(group)
        db.session.flush()
    if data.get("is_default"):
        _make_default(shop, group)
        db.session.flush()
    bump_rules_version(shop)  # the ingest path keeps the automatic groups per version
    return get_group(shop, group.id)


def update_group(shop: Shop, group_id: int, data: dict[str, Any]) -> Group:
    group = get_for_shop(Group, shop.id, group_id)
    if "name" in data:
        _check_name_free(shop, data["name"], exclude_id=group.id)
        with unique_name("group"):
            group.name = data["name"].strip()
            group.name_key = name_key(data["name"])
            db.session.flush()
    if "colour" in data:
        group.colour = data["colour"]
    if "auto_segment_id" in data:
        group.auto_segment_id = data["auto_segment_id"]
    if "auto_priority" in data:
        group.auto_priority = data["auto_priority"]
    if "is_default" in data:
        if data["is_default"]:
            _make_default(shop, group)
        elif group.is_default:
            raise _invalid(
                "is_default",
                "A shop always has a default group: set is_default on another group instead.",
            )
    db.session.flush()
    bump_rules_version(shop)
    return get_group(shop, group.id)


def delete_group(shop: Shop, group_id: int) -> None:
    """Delete a group; its members move to the default group in one UPDATE, and the
    database takes it out of every rule's and discount's audience (foreign keys)."""
    group = get_for_shop(Group, shop.id, group_id)
    if group.is_default:
        raise ApiError(
            ErrorCode.DEFAULT_GROUP_PROTECTED,
            "The default group cannot be deleted; make another group the default first.",
            409,
            {"group_id": [str(group.id)]},
        )
    default = db.session.execute(
        for_shop(Group, shop.id).where(Group.is_default.is_(True))
    ).scalar_one()
    moved = db.session.execute(
        update(Customer)
        .where(Customer.group_id == group.id)
        .values(group_id=default.id)
        .returning(Customer.external_id)
        .execution_options(synchronize_session=False)
    ).scalars()
    for external_id in sorted(moved):
        _publish_move(shop, external_id, group, default)
    db.session.delete(group)
    db.session.flush()
    bump_rules_version(shop)


def group_customers(shop: Shop, group_id: int, page: int, per_page: int) -> Page[Customer]:
    group = get_for_shop(Group, shop.id, group_id)
    members = for_shop(Customer, shop.id).where(Customer.group_id == group.id)
    return paginate(members.order_by(Customer.id), page, per_page)


def move_customers(shop: Shop, group_id: int, external_ids: list[str]) -> dict[str, Any]:
    """Move customers into a group (all or none); each one who really moved is announced."""
    group = get_for_shop(Group, shop.id, group_id)
    wanted = list(dict.fromkeys(external_ids))
    rows = db.session.execute(
        select(Customer.id, Customer.external_id, Customer.group_id)
        .where(Customer.external_id.in_(wanted))
        .with_for_update()
    ).all()
    found = {external_id for _, external_id, _ in rows}
    unknown = [external_id for external_id in wanted if external_id not in found]
    if unknown:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "Some fields are not valid: customer_ids.",
            422,
            {"customer_ids": [f"Unknown customer: {external_id}." for external_id in unknown]},
        )
    # Moved by hand: locked in the group, automatic groups leave them there (contract §8).
    db.session.execute(
        update(Customer)
        .where(Customer.id.in_([cid for cid, _, _ in rows]))
        .values(group_locked=True)
        .execution_options(synchronize_session=False)
    )
    movers = [(cid, external_id, old) for cid, external_id, old in rows if old != group.id]
    if movers:
        db.session.execute(
            update(Customer)
            .where(Customer.id.in_([cid for cid, _, _ in movers]))
            .values(group_id=group.id)
            .execution_options(synchronize_session=False)
        )
        old_groups = {
            g.id: g
            for g in db.session.execute(
                for_shop(Group, shop.id).where(Group.id.in_({old for _, _, old in movers}))
            ).scalars()
        }
        for _, external_id, old in sorted(movers, key=lambda row: row[1]):
            _publish_move(shop, external_id, old_groups.get(old), group)
    db.session.flush()
    return {"moved": len(movers), "group": get_group(shop, group.id)}


def _publish_move(shop: Shop, external_id: str, old: Group | None, new: Group) -> None:
    publish(
        shop,
        GROUP_CHANGED,
        {
            "customer_id": external_id,
            "from_group": _group_ref(old),
            "to_group": _group_ref(new),
        },
    )


def _group_ref(group: Group | None) -> int | None:
    return None if group is None else group.id
