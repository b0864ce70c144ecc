"""Queue mode (``CUSTOMER_GROUPS_JOB_QUEUE=rq``): job ids go to RQ on Redis.

Why RQ rather than Celery: RQ needs Redis and nothing else (no broker, result backend or
beat configuration), is a small pure-Python library that is easy to read, and its
workers run plain functions. The job row stays the source of truth (status, progress,
attempts, leases), so RQ only has to carry a job id from the server to some worker:
exactly what it does well.

- :func:`enqueue` (registry) writes the row as always and marks it pushed; once the
  transaction commits, :func:`push` hands the id to RQ (queue :data:`QUEUE_NAME`). A push
  that fails (Redis down) is logged, never raised: the commit already happened.
- ``customer-groups worker`` runs an RQ worker (:func:`plugin.jobs.worker.run_worker`)
  inside the app; each RQ job calls :func:`perform`, which claims the row with the same
  conditional ``UPDATE`` as the embedded runner (:mod:`plugin.jobs.claims`). An id
  delivered twice, or for a job that already finished, changes nothing.
- ``customer-groups worker --with-scheduler`` also runs the schedule in a thread
  (:func:`plugin.jobs.schedule.tick` every poll): periodic tasks (once per period across all
  schedulers, claimed in the database), requeueing jobs whose lease ran out, and
  :func:`sweep`, which pushes again every queued job that RQ does not hold (its push failed,
  Redis restarted without persistence, its worker died, or its retry came due). Run at
  least one scheduler; running several is harmless.

``rq`` and ``redis`` are imported where they are used, not at the top: they take about
0.2 s to import and only queue mode needs them (the embedded runner never does).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import or_, select, update

from plugin.db import db, utcnow
from plugin.jobs.claims import claim_job, execute, jobs_state
from plugin.jobs.models import JOB_QUEUED, Job

log = logging.getLogger(__name__)

QUEUE_NAME = "customer-groups"
#: A queued job whose id went to RQ this long ago and is still not running is checked.
REPUSH_AFTER = timedelta(seconds=30)
#: RQ's own time limit per job; our lease, not this, decides when a job is abandoned.
RQ_JOB_TIMEOUT = 24 * 3600
RQ_RESULT_TTL = 3600

#: The app of this process's RQ worker (RQ calls :func:`perform` with no app context).
_worker_app: Flask | None = None


def use_app(app: Flask) -> None:
    """Run the RQ jobs of this process (``customer-groups worker``) for ``app``."""
    global _worker_app
    _worker_app = app


def rq_job_id(job_id: int) -> str:
    return f"customer-groups-job-{job_id}"


def redis_connection(app: Flask) -> Any:
    """The app's Redis connection (one per process, made on first use)."""
    from redis import Redis

    state = jobs_state(app)
    if state.redis is None or state.redis_pid != os.getpid():
        state.redis = Redis.from_url(
            state.settings.redis_url, socket_connect_timeout=2, socket_timeout=10
        )
        state.redis_pid = os.getpid()
    return state.redis


def rq_queue(app: Flask) -> Any:
    from rq import Queue

    return Queue(QUEUE_NAME, connection=redis_connection(app))


def _push_one(rq: Any, job_id: int) -> None:
    rq.enqueue_call(
        func=perform,
        args=(job_id,),
        timeout=RQ_JOB_TIMEOUT,
        result_ttl=RQ_RESULT_TTL,
        failure_ttl=RQ_RESULT_TTL,
        job_id=rq_job_id(job_id),
        description=f"customer-groups job {job_id}",
    )


def push(app: Flask, job_ids: Iterable[int]) -> int:
    """Hand committed job ids to RQ; how many went. Never raises: the sweeper retries."""
    pushed = 0
    try:
        rq = rq_queue(app)
        for job_id in job_ids:
            _push_one(rq, job_id)
            pushed += 1
    except Exception:
        log.warning("Could not push jobs to RQ; the scheduler pushes them later", exc_info=True)
    return pushed


def _held_by_rq(rq: Any, job_id: int) -> bool:
    """Whether RQ still has this id waiting in the queue (then a worker will get it)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job as RqJob

    try:
        found = RqJob.fetch(rq_job_id(job_id), connection=rq.connection)
    except NoSuchJobError:
        return False
    status = found.get_status(refresh=False)
    if str(getattr(status, "value", status)) in ("queued", "scheduled", "deferred"):
        return True
    # Finished, failed, stopped or started by a worker that is gone: let it go.
    found.delete()
    return False


def sweep(app: Flask, now: datetime | None = None) -> int:
    """Push every queued job that may start and that RQ does not hold; how many were pushed.

    Candidates are queued jobs never pushed, pushed before their retry came due, or pushed
    more than :data:`REPUSH_AFTER` ago; each is pushed unless RQ still has it queued.
    """
    now = now or utcnow()
    candidates = list(
        db.session.execute(
            select(Job.id)
            .where(
                Job.status == JOB_QUEUED,
                Job.available_at <= now,
                or_(
                    Job.pushed_at.is_(None),
                    Job.pushed_at < Job.available_at,
                    Job.pushed_at < now - REPUSH_AFTER,
                ),
            )
            .order_by(Job.available_at, Job.id)
            .limit(1000)
        ).scalars()
    )
    db.session.commit()
    if not candidates:
        return 0
    pushed = []
    try:
        rq = rq_queue(app)
        for job_id in candidates:
            if not _held_by_rq(rq, job_id):
                _push_one(rq, job_id)
                pushed.append(job_id)
    except Exception:
        log.warning("Could not reach RQ to push queued jobs; next turn", exc_info=True)
        return 0
    db.session.execute(
        update(Job)
        .where(Job.id.in_(candidates), Job.status == JOB_QUEUED)
        .values(pushed_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if pushed:
        log.info("Pushed %d queued job(s) to RQ again", len(pushed))
    return len(pushed)


def perform(job_id: int) -> dict[str, Any]:
    """The RQ job: claim the row and run it; a second delivery of an id changes nothing."""
    app = current_app._get_current_object() if has_app_context() else _worker_app  # type: ignore[attr-defined]
    if app is None:
        raise RuntimeError("perform() runs in `customer-groups worker` (it needs the app)")
    settings = jobs_state(app).settings
    with app.app_context():
        claim = claim_job(job_id, settings.lease_seconds)
    if claim is None:
        return {"job_id": job_id, "ran": False}
    status = execute(app, claim)
    return {"job_id": job_id, "ran": True, "status": status}
