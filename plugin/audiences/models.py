"""Audiences (a segment or group kept in sync with a marketing tool) and their runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from plugin.db import NEVER_REUSED, ShopScoped, UtcDateTime, db, utcnow

SOURCE_TYPES = ("segment", "group")
DESTINATION_TYPES = ("klaviyo", "attentive", "meta")
SCHEDULES = ("daily", "hourly", "manual")
IDENTIFIERS = ("email", "phone")

RUN_QUEUED = "queued"
RUN_RUNNING = "running"
RUN_SUCCEEDED = "succeeded"
RUN_FAILED = "failed"
ACTIVE_RUN_STATUSES = (RUN_QUEUED, RUN_RUNNING)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Audience(ShopScoped, db.Model):
    """Who to send (a segment or group), where (a vendor list or audience) and how (mapping)."""

    __tablename__ = "audiences"
    __table_args__ = (
        UniqueConstraint("shop_id", "name_key"),
        CheckConstraint(_one_of("source_type", SOURCE_TYPES), name="source_type_known"),
        # The source is a group or a segment, as its type says (none once it is deleted).
        CheckConstraint(
            "(source_type = 'group' AND source_segment_id IS NULL)"
            " OR (source_type = 'segment' AND source_group_id IS NULL)",
            name="source_fits_type",
        ),
        CheckConstraint(
            _one_of("destination_type", DESTINATION_TYPES), name="destination_type_known"
        ),
        CheckConstraint(_one_of("schedule", SCHEDULES), name="schedule_known"),
        Index("ix_audiences_schedule_last_run", "schedule", "last_run_at"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    # The name folded for the case-insensitive uniqueness rule.
    name_key: Mapped[str] = mapped_column(String(255))  # folding can lengthen a name
    source_type: Mapped[str] = mapped_column(String(16))
    # The group or segment sent (foreign keys): deleting it leaves the audience without a
    # source (NULL), which is then neither scheduled nor run (a run fails saying why) until
    # the merchant gives it another.
    source_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="SET NULL"), index=True
    )
    source_segment_id: Mapped[int | None] = mapped_column(
        ForeignKey("segments.id", ondelete="SET NULL"), index=True
    )
    destination_type: Mapped[str] = mapped_column(String(16))
    # Vendor secrets ({"api_key"} or {"access_token"}) as one Fernet token, under a key
    # derived from the app secret (plugin.audiences.credentials); answers show them masked.
    sealed_credentials: Mapped[str] = mapped_column(Text, default="")
    list_id: Mapped[str | None] = mapped_column(String(255))  # Klaviyo list
    vendor_audience_id: Mapped[str | None] = mapped_column(String(255))  # Meta custom audience
    base_url: Mapped[str | None] = mapped_column(String(512))
    # {"identifier": "email" | "phone", "properties": {vendor_property: our_field}}
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    only_update_existing: Mapped[bool] = mapped_column(default=False)
    schedule: Mapped[str] = mapped_column(String(16), default="manual")
    active: Mapped[bool] = mapped_column(default=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    @property
    def source_id(self) -> int | None:
        """The id of the source group or segment (None once it was deleted)."""
        return self.source_group_id if self.source_type == "group" else self.source_segment_id

    @source_id.setter
    def source_id(self, value: int | None) -> None:
        """Set after ``source_type``: the id goes to that type's column."""
        if self.source_type not in SOURCE_TYPES:
            raise ValueError("set source_type before source_id")
        self.source_group_id = value if self.source_type == "group" else None
        self.source_segment_id = value if self.source_type == "segment" else None


class AudienceRun(ShopScoped, db.Model):
    """One sync of an audience, in two phases: leavers out (``state["removal_cursor"]``, the
    last member row done), then members in (``cursor``, the last customer id done), so a run
    resumes where it stopped."""

    __tablename__ = "audience_runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name="status_known"
        ),
        CheckConstraint("synced >= 0 AND skipped >= 0 AND failed >= 0", name="counts_not_negative"),
        CheckConstraint("removed >= 0", name="removed_not_negative"),
        Index("ix_audience_runs_shop_audience", "shop_id", "audience_id", "id"),
        # At most one unfinished run per audience, enforced by the database.
        Index(
            "uq_audience_runs_one_active_per_audience",
            "audience_id",
            unique=True,
            sqlite_where=text("status IN ('queued', 'running')"),
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    audience_id: Mapped[int] = mapped_column(ForeignKey("audiences.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=RUN_QUEUED)
    synced: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    # Leavers taken out of the destination (contract §5, version 2).
    removed: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    # [{"customer_id", "message", "status"}], capped (see destination.MAX_ERRORS).
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    cursor: Mapped[int | None] = mapped_column()
    # Destination state that must survive a restart (Meta's upload session and batch number).
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Touched after every batch: a running run whose heartbeat is old was killed.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AudienceMember(ShopScoped, db.Model):
    """What the vendor holds of an audience: one row per customer sent and not yet removed.

    A run compares the source with these rows (set-based) to find who joined and who left.
    ``customer_id`` becomes NULL when the customer is deleted or redacted: the row then only
    says what to take out of the vendor, and goes once that is done. ``digest`` is the
    SHA-256 of the normalised identifier (Meta's entry; a changed identifier is a leave and a
    join); ``vendor_ref`` is what the vendor needs to remove it (Klaviyo's profile id, the
    sealed phone for Attentive, nothing for Meta).
    """

    __tablename__ = "audience_members"
    __table_args__ = (
        UniqueConstraint("audience_id", "customer_id"),
        Index("ix_audience_members_customer", "customer_id"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    audience_id: Mapped[int] = mapped_column(ForeignKey("audiences.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    digest: Mapped[str] = mapped_column(String(64))
    vendor_ref: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
