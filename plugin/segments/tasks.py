"""The background work of segments, registered on the job interface.

- ``segments.recompute`` (job): recompute listed segments of a shop, set-based, one segment
  per committed step (the daily relative dates; a new or changed segment of a shop with
  more than ``CUSTOMER_GROUPS_SEGMENT_SYNC_LIMIT`` customers).
- ``segments.relative_dates`` (hourly): once a shop's calendar day has changed, recompute
  its segments whose conditions use relative dates (``-30d``), since their members change
  with the calendar and no event says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, text

from plugin.db import db, for_shop, shop_scope
from plugin.jobs.models import Job
from plugin.jobs.registry import PermanentJobError, enqueue, job_kind, periodic
from plugin.segments.conditions import DayValue, parse_conditions, shop_today
from plugin.segments.models import Segment
from plugin.segments.operations import RECOMPUTE_SEGMENTS, recompute_segment
from plugin.shops.models import Shop


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
def recompute_segments_job(job: Job, report: Callable[[int], None]) -> dict[str, Any]:
    shop = db.session.get(Shop, job.shop_id)
    if shop is None:
        raise PermanentJobError(f"Shop {job.shop_id} no longer exists.")
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
        with shop_scope(shop_id):
            done_today = db.session.execute(
                select(Job.id).where(Job.kind == RECOMPUTE_SEGMENTS, Job.dedupe_key == key)
            ).first()
            if done_today is None:
                enqueue(
                    shop,
                    RECOMPUTE_SEGMENTS,
                    {"segment_ids": segment_ids},
                    len(segment_ids),
                    key=key,
                )
    db.session.commit()
