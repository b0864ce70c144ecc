"""Take and run jobs from the database: claims, leases, heartbeats, retries.

Every runner, whether the embedded one in a ``serve`` worker process (:mod:`.runner`) or
an RQ worker (:mod:`.queue`), takes jobs through the same few functions, and the database
decides who runs what:

- :func:`claim_next` / :func:`claim_job` take a queued job with one conditional ``UPDATE``
  (on PostgreSQL the candidate row is picked ``FOR UPDATE SKIP LOCKED``; on SQLite the
  write lock serialises claims). The claim gets a fresh token and a lease.
- :func:`execute` runs the job's ``work`` while a heartbeat thread keeps the lease alive;
  progress, success and failure are written only while the token is still the job's.
- :func:`requeue_expired` queues again a job whose lease ran out (its process died), or
  fails it once ``max_attempts`` are used up.
- :func:`run_pending` claims and runs jobs one after another in the calling thread (tests,
  ``customer-groups worker --burst``).

A job of a shop that is not installed waits: the claim reads ``shops.installed`` through
the jobs' foreign key (:func:`_shops`), since the job machinery knows no feature.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import Table, and_, exists, func, literal, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased

from plugin.db import UtcDateTime, db, shop_scope, utcnow
from plugin.errors import ApiError
from plugin.jobs.models import JOB_FAILED, JOB_QUEUED, JOB_RUNNING, JOB_SUCCEEDED, Job
from plugin.jobs.registry import JOB_KINDS, LeaseLost, PermanentJobError
from plugin.jobs.settings import JobsState

log = logging.getLogger(__name__)

#: A failed attempt waits BACKOFF_SECONDS * 2 ** (attempt - 1) before the next, at most MAX.
BACKOFF_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 600.0
MAX_ERROR_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class Claim:
    """A runner's hold on one job: writes about the job count only while ``token`` is its."""

    job_id: int
    token: str
    attempt: int
    lease_seconds: float


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"[:255]


def _stamp(now: datetime) -> Any:
    return literal(now, UtcDateTime())


def _fence(claim: Claim) -> Any:
    return and_(Job.id == claim.job_id, Job.status == JOB_RUNNING, Job.claim_token == claim.token)


def _lease(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)


def _shops() -> Table:
    """The shops table, reached through ``jobs.shop_id``'s foreign key (no feature import)."""
    (key,) = Job.__table__.c.shop_id.foreign_keys
    return key.column.table


def _installed(shop_id: Any) -> Any:
    shops = _shops()
    return exists().where(shops.c.id == shop_id, shops.c.installed.is_(True))


# --- Claims ----------------------------------------------------------------------------------


