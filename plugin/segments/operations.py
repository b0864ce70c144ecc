"""Segments: create, change, delete, preview, and membership kept current.

Two ways to keep ``segment_members`` right: a full, set-based recompute of one segment
when it is created or its conditions change (``INSERT ... SELECT`` of the compiled query
and ``DELETE`` of those who no longer qualify), and an incremental re-evaluation of one
customer in Python after each customer or order event. Either publishes
``customer/segments_changed`` for every customer who joined or left.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import (
    ARRAY,
    Integer,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    inspect,
    literal,
    select,
    true,
)

from plugin.customers.models import ORDER_PAID, Customer, CustomerProduct, CustomerTag, Order
from plugin.db import (
    SHOP_PARAM,
    UtcDateTime,
    built,
    db,
    for_shop,
    get_for_shop,
    in_shop,
    name_key,
    run_built,
    shop_param,
    unique_name,
    utcnow,
)
from plugin.errors import ApiError, ErrorCode
from plugin.events import Along, publish, publish_many, publish_selected
from plugin.jobs.models import ACTIVE_JOB_STATUSES, Job
from plugin.jobs.registry import enqueue
from plugin.paging import Page, paginate
from plugin.segments import placement
from plugin.segments.compiler import segment_count, segment_customer_ids, segment_predicate
from plugin.segments.conditions import (
    Condition,
    parse_conditions,
    shop_today,
    uses_order_days,
    uses_products,
    uses_tags,
)
from plugin.segments.evaluator import CustomerFacts
from plugin.segments.models import Segment, SegmentMember
from plugin.shops.models import Shop
from plugin.shops.operations import bump_rules_version

SAMPLE_SIZE = 10
#: Below this many matches, the preview's sample is sorted from the matches rather than
#: found by walking customers in id order.
SPARSE_MATCHES = 2000
SEGMENTS_CHANGED = "customer/segments_changed"


def _check_name_free(shop: Shop, name: str, exclude_id: int | None = None) -> None:
    query = select(Segment.id).where(Segment.name_key == name_key(name))
    if exclude_id is not None:
        query = query.where(Segment.id != exclude_id)
    if db.session.execute(query).first() is not None:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "Some fields are not valid: name.",
            422,
            {"name": ["A segment with this name already exists."]},
        )


# Reading -------------------------------------------------------------------------------


def member_counts(shop: Shop, segment_ids: list[int]) -> dict[int, int]:
    if not segment_ids:
        return {}
    rows = db.session.execute(
        select(SegmentMember.segment_id, func.count())
        .where(SegmentMember.segment_id.in_(segment_ids))
        .group_by(SegmentMember.segment_id)
    ).all()
    return {segment_id: count for segment_id, count in rows}


def list_segments(shop: Shop, page: int, per_page: int) -> Page[Segment]:
    found = paginate(for_shop(Segment, shop.id).order_by(Segment.id), page, per_page)
    ids = [s.id for s in found["items"]]
    counts, busy = member_counts(shop, ids), recomputing(shop, ids)
    found["items"] = [_with_count(s, counts.get(s.id, 0), s.id in busy) for s in found["items"]]
    return found


def _with_count(segment: Segment, count: int, busy: bool) -> Segment:
    # Read by the output schema; while ``recomputing``, the count is the one before.
    segment.member_count = count  # type: ignore[attr-defined]
    segment.recomputing = busy  # type: ignore[attr-defined]
    return segment


def get_segment(shop: Shop, segment_id: int) -> Segment:
    segment = get_for_shop(Segment, shop.id, segment_id)
    count = member_counts(shop, [segment.id]).get(segment.id, 0)
    return _with_count(segment, count, bool(recomputing(shop, [segment.id])))


def segment_members(shop: Shop, segment_id: int, page: int, per_page: int) -> Page[Customer]:
    get_for_shop(Segment, shop.id, segment_id)
    members = (
        for_shop(Customer, shop.id)
        .join(SegmentMember, SegmentMember.customer_id == Customer.id)
        .where(SegmentMember.segment_id == segment_id)
    )
    return paginate(members.order_by(Customer.id), page, per_page)


def customer_segments(shop: Shop, customer_id: int) -> list[dict[str, Any]]:
    """The segments a customer is in now, as ``{"id", "name"}``."""
    rows = db.session.execute(
        select(Segment.id, Segment.name)
        .join(SegmentMember, SegmentMember.segment_id == Segment.id)
        .where(SegmentMember.customer_id == customer_id)
        .order_by(Segment.id)
    ).all()
    return [{"id": segment_id, "name": name} for segment_id, name in rows]


def preview(shop: Shop, match: str, raw_conditions: list[dict[str, Any]]) -> dict[str, Any]:
    """How many customers meet the conditions now, and the first few: nothing is saved."""
    conditions = parse_conditions(raw_conditions)
    today = shop_today(shop.timezone)
    # Two statements, each with the plan that suits it: the count aggregates in parallel
    # over the matches; the sample walks customers in id order and stops at the tenth. One
    # statement (the sample with count(*) OVER ()) had to walk every customer in id order
    # to count them: 570 ms at 1M customers, against about 160 + 5 ms. Both read the
    # request's transaction: on PostgreSQL (READ COMMITTED) a customer changed between the
    # two may be in one and not the other, as after any later change.
    count = db.session.execute(
        segment_count(shop.id, match, conditions, today, shop.timezone)
    ).scalar_one()
    if not count:
        return {"count": 0, "sample": []}
    # Few matches: a walk in id order would pass most customers before the tenth, so the
    # matches are found as the count found them and sorted (``id + 0`` is not the index's
    # order). Many: the walk stops early.
    order = Customer.id + 0 if count < SPARSE_MATCHES else Customer.id
    predicate = segment_predicate(shop.id, match, conditions, today, shop.timezone)
    sample = db.session.execute(
        select(Customer).where(predicate).order_by(order).limit(SAMPLE_SIZE)
    ).scalars()
    return {"count": count, "sample": list(sample)}


# Writing -------------------------------------------------------------------------------


def create_segment(shop: Shop, data: dict[str, Any]) -> Segment:
    _check_name_free(shop, data["name"])
    segment = Segment(
        shop_id=shop.id,
        name=data["name"].strip(),
        name_key=name_key(data["name"]),
        match=data["match"],
        conditions=data["conditions"],
    )
    with unique_name("segment"):
        db.session.add(segment)
        db.session.flush()
    _recompute_now_or_later(shop, segment)
    return get_segment(shop, segment.id)


def update_segment(shop: Shop, segment_id: int, data: dict[str, Any]) -> Segment:
    segment = get_for_shop(Segment, shop.id, segment_id)
    if "name" in data:
        _check_name_free(shop, data["name"], exclude_id=segment.id)
        with unique_name("segment"):
            segment.name = data["name"].strip()
            segment.name_key = name_key(data["name"])
            db.session.flush()
    rules_changed = False
    for key in ("match", "conditions"):
        if key in data and data[key] != getattr(segment, key):
            setattr(segment, key, data[key])
            rules_changed = True
    segment.updated_at = utcnow()
    db.session.flush()
    if rules_changed:
        _recompute_now_or_later(shop, segment)
    return get_segment(shop, segment.id)


#: The job kind that recomputes listed segments (``plugin.segments.tasks``).
RECOMPUTE_SEGMENTS = "segments.recompute"


def _recompute_now_or_later(shop: Shop, segment: Segment) -> None:
    """Recompute the segment in this request, or, in a shop with more customers than
    ``CUSTOMER_GROUPS_SEGMENT_SYNC_LIMIT``, in a job queued with the change (a segment
    that 600,000 customers join takes tens of seconds: too long to hold a request).

    Each change queues its own job, with no key to merge it with one already running:
    that one may have read the conditions before this change. Recomputes of one segment
    run one after the other (``plugin.segments.tasks``), each with the conditions of its
    time."""
    limit = int(current_app.config["CUSTOMER_GROUPS_SEGMENT_SYNC_LIMIT"])
    customers = db.session.execute(
        select(func.count()).select_from(select(Customer.id).limit(limit + 1).subquery())
    ).scalar_one()
    if customers <= limit:
        recompute_segment(shop, segment)
    else:
        enqueue(shop, RECOMPUTE_SEGMENTS, {"segment_ids": [segment.id]})


def recomputing(shop: Shop, segment_ids: list[int]) -> set[int]:
    """Which of these segments a queued or running job is recomputing."""
    if not segment_ids:
        return set()
    params = db.session.execute(
        select(Job.params).where(
            Job.kind == RECOMPUTE_SEGMENTS,
            Job.status.in_(ACTIVE_JOB_STATUSES),
        )
    ).scalars()
    busy = {int(i) for p in params for i in (p or {}).get("segment_ids", ())}
    return busy & set(segment_ids)


def delete_segment(shop: Shop, segment_id: int) -> None:
    """Delete a segment; its members leave it (and hear so), and the database takes it out
    of every rule's and discount's audience (foreign keys)."""
    segment = get_for_shop(Segment, shop.id, segment_id)
    placement.check_segment_unused(shop, segment.id)
    left = db.session.execute(
        delete(SegmentMember)
        .where(SegmentMember.segment_id == segment.id)
        .returning(SegmentMember.customer_id)
    ).scalars()
    changes: dict[int, tuple[list[int], list[int]]] = {cid: ([], [segment.id]) for cid in left}
    db.session.delete(segment)
    db.session.flush()
    bump_rules_version(shop)
    _publish_changes(shop, changes)


def recompute_segment(shop: Shop, segment: Segment) -> tuple[int, int]:
    """Bring one segment's members in line with its conditions, set-based; (joined, left)."""
    conditions = parse_conditions(segment.conditions)
    today = shop_today(shop.timezone)
    if db.session.get_bind().dialect.name == "postgresql":
        changed = _recompute_in_sql(shop, segment, conditions, today)
        placement.after_segment_recomputed(shop, segment.id)
        return changed
    qualifying = segment_customer_ids(shop.id, segment.match, conditions, today, shop.timezone)
    mine = (SegmentMember.segment_id == segment.id,)
    left = list(
        db.session.execute(
            delete(SegmentMember)
            .where(*mine, SegmentMember.customer_id.not_in(qualifying.scalar_subquery()))
            .returning(SegmentMember.customer_id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    already = select(SegmentMember.customer_id).where(*mine)
    newcomers = qualifying.where(Customer.id.not_in(already.scalar_subquery()))
    stamp = utcnow()
    db.session.execute(
        insert(SegmentMember).from_select(
            ["shop_id", "segment_id", "customer_id", "joined_at"],
            newcomers.with_only_columns(
                literal(shop.id), literal(segment.id), Customer.id, literal(stamp, UtcDateTime())
            ),
        )
    )
    # Newcomers are the rows stamped just now: read their host ids in one join.
    joined = list(
        db.session.execute(
            select(Customer.external_id)
            .join(SegmentMember, SegmentMember.customer_id == Customer.id)
            .where(*mine, SegmentMember.joined_at == literal(stamp, UtcDateTime()))
            .order_by(Customer.id)
        ).scalars()
    )
    publish_many(
        shop,
        SEGMENTS_CHANGED,
        [
            {"customer_id": external_id, "joined": [segment.id], "left": []}
            for external_id in joined
        ],
    )
    _publish_changes(shop, {customer_id: ([], [segment.id]) for customer_id in left})
    placement.after_segment_recomputed(shop, segment.id)
    return len(joined), len(left)


def _announcement(joined: list[int], left: list[int]) -> Any:
    """The payload of ``customer/segments_changed`` for the customer row, built in SQL."""
    return func.json_build_object(
        "customer_id",
        Customer.external_id,
        "joined",
        func.json_build_array(*joined) if joined else func.json_build_array(),
        "left",
        func.json_build_array(*left) if left else func.json_build_array(),
    )


def _recompute_in_sql(
    shop: Shop, segment: Segment, conditions: tuple[Condition, ...], today: date
) -> tuple[int, int]:
    """:func:`recompute_segment` on PostgreSQL: two statements, each of which changes the
    members and writes their events together (a data-modifying ``WITH`` feeding an
    ``INSERT ... SELECT`` into the outbox), so no member or event passes through Python
    one by one."""
    predicate = segment_predicate(shop.id, segment.match, conditions, today, shop.timezone)
    members = SegmentMember.__table__
    mine = and_(in_shop(members.c, shop.id), members.c.segment_id == segment.id)
    # Leavers: members whose customer no longer meets the conditions (NULL is not a match).
    gone = (
        delete(members)
        .where(
            mine,
            exists().where(
                Customer.id == members.c.customer_id,
                in_shop(Customer, shop.id),
                predicate.is_not(true()),
            ),
        )
        .returning(members.c.customer_id)
        .cte("gone")
    )
    left = publish_selected(
        shop,
        SEGMENTS_CHANGED,
        select(_announcement([], [segment.id]))
        .select_from(gone.join(Customer, Customer.id == gone.c.customer_id))
        .order_by(Customer.id),
        ctes=[gone],
    )
    # Newcomers: customers who meet them and are not members yet (an anti-join).
    member = members.alias("member")
    came = (
        insert(members)
        .from_select(
            ["shop_id", "segment_id", "customer_id", "joined_at"],
            select(
                literal(shop.id), literal(segment.id), Customer.id, literal(utcnow(), UtcDateTime())
            ).where(
                in_shop(Customer, shop.id),
                predicate,
                ~exists().where(
                    member.c.segment_id == segment.id, member.c.customer_id == Customer.id
                ),
            ),
        )
        .returning(members.c.customer_id)
        .cte("came")
    )
    joined = publish_selected(
        shop,
        SEGMENTS_CHANGED,
        select(_announcement([segment.id], []))
        .select_from(came.join(Customer, Customer.id == came.c.customer_id))
        .order_by(Customer.id),
        ctes=[came],
    )
    return joined, left


def recompute_shop(shop: Shop) -> None:
    """Recompute every segment of a shop (relative dates move with the calendar)."""
    for segment in db.session.execute(for_shop(Segment, shop.id).order_by(Segment.id)).scalars():
        recompute_segment(shop, segment)


def customer_facts(
    shop: Shop, customer: Customer, conditions: tuple[Condition, ...]
) -> CustomerFacts:
    """Load what ``conditions`` need to know about one customer (products and order times
    only when some condition looks at them)."""
    products: frozenset[str] = frozenset()
    if uses_products(conditions):
        products = frozenset(
            db.session.execute(
                select(CustomerProduct.product_id).where(CustomerProduct.customer_id == customer.id)
            ).scalars()
        )
    order_times: tuple[Any, ...] = ()
    if uses_order_days(conditions):
        order_times = tuple(
            db.session.execute(
                select(Order.placed_at).where(
                    Order.customer_id == customer.id,
                    Order.status == ORDER_PAID,
                )
            ).scalars()
        )
    return CustomerFacts(
        registered_at=customer.registered_at,
        points=customer.points,
        order_count=customer.order_count,
        total_spent=customer.total_spent,
        first_order_at=customer.first_order_at,
        last_order_at=customer.last_order_at,
        used_discount_code=customer.used_discount_code,
        city_key=customer.city_key,
        country_key=customer.country_key,
        type=customer.type,
        accepts_marketing=customer.accepts_marketing,
        dropship_registered_at=customer.dropship_registered_at,
        tags=_tag_keys(shop, customer) if uses_tags(conditions) else frozenset(),
        products=products,
        order_times=order_times,
    )


def _tag_keys(shop: Shop, customer: Customer) -> frozenset[str]:
    if "tags" not in inspect(customer).unloaded:
        return frozenset(tag.tag_key for tag in customer.tags)
    return frozenset(
        db.session.execute(
            select(CustomerTag.tag_key).where(CustomerTag.customer_id == customer.id)
        ).scalars()
    )


def _segments_of_customer() -> Any:
    segments, members = Segment.__table__.c, SegmentMember.__table__.c
    return (
        # The conditions as stored, as text: the key of the compiled test (_test_key) with
        # no JSON parsed or written per update; parsed only when the test is built again.
        select(segments.id, segments.match, cast(segments.conditions, Text), members.customer_id)
        .select_from(
            Segment.__table__.outerjoin(
                SegmentMember.__table__,
                and_(
                    members.segment_id == segments.id,
                    members.customer_id == bindparam("b_customer"),
                ),
            )
        )
        .where(shop_param(segments))
        .order_by(segments.id)
    )


#: The one-customer membership test of a shop's segments as they stand on a day, kept
#: while they stay the same (changed conditions make another key): building it is most of
#: what an incremental update costs in Python. With it, the test joined to the read of
#: the segments themselves, so that when they have not changed one statement does both.
_TESTS: dict[tuple[Any, ...], tuple[Any, Any]] = {}
_TESTS_KEPT = 256
_LATEST: dict[int, tuple[Any, ...]] = {}


def _test_key(shop: Shop, rows: Any, day: date) -> tuple[Any, ...]:
    return (
        shop.id,
        shop.timezone,
        day,
        tuple((sid, match, stored) for sid, match, stored, *_ in rows),
    )


def _membership_test(shop: Shop, rows: Any, day: date) -> tuple[Any, Any]:
    """``SELECT`` one 1-or-0 column per segment (in the order of ``rows``), for the
    customer ``b_customer``: the compiled conditions of each, as a recompute runs them;
    and the read of the segments with that test joined."""
    key = _test_key(shop, rows, day)
    found = _TESTS.get(key)
    if found is None:
        tests = [
            segment_predicate(
                shop.id, match, parse_conditions(json.loads(stored)), day, shop.timezone
            )
            for _, match, stored, *_ in rows
        ]
        test = select(*(case((t, 1), else_=0).label(f"t{n}") for n, t in enumerate(tests))).where(
            Customer.id == bindparam("b_customer"), shop_param(Customer)
        )
        joined = test.subquery()
        both = (
            _segments_of_customer()
            .add_columns(*joined.c)
            .outerjoin_from(Segment.__table__, joined, literal(True))
        )
        if len(_TESTS) >= _TESTS_KEPT:
            _TESTS.clear()
        found = _TESTS[key] = (test, both)
    _LATEST[shop.id] = key
    return found


def _leave_segments(dialect: str) -> Any:
    members = SegmentMember.__table__.c
    return delete(SegmentMember.__table__).where(
        shop_param(members),
        members.customer_id == bindparam("b_customer"),
        members.segment_id.in_(bindparam("b_left", expanding=True)),
    )


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """The two ids a membership change needs of a customer (a ``Customer`` has them too)."""

    id: int
    external_id: str


class HasCustomerIds(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def external_id(self) -> str: ...


def refresh_customer(
    shop: Shop, customer: HasCustomerIds, today: date | None = None
) -> tuple[list[int], list[int]]:
    """Re-evaluate one customer against every segment of the shop; (joined, left) ids.

    Set-based for that one customer: the segments' compiled conditions (the same SQL a
    full recompute runs) are evaluated in one ``SELECT`` on the customer's row, then only
    the memberships that changed are written, and announced."""
    day = today or shop_today(shop.timezone)
    params = {"b_shop": shop.id, "b_customer": customer.id}
    latest = _LATEST.get(shop.id)
    if latest is not None and latest[2] == day and latest in _TESTS:
        # One statement when the segments are those of the shop's previous update.
        rows = run_built(_TESTS[latest][1], params).all()
        fresh = _test_key(shop, rows, day) == latest
    else:
        rows = run_built(
            built("segments_of_customer", lambda _: _segments_of_customer()), params
        ).all()
        fresh = False
    if not rows:
        return [], []
    current = {row[0] for row in rows if row[3] is not None}
    if fresh:
        hits: Any = rows[0][4:]
    else:
        hits = run_built(_membership_test(shop, rows, day)[0], params).first() or ()
    wanted = {row[0] for row, hit in zip(rows, hits, strict=False) if hit}
    joined = sorted(wanted - current)
    left = sorted(current - wanted)
    if not joined and not left:
        return joined, left
    payload = {"customer_id": customer.external_id, "joined": joined, "left": left}
    if db.session.get_bind().dialect.name == "postgresql":
        # The memberships and their event in one statement.
        along = Along(
            "segment_memberships",
            _membership_changes,
            {
                SHOP_PARAM: shop.id,
                "b_customer": customer.id,
                "b_joined": joined,
                "b_left": left,
                "b_now": utcnow(),
            },
        )
        publish(shop, SEGMENTS_CHANGED, payload, along=along)
    else:
        _write_memberships(shop, customer.id, joined, left)
        publish(shop, SEGMENTS_CHANGED, payload)
    placement.after_memberships_changed(shop, customer.id, joined + left)
    return joined, left


def _write_memberships(shop: Shop, customer_id: int, joined: list[int], left: list[int]) -> None:
    """What :func:`_membership_changes` writes, a statement each (SQLite)."""
    if left:
        run_built(
            built("leave_segments", _leave_segments),
            {"b_shop": shop.id, "b_customer": customer_id, "b_left": left},
        )
    if joined:
        now = utcnow()
        run_built(
            built("join_segments", lambda _: insert(SegmentMember.__table__)),
            [
                {
                    "shop_id": shop.id,
                    "segment_id": sid,
                    "customer_id": customer_id,
                    "joined_at": now,
                }
                for sid in joined
            ],
        )


def _membership_changes(dialect: str) -> list[Any]:
    """The customer ``:b_customer`` leaves the segments ``:b_left`` and joins ``:b_joined``
    (PostgreSQL arrays): data-modifying ``WITH`` clauses for :class:`Along`."""
    members = SegmentMember.__table__
    ids = ARRAY(Integer)
    left = (
        delete(members)
        .where(
            shop_param(members.c),
            members.c.customer_id == bindparam("b_customer"),
            members.c.segment_id == any_(bindparam("b_left", type_=ids)),
        )
        .cte("left_segments")
    )
    joined_ids = (
        func.unnest(bindparam("b_joined", type_=ids)).table_valued("segment_id").render_derived()
    )
    joined = (
        insert(members)
        .from_select(
            ["shop_id", "segment_id", "customer_id", "joined_at"],
            select(
                bindparam(SHOP_PARAM, type_=Integer),
                joined_ids.c.segment_id,
                bindparam("b_customer", type_=Integer),
                bindparam("b_now", type_=UtcDateTime()),
            ).select_from(joined_ids),
        )
        .cte("joined_segments")
    )
    return [left, joined]


def _publish_changes(shop: Shop, changes: dict[int, tuple[list[int], list[int]]]) -> None:
    if not changes:
        return
    ids = list(changes)
    external: dict[int, str] = {}
    for start in range(0, len(ids), 10_000):  # keep IN lists a size every driver takes
        chunk = ids[start : start + 10_000]
        rows = db.session.execute(
            select(Customer.id, Customer.external_id).where(Customer.id.in_(chunk))
        ).all()
        external.update({customer_id: external_id for customer_id, external_id in rows})
    publish_many(
        shop,
        SEGMENTS_CHANGED,
        [
            {"customer_id": external.get(customer_id), "joined": joined, "left": left}
            for customer_id, (joined, left) in sorted(changes.items())
        ],
    )
