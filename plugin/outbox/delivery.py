"""Deliver the outbox: claim due events with a lease, POST them signed, record the outcome.

At-least-once: an event is marked delivered only after its endpoint answered 2xx, so a
process that dies between the POST and that mark leaves the event pending; once its
lease runs out another run posts it again with the same ``X-Event-Id`` (receivers
deduplicate by it, as the extension does with the host's webhooks).

Never twice at the same time: a run claims a batch with one conditional UPDATE
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's writer lock serialises claims)
that stamps its own ``lock_token``, and before each POST it checks, with another
conditional UPDATE on that token, that the lease is still its own and long enough
for the POST. A run whose lease was taken over skips the event.

Retries: exponential backoff with jitter per event (``backoff``), up to
``CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPTS`` attempts, then ``dead`` (the merchant can send
it again with ``POST /api/events/{id}/retry``). When the endpoint itself is failing
(no answer, a refused address, a timeout, a redirect, 401/403/404, 408, 429 or 5xx),
the shop's other due events wait until the failed one's next attempt instead of each
hammering a dead endpoint: the oldest event probes, the rest follow once it gets through.
A 400 or 422 is that event's own problem and holds nothing else up.

Where events may go (contract §5): through ``plugin.outgoing.GuardedSession``, https to
public addresses only, checked when each connection is opened; redirects are never
followed. ``last_error`` (shown by ``GET /api/events``) holds the status and error code of
a failed answer, never its text, which goes to the log.

Who delivers: the periodic task ``outbox.deliver`` (every second) queues one
``outbox.deliver`` job per shop with due events, at most one at a time per shop (a job
key), and the job runner's worker threads run them; each job delivers its shop's due
events for up to 30 seconds. An event is therefore posted about one to two seconds after
its transaction commits.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy import and_, bindparam, delete, or_, select, update

from plugin.auth import events_key, signature_header
from plugin.config import app_secrets
from plugin.db import db, in_shop, utcnow
from plugin.events.models import DEAD, DELIVERED, PENDING, SKIPPED, OutboxEvent
from plugin.jobs.models import Job
from plugin.jobs.registry import enqueue, job_kind, periodic
from plugin.outgoing import (
    DestinationRefused,
    GuardedSession,
    log_reply,
    private_destinations_allowed,
    reply_summary,
    retry_after_seconds,
)
from plugin.shops.models import Shop

log = logging.getLogger(__name__)

#: Answers that say the endpoint (not this one event) is failing.
_ENDPOINT_STATUSES = frozenset({401, 403, 404, 405, 408, 429})
USER_AGENT = "customer-groups-outbox/1"
DELIVER_JOB = "outbox.deliver"


def backoff(
    attempts: int, base: float, cap: float, rng: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: doubling from ``base``,
    at most ``cap``, with equal jitter (half fixed, half random) so that events that
    failed together do not come back together."""
    delay = min(cap, base * 2 ** min(max(attempts - 1, 0), 40))
    return delay / 2 + rng() * delay / 2


@dataclass
class Outcome:
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    skipped: int = 0
    taken_over: int = 0
    paused_shops: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, int]:
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "dead": self.dead,
            "skipped": self.skipped,
        }


@dataclass
class Claimed:
    """A claimed event, and the lease (``token`` until ``lease``) that makes it ours."""

    id: int
    shop_id: int
    topic: str
    event_id: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    token: str
    lease: datetime


@dataclass(frozen=True)
class Answer:
    """What one POST came to: ``status`` None means no HTTP answer at all."""

    ok: bool
    status: int | None
    error: str | None
    endpoint_failing: bool
    retry_after: float | None = None


class _Clock:
    """Now, moved forward by real time from a given start (tests start in the future)."""

    def __init__(self, start: datetime | None) -> None:
        self.start = start or utcnow()
        self.t0 = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0)


