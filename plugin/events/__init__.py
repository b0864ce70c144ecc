"""Events the extension sends (contract §6): one seam, :func:`publish`, for every topic.

An event is published inside the database transaction that caused it: ``publish``
writes a row of ``outbox_events`` (:mod:`plugin.outbox`) in that transaction, so the
event exists if and only if the change commits, and the outbox delivers it as a signed
POST to the shop's ``events_url`` with retries. In-process, the same event is also sent
as a blinker signal once the transaction commits (sender: the shop's domain; kwargs:
``payload`` and ``event_id``, the same id as the POST's ``X-Event-Id``); a rollback
drops it. Signal receivers run after the commit is final but while the session is
closing: they must not use ``db.session`` (open their own session, or queue work).

*Reactors* (:func:`reactor`) hear every published event, and the incoming happenings
that are not sent out (:func:`notify`: a customer created, subscribed, an order paid),
inside the same transaction, just before it commits, all of a transaction's payloads
of one shop and topic in one call (a group move of 5,000 customers is one call, not
5,000; each set-based publish is a call of its own, after those), so that work they queue
(automation jobs) commits or rolls back with its cause.
A reactor that fails is logged and undone (in a savepoint); it never undoes the change
that caused the event, unless it is registered as part of that change (the recorder of
who moved: then it runs with no savepoint, and its failure fails the transaction).

A set-based publish (:func:`publish_selected`, a segment recompute announcing 600,000
customers) keeps what it wrote in a temporary table until the transaction ends, and
brings it into Python only for what needs it there: a reactor with a set-based form
(:func:`set_based`) is handed a ``SELECT`` of the payloads instead of a list, and the
in-process signal reads the events only if a receiver is connected to it when they are
published (one connected later, before the commit, does not hear them). The temporary table
needs the database role's ``TEMPORARY`` privilege (PostgreSQL grants it to every role
unless revoked) and a transaction (an autocommit connection would empty it at once).
"""

from __future__ import annotations

import itertools
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, overload

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    MetaData,
    Select,
    String,
    Table,
    Text,
    bindparam,
    event,
    insert,
    literal,
    literal_column,
    select,
)
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.schema import CreateTable

from plugin.db import SHOP_PARAM, UtcDateTime, built, copying, db, run_built, utcnow
from plugin.events import signals
from plugin.events.models import PENDING, SKIPPED, OutboxEvent

log = logging.getLogger(__name__)


class Shop(Protocol):
    """What publishing needs of a shop (the shops feature's row has it): the core knows
    no feature."""

    @property
    def id(self) -> int: ...

    @property
    def domain(self) -> str: ...

    @property
    def events_url(self) -> str | None: ...


#: An event id made by PostgreSQL for each row of a set-based publish: a UUID of version 7
#: (RFC 9562: the first 48 bits are the Unix time in milliseconds, the rest random), built
#: from ``gen_random_uuid()``. Ids that grow with time go in at the right-hand edge of the
#: outbox's unique index on ``event_id``; random ones (version 4) land all over it, and a
#: recompute announcing 667,000 customers spent 15 % longer on that index. The version
#: nibble is 0100 in a v4 UUID: bits 52 and 53 (PostgreSQL counts from the low bit of
#: each byte) make it 0111.
_TIME_ORDERED_UUID = (
    "CAST(encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing "
    "substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) "
    "FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex') AS uuid)::varchar"
)

_PENDING = "customer_groups_pending_events"
_REACTIONS = "customer_groups_pending_reactions"

COUPON_GIVEN = "coupon/given"

TOPICS = {
    COUPON_GIVEN: signals.coupon_given,
    "customer/group_changed": signals.customer_group_changed,
    "customer/segments_changed": signals.customer_segments_changed,
}

#: Incoming happenings that reactors hear but that are never sent out (see :func:`notify`).
CUSTOMER_CREATED = "customer/created"
CUSTOMER_SUBSCRIBED = "customer/subscribed"
ORDER_PAID = "order/paid"
INTERNAL_TOPICS = frozenset({CUSTOMER_CREATED, CUSTOMER_SUBSCRIBED, ORDER_PAID})

