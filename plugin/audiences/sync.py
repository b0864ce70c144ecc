"""Audience runs: read the source's members in keyset pages and hand them to the destination.

``run_audience(shop_id, audience_id, run_id)`` is the job function: a background worker (or the
``POST .../run`` view, for small audiences) calls it. It claims the run, sends batch after
batch, and after each batch commits the counts and the cursor (the last customer id done), so a
run killed halfway resumes where it stopped when it is called again. No database transaction is
held open while a vendor is called.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from plugin.audiences.attentive import AttentiveDestination
from plugin.audiences.destination import (
    MAX_ERRORS,
    AudienceConfig,
    BatchOutcome,
    Destination,
    Member,
)
from plugin.audiences.http import FatalVendorError
from plugin.audiences.klaviyo import KlaviyoDestination
from plugin.audiences.meta import MetaDestination
from plugin.audiences.models import (
    ACTIVE_RUN_STATUSES,
    RUN_FAILED,
    RUN_QUEUED,
    RUN_RUNNING,
    RUN_SUCCEEDED,
    Audience,
    AudienceRun,
)
from plugin.customers.models import Customer, CustomerTag
from plugin.db import db, for_shop, utcnow
from plugin.groups.models import Group
from plugin.segments.models import Segment, SegmentMember
from plugin.shops.models import Shop

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
# A running run whose heartbeat is older than this was killed and may be resumed.
STALE_AFTER = timedelta(minutes=10)
SCHEDULE_INTERVALS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}

# Our customer fields a mapping may send, and the column each one reads.
FIELD_COLUMNS: dict[str, Any] = {
    "external_id": Customer.external_id,
    "email": Customer.email,
    "phone": Customer.phone,
    "first_name": Customer.first_name,
    "last_name": Customer.last_name,
    "city": Customer.city,
    "country": Customer.country,
    "points": Customer.points,
    "order_count": Customer.order_count,
    "total_spent": Customer.total_spent,
    "used_discount_code": Customer.used_discount_code,
    "accepts_marketing": Customer.accepts_marketing,
    "group": Group.name,
}
FIELDS = (*FIELD_COLUMNS, "tags")


def destination_for(config: AudienceConfig) -> Destination:
    kinds: dict[str, Any] = {
        "klaviyo": KlaviyoDestination,
        "attentive": AttentiveDestination,
        "meta": MetaDestination,
    }
    return kinds[config.destination_type](config)  # type: ignore[no-any-return]


# --- Members of the source -------------------------------------------------------------------


def _source_filter(shop_id: int, source_type: str, source_id: int) -> Any:
    if source_type == "group":
        return Customer.group_id == source_id
    return exists().where(
        SegmentMember.shop_id == shop_id,
        SegmentMember.segment_id == source_id,
        SegmentMember.customer_id == Customer.id,
    )


def source_exists(shop_id: int, source_type: str, source_id: int) -> bool:
    if source_type == "group":
        model: Any = Group
    else:
        model = Segment
    query = select(model.id).where(model.shop_id == shop_id, model.id == source_id)
    return db.session.execute(query).first() is not None


def count_members(shop_id: int, source_type: str, source_id: int) -> int:
    query = (
        select(func.count())
        .select_from(Customer)
        .where(Customer.shop_id == shop_id, _source_filter(shop_id, source_type, source_id))
    )
    return int(db.session.execute(query).scalar_one())


def member_page(
    shop_id: int,
    source_type: str,
    source_id: int,
    after: int | None,
    wanted: set[str],
    limit: int = PAGE_SIZE,
) -> list[dict[str, Any]]:
    """The next ``limit`` members after customer id ``after``, with the ``wanted`` fields.

    Two queries per page at most (customers, then their tags when mapped), never a loop.
    """
    columns = [FIELD_COLUMNS[name].label(name) for name in sorted(wanted - {"tags"})]
    query = (
        select(
            Customer.id.label("customer_id"), Customer.external_id.label("_external_id"), *columns
        )
        .join(Group, Group.id == Customer.group_id)
        .where(Customer.shop_id == shop_id, _source_filter(shop_id, source_type, source_id))
        .order_by(Customer.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(Customer.id > after)
    rows = [dict(row._mapping) for row in db.session.execute(query)]
    if "tags" in wanted and rows:
        tags: dict[int, list[str]] = {row["customer_id"]: [] for row in rows}
        tag_rows = db.session.execute(
            select(CustomerTag.customer_id, CustomerTag.tag)
            .where(CustomerTag.shop_id == shop_id, CustomerTag.customer_id.in_(list(tags)))
            .order_by(CustomerTag.customer_id, CustomerTag.tag_key)
        )
        for customer_id, tag in tag_rows:
            tags[customer_id].append(tag)
        for row in rows:
            row["tags"] = tags[row["customer_id"]]
    return rows


def batches(
    shop_id: int, audience: AudienceConfig, source: tuple[str, int], after: int | None, size: int
) -> Iterator[tuple[list[dict[str, Any]], bool]]:
    """Yield ``(rows, is_last)`` batches of ``size`` rows, reading one page ahead.

    The page ahead tells whether a batch is the last one (Meta's ``last_batch_flag``). Every
    read is committed at once so that no transaction (SQLite: the write lock) stays open while
    the destination calls its vendor.
    """
    wanted = {audience.identifier, *audience.properties.values()}
    source_type, source_id = source

    def read(cursor: int | None) -> list[dict[str, Any]]:
        rows = member_page(shop_id, source_type, source_id, cursor, wanted, PAGE_SIZE)
        db.session.commit()
        return rows

    buffer: list[dict[str, Any]] = []
    page = read(after)
    while page:
        buffer.extend(page)
        page = read(page[-1]["customer_id"])
        while len(buffer) >= size:
            batch, buffer = buffer[:size], buffer[size:]
            yield batch, not buffer and not page
    if buffer:
        yield buffer, True


def to_members(rows: list[dict[str, Any]], audience: AudienceConfig) -> tuple[list[Member], int]:
    """Members with the identifier, and how many rows lack it (they are skipped)."""
    members: list[Member] = []
    skipped = 0
    for row in rows:
        identifier = (row.get(audience.identifier) or "").strip()
        if not identifier:
            skipped += 1
            continue
        properties = {vendor: row.get(ours) for vendor, ours in audience.properties.items()}
        members.append(Member(row["customer_id"], row["_external_id"], identifier, properties))
    return members, skipped


# --- Runs ------------------------------------------------------------------------------------


def queue_run(shop_id: int, audience_id: int, now: datetime | None = None) -> tuple[int, bool]:
    """Queue a run of the audience: ``(run_id, created)``; an unfinished run is reused.

    The database allows one queued or running run per audience, so two callers racing here
    end up with the same run.
    """
    now = now or utcnow()
    run = AudienceRun(shop_id=shop_id, audience_id=audience_id, status=RUN_QUEUED, created_at=now)
    try:
        db.session.add(run)
        db.session.flush()
        db.session.execute(
            update(Audience)
            .where(Audience.shop_id == shop_id, Audience.id == audience_id)
            .values(last_run_at=now)
        )
        db.session.commit()
        return run.id, True
    except IntegrityError:
        db.session.rollback()
    active = db.session.execute(
        select(AudienceRun.id).where(
            AudienceRun.shop_id == shop_id,
            AudienceRun.audience_id == audience_id,
            AudienceRun.status.in_(ACTIVE_RUN_STATUSES),
        )
    ).scalar_one()
    db.session.commit()
    return active, False


def _claim(
    shop_id: int, audience_id: int, run_id: int, stale_after: timedelta, now: datetime
) -> bool:
    """Take the run: queued, or running with a heartbeat so old that its worker is gone."""
    claimed = db.session.execute(
        update(AudienceRun)
        .where(
            AudienceRun.id == run_id,
            AudienceRun.shop_id == shop_id,
            AudienceRun.audience_id == audience_id,
            or_(
                AudienceRun.status == RUN_QUEUED,
                and_(
                    AudienceRun.status == RUN_RUNNING,
                    or_(
                        AudienceRun.heartbeat_at.is_(None),
                        AudienceRun.heartbeat_at <= now - stale_after,
                    ),
                ),
            ),
        )
        .values(
            status=RUN_RUNNING,
            started_at=func.coalesce(AudienceRun.started_at, now),
            heartbeat_at=now,
        )
    ).rowcount
    db.session.commit()
    return claimed == 1


def _record(
    run_id: int,
    outcome: BatchOutcome,
    cursor: int | None,
    state: dict[str, Any],
) -> None:
    """Add a batch's counts, move the cursor and beat the heart, in one transaction."""
    errors = db.session.execute(
        select(AudienceRun.errors).where(AudienceRun.id == run_id)
    ).scalar_one()
    room = MAX_ERRORS - len(errors or [])
    values: dict[str, Any] = {
        "synced": AudienceRun.synced + outcome.synced,
        "skipped": AudienceRun.skipped + outcome.skipped,
        "failed": AudienceRun.failed + outcome.failed,
        "state": dict(state),
        "heartbeat_at": utcnow(),
    }
    if cursor is not None:
        values["cursor"] = cursor
    if room > 0 and outcome.errors:
        values["errors"] = list(errors or []) + outcome.errors[:room]
    db.session.execute(update(AudienceRun).where(AudienceRun.id == run_id).values(**values))
    db.session.commit()


def _finish(run_id: int, status: str, error: str | None = None) -> None:
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "heartbeat_at": utcnow()}
    if error:
        errors = db.session.execute(
            select(AudienceRun.errors).where(AudienceRun.id == run_id)
        ).scalar_one()
        values["errors"] = [*(errors or [])[: MAX_ERRORS - 1], {"message": error}]
    db.session.execute(update(AudienceRun).where(AudienceRun.id == run_id).values(**values))
    db.session.commit()


