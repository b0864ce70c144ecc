"""A customer's recent group and segment changes, recorded from the events we publish.

Nothing else in the database remembers when a customer moved: the outbox forgets its
rows after ``CUSTOMER_GROUPS_OUTBOX_RETENTION_DAYS`` and holds nothing for a shop that
has no ``events_url``. So a reactor (:func:`plugin.events.reactor`) hears every
``customer/group_changed`` and ``customer/segments_changed`` in the transaction that
publishes them and writes one ``customer_changes`` row per change, set-based: one
``INSERT ... SELECT`` from ``customers`` per kind of change and chunk of customers,
whether a move touched one customer or a segment recompute 100,000. The rows go with the
customer (customers/redact deletes the customer, and its rows cascade) and with the shop.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ARRAY, Integer, String, any_, bindparam, insert, literal, select

from plugin.customers.models import (
    CHANGE_GROUP,
    CHANGE_JOINED_SEGMENT,
    CHANGE_LEFT_SEGMENT,
    Customer,
    CustomerChange,
)
from plugin.db import UtcDateTime, db, for_shop, in_shop, utcnow
from plugin.events import Shop, reactor
from plugin.groups.models import Group
from plugin.segments.models import Segment

GROUP_CHANGED = "customer/group_changed"
SEGMENTS_CHANGED = "customer/segments_changed"
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


@reactor
def record_changes(shop: Shop, topic: str, payloads: list[dict[str, Any]]) -> None:
    """Write the changes ``payloads`` of ``topic`` announce (other topics: nothing).

    Payloads are grouped by what changed (a recompute announces thousands of customers
    joining one segment), and each group is one ``INSERT ... SELECT`` from ``customers``
    per chunk of host ids: no row of it passes through Python."""
    if topic not in (GROUP_CHANGED, SEGMENTS_CHANGED):
        return
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
    columns = ["shop_id", "customer_id", "kind", "from_group_id", "to_group_id", "segment_id",
               "happened_at"]  # fmt: skip
    for (kind, from_group, to_group, segment), external_ids in changes.items():
        values = [
            literal(kind, String),
            _if_still_there(shop, Group, from_group),
            _if_still_there(shop, Group, to_group),
            _if_still_there(shop, Segment, segment),
            literal(now, UtcDateTime()),
        ]
        step = (len(external_ids) or 1) if postgres else CHUNK
        for start in range(0, len(external_ids), step):
            chunk = external_ids[start : start + step]
            # PostgreSQL takes the ids as one array parameter; others as an IN list.
            matches = (
                Customer.external_id == any_(bindparam("ids", chunk, type_=ARRAY(String)))
                if postgres
                else Customer.external_id.in_(chunk)
            )
            chosen = (
                for_shop(Customer, shop.id)
                .with_only_columns(Customer.shop_id, Customer.id, *values)
                .where(matches)
            )
            db.session.execute(insert(CustomerChange).from_select(columns, chosen))


def _if_still_there(shop: Shop, model: Any, reference: int | None) -> Any:
    """The group or segment ``reference`` names, or NULL if it is gone: a change announced
    by a delete (members move to the default group, or leave the segment) names the one
    being deleted, and the change is kept without that reference. A subquery of the
    INSERT itself (the database runs it once per statement), not a read of its own."""
    if reference is None:
        return literal(None, Integer)
    return (
        select(model.id).where(in_shop(model, shop.id), model.id == reference).scalar_subquery()
    )