#: Rows per INSERT statement when a segment recompute announces many customers.
_INSERT_CHUNK = 5_000
#: From this many events on, PostgreSQL takes them through COPY (~10x faster per row).
_COPY_FROM = 200

#: ``react(shop, topic, payloads)``, called inside the publishing transaction.
Reactor = Callable[[Shop, str, list[dict[str, Any]]], None]
#: ``react(shop, topic, payloads)`` where ``payloads`` is a ``SELECT`` of the events of one
#: set-based publish: columns ``payload`` (JSON) and ``position`` (their order).
SetBasedReactor = Callable[[Shop, str, Select[Any]], None]
_reactors: list[Reactor] = []
#: The topics a reactor hears, when it named them (:func:`reactor`).
_topics: dict[Reactor, frozenset[str]] = {}
#: Reactors that run in the transaction itself, with no savepoint (:func:`reactor`).
_in_the_change: set[Reactor] = set()
_set_based: dict[Reactor, SetBasedReactor] = {}

#: What a set-based publish wrote, until its transaction ends (PostgreSQL: a temporary
#: table of the connection, emptied at every commit that touched it, never in
#: ``db.metadata``). ``batch`` tells the publishes of one transaction apart.
_published = Table(
    "customer_groups_published",
    MetaData(),
    Column("batch", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),  # the outbox row's id
    Column("event_id", String(36), nullable=False),
    Column("payload", JSON, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)
_batches = itertools.count(1)


@dataclass(frozen=True, slots=True)
class _Batch:
    """The events of one set-based publish, in ``_published``."""

    number: int

    def payloads(self) -> Select[Any]:
        return select(_published.c.payload, _published.c.position).where(
            _published.c.batch == self.number
        )

    def read(self) -> list[tuple[str, dict[str, Any]]]:
        rows = db.session.execute(
            select(_published.c.event_id, _published.c.payload)
            .where(_published.c.batch == self.number)
            .order_by(_published.c.position)
        )
        return [(event_id, payload) for event_id, payload in rows]


@dataclass(frozen=True, slots=True)
class Event:
    shop_domain: str
    topic: str
    payload: dict[str, Any]
    event_id: str


@overload
def reactor(react: Reactor) -> Reactor: ...


@overload
def reactor(
    *, topics: Iterable[str] | None = None, part_of_the_change: bool = False
) -> Callable[[Reactor], Reactor]: ...


def reactor(
    react: Reactor | None = None,
    *,
    topics: Iterable[str] | None = None,
    part_of_the_change: bool = False,
) -> Reactor | Callable[[Reactor], Reactor]:
    """Register ``react`` to hear every published event and every :func:`notify`; with
    ``topics`` (``@reactor(topics=...)``), only those of these topics: it is not called,
    and no savepoint is opened for it, for the others (the ``order/paid`` of every
    webhook, for the recorder of group and segment changes).

    A reaction runs in a savepoint of its own: its failure is logged and undone alone.
    ``part_of_the_change`` is for a reactor that writes what the change must leave behind
    (the record of who moved, which the reports read): it runs in the transaction itself,
    with no savepoint, and its failure fails the transaction, as a broken constraint of
    the change would (a webhook then answers 500, and the host sends it again)."""

    def register(react: Reactor) -> Reactor:
        if react not in _reactors:
            _reactors.append(react)
        if topics is None:
            _topics.pop(react, None)
        else:
            _topics[react] = frozenset(topics)
        if part_of_the_change:
            _in_the_change.add(react)
        else:
            _in_the_change.discard(react)
        return react

    return register if react is None else register(react)


def _hears(react: Reactor, topic: str) -> bool:
    heard = _topics.get(react)
    return heard is None or topic in heard


def set_based(of: Reactor) -> Callable[[SetBasedReactor], SetBasedReactor]:
    """Register the set-based form of the reactor ``of``: what it does for a set-based
    publish (PostgreSQL), given a ``SELECT`` of the payloads rather than a list, so that
    600,000 events need not come into Python. It must do what ``of`` would do with the
    same payloads. A reactor without one is handed the list, read from the database."""

    def register(react: SetBasedReactor) -> SetBasedReactor:
        _set_based[of] = react
        return react

    return register


@dataclass(frozen=True, slots=True)
class Along:
    """A change written by the statement that records an event (:func:`publish`), on
    PostgreSQL: ``ctes(dialect)`` gives data-modifying ``WITH`` clauses (built once per
    ``name``) put in front of the outbox's ``INSERT``; ``params`` binds them. They must
    bind the shop as ``:b_shop`` (``shop_param``) and name it in their own clauses, as any
    statement of :func:`plugin.db.run_built`."""

    name: str
    ctes: Callable[[str], Sequence[Any]]
    params: dict[str, Any]


def publish(shop: Shop, topic: str, payload: dict[str, Any], along: Along | None = None) -> Event:
    """Record an event of ``topic`` for ``shop`` in the current transaction; with ``along``
    (PostgreSQL only), the change that caused it in the same statement: one round trip
    for both (a customer's memberships and their ``customer/segments_changed``)."""
    return _publish(shop, topic, [payload], along)[0]


def publish_many(shop: Shop, topic: str, payloads: list[dict[str, Any]]) -> None:
    """Record one event per payload, inserted set-based (a segment recompute may announce
    many customers)."""
    _publish(shop, topic, payloads)


def publish_selected(
    shop: Shop, topic: str, payloads: Select[Any], ctes: Sequence[Any] = ()
) -> int:
    """Record one event per row of ``payloads`` (a ``SELECT`` of one JSON object per row)
    and return how many: on PostgreSQL in one ``INSERT ... SELECT`` (the database makes
    the event ids), so that a segment recompute announcing 600,000 customers never builds
    their events in Python. The same statement keeps the events in a temporary table
    (``_published``) for the reactors, which run on them before the commit, set-based
    where they can (:func:`set_based`); in-process receivers hear the same events, read
    back only if one is connected. ``ctes`` are put in front of the statement (a
    data-modifying ``WITH`` that ``payloads`` reads: the change and its events in one
    statement). Elsewhere, as :func:`publish_many` (``ctes`` then need PostgreSQL)."""
    if topic not in TOPICS:
        raise ValueError(f"unknown event topic {topic!r}")
    if db.session.get_bind().dialect.name != "postgresql":
        rows = [row[0] for row in db.session.execute(payloads)]
        _publish(shop, topic, rows)
        return len(rows)
    # The statement runs on the connection, which does not autoflush as the session does:
    # pending ORM changes must be in the database before ``payloads`` reads it.
    db.session.flush()
    now = utcnow()
    status = PENDING if shop.events_url else SKIPPED
    source = payloads.subquery()
    # ``ctes`` go on the outbox's INSERT (SQLAlchemy renders them at the top all the same):
    # there, and not on the outer statement, the column defaults of their own DML
    # (``updated_at``'s ``onupdate``) are filled in.
    written = (
        insert(OutboxEvent)
        .add_cte(*ctes)
        .from_select(
            [
                "shop_id",
                "topic",
                "event_id",
                "payload",
                "status",
                "attempts",
                "next_attempt_at",
                "last_error",
                "created_at",
            ],
            select(
                literal(shop.id),
                literal(topic),
                literal_column(_TIME_ORDERED_UUID, String),
                list(source.c)[0],
                literal(status),
                literal(0),
                literal(now if status == PENDING else None, UtcDateTime()),
                literal(None if status == PENDING else "The shop has no events_url.", Text()),
                literal(now, UtcDateTime()),
            ),
        )
        .returning(OutboxEvent.id, OutboxEvent.event_id, OutboxEvent.payload)
        .cte("written")
    )
    batch = _Batch(next(_batches))
    statement = insert(_published).from_select(
        ["batch", "position", "event_id", "payload"],
        select(
            literal(batch.number, BigInteger), written.c.id, written.c.event_id, written.c.payload
        ),
    )
    connection = db.session.connection()
    connection.execute(CreateTable(_published, if_not_exists=True))
    made = connection.execute(statement.execution_options(preserve_rowcount=True)).rowcount
    owner = _owner()
    if TOPICS[topic].receivers:  # an in-process receiver: it hears each event after commit
        domain = shop.domain
        db.session.info.setdefault(_PENDING, []).extend(
            (owner, Event(domain, topic, payload, event_id)) for event_id, payload in batch.read()
        )
    if made:
        _queue_reaction(shop, topic, batch)
    return made


def notify(shop: Shop, topic: str, payloads: list[dict[str, Any]]) -> None:
    """Tell the reactors about an incoming happening of ``topic`` (one of
    :data:`INTERNAL_TOPICS`); nothing is recorded or sent out."""
    if topic not in INTERNAL_TOPICS:
        raise ValueError(f"unknown internal topic {topic!r}")
    if payloads:
        _queue_reaction(shop, topic, payloads)


def _publish(
    shop: Shop, topic: str, payloads: list[dict[str, Any]], along: Along | None = None
) -> list[Event]:
    if topic not in TOPICS:
        raise ValueError(f"unknown event topic {topic!r}")
    if not payloads:
        return []
    domain = shop.domain
    events = [Event(domain, topic, payload, str(uuid.uuid4())) for payload in payloads]
    now = utcnow()
    # A shop without an endpoint hears its events in-process only: nothing to retry.
    status = PENDING if shop.events_url else SKIPPED
    rows = [
        {
            "shop_id": shop.id,
            "topic": topic,
            "event_id": queued.event_id,
            "payload": queued.payload,
            "status": status,
            "attempts": 0,
            "next_attempt_at": now if status == PENDING else None,
            "last_error": None if status == PENDING else "The shop has no events_url.",
            "created_at": now,
        }
        for queued in events
    ]
    if along is None:
        _insert(rows)
    else:
        _insert_along(rows, along, shop.id)
    owner = _owner()
    db.session.info.setdefault(_PENDING, []).extend((owner, queued) for queued in events)
    _queue_reaction(shop, topic, payloads)
    return events


def _insert(rows: list[dict[str, Any]]) -> None:
    """Write outbox rows: through COPY on PostgreSQL when there are many (a segment that
    gains 600,000 members), a statement per chunk otherwise."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql" or len(rows) < _COPY_FROM:
        for start in range(0, len(rows), _INSERT_CHUNK):
            run_built(built("outbox_insert", _outbox_insert), rows[start : start + _INSERT_CHUNK])
        return
    columns = list(rows[0])
    with copying(connection, f"COPY outbox_events ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(
                [
                    json.dumps(row["payload"]) if column == "payload" else row[column]
                    for column in columns
                ]
            )


def _outbox_insert(dialect: str) -> Any:
    return insert(OutboxEvent.__table__)


def _insert_along(rows: list[dict[str, Any]], along: Along, shop_id: int) -> None:
    """Write one outbox row in the statement that makes ``along``'s change."""
    if len(rows) != 1 or db.session.get_bind().dialect.name != "postgresql":
        raise ValueError("publish(along=...) writes one event, on PostgreSQL")
    if along.params.get(SHOP_PARAM) != shop_id:
        raise ValueError("publish(along=...) binds the event's shop as :b_shop")

    def build(dialect: str) -> Any:
        columns = OutboxEvent.__table__.c
        return (
            insert(OutboxEvent.__table__)
            .add_cte(*along.ctes(dialect))
            .values({name: bindparam(f"e_{name}", type_=columns[name].type) for name in rows[0]})
        )

    values = {f"e_{name}": value for name, value in rows[0].items()}
    run_built(built(f"outbox_insert_along {along.name}", build), {**along.params, **values})


def _owner() -> SessionTransaction | None:
    """The innermost transaction: a savepoint that rolls back takes its events along."""
    session = db.session()
    return session.get_nested_transaction() or session.get_transaction()


def _queue_reaction(shop: Shop, topic: str, payloads: list[dict[str, Any]] | _Batch) -> None:
    if _reactors:
        db.session.info.setdefault(_REACTIONS, []).append((_owner(), (shop, topic, payloads)))


def _react_before_commit(session: Session) -> None:
    """Run the reactors on what the transaction published, grouped by shop and topic (more
    may be published meanwhile: loop until nothing is left)."""
    if session.in_nested_transaction():
        return  # a savepoint is released, not the transaction committed
    while queued := session.info.pop(_REACTIONS, None):
        grouped: dict[tuple[int, str], tuple[Shop, list[dict[str, Any]]]] = {}
        batches: list[tuple[Shop, str, _Batch]] = []
        for _, (shop, topic, payloads) in queued:
            if isinstance(payloads, _Batch):
                batches.append((shop, topic, payloads))
            else:
                grouped.setdefault((shop.id, topic), (shop, []))[1].extend(payloads)
        for (_, topic), (shop, payloads) in grouped.items():
            _react(shop, topic, payloads)
        for shop, topic, batch in batches:
            _react_to_batch(shop, topic, batch)


def _react(shop: Shop, topic: str, payloads: list[dict[str, Any]]) -> None:
    for react in _reactors:
        if not _hears(react, topic):
            continue
        if react in _in_the_change:
            react(shop, topic, payloads)  # its failure fails the transaction
            continue
        try:
            with db.session.begin_nested():
                react(shop, topic, payloads)
        except Exception:  # a reactor's failure must not undo the change that caused it
            log.exception("A reactor to %s failed for shop %s", topic, shop.domain)


def _react_to_batch(shop: Shop, topic: str, batch: _Batch) -> None:
    """Run the reactors on a set-based publish: its ``SELECT`` to those with a set-based
    form, its payloads read once into a list for the others."""
    read: list[dict[str, Any]] | None = None

    def run(react: Reactor) -> None:
        nonlocal read
        selected = _set_based.get(react)
        if selected is not None:
            selected(shop, topic, batch.payloads())
            return
        if read is None:
            read = [payload for _, payload in batch.read()]
        react(shop, topic, read)

    for react in _reactors:
        if not _hears(react, topic):
            continue
        if react in _in_the_change:
            run(react)  # its failure fails the transaction
            continue
        try:
            with db.session.begin_nested():
                run(react)
        except Exception:  # a reactor's failure must not undo the change that caused it
            log.exception("A reactor to %s failed for shop %s", topic, shop.domain)


def _send_pending(session: Session) -> None:
    # after_commit also fires when a savepoint is released: only the real commit sends.
    if session.in_nested_transaction():
        return
    pending: list[tuple[Any, Event]] = session.info.pop(_PENDING, [])
    _send(queued for _, queued in pending)


def _send(pending: Iterable[Event]) -> None:
    for queued in pending:
        try:
            TOPICS[queued.topic].send(
                queued.shop_domain, payload=queued.payload, event_id=queued.event_id
            )
        except Exception:  # a faulty receiver must not undo or hide a committed change
            log.exception("A receiver of %s failed", queued.topic)


def _drop_pending(session: Session, rolled_back: SessionTransaction) -> None:
    """Forget the events (and reactions) of ``rolled_back`` or of savepoints inside it."""
    for key in (_PENDING, _REACTIONS):
        pending: list[tuple[Any, Any]] = session.info.get(key, [])
        if not pending:
            continue
        kept = [(owner, item) for owner, item in pending if not _inside(owner, rolled_back)]
        if kept:
            session.info[key] = kept
        else:
            session.info.pop(key, None)


def _inside(owner: SessionTransaction | None, rolled_back: SessionTransaction) -> bool:
    while owner is not None:
        if owner is rolled_back:
            return True
        owner = owner.parent
    return False


event.listen(db.session, "before_commit", _react_before_commit)
event.listen(db.session, "after_commit", _send_pending)
event.listen(db.session, "after_soft_rollback", _drop_pending)
