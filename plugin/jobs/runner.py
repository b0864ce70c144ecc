"""Run a job in a background thread with its own app context and database session."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import update

from plugin.db import db, get_for_shop, utcnow
from plugin.jobs.models import JOB_FAILED, JOB_QUEUED, JOB_RUNNING, JOB_SUCCEEDED, Job
from plugin.shops.models import Shop

log = logging.getLogger(__name__)

#: ``work(job, report)`` does the job; ``report(done)`` records progress; returns the result.
Work = Callable[[Job, Callable[[int], None]], dict[str, Any]]


def create_job(shop: Shop, kind: str, total: int, params: dict[str, Any]) -> Job:
    job = Job(shop_id=shop.id, kind=kind, status=JOB_QUEUED, progress=0, total=total)
    job.params = params
    db.session.add(job)
    db.session.commit()
    return job


def _set(job_id: int, **values: Any) -> None:
    db.session.execute(update(Job).where(Job.id == job_id).values(**values))
    db.session.commit()


def run_job(app: Flask, job_id: int, work: Work) -> None:
    """Run ``work`` for the job, recording running, progress, then succeeded or failed."""
    with app.app_context():
        try:
            _set(job_id, status=JOB_RUNNING, started_at=utcnow())
            job = db.session.get(Job, job_id)
            assert job is not None

            def report(done: int) -> None:
                _set(job_id, progress=done)

            result = work(job, report)
            _set(job_id, status=JOB_SUCCEEDED, result=result, finished_at=utcnow())
        except Exception as exc:  # the job records why; the thread must not die silently
            log.exception("Job %s failed", job_id)
            db.session.rollback()
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            _set(job_id, status=JOB_FAILED, error=message, finished_at=utcnow())
        finally:
            db.session.remove()


def start_in_background(job: Job, work: Work) -> threading.Thread:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=run_job, args=(app, job.id, work), name=f"job-{job.id}", daemon=True
    )
    thread.start()
    return thread


def get_job(shop: Shop, job_id: int) -> Job:
    return get_for_shop(Job, shop.id, job_id)
