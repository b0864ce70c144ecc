"""The background work of audiences, registered on the job interface.

- ``audiences.run`` (job): one audience run (``POST .../run`` of a large audience,
  scheduled runs, runs abandoned by a dead worker); the run resumes from its own cursor.
- ``audiences.due`` (every minute): queue a run of each due scheduled audience, and a job
  for each queued or abandoned run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugin.audiences.sync import due_audiences, pending_runs, queue_run, run_audience
from plugin.db import db, utcnow
from plugin.jobs.models import Job
from plugin.jobs.registry import enqueue, job_kind, periodic
from plugin.shops.models import Shop

RUN_AUDIENCE = "audiences.run"


def enqueue_audience_run(shop: Shop | int, audience_id: int, run_id: int) -> Job:
    """Queue the job that runs (or resumes) an audience run; one per unfinished run."""
    return enqueue(
        shop,
        RUN_AUDIENCE,
        {"audience_id": audience_id, "run_id": run_id},
        key=f"audience-run:{run_id}",
    )


@job_kind(RUN_AUDIENCE)
def run_audience_job(job: Job, report: Callable[[int], None]) -> dict[str, Any]:
    run = run_audience(job.shop_id, job.params["audience_id"], job.params["run_id"])
    if run is None:
        return {"run_id": job.params["run_id"], "status": None}
    return {
        "run_id": run.id,
        "status": run.status,
        "synced": run.synced,
        "skipped": run.skipped,
        "failed": run.failed,
    }


@periodic("audiences.due", every=60)
def queue_due_audiences() -> None:
    """Queue a run of every due scheduled audience, and a job for every run waiting for one
    (queued, or abandoned by a worker that died: it resumes from its cursor)."""
    now = utcnow()
    targets = [(audience.shop_id, audience.id) for audience in due_audiences(now)]
    db.session.commit()
    for shop_id, audience_id in targets:
        queue_run(shop_id, audience_id, now)  # commits
    runs = [(run.shop_id, run.audience_id, run.id) for run in pending_runs(now)]
    for shop_id, audience_id, run_id in runs:
        enqueue_audience_run(shop_id, audience_id, run_id)
    db.session.commit()