def deliver_pending(
    *,
    shop_id: int | None = None,
    now: datetime | None = None,
    max_batches: int | None = None,
    budget_seconds: float = 30.0,
) -> dict[str, int]:
    """Deliver due events (of one shop, or of all), batch after batch, until none is due or
    ``budget_seconds`` pass.

    ``now`` starts the clock elsewhere (tests use it to skip over backoff and leases).
    Answers the counts of this run.
    """
    # Events are signed with each shop's events key of the current secret, and during a
    # rotation with that of the previous one too (two entries in X-Signature).
    secret = app_secrets(current_app.config)
    if not secret:
        log.warning("The outbox cannot sign events without CUSTOMER_GROUPS_APP_SECRET.")
        return Outcome().as_dict()
    clock = _Clock(now)
    outcome = Outcome()
    # Every POST goes through the guarded transport (contract §5, plugin/outgoing.py).
    session = GuardedSession(allow_private=private_destinations_allowed(current_app.config))
    started = time.monotonic()
    batches = 0
    try:
        while max_batches is None or batches < max_batches:
            claimed = claim_batch(
                clock(), current_app.config["CUSTOMER_GROUPS_OUTBOX_BATCH"], shop_id=shop_id
            )
            if not claimed:
                break
            batches += 1
            _deliver_batch(claimed, secret, clock, session, outcome)
            if time.monotonic() - started > budget_seconds:
                break
    finally:
        db.session.rollback()
        session.close()
    return outcome.as_dict()


@periodic("outbox.deliver", every=1.0)
def deliver_outbox() -> None:
    """Queue an ``outbox.deliver`` job for each shop with due events (one at a time per
    shop): the POSTs run in the runner's worker threads, never in its schedule, so a slow
    endpoint holds up neither the schedule nor another shop."""
    now = utcnow()
    shops = db.session.execute(
        select(OutboxEvent.shop_id)
        .where(
            OutboxEvent.status == PENDING,
            OutboxEvent.next_attempt_at <= now,
            or_(OutboxEvent.locked_until.is_(None), OutboxEvent.locked_until <= now),
        )
        .distinct()
    ).scalars()
    for shop_id in list(shops):
        enqueue(shop_id, DELIVER_JOB, {}, key="outbox")
    db.session.commit()


@job_kind(DELIVER_JOB)
def deliver_shop_job(job: Job, report: Callable[[int], None]) -> dict[str, Any]:
    """Deliver one shop's due events for up to ``budget_seconds``."""
    return dict(deliver_pending(shop_id=job.shop_id))


@periodic("outbox.prune", every=3600.0)
def prune_outbox() -> None:
    """Forget delivered and skipped events past the retention period."""
    prune(utcnow())


def prune(now: datetime) -> int:
    days = current_app.config["CUSTOMER_GROUPS_OUTBOX_RETENTION_DAYS"]
    cutoff = now - timedelta(days=days)
    removed = db.session.execute(
        delete(OutboxEvent).where(
            OutboxEvent.status.in_((DELIVERED, SKIPPED)), OutboxEvent.created_at < cutoff
        )
    ).rowcount
    db.session.commit()
    return removed or 0


def claim_batch(now: datetime, size: int, shop_id: int | None = None) -> list[Claimed]:
    """Take up to ``size`` due events (of one shop, or of any) under a fresh lease token,
    in one UPDATE; commit."""
    token = str(uuid.uuid4())
    due = (
        select(OutboxEvent.id)
        .where(
            OutboxEvent.status == PENDING,
            OutboxEvent.next_attempt_at <= now,
            or_(OutboxEvent.locked_until.is_(None), OutboxEvent.locked_until <= now),
        )
        .order_by(OutboxEvent.next_attempt_at, OutboxEvent.id)
        .limit(size)
    )
    if shop_id is not None:
        due = due.where(in_shop(OutboxEvent, shop_id))  # the claim runs as a Core subquery
    if db.session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    lease = now + timedelta(seconds=current_app.config["CUSTOMER_GROUPS_OUTBOX_LEASE"])
    rows = db.session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id.in_(due.scalar_subquery()))
        .values(locked_until=lease, lock_token=token)
        .returning(
            OutboxEvent.id,
            OutboxEvent.shop_id,
            OutboxEvent.topic,
            OutboxEvent.event_id,
            OutboxEvent.payload,
            OutboxEvent.attempts,
            OutboxEvent.created_at,
        )
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return sorted((Claimed(*row, token=token, lease=lease) for row in rows), key=lambda c: c.id)


@dataclass(frozen=True)
class _ShopTarget:
    domain: str
    events_url: str | None
    installed: bool


