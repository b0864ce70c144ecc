"""The outbox: one row per event the extension sends, written with the change that caused it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from plugin.db import NEVER_REUSED, ShopScoped, UtcDateTime, db, utcnow

#: Waiting for its first try or for a retry (``next_attempt_at``).
PENDING = "pending"
#: The shop's endpoint answered 2xx.
DELIVERED = "delivered"
#: Gave up after the last attempt; ``POST /api/events/{id}/retry`` sends it again.
DEAD = "dead"
#: Not sent over HTTP: the shop has no ``events_url`` (or uninstalled the app).
SKIPPED = "skipped"
STATUSES = (PENDING, DELIVERED, DEAD, SKIPPED)


class OutboxEvent(ShopScoped, db.Model):
    """An event of contract §6 and where its HTTP delivery stands.

    A delivery claims the row with a lease (``locked_until`` and ``lock_token``) so two
    processes never post it at the same time; a process that dies after posting leaves
    the lease to run out and the event is posted again with the same ``event_id``.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'delivered', 'dead', 'skipped')", name="status_known"
        ),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        # The delivery loop only ever looks for pending rows: keep that index small.
        Index(
            "ix_outbox_events_due",
            "next_attempt_at",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_outbox_events_shop_status", "shop_id", "status", "id"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(64))
    # The X-Event-Id: stable across retries, so a receiver can deduplicate.
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lock_token: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(Text)
    # The HTTP status of the last answer (None when there was no answer at all).
    last_status_code: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
