"""Audience runs: mirror the source at the vendor (contract §5, version 2).

The vendor's side is recorded in ``audience_members`` (one row per customer it holds). A run
compares that record with the source, set-based, in keyset pages: the source's members are
sent first (joiners added and recorded, members already held updated, an entry whose
customer changed identifier detached from them), then the leavers are taken out (rows whose
customer is gone, was detached, or left the source: one query per step). A member who
comes back is a joiner again. ``run_steps`` does one vendor batch per step and leaves each
step's record in the session; its caller (``plugin.audiences.tasks``, the boundary) commits
after every step, so a run killed halfway resumes after its last committed step. Nothing here
commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from plugin.audiences.attentive import AttentiveDestination
from plugin.audiences.credentials import CredentialsUnavailable
from plugin.audiences.destination import (
    MAX_ERRORS,
    AudienceConfig,
    BatchOutcome,
    Destination,
    Leaver,
    Member,
    digest,
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
    AudienceMember,
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
        SegmentMember.segment_id == source_id,
        SegmentMember.customer_id == Customer.id,
    )


def source_exists(shop_id: int, source_type: str, source_id: int) -> bool:
    if source_type == "group":
        model: Any = Group
    else:
        model = Segment
    query = select(model.id).where(model.id == source_id)
    return db.session.execute(query).first() is not None


def count_members(shop_id: int, source_type: str, source_id: int) -> int:
    query = (
        select(func.count())
        .select_from(Customer)
        .where(_source_filter(shop_id, source_type, source_id))
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
        .where(_source_filter(shop_id, source_type, source_id))
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
            .where(CustomerTag.customer_id.in_(list(tags)))
            .order_by(CustomerTag.customer_id, CustomerTag.tag_key)
        )
        for customer_id, tag in tag_rows:
            tags[customer_id].append(tag)
        for row in rows:
            row["tags"] = tags[row["customer_id"]]
    return rows


def _members(
    shop_id: int,
    audience_id: int,
    config: AudienceConfig,
    source: tuple[str, int],
    after: int | None,
    size: int,
) -> tuple[list[dict[str, Any]], dict[int, tuple[str, str | None]]]:
    """The next ``size`` members of the source after customer id ``after``, and what the
    vendor holds of them (customer id → digest, vendor_ref): two or three queries."""
    wanted = {config.identifier, *config.properties.values()}
    rows = member_page(shop_id, source[0], source[1], after, wanted, size)
    if not rows:
        return rows, {}
    span = AudienceMember.customer_id <= rows[-1]["customer_id"]
    if after is not None:
        span = and_(span, AudienceMember.customer_id > after)
    held = {
        customer_id: (row_digest, vendor_ref)
        for customer_id, row_digest, vendor_ref in db.session.execute(
            select(AudienceMember.customer_id, AudienceMember.digest, AudienceMember.vendor_ref)
            .where(AudienceMember.audience_id == audience_id)
            .where(span)
        )
    }
    return rows, held


def to_members(
    rows: list[dict[str, Any]],
    audience: AudienceConfig,
    held: dict[int, tuple[str, str | None]] | None = None,
) -> tuple[list[Member], int, list[int]]:
    """Members with the identifier, how many rows lack it (they are skipped), and the
    customers whose entry at the vendor is no longer theirs (identifier changed or gone).

    Those entries are detached from the customer when the step is recorded, which makes
    them leavers (the removing phase takes them out); a changed identifier is sent as a
    joiner's."""
    held = held or {}
    members: list[Member] = []
    skipped = 0
    detached: list[int] = []
    for row in rows:
        identifier = (row.get(audience.identifier) or "").strip()
        entry = digest(identifier, audience.identifier) if identifier else None
        kept = held.get(row["customer_id"])
        if kept is not None and kept[0] != entry:
            detached.append(row["customer_id"])
            kept = None
        if entry is None:
            skipped += 1
            continue
        properties = {vendor: row.get(ours) for vendor, ours in audience.properties.items()}
        members.append(
            Member(
                row["customer_id"],
                row["_external_id"],
                identifier,
                properties,
                digest=entry,
                held=kept is not None,
                vendor_ref=kept[1] if kept is not None else None,
            )
        )
    return members, skipped, detached


def _leavers(
    shop_id: int,
    audience_id: int,
    source: tuple[str, int],
    after: int | None,
    size: int,
) -> tuple[list[Leaver], int | None, bool]:
    """The next ``size`` leavers after member row id ``after``, in one query: rows whose
    customer is gone (or was detached: identifier changed) or left the source. Returns
    them, the last row id, and whether none is left after them."""
    left_source = or_(AudienceMember.customer_id.is_(None), ~_source_filter(shop_id, *source))
    query = (
        select(
            AudienceMember.id,
            AudienceMember.digest,
            AudienceMember.vendor_ref,
            Customer.external_id,
        )
        .select_from(AudienceMember)
        .outerjoin(Customer, Customer.id == AudienceMember.customer_id)
        .where(AudienceMember.audience_id == audience_id, left_source)
        .order_by(AudienceMember.id)
        .limit(size)
    )
    if after is not None:
        query = query.where(AudienceMember.id > after)
    rows = db.session.execute(query).all()
    leavers = [Leaver(row.id, row.external_id, row.digest, row.vendor_ref) for row in rows]
    last = rows[-1].id if rows else after
    return leavers, last, len(rows) < size


