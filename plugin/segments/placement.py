"""Automatic groups (contract §8): customers placed in groups by their segments.

A registered customer who is not locked (``customers.group_locked``) belongs to the group
of lowest ``(auto_priority, id)`` among the groups whose ``auto_segment_id`` they are a
member of, and to the shop's default group when none takes them. Placement is computed by
the database, set-based: one ``SELECT`` finds every customer whose group is not the one
the rule gives (a correlated subquery per customer over ``segment_members``; the shop is
named with ``plugin.db.in_shop``, since on PostgreSQL the whole-shop plan runs inside an
``INSERT`` of its events, where the session's automatic criteria do not apply), then one
``UPDATE`` per target group moves them, and each real move publishes one
``customer/group_changed``. It runs

- for one customer when their memberships change (orders, refunds, tags, edits:
  :func:`plugin.segments.operations.refresh_customer`), only when one of the segments
  they joined or left is an automatic group's;
- for the whole shop when an automatic group's segment is recomputed (conditions edited,
  relative dates at the shop's midnight), and when a group's automatic fields or the
  default change;
- for the members of a deleted group, and for customers whose lock is released.

It lives with the segments (it reads their memberships) and wraps the group operations
whose changes re-place customers, so the groups feature stays below the segments.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select, update

from plugin.customers.models import Customer
from plugin.db import SHOP_PARAM, built, db, for_shop, get_for_shop, in_shop, run_built, shop_param
from plugin.errors import ApiError, ErrorCode
from plugin.events import publish_many, publish_selected
from plugin.groups import operations as groups
from plugin.groups.models import Group
from plugin.groups.operations import GROUP_CHANGED, default_group_id
from plugin.segments.models import Segment, SegmentMember
from plugin.shops.models import Shop
from plugin.shops.operations import per_version

#: Fields of a group whose change re-places the shop's unlocked customers.
PLACING_FIELDS = ("auto_segment_id", "auto_priority", "is_default")
#: Keep IN lists a size every driver takes.
CHUNK = 10_000


def automatic_segment_ids(shop: Shop) -> frozenset[int]:
    """The segments some automatic group of the shop uses (kept per version of the shop's
    settings: a group's create, change or delete bumps it)."""
    return per_version(shop, "automatic_segments", lambda: _read_automatic_segments(shop))


def _read_automatic_segments(shop: Shop) -> frozenset[int]:
    statement = built("automatic_segments", _automatic_segments)
    return frozenset(run_built(statement, {SHOP_PARAM: shop.id}).scalars())


def _automatic_segments(dialect: str) -> Any:
    groups = Group.__table__.c
    return select(groups.auto_segment_id).where(
        shop_param(groups), groups.auto_segment_id.is_not(None)
    )


def _target(shop: Shop, default_id: int) -> Any:
    """The group the rule gives the customer of the enclosing query's row."""
    automatic = (
        select(Group.id)
        .join(SegmentMember, SegmentMember.segment_id == Group.auto_segment_id)
        .where(
            in_shop(Group, shop.id),
            Group.auto_segment_id.is_not(None),
            SegmentMember.customer_id == Customer.id,
        )
        .order_by(Group.auto_priority, Group.id)
        .limit(1)
        .correlate(Customer)
        .scalar_subquery()
    )
    return func.coalesce(automatic, default_id)


def place(shop: Shop, customer_ids: Collection[int] | None = None) -> int:
    """Place the shop's unlocked customers (all, or those of ``customer_ids``) by the rule;
    publish one ``customer/group_changed`` per customer who really moved; return how many
    moved. Set-based: no customer is looked at in Python unless they move."""
    if customer_ids is not None and not customer_ids:
        return 0
    default_id = default_group_id(shop)
    target = _target(shop, default_id).label("target")
    # The shop is named here, not left to the session's criteria: on PostgreSQL the plan is
    # embedded in an INSERT of the events (below), which the criteria do not reach.
    planned = select(Customer.id, Customer.external_id, Customer.group_id, target).where(
        in_shop(Customer, shop.id), Customer.group_locked.is_(False)
    )
    ids = None if customer_ids is None else sorted(set(customer_ids))
    if ids is None and db.session.get_bind().dialect.name == "postgresql":
        return _place_all_in_sql(shop, planned)
    moves: list[tuple[int, str, int, int]] = []
    for start in range(0, 1 if ids is None else len(ids), CHUNK):
        query = planned
        if ids is not None:
            query = planned.where(Customer.id.in_(ids[start : start + CHUNK]))
        inner = query.subquery()
        moves.extend(
            (customer_id, external_id, old, new)
            for customer_id, external_id, old, new in db.session.execute(
                select(inner.c.id, inner.c.external_id, inner.c.group_id, inner.c.target).where(
                    inner.c.group_id != inner.c.target
                )
            )
        )
    if not moves:
        return 0
    by_target: dict[int, list[int]] = {}
    for customer_id, _, _, new in moves:
        by_target.setdefault(new, []).append(customer_id)
    for new, members in by_target.items():
        for start in range(0, len(members), CHUNK):
            db.session.execute(
                update(Customer)
                .where(
                    Customer.group_locked.is_(False),
                    Customer.id.in_(members[start : start + CHUNK]),
                )
                .values(group_id=new)
                .execution_options(synchronize_session=False)
            )
    publish_many(
        shop,
        GROUP_CHANGED,
        [
            {"customer_id": external_id, "from_group": old, "to_group": new}
            for _, external_id, old, new in sorted(moves, key=lambda move: move[1])
        ],
    )
    return len(moves)


def _place_all_in_sql(shop: Shop, planned: Any) -> int:
    """PostgreSQL, the whole shop: the moves and their events in one statement (an
    ``UPDATE ... FROM`` the plan, in a data-modifying ``WITH`` that the ``INSERT`` of the
    events reads), so that re-placing a million customers builds nothing in Python."""
    plan = planned.subquery("plan")
    moved = (
        update(Customer)
        .where(in_shop(Customer, shop.id), Customer.id == plan.c.id)
        .where(plan.c.group_id != plan.c.target)
        .values(group_id=plan.c.target)
        .returning(Customer.external_id, plan.c.group_id.label("old"), Customer.group_id)
        .cte("moved")
    )
    payloads = select(
        func.json_build_object(
            "customer_id", moved.c.external_id, "from_group", moved.c.old,
            "to_group", moved.c.group_id,
        )
    )  # fmt: skip
    return publish_selected(shop, GROUP_CHANGED, payloads, ctes=[moved])


def after_memberships_changed(shop: Shop, customer_id: int, segment_ids: Collection[int]) -> int:
    """A customer joined or left ``segment_ids``: re-place them when an automatic group
    uses one of those segments."""
    if not segment_ids or not (automatic_segment_ids(shop) & set(segment_ids)):
        return 0
    return place(shop, [customer_id])


def after_segment_recomputed(shop: Shop, segment_id: int) -> int:
    """A segment's members were recomputed: re-place the shop when a group uses it."""
    if segment_id not in automatic_segment_ids(shop):
        return 0
    return place(shop)


def check_segment_unused(shop: Shop, segment_id: int) -> None:
    """409 ``segment_in_use`` when an automatic group uses the segment (deleting it would
    leave the group without its rule)."""
    used_by = list(
        db.session.execute(select(Group.id).where(Group.auto_segment_id == segment_id)).scalars()
    )
    if used_by:
        raise ApiError(
            ErrorCode.CONFLICT,
            "An automatic group uses this segment; change the group's segment first.",
            409,
            {"group_ids": [str(group_id) for group_id in used_by]},
        )


def _check_segment(shop: Shop, data: dict[str, Any]) -> None:
    segment_id = data.get("auto_segment_id")
    if segment_id is None:
        return
    found = db.session.execute(
        for_shop(Segment, shop.id).where(Segment.id == segment_id)
    ).scalar_one_or_none()
    if found is None:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "Some fields are not valid: auto_segment_id.",
            422,
            {"auto_segment_id": [f"Unknown segment: {segment_id}."]},
        )


