"""The database handle, the constraint naming convention and shop-scoped queries.

The extension keeps its own engine and session, never the host's: the engine is built
from ``CUSTOMER_GROUPS_DATABASE_URL`` and kept in ``app.extensions["customer_groups"]``,
and ``db.session`` is a scoped session per application context bound to that engine. A
host that uses Flask-SQLAlchemy (or sets ``SQLALCHEMY_DATABASE_URI``) for its own models
installs the extension beside them, each on its own database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Flask, current_app
from flask.globals import app_ctx
from sqlalchemy import Column, DateTime, Integer, MetaData, Select, create_engine, event, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
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
            kwargs["bind"] = app_engine(current_app._get_current_object())  # type: ignore[attr-defined]
        super().__init__(**kwargs)


#: Where a session keeps the id of the shop it is scoped to (see :func:`enter_shop`).
SHOP_SCOPE = "customer_groups.shop_id"


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


def _limit_to_shop(state: ORMExecuteState) -> None:
    shop_id = state.session.info.get(SHOP_SCOPE)
    if shop_id is None or state.is_column_load or state.is_relationship_load:
        return  # relationship and column loads inherit the criteria of their parent query
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(
            with_loader_criteria(
                ShopScoped,
                lambda cls: cls.shop_id == shop_id,
                include_aliases=True,
            )
        )


event.listen(AppSession, "do_orm_execute", _limit_to_shop)


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
        engine = create_engine(url, **options)
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
        raise DBAPIError.instance(
            statement, None, error, dbapi.Error, dialect=connection.dialect
        ) from error
    finally:
        cursor.close()


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
    """Tune our own engine (never the host's): SQLite gets foreign keys and writer locks."""
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


def reading() -> None:
    """Make the current session's next transaction a read that takes no lock and no
    ``BEGIN``/``ROLLBACK`` round trips: each statement sees the latest committed state.

    End with ``db.session.rollback()``. Inside a transaction already begun it changes
    nothing. For the hot read paths only (the pricing hook): anything that writes, or needs
    several statements to agree, keeps a real transaction.
    """
    if not db.session().in_transaction():
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def insert_ignoring_conflict(table: Any, values: dict[str, Any]) -> bool:
    """INSERT unless a unique key already holds the row; say whether a row was written."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # RETURNING, not rowcount: some drivers report -1 for INSERT ... ON CONFLICT.
    key = list(table.primary_key.columns)[0]
    statement = insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return db.session.execute(statement).first() is not None


def enter_shop(shop_id: int) -> None:
    """Scope the current session to one shop for the rest of its life (the request, job or
    command that owns it): see :class:`ShopScoped`. A session already scoped to another shop
    refuses, so one unit of work never mixes two shops."""
    session = db.session()
    current = session.info.get(SHOP_SCOPE)
    if current is not None and current != shop_id:
        raise RuntimeError(f"This session is scoped to shop {current}, not {shop_id}.")
    session.info[SHOP_SCOPE] = shop_id


@contextmanager
def shop_scope(shop_id: int) -> Iterator[None]:
    """Scope the current session to one shop inside the block (a job's or command's unit of
    work for one shop among several); the session's former scope comes back after it."""
    session = db.session()
    before = session.info.get(SHOP_SCOPE)
    if before is not None and before != shop_id:
        raise RuntimeError(f"This session is scoped to shop {before}, not {shop_id}.")
    session.info[SHOP_SCOPE] = shop_id
    try:
        yield
    finally:
        if before is None:
            session.info.pop(SHOP_SCOPE, None)


def scoped_shop_id() -> int | None:
    """The shop the current session is scoped to, if any."""
    shop_id: int | None = db.session().info.get(SHOP_SCOPE)
    return shop_id


def in_shop(model: Any) -> Any:
    """``model.shop_id = <the scope's shop>`` for Core statements (an ``INSERT … SELECT``, a
    statement over a ``Table``), which the ORM's automatic criteria do not reach. Outside a
    shop scope it refuses rather than match every shop."""
    shop_id = scoped_shop_id()
    if shop_id is None:
        raise RuntimeError("in_shop() needs a shop scope (enter_shop or shop_scope).")
    return model.shop_id == shop_id


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
