"""The background work of existing features, registered on the job interface.

Job kinds:
- ``codes.generate``: more codes than a request makes (``POST .../codes/generate`` past
  10,000). Each batch commits with its progress, so a run that was killed resumes from
  ``job.progress`` and the pool ends with exactly the count asked for.
- ``audiences.run``: one audience run (``POST .../run`` of a large audience, scheduled
  runs, runs abandoned by a dead worker); the run resumes from its own cursor.
- ``segments.recompute``: recompute listed segments of a shop, set-based, one segment per
  committed step (the daily relative dates; a new or changed segment of a shop with more
  than ``CUSTOMER_GROUPS_SEGMENT_SYNC_LIMIT`` customers).

Periodic tasks (short: they queue jobs for anything heavy):
- ``audiences.due`` (every minute): queue a run of each due scheduled audience, and a job
  for each queued or abandoned run.
- ``segments.relative_dates`` (hourly): once a shop's calendar day has changed, recompute
  its segments whose conditions use relative dates (``-30d``), since their members change
  with the calendar and no event says so.
- ``codes.expire_holds`` (every minute): expire redemption holds past their time, giving
  the uses back to their codes.
- ``jobs.prune`` (hourly): forget jobs that finished (succeeded or failed) more than
  ``CUSTOMER_GROUPS_JOB_RETENTION_DAYS`` ago (30 by default), so the table does not grow
  for ever; ``GET /api/jobs`` shows what is left.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, text

from plugin.codes.generation import density_warnings, generate_codes
from plugin.codes.operations import get_discount
from plugin.codes.redemption import expire_holds
from plugin.db import db, for_shop, utcnow
from plugin.jobs.models import JOB_FAILED, JOB_SUCCEEDED, Job
from plugin.jobs.registry import PermanentJobError, enqueue, job_kind, periodic
from plugin.segments.conditions import DayValue, parse_conditions, shop_today
from plugin.segments.models import Segment
from plugin.segments.operations import RECOMPUTE_SEGMENTS, recompute_segment
from plugin.shops.models import Shop

GENERATE_CODES = "codes.generate"
RUN_AUDIENCE = "audiences.run"

Report = Callable[[int], None]


def _shop(job: Job) -> Shop:
    shop = db.session.get(Shop, job.shop_id)
    if shop is None:
        raise PermanentJobError(f"Shop {job.shop_id} no longer exists.")
    return shop


# --- Codes -----------------------------------------------------------------------------------


def enqueue_generation(shop: Shop, discount_id: int, args: dict[str, Any]) -> Job:
    """Queue generating ``args["count"]`` codes for the discount (the caller commits)."""
    return enqueue(shop, GENERATE_CODES, {"discount_id": discount_id, **args}, args["count"])


@job_kind(GENERATE_CODES)
def generate_codes_job(job: Job, report: Report) -> dict[str, Any]:
    params = dict(job.params)
    discount_id = params.pop("discount_id")
    count = int(params.pop("count"))
    shop = _shop(job)
    discount = get_discount(shop, discount_id)  # gone: a 404 ApiError fails the job
    already = job.progress  # codes committed by earlier attempts (with their progress)
    warnings = density_warnings(shop, count, made_already=already, **params)
    if already < count:
        generate_codes(
            shop,
            discount,
            count - already,
            progress=lambda done, _total: report(already + done),
            **params,
        )
    return {"generated": count, "warnings": warnings}


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


@periodic("codes.expire_holds", every=60)
def expire_redemption_holds() -> None:
    expire_holds()


# --- Audiences -------------------------------------------------------------------------------


def enqueue_audience_run(shop: Shop | int, audience_id: int, run_id: int) -> Job:
    """Queue the job that runs (or resumes) an audience run; one per unfinished run."""
    return enqueue(
        shop,
        RUN_AUDIENCE,
        {"audience_id": audience_id, "run_id": run_id},
        key=f"audience-run:{run_id}",
    )


@job_kind(RUN_AUDIENCE)
def run_audience_job(job: Job, report: Report) -> dict[str, Any]:
    from plugin.audiences.sync import run_audience

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
    from plugin.audiences.sync import due_audiences, pending_runs, queue_run

    now = utcnow()
    targets = [(audience.shop_id, audience.id) for audience in due_audiences(now)]
    db.session.commit()
    for shop_id, audience_id in targets:
        queue_run(shop_id, audience_id, now)  # commits
    runs = [(run.shop_id, run.audience_id, run.id) for run in pending_runs(now)]
    for shop_id, audience_id, run_id in runs:
        enqueue_audience_run(shop_id, audience_id, run_id)
    db.session.commit()


# --- Segments --------------------------------------------------------------------------------


def uses_relative_dates(raw_conditions: list[dict[str, Any]]) -> bool:
    try:
        conditions = parse_conditions(raw_conditions or [])
    except ValueError:
        return False
    return any(
        isinstance(c.value, DayValue) and c.value.offset_days is not None for c in conditions
    )


def _recomputing_alone(segment_id: int) -> None:
    """Wait until no other job recomputes this segment, until this transaction ends, so
    recomputes of one segment (a change, the daily relative dates) run one after the
    other, each reading the conditions of its time. An advisory lock, not the segment's
    row: the admin may rename or change the segment meanwhile without waiting. (SQLite
    has one writer at a time anyway.)"""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:kind), :segment_id)"),
            {"kind": RECOMPUTE_SEGMENTS, "segment_id": segment_id},
        )


@job_kind(RECOMPUTE_SEGMENTS)
def recompute_segments_job(job: Job, report: Report) -> dict[str, Any]:
    shop = _shop(job)
    segment_ids = [int(i) for i in job.params["segment_ids"]]
    joined = left = 0
    for done, segment_id in enumerate(segment_ids, start=1):
        if done <= job.progress:
            continue  # recomputed (and committed) by an earlier attempt
        _recomputing_alone(segment_id)
        segment = db.session.execute(
            for_shop(Segment, shop.id).where(Segment.id == segment_id)
        ).scalar_one_or_none()
        if segment is not None:
            came, went = recompute_segment(shop, segment)
            joined, left = joined + came, left + went
        report(done)
    return {"segments": len(segment_ids), "joined": joined, "left": left}


@periodic("segments.relative_dates", every=3600)
def recompute_relative_date_segments() -> None:
    """Queue, once per shop and calendar day (the shop's), a recompute of the segments
    whose conditions use relative dates."""
    rows = db.session.execute(
        select(Segment.shop_id, Segment.id, Segment.conditions)
        .join(Shop, Shop.id == Segment.shop_id)
        .where(Shop.installed.is_(True))
        .order_by(Segment.shop_id, Segment.id)
    ).all()
    by_shop: dict[int, list[int]] = defaultdict(list)
    for shop_id, segment_id, conditions in rows:
        if uses_relative_dates(conditions):
            by_shop[shop_id].append(segment_id)
    for shop_id, segment_ids in by_shop.items():
        shop = db.session.get(Shop, shop_id)
        assert shop is not None
        key = f"relative-dates:{shop_today(shop.timezone).isoformat()}"
        done_today = db.session.execute(
            select(Job.id).where(
                Job.shop_id == shop_id, Job.kind == RECOMPUTE_SEGMENTS, Job.dedupe_key == key
            )
        ).first()
        if done_today is None:
            enqueue(
                shop, RECOMPUTE_SEGMENTS, {"segment_ids": segment_ids}, len(segment_ids), key=key
            )
    db.session.commit()
