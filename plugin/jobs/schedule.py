"""The schedule: periodic tasks, once per period however many processes run them.

:func:`tick` is one turn: jobs whose lease ran out are queued again
(:func:`plugin.jobs.claims.requeue_expired`), in queue mode the queued jobs RQ lost are
pushed again (:func:`plugin.jobs.queue.sweep`), then every periodic task that is due runs,
each claimed with a conditional ``UPDATE`` of ``periodic_runs.next_run_at``. The embedded
runner ticks every ``CUSTOMER_GROUPS_JOB_POLL_SECONDS``, as does ``customer-groups worker
--with-scheduler``; tests call :func:`tick` themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select, update

from plugin.db import db, insert_ignoring_conflict, utcnow
from plugin.jobs.claims import error_message, jobs_state, requeue_expired
from plugin.jobs.models import PeriodicRun
from plugin.jobs.queue import sweep
from plugin.jobs.registry import PERIODIC_TASKS, PeriodicTask
from plugin.jobs.settings import QUEUE_RQ

log = logging.getLogger(__name__)


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
            error = error_message(exc)
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
            sweep(app, now)
        due = claim_periodic(now, only)
    for task in due:
        run_periodic(app, task)
    return [task.name for task in due]
