"""Install, uninstall and redaction of shops."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

from flask import current_app
from sqlalchemy import bindparam, delete, exists, inspect, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from plugin.db import UtcDateTime, built, db, in_shop, shop_scope, utcnow
from plugin.money import DEFAULT_LOCALE, parse_locale
from plugin.shops.models import ProcessedEvent, Shop

T = TypeVar("T")


def bump_rules_version(shop: Shop) -> None:
    """Tell every process that the shop's settings changed: a rule (what its pricing
    snapshot holds), a group, a segment or an automation (what :func:`per_version` keeps).
    Set-based, never read-modify-write; remembered for the transaction, whose own reads of
    those settings :func:`per_version` then never keeps."""
    db.session.execute(
        update(Shop)
        .where(Shop.id == shop.id)
        .values(rules_version=Shop.rules_version + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(shop, ["rules_version"])
    _bumped_here().add(shop.id)


_BUMPED = "customer_groups_bumped_shops"


def _bumped_here() -> set[int]:
    """The shops whose version the session's current transaction bumped."""
    session = db.session()
    transaction = session.get_transaction()
    held = session.info.get(_BUMPED)
    if held is None or held[0] is not transaction:
        held = session.info[_BUMPED] = (transaction, set())
    bumped: set[int] = held[1]
    return bumped


class VersionedShop(Protocol):
    """What :func:`per_version` needs of a shop (a ``Shop`` row, or what a reactor is given)."""

    @property
    def id(self) -> int: ...

    @property
    def rules_version(self) -> int: ...


def per_version(shop: VersionedShop, name: str, load: Callable[[], T]) -> T:
    """What ``load()`` reads of the shop's settings, kept in this process (per app) for as
    long as ``shops.rules_version`` stays as this request read it: the ingest path's reads of
    the shop's automations and automatic groups, which change far less often than orders
    arrive. Whatever changes what is kept this way bumps the version in the same transaction
    (:func:`bump_rules_version`), so the next request of any process reads it again.

    ``load()`` reads after the shop row, so it sees at least what that version holds (a
    newer change kept under the older version is only read a little early). A transaction
    that bumped the version itself reads its own uncommitted settings: those are never
    kept (it may yet roll back, and another change take the same version number). So a
    change bumps the version before anything in its transaction reads through here."""
    if shop.id in _bumped_here():
        return load()
    version = shop.rules_version or 0
    cache: dict[tuple[str, int], tuple[int, Any]] = current_app.extensions[
        "customer_groups"
    ].shop_cache
    found = cache.get((name, shop.id))
    if found is not None and found[0] == version:
        value: T = found[1]
        return value
    value = load()
    current = cache.get((name, shop.id))
    if current is None or current[0] <= version:  # never older over newer
        cache[(name, shop.id)] = (version, value)
    return value


def find_shop(domain: str) -> Shop | None:
    """The shop of ``domain``, or None: one statement built once and read as columns, the
    shop put in the session as :func:`find_shop_and_event` puts it (every admin API call
    and admin page reads its shop so)."""
    session = db.session()
    session.flush()  # as a query autoflushes
    found = session.connection().execute(built("shop", _shop_by_domain), {"b_domain": domain})
    values = found.first()
    return None if values is None else _held_shop(session, values)


class ShopRead(NamedTuple):
    """What the webhook path's first statement tells: the shop (None when unknown), whether
    it already processed the event, and whether the event is now claimed for this
    transaction (None when no claim was tried: the caller claims it itself); and, when
    the claim was made with a :class:`ClaimAlong`, the values of its columns."""

    shop: Shop | None
    seen: bool
    claimed: bool | None
    along: tuple[Any, ...] | None = None


@dataclass(frozen=True, slots=True)
class ClaimAlong:
    """The first work of an event, done by the statement that claims it (PostgreSQL):
    ``build(dialect, claim)`` gives ``WITH`` clauses that read ``claim`` (a CTE of one
    row, ``shop_id``, present only when this delivery claimed the event for an installed
    shop: data-modifying clauses that select from it change nothing otherwise) and the
    columns to add to the statement's row. Built once per ``name``; ``params`` binds it."""

    name: str
    build: Callable[[str, Any], tuple[Sequence[Any], Sequence[Any]]]
    params: dict[str, Any]


