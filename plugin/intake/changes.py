"""A customer's recent group and segment changes, recorded from the events we publish.

Nothing else in the database remembers when a customer moved: the outbox forgets its
rows after ``CUSTOMER_GROUPS_OUTBOX_RETENTION_DAYS`` and holds nothing for a shop that
has no ``events_url``. So a reactor (:func:`plugin.events.reactor`) hears every
``customer/group_changed`` and ``customer/segments_changed`` in the transaction that
publishes them and writes one ``customer_changes`` row per change, set-based: one
``INSERT ... SELECT`` from ``customers`` for all of them on PostgreSQL (per kind of
change and chunk of customers elsewhere), whether a move touched one customer or a
segment recompute 100,000. A set-based publish
(a recompute on PostgreSQL) is recorded by :func:`record_selected_changes` straight from
the events it wrote, joined to ``customers``: no host id comes into Python. The rows go
with the customer (customers/redact deletes the customer, and its rows cascade) and with
the shop.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.orm import aliased

from plugin.customers.models import (
    CHANGE_GROUP,
    CHANGE_JOINED_SEGMENT,
    CHANGE_LEFT_SEGMENT,
    Customer,
    CustomerChange,
)
from plugin.db import SHOP_PARAM, UtcDateTime, built, db, for_shop, in_shop, run_built, utcnow
from plugin.events import Shop, reactor, set_based
from plugin.groups.models import Group
from plugin.segments.models import Segment

GROUP_CHANGED = "customer/group_changed"
SEGMENTS_CHANGED = "customer/segments_changed"
#: The topics whose changes are recorded.
RECORDED = (GROUP_CHANGED, SEGMENTS_CHANGED)
#: Customers looked up per statement (IN lists every driver takes).
CHUNK = 5_000


def _rows(topic: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    if topic == GROUP_CHANGED:
        return [
            {
                "kind": CHANGE_GROUP,
                "from_group_id": payload.get("from_group"),
                "to_group_id": payload.get("to_group"),
            }
        ]
    joined = [{"kind": CHANGE_JOINED_SEGMENT, "segment_id": s} for s in payload.get("joined") or ()]
    left = [{"kind": CHANGE_LEFT_SEGMENT, "segment_id": s} for s in payload.get("left") or ()]
    return joined + left


# Part of the change: a move the reports could not see would be lost without a word (a
# failure here fails the webhook, which the host sends again, or the admin's request).
@reactor(topics=RECORDED, part_of_the_change=True)
def record_changes(shop: Shop, topic: str, payloads: list[dict[str, Any]]) -> None:
    """Write the changes ``payloads`` of ``topic`` announce (its registration limits it to
    the :data:`RECORDED` topics; the events registry calls it for no other).

    Payloads are grouped by what changed (a recompute announces thousands of customers
    joining one segment), and each group is one ``INSERT ... SELECT`` from ``customers``
    per chunk of host ids: no row of it passes through Python."""
    changes: dict[tuple[str, int | None, int | None, int | None], list[str]] = {}
    for payload in payloads:
        if not payload.get("customer_id"):
            continue
        for row in _rows(topic, payload):
            key = (
                row["kind"],
                row.get("from_group_id"),
                row.get("to_group_id"),
                row.get("segment_id"),
            )
            changes.setdefault(key, []).append(str(payload["customer_id"]))
    if not changes:
        return
    now = utcnow()
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if postgres:
        _record_all(shop, changes, now)
        return
    for (kind, from_group, to_group, segment), external_ids in changes.items():
        values = [
            literal(kind, String),
            _if_still_there(shop, Group, from_group),
            _if_still_there(shop, Group, to_group),
            _if_still_there(shop, Segment, segment),
            literal(now, UtcDateTime()),
        ]
        for start in range(0, len(external_ids), CHUNK):
            chunk = external_ids[start : start + CHUNK]
            chosen = (
                for_shop(Customer, shop.id)
                .with_only_columns(Customer.shop_id, Customer.id, *values)
                .where(Customer.external_id.in_(chunk))
            )
            db.session.execute(insert(CustomerChange).from_select(_COLUMNS, chosen))


#: Every change of a reaction in one statement (PostgreSQL): the changes as arrays, grouped
#: by change as the list form writes them, each change's customers in publish order, joined
#: to ``customers`` by host id and to the groups and segment they name (NULL once gone: a
#: change announced by a delete names the row being deleted, and is kept without it).
_RECORD_ALL_SQL = """
INSERT INTO customer_changes (shop_id, customer_id, kind, from_group_id, to_group_id,
                              segment_id, happened_at)
