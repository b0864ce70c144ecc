"""A customer's recent group and segment changes, recorded from the events we publish.

Nothing else in the database remembers when a customer moved: the outbox forgets its
rows after ``CUSTOMER_GROUPS_OUTBOX_RETENTION_DAYS`` and holds nothing for a shop that
has no ``events_url``. So a reactor (:func:`plugin.events.reactor`) hears every
``customer/group_changed`` and ``customer/segments_changed`` in the transaction that
publishes them and writes one ``customer_changes`` row per change, set-based: one
SELECT and one executemany INSERT per chunk of customers, whether a move touched one
customer or a segment recompute 100,000. The rows go with the customer (customers/redact
deletes the customer, and its rows cascade) and with the shop.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from plugin.customers.models import (
    CHANGE_GROUP,
    CHANGE_JOINED_SEGMENT,
    CHANGE_LEFT_SEGMENT,
    Customer,
    CustomerChange,
)
from plugin.db import db, for_shop, utcnow
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
    """Write the changes ``payloads`` of ``topic`` announce (other topics: nothing)."""
    if topic not in (GROUP_CHANGED, SEGMENTS_CHANGED):
        return
    wanted = [p for p in payloads if p.get("customer_id")]
    now = utcnow()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        ids = dict(
            db.session.execute(
                for_shop(Customer, shop.id)
                .with_only_columns(Customer.external_id, Customer.id)
                .where(Customer.external_id.in_({str(p["customer_id"]) for p in chunk}))
            ).all()
        )
        rows = [
            {
                "shop_id": shop.id,
                "customer_id": ids[str(payload["customer_id"])],
                "from_group_id": None,
                "to_group_id": None,
                "segment_id": None,
                "happened_at": now,
                **row,
            }
            for payload in chunk
            if str(payload["customer_id"]) in ids
            for row in _rows(topic, payload)
        ]
        if rows:
            _forget_deleted(shop, rows)
            db.session.execute(insert(CustomerChange), rows)


def _forget_deleted(shop: Shop, rows: list[dict[str, Any]]) -> None:
    """A change announced by a delete names the group or segment being deleted (its members
    move to the default group, or leave it): keep the change, without the reference."""
    for model, columns in ((Group, ("from_group_id", "to_group_id")), (Segment, ("segment_id",))):
        named = {row[column] for row in rows for column in columns} - {None}
        if not named:
            continue
        existing = set(
            db.session.execute(
                for_shop(model, shop.id).with_only_columns(model.id).where(model.id.in_(named))
            ).scalars()
        )
        for row in rows:
            for column in columns:
                if row[column] not in existing:
                    row[column] = None