def _targets(shop_ids: set[int]) -> dict[int, _ShopTarget]:
    rows = db.session.execute(
        select(Shop.id, Shop.domain, Shop.events_url, Shop.installed).where(Shop.id.in_(shop_ids))
    ).all()
    db.session.commit()
    return {sid: _ShopTarget(domain, url, installed) for sid, domain, url, installed in rows}


def _deliver_batch(
    batch: list[Claimed],
    secret: list[str],
    clock: _Clock,
    http: requests.Session,
    outcome: Outcome,
) -> None:
    targets = _targets({event.shop_id for event in batch})
    config = current_app.config
    timeout = config["CUSTOMER_GROUPS_OUTBOX_TIMEOUT"]
    cap = config["CUSTOMER_GROUPS_OUTBOX_BACKOFF_MAX"]
    # Hold an event for the whole POST: connect and read timeouts, plus a margin.
    hold = timedelta(seconds=2 * timeout + 15)
    paused: set[int] = set()
    delivered = _Delivered(outcome)
    for event in batch:
        if event.shop_id in paused:
            continue  # released when the shop was paused
        target = targets.get(event.shop_id)
        if target is None or not target.installed or not target.events_url:
            reason = (
                "The shop has no events_url."
                if target is not None and target.installed
                else "The shop has uninstalled the app."
            )
            if _settle(event, status=SKIPPED, last_error=reason, next_attempt_at=None):
                outcome.skipped += 1
            continue
        if not _hold(event, clock, hold):
            outcome.taken_over += 1
            continue
        answer = post_event(http, target, event, secret, timeout)
        now = clock()
        if answer.ok:
            delivered.add(event, answer.status, now)
            continue
        attempts = event.attempts + 1
        if attempts >= config["CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPTS"]:
            status, next_at = DEAD, None
            outcome.dead += 1
        else:
            wait = backoff(attempts, config["CUSTOMER_GROUPS_OUTBOX_BACKOFF_BASE"], cap)
            if answer.retry_after is not None:
                wait = max(wait, min(answer.retry_after, cap))
            status, next_at = PENDING, now + timedelta(seconds=wait)
            outcome.failed += 1
        _settle(
            event,
            status=status,
            attempts=attempts,
            last_attempt_at=now,
            last_status_code=answer.status,
            last_error=answer.error,
            next_attempt_at=next_at,
        )
        if answer.endpoint_failing:
            paused.add(event.shop_id)
            outcome.paused_shops.add(event.shop_id)
            _pause_shop(
                event,
                next_at or now + timedelta(seconds=cap),
                clock(),
            )
    delivered.flush()


class _Delivered:
    """Events that got their 2xx, marked delivered together (one executemany and one commit
    every ``FLUSH_EVERY`` events or ``FLUSH_SECONDS``) rather than one commit each. A crash
    before the mark only means those events are posted again: at least once either way."""

    FLUSH_EVERY = 50
    FLUSH_SECONDS = 0.5

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.rows: list[dict[str, Any]] = []
        self.first = 0.0

    def add(self, event: Claimed, status_code: int | None, now: datetime) -> None:
        if not self.rows:
            self.first = time.monotonic()
        self.rows.append(
            {"b_id": event.id, "b_token": event.token, "b_at": now, "b_code": status_code}
        )
        if len(self.rows) >= self.FLUSH_EVERY or time.monotonic() - self.first > self.FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.outcome.delivered += _settle_delivered(self.rows)
            self.rows = []


def _settle_delivered(rows: list[dict[str, Any]]) -> int:
    """Mark events delivered (only those whose lease is still ours); commit."""
    table = OutboxEvent.__table__
    marked = db.session.execute(
        table.update()
        .where(table.c.id == bindparam("b_id"), table.c.lock_token == bindparam("b_token"))
        .values(
            status=DELIVERED,
            attempts=table.c.attempts + 1,
            delivered_at=bindparam("b_at"),
            last_attempt_at=bindparam("b_at"),
            last_status_code=bindparam("b_code"),
            last_error=None,
            next_attempt_at=None,
            locked_until=None,
            lock_token=None,
        ),
        rows,
    ).rowcount
    db.session.commit()
    if marked != len(rows):
        log.warning(
            "%d delivered outbox event(s) were taken over before being marked", len(rows) - marked
        )
    return int(marked)


