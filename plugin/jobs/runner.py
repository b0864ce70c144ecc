"""Run jobs and periodic tasks from the database: claims, leases, retries, the schedule.

Every runner, whether the embedded one in a ``serve`` worker process or an RQ worker,
takes jobs through the same few functions, and the database decides who runs what:

- :func:`claim_next` / :func:`claim_job` take a queued job with one conditional ``UPDATE``
  (on PostgreSQL the candidate row is picked ``FOR UPDATE SKIP LOCKED``; on SQLite the
  write lock serialises claims). The claim gets a fresh token and a lease.
- :func:`execute` runs the job's ``work`` while a heartbeat thread keeps the lease alive;
  progress, success and failure are written only while the token is still the job's.
- :func:`requeue_expired` queues again a job whose lease ran out (its process died), or
  fails it once ``max_attempts`` are used up.
- :func:`tick` is one turn of the schedule: expired leases, then the periodic tasks that
  are due, each claimed with a conditional ``UPDATE`` of ``periodic_runs.next_run_at``.

:class:`Runner` is the embedded runner: a dispatcher thread that ticks every
``CUSTOMER_GROUPS_JOB_POLL_SECONDS`` and hands claimed jobs to
``CUSTOMER_GROUPS_JOB_THREADS`` worker threads. ``customer-groups serve`` starts one per
worker process (gunicorn's ``post_worker_init``); a host serving the app its own way calls
:func:`start_runner`. Tests drive the same functions without threads: :func:`run_pending`
and :func:`tick`.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import and_, event, exists, func, literal, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased

from plugin.db import UtcDateTime, db, insert_ignoring_conflict, utcnow
from plugin.errors import ApiError
from plugin.jobs.models import (
    JOB_FAILED,
    JOB_QUEUED,
    JOB_RUNNING,
    JOB_SUCCEEDED,
    Job,
    PeriodicRun,
)
from plugin.jobs.registry import (
    ENQUEUED_KEY,
    JOB_KINDS,
    PERIODIC_TASKS,
    LeaseLost,
    PeriodicTask,
    PermanentJobError,
)
from plugin.jobs.settings import QUEUE_EMBEDDED, QUEUE_RQ, JobSettings, JobsState
from plugin.shops.models import Shop

log = logging.getLogger(__name__)

#: Modules whose import registers job kinds and periodic tasks; imported at ``init_app``.
TASK_MODULES = ["plugin.jobs.tasks"]

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


# --- Claims ----------------------------------------------------------------------------------


def _claim(where: Callable[[Any], list[Any]], lease_seconds: float, now: datetime) -> Claim | None:
    """Take the first queued job that ``where(candidate table)`` allows, in one UPDATE."""
    candidate = aliased(Job)
    installed = exists().where(Shop.id == candidate.shop_id, Shop.installed.is_(True))
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
    installed = exists().where(Shop.id == Job.shop_id, Shop.installed.is_(True))
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


def _message(exc: BaseException) -> str:
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
        .values(error=_message(exc), claim_token=None, lease_until=None, **values)
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


# --- The schedule ----------------------------------------------------------------------------


def claim_periodic(now: datetime, only: Iterable[str] | None = None) -> list[PeriodicTask]:
    """Take this period's turn of every due periodic task (at most one runner gets each)."""
    wanted = set(only) if only is not None else None
    tasks = {
        name: task for name, task in PERIODIC_TASKS.items() if wanted is None or name in wanted
    }
    if not tasks:
        return []
    known = dict(
        db.session.execute(
            select(PeriodicRun.name, PeriodicRun.next_run_at).where(
                PeriodicRun.name.in_(list(tasks))
            )
        ).all()
    )
    for name in tasks.keys() - known.keys():
        insert_ignoring_conflict(
            PeriodicRun.__table__, {"name": name, "next_run_at": now, "runs": 0}
        )
    claimed = []
    for name, task in sorted(tasks.items()):
        if name in known and known[name] > now:
            continue
        taken = db.session.execute(
            update(PeriodicRun)
            .where(PeriodicRun.name == name, PeriodicRun.next_run_at <= now)
            .values(
                next_run_at=now + timedelta(seconds=task.every),
                last_started_at=now,
                runs=PeriodicRun.runs + 1,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken == 1:
            claimed.append(task)
    db.session.commit()
    return claimed


def run_periodic(app: Flask, task: PeriodicTask) -> bool:
    """Run one periodic task in a fresh app context; whether it finished without error."""
    error: str | None = None
    with app.app_context():
        try:
            task.run()
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            log.exception("Periodic task %s failed", task.name)
            error = _message(exc)
        db.session.execute(
            update(PeriodicRun)
            .where(PeriodicRun.name == task.name)
            .values(last_finished_at=utcnow(), last_error=error)
        )
        db.session.commit()
    return error is None


def tick(app: Flask, now: datetime | None = None, only: Iterable[str] | None = None) -> list[str]:
    """One turn of the schedule: requeue jobs whose lease ran out, (queue mode) hand RQ the
    queued jobs it lost, then run the periodic tasks that are due; their names.

    ``only`` limits the periodic tasks considered (tests)."""
    settings = jobs_state(app).settings
    with app.app_context():
        now = now or utcnow()
        requeue_expired(now)
        if settings.queue == QUEUE_RQ:
            from plugin.jobs.queue import sweep

            sweep(app, now)
        due = claim_periodic(now, only)
    for task in due:
        run_periodic(app, task)
    return [task.name for task in due]


# --- The embedded runner ---------------------------------------------------------------------


class Runner:
    """Threads of one process that run jobs and periodic tasks (see the module's doc)."""

    def __init__(self, app: Flask, settings: JobSettings) -> None:
        self.app = app
        self.settings = settings
        self.pid = os.getpid()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._queue: queue.SimpleQueue[Claim | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(settings.threads)
        self._lock = threading.Lock()
        self._held: dict[int, Claim] = {}
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for number in range(self.settings.threads):
            self._threads.append(
                threading.Thread(
                    target=self._work, name=f"customer-groups-job-{number + 1}", daemon=True
                )
            )
        self._threads.append(
            threading.Thread(target=self._dispatch, name="customer-groups-jobs", daemon=True)
        )
        for thread in self._threads:
            thread.start()
        log.info(
            "Background jobs: embedded runner in process %s with %d thread(s)",
            self.pid,
            self.settings.threads,
        )

    def wake(self) -> None:
        """Look for work now rather than at the next poll (a job was just enqueued)."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return not self._stopping.is_set()

    def stop(self, release_jobs: bool = True, timeout: float = 0.0) -> None:
        """Stop taking work; hand the jobs in progress back so another process takes them
        at once instead of after their lease (they keep running here until the process ends,
        but nothing they record after this counts)."""
        self._stopping.set()
        self._wake.set()
        for _ in range(self.settings.threads):
            self._queue.put(None)
        if release_jobs:
            with self._lock:
                held = list(self._held.values())
            if held:
                try:
                    with self.app.app_context():
                        count = release(held)
                    log.info("Handed %d running job(s) back to the queue", count)
                except Exception:
                    log.exception("Could not hand the running jobs back; their leases will")
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _dispatch(self) -> None:
        next_tick = 0.0
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                if time.monotonic() >= next_tick:
                    tick(self.app)
                    next_tick = time.monotonic() + self.settings.poll_seconds
                self._fill()
            except Exception:
                log.exception("The job runner's turn failed; it tries again")
            self._wake.wait(self.settings.poll_seconds)

    def _fill(self) -> None:
        while not self._stopping.is_set() and self._idle.acquire(blocking=False):
            with self.app.app_context():
                try:
                    claim = claim_next(self.settings.lease_seconds)
                except BaseException:
                    self._idle.release()
                    raise
            if claim is None:
                self._idle.release()
                return
            with self._lock:
                self._held[claim.job_id] = claim
            self._queue.put(claim)

    def _work(self) -> None:
        while True:
            claim = self._queue.get()
            if claim is None:
                return
            try:
                execute(self.app, claim)
            except Exception:
                log.exception("Job %s could not be run", claim.job_id)
            finally:
                with self._lock:
                    self._held.pop(claim.job_id, None)
                self._idle.release()
                self._wake.set()


_start_lock = threading.Lock()


def jobs_state(app: Flask) -> JobsState:
    state = getattr(app.extensions.get("customer_groups"), "jobs", None)
    if not isinstance(state, JobsState):
        raise RuntimeError("The Customer Groups extension is not initialised on this app.")
    return state


def start_runner(app: Flask) -> Runner | None:
    """Start this process's embedded runner for ``app`` unless it runs already, background
    work is off (``CUSTOMER_GROUPS_RUN_JOBS``, TESTING) or jobs go to RQ. Safe to call from
    every worker process after a fork: a runner belongs to the process that started it."""
    state = jobs_state(app)
    settings = state.settings
    if not settings.run_jobs:
        return None
    if settings.queue != QUEUE_EMBEDDED:
        log.info("Background jobs go to RQ: run `customer-groups worker` to process them")
        return None
    with _start_lock:
        runner = state.runner
        if runner is not None and runner.pid == os.getpid() and runner.running:
            return runner  # type: ignore[no-any-return]
        runner = Runner(app, settings)
        runner.start()
        state.runner = runner
        return runner


def stop_runner(app: Flask, timeout: float = 0.0) -> None:
    state = jobs_state(app)
    runner = state.runner
    if runner is not None and runner.pid == os.getpid():
        runner.stop(timeout=timeout)
        state.runner = None


# --- Gunicorn hooks (customer-groups serve) --------------------------------------------------


def post_worker_init(worker: Any) -> None:
    """gunicorn: the worker process has loaded the app; start its runner."""
    app = getattr(worker, "wsgi", None)
    if isinstance(app, Flask) and "customer_groups" in app.extensions:
        start_runner(app)


def worker_exit(server: Any, worker: Any) -> None:
    """gunicorn: the worker process is stopping; hand its running jobs back."""
    app = getattr(worker, "wsgi", None)
    if isinstance(app, Flask) and "customer_groups" in app.extensions:
        stop_runner(app)


# --- Wiring ----------------------------------------------------------------------------------


def _after_commit(session: Session) -> None:
    """Jobs enqueued in the transaction just committed: wake this process's runner, or
    (queue mode) push their ids to RQ. Only now may anyone see them."""
    job_ids = session.info.pop(ENQUEUED_KEY, None)
    if not job_ids or not has_app_context():
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = getattr(app.extensions.get("customer_groups"), "jobs", None)
    if not isinstance(state, JobsState):
        return
    if state.settings.queue == QUEUE_RQ:
        from plugin.jobs.queue import push

        push(app, job_ids)
    elif state.runner is not None:
        state.runner.wake()


def _after_rollback(session: Session) -> None:
    session.info.pop(ENQUEUED_KEY, None)


def init_app(app: Flask) -> None:
    """Read the settings, load the registered work and listen for enqueued jobs' commits."""
    import importlib

    for module in TASK_MODULES:
        importlib.import_module(module)
    app.extensions["customer_groups"].jobs = JobsState(JobSettings.from_config(app.config))
    if not event.contains(db.session, "after_commit", _after_commit):
        event.listen(db.session, "after_commit", _after_commit)
        event.listen(db.session, "after_rollback", _after_rollback)