def _load_run(shop_id: int, run_id: int) -> AudienceRun | None:
    return db.session.execute(
        for_shop(AudienceRun, shop_id).where(AudienceRun.id == run_id)
    ).scalar_one_or_none()


def run_audience(
    shop_id: int,
    audience_id: int,
    run_id: int,
    *,
    stale_after: timedelta = STALE_AFTER,
) -> AudienceRun | None:
    """Run (or resume) one audience run to its end; the job function for background workers.

    Does nothing when another worker holds the run. A customer the vendor refuses is counted
    as failed and the run goes on; refused credentials, or a destination outgoing requests may
    not go to (contract §5), fail the whole run at once. Anything
    unexpected propagates and leaves the run ``running`` with its cursor, to be resumed once
    its heartbeat is stale.
    """
    if not _claim(shop_id, audience_id, run_id, stale_after, utcnow()):
        return _load_run(shop_id, run_id)
    audience = db.session.execute(
        for_shop(Audience, shop_id).where(Audience.id == audience_id)
    ).scalar_one_or_none()
    run = _load_run(shop_id, run_id)
    if audience is None or run is None:
        db.session.commit()
        return run
    config = AudienceConfig.of(audience)
    source = (audience.source_type, audience.source_id)
    if source[1] is None or not source_exists(shop_id, *source):
        _finish(run_id, RUN_FAILED, f"The {source[0]} of this audience no longer exists.")
        return _load_run(shop_id, run_id)
    state = dict(run.state or {})
    if "estimated_total" not in state:
        state["estimated_total"] = count_members(shop_id, *source)
    cursor = run.cursor
    db.session.commit()

    destination = destination_for(config)
    try:
        for rows, is_last in batches(shop_id, config, source, cursor, destination.batch_size):
            members, skipped = to_members(rows, config)
            outcome = (
                destination.sync(members, is_last=is_last, state=state)
                if members
                else BatchOutcome()
            )
            outcome.skipped += skipped
            _record(run_id, outcome, rows[-1]["customer_id"], state)
    except FatalVendorError as exc:
        # Refused credentials or a refused destination: no other call could succeed.
        db.session.rollback()
        _finish(run_id, RUN_FAILED, exc.describe(config.destination_type))
        return _load_run(shop_id, run_id)
    except BaseException:
        db.session.rollback()
        raise
    finally:
        destination.close()
    _finish(run_id, *_verdict(run_id))
    return _load_run(shop_id, run_id)


