"""Background jobs: how fast runners take jobs, and how soon a job starts after its commit.

Prints, for the embedded runner on the database given (a fresh SQLite file by default):

1. throughput: no-op jobs claimed and run per second by 1 and by 4 racing runner threads
   (each job: one claiming UPDATE, the heartbeat thread, one fenced UPDATE for success);
2. start latency, same process: from the commit of ``enqueue`` to the job's first line,
   with the runner woken by the commit (what a request's job sees);
3. start latency, another process: the same without the wake-up, so the runner only
   finds the job at its next poll (``CUSTOMER_GROUPS_JOB_POLL_SECONDS``, 1 s by default);
   the bound behind "automations fire within 5 s of their trigger".

    .venv/bin/python bench/jobs.py [--database-url URL] [--jobs 1000] [--samples 30]

A PostgreSQL URL names a database that is emptied (tables dropped and created).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from plugin.db import db, utcnow  # noqa: E402
from plugin.extension import create_app  # noqa: E402
from plugin.jobs import jobs_state, run_pending, start_runner, stop_runner  # noqa: E402
from plugin.jobs.registry import enqueue, job_kind  # noqa: E402
from plugin.shops.models import Shop  # noqa: E402

started_at: dict[int, float] = {}


@job_kind("bench.noop")
def noop(job: Any, report: Any) -> dict[str, Any]:
    started_at[job.id] = time.perf_counter()
    return {}


def make_app(url: str, **config: Any) -> Any:
    app = create_app(
        {
            "CUSTOMER_GROUPS_APP_SECRET": "bench-secret",
            "CUSTOMER_GROUPS_DATABASE_URL": url,
            "CUSTOMER_GROUPS_RUN_JOBS": True,
            **config,
        }
    )
    return app


def prepare(app: Any) -> int:
    with app.app_context():
        db.drop_all()
        db.create_all()
        shop = Shop(domain="bench.example", name="Bench", currency="EUR", timezone="UTC")
        db.session.add(shop)
        db.session.commit()
        return shop.id


def add_jobs(app: Any, shop_id: int, count: int) -> list[int]:
    with app.app_context():
        ids = [enqueue(shop_id, "bench.noop", {}).id for _ in range(count)]
        db.session.commit()
    return ids


def throughput(app: Any, shop_id: int, jobs: int, threads: int) -> float:
    add_jobs(app, shop_id, jobs)
    begin = time.perf_counter()
    runners = [threading.Thread(target=run_pending, args=(app,)) for _ in range(threads)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    return jobs / (time.perf_counter() - begin)


def latency(app: Any, enqueuer: Any, shop_id: int, samples: int) -> list[float]:
    """Seconds from enqueue's commit (in ``enqueuer``) to the job's start (in ``app``'s runner)."""
    start_runner(app)
    waits = []
    try:
        for _ in range(samples):
            with enqueuer.app_context():
                job = enqueue(shop_id, "bench.noop", {})
                job_id = job.id
                committed = time.perf_counter()
                db.session.commit()
            deadline = time.monotonic() + 30
            while job_id not in started_at and time.monotonic() < deadline:
                time.sleep(0.001)
            waits.append(started_at[job_id] - committed)
            time.sleep(0.05)
    finally:
        stop_runner(app, timeout=5)
    return waits


def describe(waits: list[float]) -> str:
    ordered = sorted(waits)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"median {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   "
        f"max {ordered[-1] * 1000:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a new SQLite file")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench-jobs.sqlite"
    app = make_app(url)
    shop_id = prepare(app)
    settings = jobs_state(app).settings
    print(f"Background jobs on {app.config['CUSTOMER_GROUPS_DATABASE_URL'].split(':')[0]}")
    print(f"  poll every {settings.poll_seconds:g} s, {settings.threads} job threads per runner")
    for threads in (1, 4):
        rate = throughput(app, shop_id, args.jobs, threads)
        print(f"  throughput, {threads} runner thread(s): {rate:8.0f} no-op jobs/s")
    same = latency(app, app, shop_id, args.samples)
    print(f"  start latency, enqueued in the same process:    {describe(same)}")
    # Another app object stands for another process: its commits do not wake this runner.
    other = make_app(url)
    elsewhere = latency(app, other, shop_id, args.samples)
    print(f"  start latency, enqueued in another process:     {describe(elsewhere)}")
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    print(f"  (measured {utcnow():%Y-%m-%d %H:%M} UTC)")


if __name__ == "__main__":
    main()
