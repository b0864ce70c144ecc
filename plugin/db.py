"""The database handle, the constraint naming convention and shop-scoped queries.

The extension keeps its own engine and session, never the host's: the engine is built
from ``CUSTOMER_GROUPS_DATABASE_URL`` and kept in ``app.extensions["customer_groups"]``,
and ``db.session`` is a scoped session per application context bound to that engine. A
host that uses Flask-SQLAlchemy (or sets ``SQLALCHEMY_DATABASE_URI``) for its own models
installs the extension beside them, each on its own database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps
from select import POLLIN, poll
from typing import Any, TypeVar

import orjson
from flask import Blueprint, Flask, current_app, g, has_request_context
from flask.globals import app_ctx
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    Select,
    bindparam,
    create_engine,
    event,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, InvalidatePoolError
from sqlalchemy.orm import (
    DeclarativeBase,
    ORMExecuteState,
    Session,
    scoped_session,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.types import TypeDecorator

from plugin.errors import ApiError, ErrorCode

# Alembic needs stable constraint names to drop or alter them later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


#: In every table with an integer id (the last item of ``__table_args__``): ids are never
#: handed out twice on SQLite either (``AUTOINCREMENT``; PostgreSQL's sequences never do),
#: so an id read before a delete cannot come to mean another row.
NEVER_REUSED = {"sqlite_autoincrement": True}


#: Where an app keeps the extension's state (its engine among it).
EXTENSION_KEY = "customer_groups"


def _app_context_id() -> int:
    """One session per application context (each request, job thread and CLI command
    pushes its own), as Flask-SQLAlchemy scopes them."""
    try:
        return id(app_ctx._get_current_object())
    except RuntimeError:
        raise RuntimeError(
            "The Customer Groups database is used outside an application context."
        ) from None


def app_engine(app: Flask) -> Engine:
    """The engine the extension installed on ``app``."""
    engine: Engine | None = getattr(app.extensions.get(EXTENSION_KEY), "engine", None)
    if engine is None:
        raise RuntimeError("Customer Groups is not installed on this app (CustomerGroups(app)).")
    return engine


class AppSession(Session):
    """A session bound to the engine of the app whose context is current."""

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("bind") is None:  # sessionmaker passes bind=None
            # Made inside a reading() block: it reads as the block says.
            kwargs["bind"] = (
                _reading_engine()
                if g.get(_READING)
                else app_engine(current_app._get_current_object())  # type: ignore[attr-defined]
            )
        super().__init__(**kwargs)


#: Where an application context keeps the id of the shop its work is scoped to (see
#: :func:`enter_shop`): on ``g``, so that it lasts as long as the request, job or command
#: (a streamed answer's body, read after the request's session ended, included).
SHOP_SCOPE = "customer_groups_shop_id"


class ShopScoped:
    """Marks a model whose rows belong to one shop (it has a ``shop_id`` column).

    Inside a shop scope (:func:`enter_shop`, :func:`shop_scope`: every request, hook,
    webhook, job and CLI command enters one as soon as it knows its shop), the session
    limits every ORM ``SELECT``, ``UPDATE`` and ``DELETE`` over such a model to the scope's
    shop by itself (joins, subqueries and relationship loads included): a query that
    forgets the shop reads and changes nothing of another shop. Core statements over a
    ``Table`` are not ORM statements; they name the shop with :func:`in_shop`.

    Each model declares its own ``shop_id`` (its foreign key and index); the column here is
    what the criteria are written against, and what a model would get if it forgot it.
    """

    shop_id = Column(Integer, nullable=False)


class ShopScopeMissing(RuntimeError):
    """A route of ours read or wrote shop data before its boundary said which shop."""


def _limit_to_shop(state: ORMExecuteState) -> None:
    shop_id = g.get(SHOP_SCOPE)
    if state.is_column_load or state.is_relationship_load:
        return  # relationship and column loads inherit the criteria of their parent query
    if shop_id is None:
        if state.execution_options.get(SHOP_BY_JOIN):
            return
        # Fail closed inside our own routes: a query over shop data that no boundary
        # scoped is a defect (500), never a read across shops.
        if has_request_context() and g.get(_SCOPE_REQUIRED) and _touches_shop_data(state):
            raise ShopScopeMissing(f"Unscoped query over shop data: {state.statement}")
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(
            with_loader_criteria(
                ShopScoped,
                lambda cls: cls.shop_id == shop_id,
                include_aliases=True,
            )
        )


event.listen(AppSession, "do_orm_execute", _limit_to_shop)

#: Execution options of a statement that finds its shop itself, by joining the shop's row
#: (the pricing hook's one query for shop and customer, run before the shop is known).
SHOP_BY_JOIN = "customer_groups.shop_by_join"

#: Set on ``g`` by our blueprints (:class:`BoundaryBlueprint`): queries over shop data need
#: a shop scope for the rest of the request.
_SCOPE_REQUIRED = "customer_groups_scope_required"


def _touches_shop_data(state: ORMExecuteState) -> bool:
    return any(
        isinstance(mapper.class_, type) and issubclass(mapper.class_, ShopScoped)
        for mapper in state.all_mappers
    )


# A run of 19 digits or more: an integer past 64 bits, which orjson would read as a float.
_LONG_DIGITS = re.compile(r"\d{19}")
_LONG_DIGITS_BYTES = re.compile(rb"\d{19}")


def json_loads(data: str | bytes) -> Any:
    """A JSON column's value, exactly as :func:`json.loads` reads it, mostly by orjson.

    orjson reads several times faster: a segment recompute that announces 667,000
    customers spent most of its Python time reading back their event payloads through
    ``json``. Where orjson would read differently (an integer past 64 bits, as a float) or
    refuses what ``json`` takes (a lone surrogate, ``1e400``), ``json`` reads it."""
    if isinstance(data, bytes):
        plain = _LONG_DIGITS_BYTES.search(data) is None
    else:
        plain = _LONG_DIGITS.search(data) is None
    if plain:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


class Database:
    """Our models' metadata, an engine per app and a session per application context:
    the part of Flask-SQLAlchemy the extension needs, without registering anything that a
    host's own Flask-SQLAlchemy also registers."""

    Model = Base
    metadata = Base.metadata

    def __init__(self) -> None:
        self.session = scoped_session(sessionmaker(class_=AppSession), scopefunc=_app_context_id)

    def init_app(self, app: Flask, url: str, options: dict[str, Any]) -> Engine:
        """Build ``app``'s engine (tuned by :func:`configure_engine`) and end each
        application context's session with it."""
        engine = create_engine(url, **{"json_deserializer": json_loads, **options})
        configure_engine(engine)
        app.teardown_appcontext(self._remove_session)
        return engine

    def _remove_session(self, exc: BaseException | None = None) -> None:
        self.session.remove()

    @property
    def engine(self) -> Engine:
        return app_engine(current_app._get_current_object())  # type: ignore[attr-defined]

    def create_all(self) -> None:
        self.metadata.create_all(self.engine)

    def drop_all(self) -> None:
        self.metadata.drop_all(self.engine)