# --- Runs ------------------------------------------------------------------------------------

PHASE_REMOVE = "remove"
PHASE_ADD = "add"


def queue_run(shop_id: int, audience_id: int, now: datetime | None = None) -> tuple[int, bool]:
    """Queue a run of the audience: ``(run_id, created)``; an unfinished run is reused.

    The database allows one queued or running run per audience, so two callers racing here
    end up with the same run. Does not commit.
    """
    now = now or utcnow()
    run = AudienceRun(shop_id=shop_id, audience_id=audience_id, status=RUN_QUEUED, created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(run)
            db.session.flush()
    except IntegrityError:
        active = db.session.execute(
            select(AudienceRun.id).where(
                AudienceRun.audience_id == audience_id,
                AudienceRun.status.in_(ACTIVE_RUN_STATUSES),
            )
        ).scalar_one()
        return active, False
    db.session.execute(update(Audience).where(Audience.id == audience_id).values(last_run_at=now))
    return run.id, True


def _claim(
    shop_id: int, audience_id: int, run_id: int, stale_after: timedelta, now: datetime
) -> bool:
    """Take the run: queued, or running with a heartbeat so old that its worker is gone."""
    claimed = db.session.execute(
        update(AudienceRun)
        .where(
            AudienceRun.id == run_id,
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
    return claimed == 1


def _record(
    shop_id: int,
    audience_id: int,
    run_id: int,
    outcome: BatchOutcome,
    state: dict[str, Any],
    cursor: int | None = None,
    digests: dict[int, str] | None = None,
    detached: list[int] | None = None,
) -> None:
    """One step's record: what the vendor now holds (rows added for joiners, removed for
    leavers, detached from customers whose identifier changed), the counts, the cursor and
    the heartbeat, all in the caller's transaction."""
    if detached:
        db.session.execute(
            update(AudienceMember)
            .where(
                AudienceMember.audience_id == audience_id,
                AudienceMember.customer_id.in_(detached),
            )
            .values(customer_id=None)
            .execution_options(synchronize_session=False)
        )
    if outcome.joined:
        digests = digests or {}
        now = utcnow()
        # The table, not the ORM mapper: one executemany of plain rows (nothing of them is
        # loaded back into the session).
        db.session.execute(
            insert(AudienceMember.__table__),
            [
                {
                    "shop_id": shop_id,
                    "audience_id": audience_id,
                    "customer_id": customer_id,
                    "digest": digests[customer_id],
                    "vendor_ref": vendor_ref,
                    "created_at": now,
                }
                for customer_id, vendor_ref in outcome.joined.items()
            ],
        )
    for start in range(0, len(outcome.gone), PAGE_SIZE):
        db.session.execute(
            delete(AudienceMember).where(
                AudienceMember.audience_id == audience_id,
                AudienceMember.id.in_(outcome.gone[start : start + PAGE_SIZE]),
            )
        )
    errors = db.session.execute(
        select(AudienceRun.errors).where(AudienceRun.id == run_id)
    ).scalar_one()
    room = MAX_ERRORS - len(errors or [])
    values: dict[str, Any] = {
        "synced": AudienceRun.synced + outcome.synced,
        "skipped": AudienceRun.skipped + outcome.skipped,
        "failed": AudienceRun.failed + outcome.failed,
        "removed": AudienceRun.removed + outcome.removed,
        "state": dict(state),
        "heartbeat_at": utcnow(),
    }
    if cursor is not None:
        values["cursor"] = cursor
    if room > 0 and outcome.errors:
        values["errors"] = list(errors or []) + outcome.errors[:room]
    db.session.execute(
        update(AudienceRun)
        .where(AudienceRun.id == run_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def finish_run(run_id: int, status: str, error: str | None = None) -> None:
    """Mark the run finished (does not commit)."""
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "heartbeat_at": utcnow()}
    if error:
        errors = db.session.execute(
            select(AudienceRun.errors).where(AudienceRun.id == run_id)
        ).scalar_one()
        values["errors"] = [*(errors or [])[: MAX_ERRORS - 1], {"message": error}]
    db.session.execute(
        update(AudienceRun)
        .where(AudienceRun.id == run_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def fail_run(shop_id: int, audience_id: int, run_id: int, exc: FatalVendorError) -> None:
    """Fail the run for a refusal no other call could get past (credentials, destination)."""
    kind = db.session.execute(
        select(Audience.destination_type).where(Audience.id == audience_id)
    ).scalar_one_or_none()
    finish_run(run_id, RUN_FAILED, exc.describe(kind or "audience"))


def load_run(shop_id: int, run_id: int) -> AudienceRun | None:
    return db.session.execute(
        for_shop(AudienceRun, shop_id).where(AudienceRun.id == run_id)
    ).scalar_one_or_none()


def run_steps(
    shop_id: int,
    audience_id: int,
    run_id: int,
    *,
    stale_after: timedelta | None = None,
) -> Iterator[int]:
    """Run (or resume) one audience run, one step at a time; the caller is the boundary.

    Each value yielded (members handled so far) marks a step recorded in the session and not
    committed: the caller commits it before asking for the next, and no transaction is open
    while the vendor is called (each step's reads are committed with the previous step's
    record). A step is one vendor batch sent and recorded with the cursor that follows it, so
    a run killed halfway resumes after its last committed step: only the step in flight is
    sent again, and every vendor call is one a replay leaves as it was (an upsert, an add or
    removal of what is already there or gone). A leaver's row goes only in the step that
    recorded the vendor's acknowledgement, so no removal is lost.

    Two phases: the source's members in (joiners added, everyone's properties updated; an
    entry whose customer changed identifier is detached from them), then leavers out (rows
    whose customer is gone, was detached, or left the source; one query per step). Nothing
    is yielded when another worker holds the run. Refused credentials or a refused
    destination raise ``FatalVendorError`` (the caller rolls back, then
    ``fail_run``); anything else unexpected propagates and leaves the run ``running`` with
    its cursors, to be resumed once its heartbeat is stale.
    """
    stale = STALE_AFTER if stale_after is None else stale_after
    if not _claim(shop_id, audience_id, run_id, stale, utcnow()):
        return
    audience = db.session.execute(
        for_shop(Audience, shop_id).where(Audience.id == audience_id)
    ).scalar_one_or_none()
    run = load_run(shop_id, run_id)
    if audience is None or run is None:
        yield 0
        return
    source = (audience.source_type, audience.source_id)
    if source[1] is None or not source_exists(shop_id, *source):
        finish_run(run_id, RUN_FAILED, f"The {source[0]} of this audience no longer exists.")
        yield 0
        return
    try:
        config = AudienceConfig.of(audience)
    except CredentialsUnavailable as exc:
        finish_run(run_id, RUN_FAILED, str(exc))
        yield 0
        return
    state = dict(run.state or {})
    if "estimated_total" not in state:
        state["estimated_total"] = count_members(shop_id, *source)
    state.setdefault("phase", PHASE_ADD)
    cursor = run.cursor
    done = run.synced + run.skipped + run.failed + run.removed
    member_source: tuple[str, int] = (source[0], source[1])

    destination = destination_for(config)
    try:
        if state["phase"] == PHASE_ADD:
            rows, held = _members(
                shop_id, audience_id, config, member_source, cursor, destination.batch_size
            )
            yield done
            while rows:
                members, skipped, detached = to_members(rows, config, held)
                outcome = destination.sync(members) if members else BatchOutcome()
                outcome.skipped += skipped
                digests = {member.customer_id: member.digest for member in members}
                cursor = rows[-1]["customer_id"]
                done += outcome.synced + outcome.skipped + outcome.failed
                # The next page is read in this step's transaction too (nothing it reads is
                # written here: the record is about customers up to the cursor).
                rows, held = _members(
                    shop_id, audience_id, config, member_source, cursor, destination.batch_size
                )
                if not rows:
                    state["phase"] = PHASE_REMOVE
                _record(shop_id, audience_id, run_id, outcome, state, cursor, digests, detached)
                yield done
            state["phase"] = PHASE_REMOVE
        after = state.get("removal_cursor")
        size = destination.removal_batch_size
        leavers, last, ended = _leavers(shop_id, audience_id, member_source, after, size)
        yield done
        while leavers:
            outcome = destination.remove(leavers)
            state["removal_cursor"] = last
            _record(shop_id, audience_id, run_id, outcome, state)
            done += outcome.removed + outcome.failed
            if ended:
                break
            leavers, last, ended = _leavers(shop_id, audience_id, member_source, last, size)
            yield done
    finally:
        destination.close()
    finish_run(run_id, *_verdict(run_id))
    yield done


def _verdict(run_id: int) -> tuple[str, str | None]:
    """Succeeded, unless members failed and none was synced: then the merchant must see an
    outage (the destination down, every profile refused), not a success."""
    synced, removed, failed = db.session.execute(
        select(AudienceRun.synced, AudienceRun.removed, AudienceRun.failed).where(
            AudienceRun.id == run_id
        )
    ).one()
    if failed and not synced and not removed:
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
