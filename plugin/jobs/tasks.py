"""The job machinery's own housekeeping, registered like any feature's tasks.

- ``jobs.prune`` (hourly): forget jobs that finished (succeeded or failed) more than
  ``CUSTOMER_GROUPS_JOB_RETENTION_DAYS`` ago (30 by default), so the table does not grow
  for ever; ``GET /api/jobs`` shows what is left.

The job kinds and periodic tasks of features live beside them (``plugin/codes/tasks.py``,
``plugin/segments/tasks.py``, ``plugin/audiences/tasks.py``, ...); the extension imports
those modules, which registers them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete

from plugin.db import db, utcnow
from plugin.jobs.models import JOB_FAILED, JOB_SUCCEEDED, Job
from plugin.jobs.registry import periodic


@periodic("jobs.prune", every=3600)
def prune_finished_jobs() -> None:
    prune_jobs(utcnow())


def prune_jobs(now: datetime) -> int:
    """Delete jobs finished before the retention period; how many. Unfinished ones stay,
    however old (a job waiting for its retry is still owed its run)."""
    days = float(current_app.config["CUSTOMER_GROUPS_JOB_RETENTION_DAYS"])
    removed = db.session.execute(
        delete(Job).where(
            Job.status.in_((JOB_SUCCEEDED, JOB_FAILED)),
            Job.finished_at < now - timedelta(days=days),
        )
    ).rowcount
    db.session.commit()
    return removed or 0
