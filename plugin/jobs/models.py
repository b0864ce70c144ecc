"""A job: a long operation (e.g. generating a million codes) that a client follows.

The row is the source of truth whatever runs it (the embedded runner in the server process,
or RQ workers): a runner *claims* a queued job with a conditional ``UPDATE`` that gives it a
fresh ``claim_token`` and a lease (``lease_until``), keeps the lease alive while it works,
and writes progress and the outcome only while the token is still its own. A job whose
lease runs out (its process died) is queued again, until ``max_attempts`` is used up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from plugin.db import NEVER_REUSED, ShopScoped, UtcDateTime, db, utcnow

JOB_QUEUED = "queued"
JOB_RUNNING = "running"
JOB_SUCCEEDED = "succeeded"
JOB_FAILED = "failed"
JOB_STATUSES = (JOB_QUEUED, JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED)
ACTIVE_JOB_STATUSES = (JOB_QUEUED, JOB_RUNNING)

_ACTIVE = "status IN ('queued', 'running')"


class Job(ShopScoped, db.Model):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name="status_known"
        ),
        CheckConstraint("progress >= 0", name="progress_not_negative"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
        # What runners look for: queued jobs by the time they may start.
        Index("ix_jobs_status_available_at", "status", "available_at"),
        # At most one unfinished job per (shop, kind, key): enqueueing twice is harmless.
        Index(
            "uq_jobs_active_dedupe_key",
            "shop_id",
            "kind",
            "dedupe_key",
            unique=True,
            sqlite_where=text(_ACTIVE),
            postgresql_where=text(_ACTIVE),
        ),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=JOB_QUEUED)
    progress: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The last attempt's error: kept while a retry waits, the reason once it failed.
    error: Mapped[str | None] = mapped_column(Text)
    # Caller's idempotency key: a second enqueue with the same key while one is unfinished
    # gives back the unfinished job.
    dedupe_key: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(default=5, server_default="5")
    # A queued job is not started before this (retries back off).
    available_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # The claim: whose it is, a token that fences late writes, and until when it holds.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Queue mode: when the job id was last handed to RQ (the sweeper hands it again if lost).
    pushed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PeriodicRun(db.Model):
    """When a periodic task runs next: runners take a turn with a conditional ``UPDATE`` of
    ``next_run_at``, so with any number of runners a task runs once per period."""

    __tablename__ = "periodic_runs"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    runs: Mapped[int] = mapped_column(default=0, server_default="0")