def _claim(where: Callable[[Any], list[Any]], lease_seconds: float, now: datetime) -> Claim | None:
    """Take the first queued job that ``where(candidate table)`` allows, in one UPDATE."""
    candidate = aliased(Job)
    installed = _installed(candidate.shop_id)
    pick = (
        select(candidate.id)
        .where(
            candidate.status == JOB_QUEUED,
            candidate.available_at <= now,
            installed,
            *where(candidate),
        )
        .order_by(candidate.available_at, candidate.id)
        .limit(1)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        # Racing runners skip each other's candidates instead of queueing behind them.
        pick = pick.with_for_update(skip_locked=True)
    token = uuid.uuid4().hex
    row = db.session.execute(
        update(Job)
        .where(Job.id == pick.scalar_subquery(), Job.status == JOB_QUEUED)
        .values(
            status=JOB_RUNNING,
            attempts=Job.attempts + 1,
            claim_token=token,
            claimed_by=_worker_name(),
            started_at=func.coalesce(Job.started_at, _stamp(now)),
            heartbeat_at=now,
            lease_until=_lease(now, lease_seconds),
        )
        .returning(Job.id, Job.attempts)
        .execution_options(synchronize_session=False)
    ).first()
    db.session.commit()
    if row is None:
        return None
    return Claim(row.id, token, row.attempts, lease_seconds)


def claim_next(lease_seconds: float, now: datetime | None = None) -> Claim | None:
    """Claim the job that has waited longest among those that may start now, or None.

    Jobs of uninstalled shops wait (an uninstall stops all work for the shop).
    """
    return _claim(lambda candidate: [], lease_seconds, now or utcnow())


def claim_job(job_id: int, lease_seconds: float, now: datetime | None = None) -> Claim | None:
    """Claim this job if it is queued and may start now (queue mode: RQ hands out ids)."""
    return _claim(lambda candidate: [candidate.id == job_id], lease_seconds, now or utcnow())


def _queued_now(now: datetime) -> bool:
    installed = _installed(Job.shop_id)
    found = db.session.execute(
        select(Job.id).where(Job.status == JOB_QUEUED, Job.available_at <= now, installed).limit(1)
    ).first()
    db.session.commit()
    return found is not None


def requeue_expired(now: datetime | None = None) -> int:
    """Queue again each running job whose lease ran out, or fail it when it has used up its
    attempts; return how many were requeued or failed.

    A lease runs out when the process running the job died (or hung): its heartbeat stopped.
    The job keeps its progress, so work that reports as it goes resumes where it stopped.
    """
    now = now or utcnow()
    expired = db.session.execute(
        select(Job.id, Job.claim_token, Job.attempts, Job.max_attempts).where(
            Job.status == JOB_RUNNING, or_(Job.lease_until.is_(None), Job.lease_until < now)
        )
    ).all()
    changed = 0
    for job_id, token, attempts, max_attempts in expired:
        fence = [
            Job.id == job_id,
            Job.status == JOB_RUNNING,
            Job.claim_token == token if token is not None else Job.claim_token.is_(None),
            or_(Job.lease_until.is_(None), Job.lease_until < now),
        ]
        stopped = (
            f"Attempt {attempts} of {max_attempts} stopped before it finished: "
            "the process running it went away."
        )
        if attempts >= max_attempts:
            values: dict[str, Any] = {"status": JOB_FAILED, "finished_at": now, "error": stopped}
        else:
            values = {"status": JOB_QUEUED, "available_at": now, "error": stopped}
        changed += db.session.execute(
            update(Job)
            .where(*fence)
            .values(claim_token=None, lease_until=None, **values)
            .execution_options(synchronize_session=False)
        ).rowcount
    db.session.commit()
    if changed:
        log.warning("Requeued or failed %d job(s) whose runner went away", changed)
    return changed


# --- Running one job -------------------------------------------------------------------------


class _Heartbeat:
    """Keep a claim's lease alive from a thread of its own while ``work`` runs, so that a
    long step without progress reports is not mistaken for a dead process."""

    def __init__(self, engine: Engine, claim: Claim) -> None:
        self.engine = engine
        self.claim = claim
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"customer-groups-heartbeat-{claim.job_id}", daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.claim.lease_seconds)

    def _beat(self) -> None:
        interval = max(0.2, self.claim.lease_seconds / 4)
        while not self._stop.wait(interval):
            now = utcnow()
            try:
                with self.engine.begin() as connection:
                    held = connection.execute(
                        update(Job)
                        .where(_fence(self.claim))
                        .values(heartbeat_at=now, lease_until=_lease(now, self.claim.lease_seconds))
                    ).rowcount
            except Exception:  # a busy database: the next beat tries again
                log.warning("Heartbeat of job %s failed", self.claim.job_id, exc_info=True)
                continue
            if held != 1:
                self.lost.set()
                return


