"""The one job interface (issue #6): job kinds and periodic tasks are registered here.

A *job kind* is a named unit of background work with a durable row in ``jobs``:

    @job_kind("codes.generate")
    def generate(job: Job, report: Callable[[int], None]) -> dict[str, Any]:
        ...  # runs inside an app context with its own db.session; returns the result

``report(done)`` records progress *and commits the session*: the work done so far and its
progress become durable together, and only while the job is still this runner's (a runner
that lost its lease gets :class:`LeaseLost` and its uncommitted work is rolled back). A job
that a dead process left unfinished runs again from ``job.progress``, so work that reports
as it goes can resume where it stopped. Whatever ``work`` leaves uncommitted when it
returns is committed together with the job's success. An exception retries the job with a
back-off until ``max_attempts`` is used up; :class:`PermanentJobError` (or an ``ApiError``)
fails it at once.

Callers create the row with :func:`enqueue` inside their own transaction (so the job
exists if and only if the change that asked for it commits); the runner (in the serve
process, or RQ workers on Redis) picks it up once that transaction commits.

A *periodic task* runs every ``every`` seconds in some process that runs jobs, once per
period however many processes do:

    @periodic("audiences.due", every=60)
    def run_due_audiences() -> None: ...

Periodic tasks should be short: heavy work is better enqueued as jobs from them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from plugin.db import db, shop_scope, utcnow
from plugin.jobs.models import ACTIVE_JOB_STATUSES, JOB_QUEUED, Job
from plugin.jobs.settings import QUEUE_RQ, JobSettings

#: ``work(job, report)`` does the job; ``report(done)`` records progress; returns the result.
Work = Callable[[Job, Callable[[int], None]], dict[str, Any]]

#: Where :func:`enqueue` leaves the ids of jobs created in the session's transaction; the
#: runner hands them on (wakes the local runner, or pushes them to RQ) after the commit.
ENQUEUED_KEY = "customer_groups.jobs_enqueued"
DEFAULT_MAX_ATTEMPTS = 5


class PermanentJobError(Exception):
    """Raised by ``work`` for a failure that another attempt cannot fix: the job fails now."""


class LeaseLost(Exception):
    """The job is no longer this runner's (its lease ran out and it was queued again)."""


class HasId(Protocol):
    """A row with an id: a shop, as the job machinery sees it (it knows no feature)."""

    @property
    def id(self) -> int: ...


@dataclass(frozen=True, slots=True)
class PeriodicTask:
    name: str
    every: float
    run: Callable[[], None]


JOB_KINDS: dict[str, Work] = {}
PERIODIC_TASKS: dict[str, PeriodicTask] = {}


def job_kind(name: str) -> Callable[[Work], Work]:
    """Register ``work`` as the job kind ``name``."""

    def register(work: Work) -> Work:
        if JOB_KINDS.get(name, work) is not work:
            raise ValueError(f"job kind {name!r} is registered twice")
        JOB_KINDS[name] = work
        return work

    return register


def periodic(name: str, every: float) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register ``run`` to be called every ``every`` seconds inside an app context."""

    def register(run: Callable[[], None]) -> Callable[[], None]:
        PERIODIC_TASKS[name] = PeriodicTask(name, every, run)
        return run

    return register


def enqueue(
    shop: HasId | int,
    kind: str,
    params: dict[str, Any],
    total: int = 0,
    *,
    key: str | None = None,
    max_attempts: int | None = None,
) -> Job:
    """Add a queued job of ``kind`` to the current transaction; the caller commits.

    ``shop`` is the shop or its id. With ``key``, a job of the same shop, kind and key that
    is still queued or running is given back instead of a second one (the database holds
    at most one). ``max_attempts`` defaults to ``CUSTOMER_GROUPS_JOB_MAX_ATTEMPTS``.
    """
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    shop_id = shop if isinstance(shop, int) else shop.id
    if key is not None:
        existing = _active_with_key(shop_id, kind, key)
        if existing is not None:
            return existing
    settings = JobSettings.current()
    now = utcnow()
    job = Job(
        shop_id=shop_id,
        kind=kind,
        status=JOB_QUEUED,
        progress=0,
        total=total,
        dedupe_key=key,
        attempts=0,
        max_attempts=max_attempts or settings.max_attempts,
        available_at=now,
        # Queue mode: pushed to RQ right after the commit (a lost push is pushed again).
        pushed_at=now if settings.queue == QUEUE_RQ else None,
        created_at=now,
    )
    job.params = params
    if key is None:
        db.session.add(job)
        db.session.flush()
    else:
        # Two callers racing with one key: the partial unique index lets one row in.
        try:
            with db.session.begin_nested():
                db.session.add(job)
                db.session.flush()
        except IntegrityError:
            existing = _active_with_key(shop_id, kind, key)
            if existing is None:
                raise
            return existing
    db.session.info.setdefault(ENQUEUED_KEY, []).append(job.id)
    return job


def _active_with_key(shop_id: int, kind: str, key: str) -> Job | None:
    with shop_scope(shop_id):
        return db.session.execute(
            select(Job).where(
                Job.kind == kind,
                Job.dedupe_key == key,
                Job.status.in_(ACTIVE_JOB_STATUSES),
            )
        ).scalar_one_or_none()