def find_shop_and_event(
    domain: str,
    event_id: str | None,
    claim_topic: str | None = None,
    along: ClaimAlong | None = None,
) -> ShopRead:
    """The shop, and whether it already processed ``event_id``: one statement for both,
    built once and read as columns (a third of the ORM's cost of loading the row), the
    shop then put in the session as if the ORM had loaded it. The webhook path's first
    read, on every webhook.

    With ``claim_topic`` (an event id of at most 255 characters, a topic we handle), the
    same statement on PostgreSQL also claims the event for this transaction when the shop
    is installed and has not processed it (``processed_events``, ON CONFLICT DO NOTHING):
    a delivery racing for it waits, then finds it claimed (``claimed`` False). Rolled
    back, the claim goes too. Elsewhere, and for a shop not installed or an event already
    seen, no claim is tried (``claimed`` is None).

    With ``along`` too, its work rides in the same statement; ``along`` in the answer holds
    its columns when the claim was made (``claimed`` True), None otherwise."""
    session = db.session()
    session.flush()  # as a query autoflushes
    connection = session.connection()
    params: dict[str, Any] = {"b_domain": domain, "b_event": event_id}
    claiming = claim_topic is not None and event_id is not None
    if claiming and connection.dialect.name == "postgresql":
        if along is None:
            statement = built("shop_and_event_claimed", _shop_and_event_claimed)
        else:
            statement = built(
                f"shop_and_event_claimed {along.name}",
                lambda dialect: _shop_and_event_claimed(dialect, along.build),
            )
            if along.params.keys() & {*params, "b_topic", "b_now"}:
                raise ValueError("a ClaimAlong binds names of its own, not the claim's")
            params |= along.params
        params |= {"b_topic": claim_topic, "b_now": utcnow()}
    else:
        claiming = False
        statement = built("shop_and_event", lambda _: _shop_and_event())
    found = connection.execute(statement, params).first()
    if found is None:
        return ShopRead(None, False, None)
    shop = _held_shop(session, found[: len(_COLUMNS)])
    # Only an installed shop's unseen event is claimed: anything else was not tried.
    tried = claiming and found.installed and not found.seen
    claimed = bool(found.claimed) if tried else None
    extra = tuple(found[len(_COLUMNS) + 2 :]) if claimed and along is not None else None
    return ShopRead(shop, bool(found.seen), claimed, extra)


_COLUMNS = [column.key for column in Shop.__table__.columns]
_ID = _COLUMNS.index("id")


def _held_shop(session: Any, values: Sequence[Any]) -> Shop:
    """The Shop of a row of ``_COLUMNS``, in ``session`` as if the ORM had loaded it: the
    instance the session holds is kept (what it had expired is refilled), as a query
    keeps it; otherwise one is made, persistent with no change pending."""
    key = identity_key(Shop, values[_ID])
    shop = session.identity_map.get(key)
    if shop is None:
        shop = Shop(**dict(zip(_COLUMNS, values, strict=True)))
        make_transient_to_detached(shop)  # persistent as loaded, no change pending
        session.add(shop)
    else:
        unloaded = inspect(shop).unloaded
        for name, value in zip(_COLUMNS, values, strict=True):
            if name in unloaded:
                set_committed_value(shop, name, value)
    assert isinstance(shop, Shop)
    return shop


def _shop_by_domain(dialect: str) -> Any:
    shops = Shop.__table__.c
    return select(*Shop.__table__.columns).where(shops.domain == bindparam("b_domain"))


def _shop_and_event() -> Any:
    shops, processed = Shop.__table__.c, ProcessedEvent.__table__.c
    seen = exists().where(processed.shop_id == shops.id, processed.event_id == bindparam("b_event"))
    return select(*Shop.__table__.columns, seen.label("seen")).where(
        shops.domain == bindparam("b_domain")
    )


def _shop_and_event_claimed(
    dialect: str, along: Callable[[str, Any], tuple[Sequence[Any], Sequence[Any]]] | None = None
) -> Any:
    found = _shop_and_event().cte("found")
    claim = (
        postgresql.insert(ProcessedEvent.__table__)
        .from_select(
            ["shop_id", "event_id", "topic", "received_at"],
            select(
                found.c.id,
                bindparam("b_event"),
                bindparam("b_topic"),
                bindparam("b_now", type_=UtcDateTime()),
            ).where(found.c.installed.is_(True), found.c.seen.is_(False)),
        )
        .on_conflict_do_nothing()
        .returning(ProcessedEvent.__table__.c.id, ProcessedEvent.__table__.c.shop_id)
        .cte("claim")
    )
    claimed = exists(select(claim.c.id)).label("claimed")
    statement = select(*(found.c[name] for name in _COLUMNS), found.c.seen, claimed)
    if along is None:
        return statement
    ctes, columns = along(dialect, claim)
    return statement.add_columns(*columns).add_cte(*ctes)


def install_shop(domain: str, data: dict[str, Any]) -> Shop:
    """Create or re-activate a shop (its default group is the groups feature's:
    ``plugin.groups.operations.ensure_default_group``)."""
    shop = find_shop(domain)
    fields = {
        "name": data.get("name") or "",
        "currency": data["currency"].upper(),
        "timezone": data.get("timezone") or "UTC",
        "locale": parse_locale(data.get("locale") or DEFAULT_LOCALE) or DEFAULT_LOCALE,
        "api_url": data.get("api_url"),
        "access_token": data.get("access_token"),
        "events_url": data.get("events_url"),
    }
    if shop is None:
        shop = Shop(domain=domain, **fields)
        db.session.add(shop)
    else:
        for key, value in fields.items():
            setattr(shop, key, value)
        shop.installed = True
        shop.installed_at = utcnow()
        shop.uninstalled_at = None
    db.session.flush()
    return shop


def uninstall_shop(shop: Shop) -> None:
    """Stop all work for the shop; its data stays until ``shop/redact``."""
    shop.installed = False
    shop.uninstalled_at = utcnow()


def redact_shop(shop: Shop) -> None:
    """Delete every row held for the shop, children before parents, then the shop itself."""
    with shop_scope(shop.id):
        for table in reversed(db.metadata.sorted_tables):
            if "shop_id" in table.c:  # Core statements: the shop named with in_shop
                db.session.execute(delete(table).where(in_shop(table.c)))
    db.session.execute(delete(Shop).where(Shop.id == shop.id))
    db.session.expunge_all()