def post_event(
    http: requests.Session,
    target: _ShopTarget,
    event: Claimed,
    secret: list[str],
    timeout: float,
) -> Answer:
    """POST one event, signed as contract §6 says (section 2's signature, with the shop's
    events key, over the path of its ``events_url``), and say what came of it. Each attempt
    is signed anew: a new timestamp, the same event id."""
    body = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode()
    assert target.events_url is not None
    headers = event_headers(secret, target.domain, target.events_url, event, body)
    headers["X-Event-Created-At"] = event.created_at.isoformat().replace("+00:00", "Z")
    headers["User-Agent"] = USER_AGENT
    try:
        response = http.post(
            target.events_url,
            data=body,
            headers=headers,
            timeout=(min(5.0, timeout), timeout),
            allow_redirects=False,
        )
    except DestinationRefused as exc:
        # Not sent: the address is not one events may go to (contract §5).
        log.warning("Event %s not sent to %s: %s", event.id, target.events_url, exc.reason)
        return Answer(False, None, f"Refused: {exc.reason}", True)
    except requests.RequestException as exc:
        # The merchant sees the kind of failure (GET /api/events); operators the details.
        log.warning("Event %s to %s: %s", event.id, target.events_url, exc)
        return Answer(False, None, f"{type(exc).__name__}: no answer from the events_url.", True)
    code = response.status_code
    if 200 <= code < 300:
        return Answer(True, code, None, False)
    log_reply(log, target.events_url, response)
    # Never the reply's text: only its status and error code (contract §5).
    error = reply_summary(response)
    if 300 <= code < 400:
        error += ": a redirect, which is not followed"
    endpoint = code >= 500 or code < 400 or code in _ENDPOINT_STATUSES
    return Answer(False, code, error, endpoint, _retry_after(response))


def event_headers(
    secrets: list[str], domain: str, events_url: str, event: Claimed, body: bytes
) -> dict[str, str]:
    """The headers of one event POST: contract §2's five, signed with the events key of each
    secret (the current one first)."""
    timestamp = int(time.time())
    path = urlsplit(events_url).path or "/"
    return {
        "Content-Type": "application/json",
        "X-Shop-Domain": domain,
        "X-Request-Timestamp": str(timestamp),
        "X-Topic": event.topic,
        "X-Event-Id": event.event_id,
        "X-Signature": signature_header(
            [events_key(s, domain) for s in secrets],
            timestamp,
            domain,
            event.topic,
            event.event_id,
            path,
            body,
        ),
    }


def _retry_after(response: requests.Response) -> float | None:
    """The answer's ``Retry-After`` in seconds, read as every outgoing request reads it."""
    return retry_after_seconds(response.headers.get("Retry-After"), utcnow())


def _mine(event: Claimed) -> Any:
    return and_(OutboxEvent.id == event.id, OutboxEvent.lock_token == event.token)


def _hold(event: Claimed, clock: _Clock, hold: timedelta) -> bool:
    """Make sure the lease is still ours and lasts the whole POST (extend it if needed)."""
    now = clock()
    if event.lease - now >= hold:
        return True
    changed = db.session.execute(
        update(OutboxEvent)
        .where(_mine(event), OutboxEvent.status == PENDING)
        .values(locked_until=now + hold)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if changed == 1:
        event.lease = now + hold
    return changed == 1


def _settle(event: Claimed, **values: Any) -> bool:
    """Record the outcome of our attempt and let go of the lease (only if still ours)."""
    changed = db.session.execute(
        update(OutboxEvent)
        .where(_mine(event))
        .values(locked_until=None, lock_token=None, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if changed != 1:
        log.warning("Outbox event %s was taken over before its outcome was recorded", event.id)
    return changed == 1


def _pause_shop(event: Claimed, until: datetime, now: datetime) -> None:
    """Let the shop's other due events wait for the failing endpoint's next attempt."""
    db.session.execute(
        update(OutboxEvent)
        .where(
            OutboxEvent.shop_id == event.shop_id,
            OutboxEvent.status == PENDING,
            OutboxEvent.lock_token == event.token,
        )
        .values(locked_until=None, lock_token=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(OutboxEvent)
        .where(
            OutboxEvent.shop_id == event.shop_id,
            OutboxEvent.status == PENDING,
            OutboxEvent.next_attempt_at < until,
            or_(OutboxEvent.locked_until.is_(None), OutboxEvent.locked_until <= now),
        )
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