db = Database()


@contextmanager
def copying(connection: Connection, statement: str) -> Iterator[Any]:
    """``COPY ... FROM STDIN`` on the connection's psycopg cursor, in its transaction: the
    driver's ``Copy`` to write to. Errors come out as SQLAlchemy's (``IntegrityError``
    and the rest), as if the statement had gone through SQLAlchemy."""
    dbapi = connection.dialect.dbapi
    assert dbapi is not None
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(statement) as copy:
            yield copy
    except dbapi.Error as error:
        raise driver_error(connection.dialect, statement, None, error) from error
    finally:
        cursor.close()


def driver_error(dialect: Any, statement: str, params: Any, error: Exception) -> DBAPIError:
    """A driver's error as SQLAlchemy raises it (``IntegrityError``, ``OperationalError``
    and the rest), for work done on the driver's connection past SQLAlchemy."""
    return DBAPIError.instance(statement, params, error, dialect.dbapi.Error, dialect=dialect)


def created_on(dialect: str) -> Any:
    """Alembic's ``include_object`` for a database of ``dialect``: leaves out the
    constraints and indexes the models create only on another one (``.ddl_if()``),
    which Alembic would otherwise report as missing."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        return condition is None or condition.dialect in (None, dialect)

    return include


M = TypeVar("M")


def configure_engine(engine: Engine) -> None:
    """Tune our own engine (never the host's): SQLite gets foreign keys and writer locks;
    PostgreSQL a connection closed by the server replaced at checkout."""
    if engine.dialect.name == "postgresql":
        event.listen(engine, "checkout", _closed_by_the_server)
        return
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
        # A connection given back after :func:`reading` (AUTOCOMMIT) had its isolation level
        # reset by SQLAlchemy, which gives pysqlite back its own transaction handling.
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Take the write lock up front: SQLite cannot upgrade a read lock without risking
        # "database is locked", and it stands in for PostgreSQL's row locks here.
        # Reads opened with :func:`reading` run without one (WAL: readers never block).
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _closed_by_the_server(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """At checkout, a PostgreSQL connection the server has closed (a restart, a failover,
    ``pg_terminate_backend``, an idle timeout) is replaced, and so is every connection
    pooled before it, instead of failing the request that would use it.

    What ``pool_pre_ping`` does with a round trip per checkout, by looking at the socket
    once: a server sends nothing on an idle connection unless it is closing it (its last
    message, then the end of the stream), so a socket with something to read at checkout
    is not used. SQLAlchemy's pool replaces a connection whose checkout raises
    ``DisconnectionError`` (here ``InvalidatePoolError``: the older ones go too). A
    connection that dies after the look fails its query as it would have after a ping."""
    if dbapi_connection.closed or getattr(dbapi_connection, "broken", False):
        raise InvalidatePoolError("The connection is closed.")
    poller = poll()
    poller.register(dbapi_connection.fileno(), POLLIN)
    if poller.poll(0):
        raise InvalidatePoolError("The server closed the connection.")


def _reading_engine() -> Engine:
    """The app's engine with ``AUTOCOMMIT`` connections (the same pool), made once per app
    (making one costs more than a pricing hook's read)."""
    state = current_app.extensions[EXTENSION_KEY]
    found: Engine | None = state.reading_engine
    if found is None:
        found = state.reading_engine = db.engine.execution_options(isolation_level="AUTOCOMMIT")
    return found


#: Set on ``g`` inside a :func:`reading` block: a session made then reads as the block says.
_READING = "customer_groups_reading"


@contextmanager
def reading() -> Iterator[None]:
    """Within the block, the current session reads without a lock and without
    ``BEGIN``/``ROLLBACK`` round trips: each statement sees the latest committed state.
    Ended by a rollback (nothing read is kept), and the session is as before.

    A connection is taken only when the block's first statement runs, and a session made
    only when the block uses one: a block that finds everything it needs in memory costs
    no round trip, no pool checkout and no session. Inside a transaction already begun it
    changes nothing (not even the rollback). For the hot read paths only (the pricing hook,
    the rendering of messages): anything that writes, or needs several statements to
    agree, keeps a real transaction.
    """
    registry = db.session.registry
    held = registry() if registry.has() else None
    if held is not None and held.in_transaction():
        yield
        return
    outer = g.get(_READING)  # a block inside another one gives it back as it was
    setattr(g, _READING, True)
    if held is not None:
        held.bind = _reading_engine()
    try:
        yield
    finally:
        if not outer:
            g.pop(_READING, None)
        if registry.has():
            session = registry()
            try:
                session.rollback()
            finally:
                session.bind = _reading_engine() if outer else db.engine


def read_rows(statement: Any, params: dict[str, Any]) -> list[Any]:
    """The rows of a ``SELECT`` that finds its own shop (:data:`SHOP_BY_JOIN`), read on a
    pooled connection of its own, past the session and any transaction: the pricing
    hook's one query for shop and customer. Each statement is compiled once per dialect;
    the rows hold the driver's values (SQLite gives a boolean as 0 or 1).

    A driver error comes out as SQLAlchemy's (``OperationalError`` and the rest), as if
    the statement had gone through SQLAlchemy; the engine's statement events
    (``before_cursor_execute``, ``echo``) do not see it. The session's own work is
    untouched: its pending changes are not flushed, so this is for reads before the unit of
    work writes.
    """
    engine = db.engine
    sql, names, fixed = _read_sql(engine, statement)
    dbapi = engine.dialect.dbapi
    assert dbapi is not None
    values = {**fixed, **params} if fixed else params
    arguments: Any = [values[name] for name in names] if names is not None else values
    try:
        connection = engine.raw_connection()  # the pool's errors are the driver's own
    except dbapi.Error as error:
        raise driver_error(engine.dialect, sql, arguments, error) from error
    try:
        driver: Any = connection.driver_connection
        postgres = engine.dialect.name == "postgresql"
        if postgres:
            driver.autocommit = True  # no BEGIN, no ROLLBACK
        try:
            cursor = driver.cursor()
            try:
                cursor.execute(sql, arguments)
                rows: list[Any] = cursor.fetchall()
                return rows
            finally:
                cursor.close()
        except dbapi.Error as error:
            raise driver_error(engine.dialect, sql, arguments, error) from error
        finally:
            if postgres:
                driver.autocommit = False
    finally:
        connection.close()  # back to the pool


#: What :func:`read_rows` ran: per (dialect, statement), its SQL, for a driver with
#: positional parameters the order of their names, and the values the statement holds.
_READ_SQL: dict[tuple[str, int], tuple[Any, str, list[str] | None, dict[str, Any]]] = {}


def _read_sql(engine: Engine, statement: Any) -> tuple[str, list[str] | None, dict[str, Any]]:
    key = (engine.dialect.name, id(statement))
    found = _READ_SQL.get(key)
    if found is None or found[0] is not statement:
        if not statement.is_select or not statement.get_execution_options().get(SHOP_BY_JOIN):
            raise RuntimeError("read_rows() runs a SELECT that finds its shop (SHOP_BY_JOIN).")
        compiled = statement.compile(dialect=engine.dialect)
        names = list(compiled.positiontup or ()) if compiled.positional else None
        fixed = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
        found = _READ_SQL[key] = (statement, str(compiled), names, fixed)
    return found[1], found[2], found[3]


def insert_ignoring_conflict(table: Any, values: dict[str, Any]) -> bool:
    """INSERT unless a unique key already holds the row; say whether a row was written."""
    statement = built(
        f"insert_ignoring_conflict {table.name} {sorted(values)}",
        lambda dialect: _insert_ignoring_conflict(dialect, table),
    )
    if "shop_id" in values:
        return run_built(statement, values).first() is not None
    return db.session.execute(statement, values).first() is not None


def _insert_ignoring_conflict(dialect: str, table: Any) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # RETURNING, not rowcount: some drivers report -1 for INSERT ... ON CONFLICT.
    key = list(table.primary_key.columns)[0]
    return insert(table).on_conflict_do_nothing().returning(key)


def enter_shop(shop_id: int) -> None:
    """Scope the current application context's work to one shop for the rest of its life
    (the request, job or command that owns it): see :class:`ShopScoped`. One already
    scoped to another shop refuses, so one unit of work never mixes two shops."""
    current = g.get(SHOP_SCOPE)
    if current is not None and current != shop_id:
        raise RuntimeError(f"This work is scoped to shop {current}, not {shop_id}.")
    setattr(g, SHOP_SCOPE, shop_id)


def _restore_scope(shop_id: int | None) -> None:
    if shop_id is None:
        g.pop(SHOP_SCOPE, None)
    else:
        setattr(g, SHOP_SCOPE, shop_id)


@contextmanager
def shop_scope(shop_id: int) -> Iterator[None]:
    """Scope the work to one shop inside the block (a job's or command's unit of work for
    one shop among several); the former scope comes back after it."""
    before = g.get(SHOP_SCOPE)
    enter_shop(shop_id)
    try:
        yield
    finally:
        _restore_scope(before)


def scoped_shop_id() -> int | None:
    """The shop the current work is scoped to, if any."""
    shop_id: int | None = g.get(SHOP_SCOPE)
    return shop_id


def in_shop(model: Any, shop_id: int | None = None) -> Any:
    """``model.shop_id = <the shop>`` for Core statements (an ``INSERT … SELECT``, a statement
    over a ``Table``), which the ORM's automatic criteria do not reach: the scope's shop, or
    ``shop_id`` for a statement built for a shop named by its caller (it must agree with the
    scope, if one is entered). With neither it refuses rather than match every shop."""
    scoped = scoped_shop_id()
    if shop_id is not None and scoped is not None and shop_id != scoped:
        raise RuntimeError(f"This work is scoped to shop {scoped}, not {shop_id}.")
    shop_id = shop_id if shop_id is not None else scoped
    if shop_id is None:
        raise RuntimeError("in_shop() needs a shop scope (enter_shop or shop_scope).")
    return model.shop_id == shop_id


#: The parameter that :func:`shop_param` binds.
SHOP_PARAM = "b_shop"


def shop_param(model: Any) -> Any:
    """``model.shop_id = :b_shop`` for a statement built once and run for many shops (the
    ingest path's prepared statements): the shop is bound at execution, as
    ``{"b_shop": shop.id}`` (:data:`SHOP_PARAM`), with the statement's other parameters."""
    return model.shop_id == bindparam(SHOP_PARAM)


_BUILT: dict[tuple[str, str], Any] = {}


def built(name: str, build: Callable[[str], Any]) -> Any:
    """The statement ``build(dialect)`` makes, made once per dialect: the hot paths run
    the same statements with new parameters instead of building them again each time."""
    key = (db.session.get_bind().dialect.name, name)
    statement = _BUILT.get(key)
    if statement is None:
        statement = _BUILT[key] = build(key[0])
    return statement


#: Statements :func:`run_built` has checked: whether each binds :data:`SHOP_PARAM`.
_BINDS_SHOP: dict[int, tuple[Any, bool]] = {}
_BINDS_SHOP_KEPT = 1024


def run_built(statement: Any, params: dict[str, Any] | list[dict[str, Any]]) -> Any:
    """Run a statement built once (:func:`built`) on the session's connection, past the
    ORM's per-statement work (the shop criteria, the ORM's execution context): half the
    client CPU of ``db.session.execute`` for the ingest path's statements.

    The ORM's automatic shop criteria do not reach it, so the statement must name its shop
    itself: it binds :data:`SHOP_PARAM` (``shop_param``, ``:b_shop``), or it is an
    ``INSERT`` whose rows carry their ``shop_id``. Either must be the scope's shop, if one
    is entered; inside our routes a scope must be entered (as for the session's criteria).
    Anything else is refused. What the guard cannot see is whether every table the
    statement reads is limited to that shop: each statement built for ``run_built`` says
    so itself, in its ``WHERE`` or ``JOIN`` clauses. The session is flushed first, as
    ``db.session.execute`` would (a connection does not autoflush)."""
    rows = params if isinstance(params, list) else [params]
    session = db.session()
    connection = session.connection()
    checked = _BINDS_SHOP.get(id(statement))
    if checked is None or checked[0] is not statement:
        binds = SHOP_PARAM in statement.compile(dialect=connection.dialect).binds
        if len(_BINDS_SHOP) >= _BINDS_SHOP_KEPT:  # statements made per shop come and go
            _BINDS_SHOP.clear()
        checked = _BINDS_SHOP[id(statement)] = (statement, binds)
    key = SHOP_PARAM if checked[1] else "shop_id"
    if key == "shop_id" and not getattr(statement, "is_insert", False):
        raise RuntimeError(f"run_built() needs a statement that binds :{SHOP_PARAM}.")
    scoped = g.get(SHOP_SCOPE)
    if scoped is None and has_request_context() and g.get(_SCOPE_REQUIRED):
        # Fail closed inside our own routes, as the session's criteria do.
        raise ShopScopeMissing(f"Unscoped statement over shop data: {statement}")
    for row in rows:
        shop_id = row.get(key)
        if shop_id is None or (scoped is not None and shop_id != scoped):
            raise RuntimeError(f"run_built(): {key}={shop_id!r} is not the scope's shop.")
        if key == SHOP_PARAM and row.get("shop_id", shop_id) != shop_id:
            raise RuntimeError("run_built(): a row's shop_id is not the statement's shop.")
    session.flush()
    return connection.execute(statement, params)


_AFTER_COMMIT = "customer_groups.after_commit"


def after_commit(action: Callable[[], None]) -> None:
    """Run ``action`` once the boundary has committed the current unit of work (nothing if
    it rolls back): what must happen with no transaction open, such as holding back the
    answer to a guessing client."""
    db.session().info.setdefault(_AFTER_COMMIT, []).append(action)


def commit() -> None:
    """Commit the unit of work, then run what waited for it (:func:`after_commit`).
    For boundaries only: operations never commit."""
    if not db.session.registry.has():
        return  # no session was made: nothing begun, changed or waiting for a commit
    session = db.session()
    # A unit of work that began no transaction has nothing to commit (the pricing hook's
    # usual request): skip the session's own empty commit. Any change begins one (adding,
    # deleting or changing a row: SQLAlchemy's autobegin).
    if session.in_transaction():
        try:
            session.commit()
        except BaseException:
            # A commit that fails before it reaches the database (a reactor that is part
            # of the change, a flush) leaves the session's transaction open, with its
            # locks and what waited for the commit: end it here, not when the session is
            # closed (a job's next step, in the same context, starts clean).
            rollback()
            raise
    for action in session.info.pop(_AFTER_COMMIT, []):
        action()


def rollback() -> None:
    """Roll the unit of work back, with what waited for its commit."""
    if not db.session.registry.has():
        return  # no session was made: nothing to roll back
    session = db.session()
    session.info.pop(_AFTER_COMMIT, None)
    session.rollback()


@contextmanager
def unit_of_work() -> Iterator[None]:
    """A boundary's one transaction (an in-process signal, a CLI command, a step of a
    job): commit once when the block ends, roll back if it raises. Operations never
    commit; the boundary that called them does, here or in :class:`BoundaryBlueprint`.
    A shop scope entered inside the block ends with it (a host may send signals for
    several shops within one application context)."""
    scope = g.get(SHOP_SCOPE)
    try:
        try:
            yield
        except BaseException:
            rollback()
            raise
        commit()
    finally:
        _restore_scope(scope)


def committing(view: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a view so that the request is one unit of work: committed once after the view
    answered below 400, rolled back after an error answer (a form page that shows a 422
    keeps nothing of the failed attempt) or an exception."""

    @wraps(view)
    def unit_of_work_view(*args: Any, **kwargs: Any) -> Any:
        try:
            answer = current_app.make_response(view(*args, **kwargs))
        except BaseException:
            rollback()
            raise
        if answer.status_code >= 400:
            rollback()
        elif answer.is_streamed:
            # The body is produced after the request's context ends (its session gone):
            # keep the objects the stream reads loaded rather than expired by the commit.
            session = db.session()
            session.expire_on_commit = False
            commit()
        else:
            commit()
        return answer

    return unit_of_work_view


class BoundaryBlueprint(Blueprint):
    """Our blueprints: each view is one unit of work (:func:`committing`), and a query over
    shop data before the view has entered its shop's scope (:func:`enter_shop`) is refused
    (:class:`ShopScopeMissing`) instead of reading every shop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before_request(_require_scope)

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Callable[..., Any] | None = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        if view_func is not None:
            view_func = committing(view_func)
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)


def _require_scope() -> None:
    setattr(g, _SCOPE_REQUIRED, True)


def for_shop(model: type[M], shop_id: int) -> Select[tuple[M]]:
    """Start a select of ``model`` limited to one shop: every shop-data query goes through here."""
    return select(model).where(model.shop_id == shop_id)  # type: ignore[attr-defined]


def get_for_shop(model: type[M], shop_id: int, object_id: Any) -> M:
    """Fetch one row of a shop by id, or answer 404 as if other shops' rows did not exist."""
    row = db.session.execute(
        for_shop(model, shop_id).where(model.id == object_id)  # type: ignore[attr-defined]
    ).scalar_one_or_none()
    if row is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"{model.__name__} {object_id} was not found.", 404)
    return row


class UtcDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC and give them back aware, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


#: The longest name key a column holds (names are at most 255 characters).
NAME_KEY_LENGTH = 255


def name_key(name: str) -> str:
    """How names are compared for uniqueness: trimmed, ignoring case, cut to the key
    column (folding can lengthen a name: "ß" becomes "ss"; two names that agree on their
    first 255 folded characters count as the same)."""
    return name.strip().casefold()[:NAME_KEY_LENGTH]


def _name_taken(what: str) -> ApiError:
    article = "An" if what[:1] in ("a", "e", "i", "o", "u") else "A"
    return ApiError(
        ErrorCode.VALIDATION_FAILED,
        "Some fields are not valid: name.",
        422,
        {"name": [f"{article} {what} with this name already exists."]},
    )


def check_name_free(
    model: Any, shop_id: int, name: str, what: str, exclude_id: int | None = None
) -> None:
    """422 if another ``model`` of the shop already has this name (per :func:`name_key`)."""
    query = select(model.id).where(model.shop_id == shop_id, model.name_key == name_key(name))
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)
    if db.session.execute(query).first() is not None:
        raise _name_taken(what)


@contextmanager
def unique_name(what: str) -> Iterator[None]:
    """Turn a unique-name race that the caller's check lost into the same 422 (in a
    savepoint): ``with unique_name("group"): db.session.flush()``."""
    try:
        with db.session.begin_nested():
            yield
    except IntegrityError:
        raise _name_taken(what) from None
