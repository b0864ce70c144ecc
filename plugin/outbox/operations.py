"""What the merchant sees of the outbox: events by status, one event, a retry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from plugin.db import db, for_shop, get_for_shop, utcnow
from plugin.errors import ApiError, ErrorCode
from plugin.events.models import DEAD, PENDING, SKIPPED, OutboxEvent
from plugin.paging import Page, paginate
from plugin.shops.models import Shop


def list_events(
    shop: Shop,
    page: int,
    per_page: int,
    status: str | None = None,
    topic: str | None = None,
    event_id: str | None = None,
) -> Page[OutboxEvent]:
    """The shop's events, newest first, optionally of one status, topic or event id."""
    query = for_shop(OutboxEvent, shop.id)
    if status:
        query = query.where(OutboxEvent.status == status)
    if topic:
        query = query.where(OutboxEvent.topic == topic)
    if event_id:
        query = query.where(OutboxEvent.event_id == event_id)
    return paginate(query.order_by(OutboxEvent.id.desc()), page, per_page)


def get_event(shop: Shop, event_pk: int) -> OutboxEvent:
    return get_for_shop(OutboxEvent, shop.id, event_pk)


def _require_events_url(shop: Shop) -> None:
    if not shop.events_url:
        raise ApiError(
            ErrorCode.CONFLICT,
            "The shop has no events_url to deliver to; set one when installing the app.",
            409,
        )


def _send_again(shop: Shop, *where: Any) -> int:
    """Make the shop's events matching ``where`` pending now with attempts from zero, in
    one UPDATE; how many."""
    return db.session.execute(
        update(OutboxEvent)
        .where(*where)
        .values(
            status=PENDING,
            attempts=0,
            next_attempt_at=utcnow(),
            locked_until=None,
            lock_token=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount


def retry_event(shop: Shop, event_pk: int) -> OutboxEvent:
    """Send a dead (or skipped) event again: pending now, attempts from zero; 409 otherwise."""
    found = get_for_shop(OutboxEvent, shop.id, event_pk)
    _require_events_url(shop)
    changed = _send_again(shop, OutboxEvent.id == found.id, OutboxEvent.status.in_((DEAD, SKIPPED)))
    if changed != 1:
        db.session.rollback()
        raise ApiError(
            ErrorCode.CONFLICT,
            f"Only dead or skipped events can be retried; event {found.id} is {found.status}.",
            409,
            {"status": [found.status]},
        )
    db.session.refresh(found)
    return found


def retry_events(shop: Shop, status: str, topic: str | None = None) -> int:
    """Send every dead (or every skipped) event of the shop again, optionally of one topic,
    in one statement; how many. After an endpoint outage longer than the retries last, or
    once a shop that had no events_url has one. 409 when it still has none."""
    _require_events_url(shop)
    where = [OutboxEvent.status == status]
    if topic:
        where.append(OutboxEvent.topic == topic)
    retried = _send_again(shop, *where)
    return retried or 0
