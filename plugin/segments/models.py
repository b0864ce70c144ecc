"""Segments and their materialised memberships."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from plugin.db import NEVER_REUSED, ShopScoped, UtcDateTime, db, utcnow

MATCH_ALL = "all"
MATCH_ANY = "any"


class Segment(ShopScoped, db.Model):
    """A named list of conditions; customers meeting them (all or any) are its members."""

    __tablename__ = "segments"
    __table_args__ = (
        UniqueConstraint("shop_id", "name_key"),
        CheckConstraint("match IN ('all', 'any')", name="match_known"),
        # What audience links refer to: the row together with its shop.
        UniqueConstraint("shop_id", "id"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    # The name folded for the case-insensitive uniqueness rule.
    name_key: Mapped[str] = mapped_column(String(255))  # folding can lengthen a name
    match: Mapped[str] = mapped_column(String(3), default=MATCH_ALL)
    # [{"field", "op", "value"}] as the merchant wrote them (relative dates stay relative).
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class SegmentMember(ShopScoped, db.Model):
    """A customer who meets a segment's conditions, kept current by events and recomputes."""

    __tablename__ = "segment_members"
    __table_args__ = (
        # Pricing and the customer view look up one customer's segments.
        Index("ix_segment_members_shop_customer", "shop_id", "customer_id"),
    )

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    segment_id: Mapped[int] = mapped_column(
        ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
