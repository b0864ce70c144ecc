"""Events the extension sends (contract §6): one seam, :func:`publish`, for every topic.

An event is published inside the database transaction that caused it and goes out
only if that transaction commits: ``publish`` queues it on the current session, and
the session's ``after_commit`` sends the queue as blinker signals (sender: the shop's
domain; kwargs: ``payload`` and ``event_id``); a rollback drops it. Receivers run
after the commit is final but while the session is closing: they must not use
``db.session`` (open their own session, or queue work). When the persisted outbox
arrives, ``publish`` writes an outbox row in the same transaction instead, and nothing
else changes for callers.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from hooks import signals
from plugin.db import db
from plugin.shops.models import Shop

log = logging.getLogger(__name__)

_PENDING = "customer_groups_pending_events"

TOPICS = {
    "coupon/given": signals.coupon_given,
    "customer/group_changed": signals.customer_group_changed,
    "customer/segments_changed": signals.customer_segments_changed,
}


@dataclass(frozen=True, slots=True)
class Event:
    shop_domain: str
    topic: str
    payload: dict[str, Any]
    event_id: str


def publish(shop: Shop, topic: str, payload: dict[str, Any]) -> Event:
    """Queue an event of ``topic`` for ``shop``; it is sent when the transaction commits."""
    if topic not in TOPICS:
        raise ValueError(f"unknown event topic {topic!r}")
    queued = Event(shop.domain, topic, payload, str(uuid.uuid4()))
    db.session.info.setdefault(_PENDING, []).append(queued)
    return queued


def publish_many(shop: Shop, topic: str, payloads: list[dict[str, Any]]) -> None:
    """Queue one event per payload (a segment recompute may announce many customers)."""
    if topic not in TOPICS:
        raise ValueError(f"unknown event topic {topic!r}")
    pending = db.session.info.setdefault(_PENDING, [])
    domain = shop.domain
    pending.extend(Event(domain, topic, payload, str(uuid.uuid4())) for payload in payloads)


def _send_pending(session: Session) -> None:
    pending: list[Event] = session.info.pop(_PENDING, [])
    for queued in pending:
        try:
            TOPICS[queued.topic].send(
                queued.shop_domain, payload=queued.payload, event_id=queued.event_id
            )
        except Exception:  # a faulty receiver must not undo or hide a committed change
            log.exception("A receiver of %s failed", queued.topic)


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


event.listen(db.session, "after_commit", _send_pending)
event.listen(db.session, "after_soft_rollback", lambda session, previous: _drop_pending(session))