def _reporter(claim: Claim, beat: _Heartbeat) -> Callable[[int], None]:
    def report(done: int) -> None:
        """Record progress and commit the work done so far, while the job is still ours."""
        now = utcnow()
        held = (
            not beat.lost.is_set()
            and db.session.execute(
                update(Job)
                .where(_fence(claim))
                .values(
                    progress=max(0, int(done)),
                    heartbeat_at=now,
                    lease_until=_lease(now, claim.lease_seconds),
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            == 1
        )
        if not held:
            db.session.rollback()
            raise LeaseLost(f"job {claim.job_id} is no longer held by this runner")
        db.session.commit()

    return report


def error_message(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(message)[:MAX_ERROR_LENGTH]


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...)."""
    return float(min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2 ** max(0, attempt - 1)))


def _succeed(claim: Claim, result: dict[str, Any] | None) -> bool:
    now = utcnow()
    held = db.session.execute(
        update(Job)
        .where(_fence(claim))
        .values(
            status=JOB_SUCCEEDED,
            result=result if result is not None else {},
            error=None,
            finished_at=now,
            heartbeat_at=now,
            claim_token=None,
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if held != 1:
        db.session.rollback()
        return False
    db.session.commit()
    return True


def _fail(claim: Claim, exc: BaseException) -> str | None:
    """Record a failed attempt: queue a retry after a back-off, or fail the job for good."""
    db.session.rollback()
    now = utcnow()
    row = db.session.execute(select(Job.attempts, Job.max_attempts).where(_fence(claim))).first()
    if row is None:
        db.session.rollback()
        return None
    permanent = isinstance(exc, PermanentJobError | ApiError)
    if permanent or row.attempts >= row.max_attempts:
        values: dict[str, Any] = {"status": JOB_FAILED, "finished_at": now}
    else:
        retry_at = now + timedelta(seconds=backoff(row.attempts))
        values = {"status": JOB_QUEUED, "available_at": retry_at}
    db.session.execute(
        update(Job)
        .where(_fence(claim))
        .values(error=error_message(exc), claim_token=None, lease_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return str(values["status"])


def execute(app: Flask, claim: Claim) -> str:
    """Run a claimed job to its end in a fresh app context; the status it ended with
    (``succeeded``, ``queued`` for a retry, ``failed``), or ``lost`` when the job stopped
    being this runner's meanwhile (nothing of this attempt was recorded after that)."""
    with app.app_context():
        with _Heartbeat(db.engine, claim) as beat:
            try:
                job = db.session.get(Job, claim.job_id)
                if job is None or job.claim_token != claim.token:
                    db.session.rollback()
                    return "lost"
                # Hand ``work`` the row detached and end this read: on SQLite a transaction
                # holds the write lock, which must not stay taken while the work runs.
                db.session.expunge(job)
                db.session.rollback()
                work = JOB_KINDS.get(job.kind)
                if work is None:
                    # Perhaps an older version of the code: another process may know it.
                    raise RuntimeError(f"No job kind {job.kind!r} is known to this process.")
                with shop_scope(job.shop_id):
                    result = work(job, _reporter(claim, beat))
                if beat.lost.is_set() or not _succeed(claim, result):
                    raise LeaseLost(f"job {claim.job_id} is no longer held by this runner")
                return JOB_SUCCEEDED
            except LeaseLost:
                db.session.rollback()
                log.warning("Job %s was taken over by another runner; dropped", claim.job_id)
                return "lost"
            except Exception as exc:  # the job records why; the runner goes on
                log.exception("Job %s (attempt %s) failed", claim.job_id, claim.attempt)
                return _fail(claim, exc) or "lost"


def release(claims: Iterable[Claim]) -> int:
    """Hand jobs back at a graceful shutdown: queued again at once, the attempt not counted."""
    released = 0
    for claim in claims:
        released += db.session.execute(
            update(Job)
            .where(_fence(claim))
            .values(
                status=JOB_QUEUED,
                attempts=Job.attempts - 1,
                available_at=utcnow(),
                claim_token=None,
                lease_until=None,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    db.session.commit()
    return released


def run_pending(app: Flask, limit: int | None = None, now: datetime | None = None) -> int:
    """Claim and run queued jobs one after another in this thread until none may start
    (or ``limit`` ran); return how many ran. What the runner threads do, for tests and
    for ``customer-groups worker --burst``."""
    settings = jobs_state(app).settings
    ran = 0
    misses = 0
    while limit is None or ran < limit:
        with app.app_context():
            claim = claim_next(settings.lease_seconds, now)
            if claim is None:
                # Another runner may hold the candidate for a moment (PostgreSQL skips it).
                if misses < 100 and _queued_now(now or utcnow()):
                    misses += 1
                    time.sleep(0.01)
                    continue
                break
        misses = 0
        execute(app, claim)
        ran += 1
    return ran


def jobs_state(app: Flask) -> JobsState:
    """The app's background-work state: its settings, this process's runner, its Redis."""
    state = getattr(app.extensions.get("customer_groups"), "jobs", None)
    if not isinstance(state, JobsState):
        raise RuntimeError("The Customer Groups extension is not initialised on this app.")
    return state