SELECT c.shop_id, c.id, v.kind, before.id, after.id, s.id, :b_now
FROM unnest(CAST(:b_kinds AS text[]), CAST(:b_from AS integer[]), CAST(:b_to AS integer[]),
            CAST(:b_segments AS integer[]), CAST(:b_customers AS text[]))
     WITH ORDINALITY AS v(kind, from_group, to_group, segment, customer, n)
JOIN customers c ON c.shop_id = :b_shop AND c.external_id = v.customer
LEFT JOIN groups before ON before.shop_id = :b_shop AND before.id = v.from_group
LEFT JOIN groups after ON after.shop_id = :b_shop AND after.id = v.to_group
LEFT JOIN segments s ON s.shop_id = :b_shop AND s.id = v.segment
ORDER BY v.n
"""


def _record_all(
    shop: Shop,
    changes: dict[tuple[str, int | None, int | None, int | None], list[str]],
    now: Any,
) -> None:
    columns: tuple[list[Any], ...] = ([], [], [], [], [])
    for key, external_ids in changes.items():
        # A customer named twice for the same change is one row, as the list form's IN.
        for external_id in dict.fromkeys(external_ids):
            for column, value in zip(columns, (*key, external_id), strict=True):
                column.append(value)
    kinds, froms, tos, segments, customers = columns
    run_built(
        built(
            "record_all_changes",
            lambda _: text(_RECORD_ALL_SQL).bindparams(bindparam("b_now", type_=UtcDateTime())),
        ),
        {
            SHOP_PARAM: shop.id,
            "b_now": now,
            "b_kinds": kinds,
            "b_from": froms,
            "b_to": tos,
            "b_segments": segments,
            "b_customers": customers,
        },
    )


_COLUMNS = ["shop_id", "customer_id", "kind", "from_group_id", "to_group_id", "segment_id",
            "happened_at"]  # fmt: skip


@set_based(record_changes)
def record_selected_changes(shop: Shop, topic: str, payloads: Select[Any]) -> None:
    """:func:`record_changes` for the events of a set-based publish (PostgreSQL): one
    ``INSERT ... SELECT`` per kind of change, the payloads joined to ``customers`` by host
    id and to the group or segment they name (NULL when it is gone), in their order."""
    events = payloads.subquery("events")
    payload = events.c.payload
    customer = and_(
        in_shop(Customer, shop.id), Customer.external_id == payload["customer_id"].as_string()
    )
    now = literal(utcnow(), UtcDateTime())
    chosen: list[Select[Any]] = []
    if topic == GROUP_CHANGED:
        before, after = aliased(Group), aliased(Group)
        chosen.append(
            select(
                Customer.shop_id,
                Customer.id,
                literal(CHANGE_GROUP, String),
                before.id,
                after.id,
                literal(None, Integer),
                now,
            )
            .select_from(events)
            .join(Customer, customer)
            .outerjoin(
                before,
                and_(in_shop(before, shop.id), before.id == payload["from_group"].as_integer()),
            )
            .outerjoin(
                after, and_(in_shop(after, shop.id), after.id == payload["to_group"].as_integer())
            )
            .order_by(events.c.position)
        )
    else:
        for kind, key in ((CHANGE_JOINED_SEGMENT, "joined"), (CHANGE_LEFT_SEGMENT, "left")):
            # Only an array names segments (a missing key, or null, names none: as the list
            # form's ``or ()``); JSON's functions on arrays raise on anything else.
            listed = case((func.json_typeof(payload[key]) == "array", payload[key]))
            named = func.json_array_elements_text(listed).table_valued("value").lateral()
            chosen.append(
                select(
                    Customer.shop_id,
                    Customer.id,
                    literal(kind, String),
                    literal(None, Integer),
                    literal(None, Integer),
                    Segment.id,
                    now,
                )
                .select_from(events)
                .where(func.coalesce(func.json_array_length(listed), 0) > 0)
                .join(Customer, customer)
                .join(named, true())
                .outerjoin(
                    Segment,
                    and_(
                        in_shop(Segment, shop.id),
                        Segment.id == cast(named.c.value, Integer),
                    ),
                )
                .order_by(events.c.position)
            )
    for rows in chosen:
        db.session.execute(insert(CustomerChange).from_select(_COLUMNS, rows))


def _if_still_there(shop: Shop, model: Any, reference: int | None) -> Any:
    """The group or segment ``reference`` names, or NULL if it is gone: a change announced
    by a delete (members move to the default group, or leave the segment) names the one
    being deleted, and the change is kept without that reference. A subquery of the
    INSERT itself (the database runs it once per statement), not a read of its own."""
    if reference is None:
        return literal(None, Integer)
    return select(model.id).where(in_shop(model, shop.id), model.id == reference).scalar_subquery()
