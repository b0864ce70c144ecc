"""``customer-groups worker`` in queue mode: an RQ worker process, with the schedule.

RQ hands this process job ids (:func:`plugin.jobs.queue.perform` claims and runs each);
``--with-scheduler`` adds a thread that runs :func:`plugin.jobs.schedule.tick` every poll.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from plugin.jobs.claims import jobs_state
from plugin.jobs.queue import rq_queue, use_app
from plugin.jobs.schedule import tick

log = logging.getLogger(__name__)


def _schedule(app: Flask, stop: threading.Event) -> None:
    poll = jobs_state(app).settings.poll_seconds
    while not stop.is_set():
        try:
            tick(app)
        except Exception:
            log.exception("The scheduler's turn failed; it tries again")
        stop.wait(poll)


def run_worker(app: Flask, burst: bool = False, with_scheduler: bool = False) -> bool:
    """Run an RQ worker for the app's jobs in this process (``customer-groups worker``).

    The worker runs jobs in this process (RQ's ``SimpleWorker``: no fork per job, so the
    app, its engine and its pool stay valid); run several processes for parallelism. With
    ``with_scheduler`` the schedule runs in a thread beside it; with ``burst`` the worker
    stops once the queue is empty (after one turn of the schedule). Whether it ran a job.
    """
    from rq import SimpleWorker  # queue mode only (see plugin.jobs.queue)

    use_app(app)
    rq = rq_queue(app)
    stop = threading.Event()
    scheduler: threading.Thread | None = None
    if with_scheduler:
        tick(app)
        if not burst:
            scheduler = threading.Thread(
                target=_schedule, args=(app, stop), name="customer-groups-scheduler", daemon=True
            )
            scheduler.start()
    try:
        worker = SimpleWorker([rq], connection=rq.connection)
        return bool(worker.work(burst=burst, with_scheduler=False))
    finally:
        stop.set()
        if scheduler is not None:
            scheduler.join(timeout=5)
