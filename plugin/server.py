"""Run the extension as a service: ``customer-groups serve`` (gunicorn) and
``customer-groups worker`` (background jobs in this process)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from gunicorn.app.base import BaseApplication

from plugin.config import from_environ
from plugin.extension import create_app
from plugin.jobs import jobs_state, run_pending, run_worker, start_runner, stop_runner, tick
from plugin.jobs.runner import post_worker_init, worker_exit
from plugin.jobs.settings import QUEUE_RQ


def serve(host: str, port: int, workers: int, threads: int, app: Any = None) -> None:
    """Run the app under gunicorn: several worker processes, each with threads, and each
    with the embedded job runner (unless jobs go to RQ or CUSTOMER_GROUPS_RUN_JOBS is off)."""
    if app is None and not from_environ().get("CUSTOMER_GROUPS_APP_SECRET"):
        # Refuse here, before gunicorn forks workers that would each fail to boot.
        raise SystemExit(
            "customer-groups serve: CUSTOMER_GROUPS_APP_SECRET is not set; refusing to start "
            "without the secret shared with the marketplace."
        )

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread" if threads > 1 else "sync")
            self.cfg.set("timeout", 30)
            self.cfg.set("graceful_timeout", 10)
            self.cfg.set("accesslog", None)  # our own JSON line per request instead
            # Background work starts in each worker once it has the app, never in the master.
            self.cfg.set("post_worker_init", post_worker_init)
            self.cfg.set("worker_exit", worker_exit)

        def load(self) -> Any:
            return app if app is not None else create_app()

    _Server().run()


def worker(burst: bool, with_scheduler: bool) -> None:
    """Run background work in this process, for the app configured from the environment.

    Queue mode (``CUSTOMER_GROUPS_JOB_QUEUE=rq``): an RQ worker, plus the schedule with
    ``--with-scheduler``. Embedded mode: the database runner in the foreground (jobs and
    the schedule), for hosts that serve with ``CUSTOMER_GROUPS_RUN_JOBS=0``.
    """
    app = create_app({"CUSTOMER_GROUPS_RUN_JOBS": True})
    settings = jobs_state(app).settings
    if settings.queue == QUEUE_RQ:
        run_worker(app, burst=burst, with_scheduler=with_scheduler)
        return
    if burst:
        tick(app)
        run_pending(app)
        return
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    start_runner(app)
    done.wait()
    stop_runner(app, timeout=10)