def _verdict(run_id: int) -> tuple[str, str | None]:
    """Succeeded, unless members failed and none was synced: then the merchant must see an
    outage (the destination down, every profile refused), not a success."""
    synced, failed = db.session.execute(
        select(AudienceRun.synced, AudienceRun.failed).where(AudienceRun.id == run_id)
    ).one()
    if failed and not synced:
        return RUN_FAILED, f"None of the {failed} members could be synced; see the errors."
    return RUN_SUCCEEDED, None


# --- Scheduling ------------------------------------------------------------------------------


def due_audiences(now: datetime) -> list[Audience]:
    """Active scheduled audiences of installed shops whose interval has passed since their
    last run and that have no unfinished run: the background runner queues and runs these."""
    due = or_(
        *(
            and_(
                Audience.schedule == schedule,
                or_(Audience.last_run_at.is_(None), Audience.last_run_at <= now - interval),
            )
            for schedule, interval in SCHEDULE_INTERVALS.items()
        )
    )
    unfinished = exists().where(
        AudienceRun.audience_id == Audience.id,
        AudienceRun.status.in_(ACTIVE_RUN_STATUSES),
    )
    query = (
        select(Audience)
        .join(Shop, Shop.id == Audience.shop_id)
        .where(Shop.installed.is_(True), Audience.active.is_(True), due, ~unfinished)
        # Not those whose group or segment was deleted: a run could only fail.
        .where(or_(Audience.source_group_id.is_not(None), Audience.source_segment_id.is_not(None)))
        .order_by(Audience.last_run_at.is_not(None), Audience.last_run_at, Audience.id)
    )
    return list(db.session.execute(query).scalars())