def create_group(shop: Shop, data: dict[str, Any]) -> Group:
    """Create a group; when it is automatic or the new default, place the shop again."""
    _check_segment(shop, data)
    group = groups.create_group(shop, data)
    if data.get("auto_segment_id") is not None or data.get("is_default"):
        place(shop)
    return groups.get_group(shop, group.id)


def update_group(shop: Shop, group_id: int, data: dict[str, Any]) -> Group:
    """Change a group; a change of its segment, its priority or of the default re-places
    the shop's unlocked customers (those in the old default by default go to the new)."""
    _check_segment(shop, data)
    before = get_for_shop(Group, shop.id, group_id)
    old = (before.auto_segment_id, before.auto_priority, before.is_default)
    group = groups.update_group(shop, group_id, data)
    if (group.auto_segment_id, group.auto_priority, group.is_default) != old:
        place(shop)
    return groups.get_group(shop, group.id)


def delete_group(shop: Shop, group_id: int) -> None:
    """Delete a group; its members are unlocked and placed by the rule (the default group
    when no automatic group takes them)."""
    group = get_for_shop(Group, shop.id, group_id)
    if group.is_default:
        groups.delete_group(shop, group_id)  # answers 409 default_group_protected
        return
    members = list(
        db.session.execute(
            update(Customer)
            .where(Customer.group_id == group.id)
            .values(group_locked=False)
            .returning(Customer.id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    group.auto_segment_id = None
    db.session.flush()
    place(shop, members)
    groups.delete_group(shop, group_id)


def release_locks(shop: Shop, external_ids: list[str]) -> dict[str, int]:
    """Unlock customers (all or none: an unknown id is a 422) and place them at once."""
    wanted = list(dict.fromkeys(external_ids))
    rows = db.session.execute(
        select(Customer.id, Customer.external_id).where(Customer.external_id.in_(wanted))
    ).all()
    found = {external_id for _, external_id in rows}
    unknown = [external_id for external_id in wanted if external_id not in found]
    if unknown:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "Some fields are not valid: customer_ids.",
            422,
            {"customer_ids": [f"Unknown customer: {external_id}." for external_id in unknown]},
        )
    ids = [customer_id for customer_id, _ in rows]
    for start in range(0, len(ids), CHUNK):
        db.session.execute(
            update(Customer)
            .where(Customer.id.in_(ids[start : start + CHUNK]))
            .values(group_locked=False)
            .execution_options(synchronize_session=False)
        )
    return {"released": len(ids), "moved": place(shop, ids)}
