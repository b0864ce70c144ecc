"""Shops that installed the extension, and the events each has sent us."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plugin.db import NEVER_REUSED, ShopScoped, UtcDateTime, db, utcnow


class Shop(db.Model):
    __tablename__ = "shops"
    __table_args__ = NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # How money is written on the admin pages (plugin.money.format_money), e.g. ``fr_FR``.
    locale: Mapped[str] = mapped_column(String(35), default="en", server_default="en")
    api_url: Mapped[str | None] = mapped_column(String(512))
    access_token: Mapped[str | None] = mapped_column(String(512))
    # Where events of contract §6 are POSTed; the host may set it at install.
    events_url: Mapped[str | None] = mapped_column(String(512))
    installed: Mapped[bool] = mapped_column(default=True)
    installed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    uninstalled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Bumped whenever a pricing rule changes so every worker reloads its snapshot.
    rules_version: Mapped[int] = mapped_column(Integer, default=0)


class ProcessedEvent(ShopScoped, db.Model):
    """An ``X-Event-Id`` already handled: the unique key makes racing deliveries count once."""

    __tablename__ = "processed_events"
    __table_args__ = (UniqueConstraint("shop_id", "event_id"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
