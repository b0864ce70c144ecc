"""What the merchant sees of the outbox: events by status, one event, a retry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from plugin.db import db, for_shop, get_for_shop, utcnow
from plugin.errors import ApiError, ErrorCode
from plugin.outbox.models import DEAD, PENDING, SKIPPED, OutboxEvent
from plugin.shops.models import Shop


def list_events(
    shop: Shop,
    page: int,
    per_page: int,
    status: str | None = None,
    topic: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The shop's events, newest first, optionally of one status, topic or event id."""
    query = for_shop(OutboxEvent, shop.id)
    if status:
        query = query.where(OutboxEvent.status == status)
    if topic:
        query = query.where(OutboxEvent.topic == topic)
    if event_id:
        query = query.where(OutboxEvent.event_id == event_id)
    total = db.session.execute(
        select(func.count()).select_from(query.order_by(None).subquery())
    ).scalar_one()
    items = db.session.execute(
        query.order_by(OutboxEvent.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).scalars()
    return {"items": list(items), "total": total, "page": page, "per_page": per_page}


def get_event(shop: Shop, event_pk: int) -> OutboxEvent:
    return get_for_shop(OutboxEvent, shop.id, event_pk)


def retry_event(shop: Shop, event_pk: int) -> OutboxEvent:
    """Send a dead (or skipped) event again: pending now, attempts from zero; 409 otherwise."""
    found = get_for_shop(OutboxEvent, shop.id, event_pk)
    if not shop.events_url:
        raise ApiError(
            ErrorCode.CONFLICT,
            "The shop has no events_url to deliver to; set one when installing the app.",
            409,
        )
    changed = db.session.execute(
        update(OutboxEvent)
        .where(
            OutboxEvent.shop_id == shop.id,
            OutboxEvent.id == found.id,
            OutboxEvent.status.in_((DEAD, SKIPPED)),
        )
        .values(
            status=PENDING,
            attempts=0,
            next_attempt_at=utcnow(),
            locked_until=None,
            lock_token=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        db.session.rollback()
        raise ApiError(
            ErrorCode.CONFLICT,
            f"Only dead or skipped events can be retried; event {found.id} is {found.status}.",
            409,
            {"status": [found.status]},
        )
    db.session.commit()
    db.session.refresh(found)
    return found
