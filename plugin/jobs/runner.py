"""This process's job runner: the embedded thread pool, its start and stop, gunicorn hooks.

:class:`Runner` is the embedded runner: a dispatcher thread that ticks the schedule
(:func:`plugin.jobs.schedule.tick`) every ``CUSTOMER_GROUPS_JOB_POLL_SECONDS`` and hands
jobs it claims (:func:`plugin.jobs.claims.claim_next`) to ``CUSTOMER_GROUPS_JOB_THREADS``
worker threads, which run them (:func:`plugin.jobs.claims.execute`). ``customer-groups
serve`` starts one per worker process (gunicorn's ``post_worker_init``); a host serving
the app its own way calls :func:`start_runner`. Tests drive the same functions without
threads: :func:`plugin.jobs.claims.run_pending` and :func:`plugin.jobs.schedule.tick`.

:func:`init_app` wires background work into the app: it reads the settings and, after each
commit that enqueued jobs, wakes this process's runner or (queue mode) pushes their ids to
RQ (:func:`plugin.jobs.queue.push`).

Modules of :mod:`plugin.jobs`, each importing only those before it: ``models``,
``settings``, ``registry`` (job kinds, periodic tasks, ``enqueue``), ``claims`` (claims,
leases, running one job), ``queue`` (RQ mode), ``schedule`` (periodic tasks, ``tick``),
``tasks`` (the machinery's own housekeeping), then ``runner`` and ``worker`` (the RQ worker
process). The job kinds and periodic tasks of features live in the features
(``plugin/<feature>/tasks.py``) and register themselves when imported.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

import plugin.jobs.tasks  # noqa: F401  (registers jobs.prune, the machinery's own task)
from plugin.db import db
from plugin.jobs.claims import Claim, claim_next, execute, jobs_state, release
from plugin.jobs.queue import push
from plugin.jobs.registry import ENQUEUED_KEY
from plugin.jobs.schedule import tick
from plugin.jobs.settings import QUEUE_EMBEDDED, QUEUE_RQ, JobSettings, JobsState

log = logging.getLogger(__name__)

#: How long a stop waits for the dispatcher to finish the claim it may be committing.
DISPATCHER_STOP_SECONDS = 5.0


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
        self._release_on_stop = True

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
        self._release_on_stop = release_jobs
        self._stopping.set()
        self._wake.set()
        for _ in range(self.settings.threads):
            self._queue.put(None)
        # A claim the dispatcher is committing now is handed back by the dispatcher itself
        # (see _fill): give it that moment, bounded, before a process that stops exits and
        # takes the thread (a daemon) with it.
        dispatcher = self._threads[-1] if self._threads else None
        if dispatcher is not None and dispatcher is not threading.current_thread():
            dispatcher.join(DISPATCHER_STOP_SECONDS)
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
                # stop() sets _stopping, then takes this lock to list what to hand back: a
                # claim that committed after the check above is either listed there or,
                # stop having begun, handed back here (its worker threads are leaving).
                stopping = self._stopping.is_set()
                if not stopping:
                    self._held[claim.job_id] = claim
            if stopping:
                self._idle.release()
                if self._release_on_stop:
                    with self.app.app_context():
                        release([claim])
                return
            self._queue.put(claim)

    def _work(self) -> None:
        while True:
            claim = self._queue.get()
            if claim is None:
                return
            if self._stopping.is_set():
                # Queued before the stop: stop() hands it back (it is among the held jobs
                # until then), so running it here too could run it twice.
                self._idle.release()
                continue
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
        push(app, job_ids)
    elif state.runner is not None:
        state.runner.wake()


def _after_rollback(session: Session) -> None:
    session.info.pop(ENQUEUED_KEY, None)


def init_app(app: Flask) -> None:
    """Read the settings and listen for the commits of enqueued jobs. (The job kinds and
    periodic tasks are registered by importing their modules: the extension does.)"""
    app.extensions["customer_groups"].jobs = JobsState(JobSettings.from_config(app.config))
    if not event.contains(db.session, "after_commit", _after_commit):
        event.listen(db.session, "after_commit", _after_commit)
        event.listen(db.session, "after_rollback", _after_rollback)