def pending_runs(now: datetime, stale_after: timedelta = STALE_AFTER) -> list[AudienceRun]:
    """Runs a background worker should (re)start: queued ones, and running ones whose worker
    stopped beating (killed halfway); ``run_audience`` resumes them from their cursor."""
    query = (
        select(AudienceRun)
        .join(Shop, Shop.id == AudienceRun.shop_id)
        .where(
            Shop.installed.is_(True),
            or_(
                AudienceRun.status == RUN_QUEUED,
                and_(
                    AudienceRun.status == RUN_RUNNING,
                    or_(
                        AudienceRun.heartbeat_at.is_(None),
                        AudienceRun.heartbeat_at <= now - stale_after,
                    ),
                ),
            ),
        )
        .order_by(AudienceRun.id)
    )
    return list(db.session.execute(query).scalars())


def run_due_audiences(now: datetime | None = None) -> list[int]:
    """Queue and run every due audience and resume abandoned runs; the runs' ids.

    One call is one tick of a background runner (e.g. every minute).
    """
    now = now or utcnow()
    targets = [(a.shop_id, a.id) for a in due_audiences(now)]
    db.session.commit()
    run_ids = []
    for shop_id, audience_id in targets:
        run_id, _ = queue_run(shop_id, audience_id, now)
        run_ids.append(run_id)
    for run in pending_runs(now):
        if run.id not in run_ids:
            run_ids.append(run.id)
    keys = {
        run.id: (run.shop_id, run.audience_id)
        for run in db.session.execute(
            select(AudienceRun).where(AudienceRun.id.in_(run_ids))
        ).scalars()
    }
    db.session.commit()
    for run_id in run_ids:
        shop_id, audience_id = keys[run_id]
        try:
            run_audience(shop_id, audience_id, run_id)
        except Exception:
            log.exception("Audience run %s stopped; it resumes from its cursor later", run_id)
    return run_ids
