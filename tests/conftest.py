"""Fixtures: an app on SQLite (default) or PostgreSQL, a signing host, session tokens."""

from __future__ import annotations

import atexit
import functools
import gc
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from flask import Flask, g, has_app_context
from flask.testing import FlaskClient
from jinja2.bccache import Bucket, BytecodeCache
from sqlalchemy import JSON, create_engine, event, func, literal, select, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.util import LRUCache
from werkzeug.routing.rules import Rule

from plugin.auth import HOOK_TOPICS, WEBHOOKS_PATH, issue_session_token, signed_headers
from plugin.db import SHOP_SCOPE, ShopScoped, db
from plugin.extension import create_app

SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
APP_ID = "customer-groups"
SHOP = "lumen.example"
PG_URL = os.environ.get("CUSTOMER_GROUPS_TEST_DATABASE_URL")
#: ``gw0``, ``gw1``... in a worker of pytest-xdist (``make test`` runs one per core), else None.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")


def database_beside(url: str, suffix: str) -> URL:
    """The PostgreSQL database ``<name><suffix>`` on the server of ``url``, created when
    missing (a worker's own, a served suite's own: the tests empty it)."""
    given = make_url(url)
    name = f"{given.database}{suffix}"
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ValueError(f"cannot derive a database {suffix!r} from {given.database!r}")
    maintenance = create_engine(given.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with maintenance.connect() as connection:
            found = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar()
            if not found:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        maintenance.dispose()
    return given.set(database=name)


def _own_redis_database(url: str, worker: str) -> str:
    """Redis database ``n + i`` for worker ``gw<i>`` (the tests flush theirs)."""
    parts = urlsplit(url)
    given = parts.path.strip("/") or "0"
    if not given.isdigit():
        raise ValueError(f"CUSTOMER_GROUPS_TEST_REDIS_URL names no database number: {url!r}")
    number = int(given) + int(worker.removeprefix("gw"))
    if number > 15:  # Redis has databases 0-15 unless told otherwise
        raise ValueError(f"no Redis database {number} for worker {worker} beside {url!r}")
    return urlunsplit(parts._replace(path=f"/{number}"))


if WORKER is not None:
    # Each worker its own database and Redis database, and the environment says so for the
    # servers and commands the tests start (they read the same variables).
    if PG_URL:
        PG_URL = os.environ["CUSTOMER_GROUPS_TEST_DATABASE_URL"] = database_beside(
            PG_URL, f"_{WORKER}"
        ).render_as_string(hide_password=False)
    if os.environ.get("CUSTOMER_GROUPS_TEST_REDIS_URL"):
        os.environ["CUSTOMER_GROUPS_TEST_REDIS_URL"] = _own_redis_database(
            os.environ["CUSTOMER_GROUPS_TEST_REDIS_URL"], WORKER
        )


# Every test makes an app, an engine and a session, and drops them: a quarter of the CPU of
# the in-process tests went to the garbage collector, mostly to full collections of a heap
# that the per-process caches below keep large (about half a million objects). Collecting
# the youngest generation every 10,000 allocations instead of 700 makes the full ones a
# fifth as frequent; nothing is left uncollected. Only this test process: the servers the
# tests start keep Python's defaults.
gc.set_threshold(10_000, 10, 10)


# Every test makes its app: werkzeug compiles each of its ~150 URL rules into two builder
# functions (an ast compiled per rule, 30 of create_app's 45 ms). What it compiles depends
# only on the rule's text, its parsed parts and its defaults (the converters are reached
# through the rule passed in), so one compilation serves every app of the process.
_compile_builder = Rule._compile_builder
_builders: dict[tuple[Any, ...], Any] = {}


def _compiled_once(rule: Rule, append_unknown: bool = True) -> Any:
    key = (
        rule.rule,
        rule.host if rule.map is not None and rule.map.host_matching else rule.subdomain,
        tuple(rule._trace),
        repr(sorted((rule.defaults or {}).items())),
        append_unknown,
    )
    builder = _builders.get(key)
    if builder is None:
        builder = _builders[key] = _compile_builder(rule, append_unknown)
    return builder


Rule._compile_builder = _compiled_once  # type: ignore[method-assign]


# Binding each of those rules to its app's map compiles it (Rule.compile): the rule's text
# parsed into its parts, a regular expression each, and its converters made. That took a
# fifth of the CPU of the tests that make an app. The parts and the trace depend only on
# the rule's text, its host or subdomain, whether slashes merge, and the map's converter
# classes; they are kept per process. The converters are made again for every map, from
# the names and arguments the first compilation asked for, and the builders come from
# _compiled_once. tests/test_routing_cache.py holds every rule of an app to what werkzeug
# compiles itself.
_compile_rule = Rule.compile
_rule_parts: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _rule_key(rule: Rule) -> tuple[Any, ...]:
    url_map = rule.map
    assert url_map is not None
    return (
        rule.rule,
        url_map.host_matching,
        rule.host if url_map.host_matching else rule.subdomain,
        rule.merge_slashes,
        tuple(sorted(url_map.converters.items())),
    )


def _compile_once(rule: Rule) -> None:
    key = _rule_key(rule)
    kept = _rule_parts.get(key)
    if kept is None:
        asked: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]] = []
        make = rule.get_converter

        def recorded(variable: str, name: str, args: Any, kwargs: Any) -> Any:
            asked.append((variable, name, tuple(args), dict(kwargs)))
            return make(variable, name, args, kwargs)

        rule.get_converter = recorded  # type: ignore[method-assign]
        try:
            _compile_rule(rule)
        finally:
            del rule.get_converter
        _rule_parts[key] = (tuple(rule._parts), tuple(rule._trace), tuple(asked))
        return
    parts, trace, asked = kept
    rule._parts = list(parts)
    rule._trace = list(trace)
    rule._converters = {}
    for variable, name, args, kwargs in asked:
        rule._converters[variable] = rule.get_converter(variable, name, args, kwargs)
        rule.arguments.add(variable)
    rule._build = rule._compile_builder(False).__get__(rule, None)
    rule._build_unknown = rule._compile_builder(True).__get__(rule, None)


Rule.compile = _compile_once  # type: ignore[method-assign]


class _CompiledAcrossApps:
    """SQLAlchemy's compiled-statement cache, shared by the engines of this process's apps.

    A served app has one engine, whose cache is soon warm; every test makes an app, and so
    an engine whose cache is cold: a tenth of the suite's CPU went to compiling the same
    statements again. The cache key begins with the engine's dialect object; here it is
    what a compiled statement takes from its dialect instead: the kind, the server's
    version, the parameter style, the label length and the JSON functions (a compiled
    statement keeps its dialect's converters). Engines that differ in any of them never
    share an entry."""

    def __init__(self) -> None:
        self._cache: LRUCache[Any, Any] = LRUCache(5000)

    @staticmethod
    def _key(key: tuple[Any, ...]) -> tuple[Any, ...]:
        dialect = key[0]
        kind = (
            type(dialect),
            dialect.server_version_info,
            dialect.paramstyle,
            dialect.label_length,
            getattr(dialect, "_json_serializer", None),
            getattr(dialect, "_json_deserializer", None),
        )
        return (kind, *key[1:])

    def get(self, key: tuple[Any, ...], default: Any = None) -> Any:
        return self._cache.get(self._key(key), default)

    def __setitem__(self, key: tuple[Any, ...], value: Any) -> None:
        self._cache[self._key(key)] = value


_compiled = _CompiledAcrossApps()


class _TemplatesAcrossApps(BytecodeCache):
    """Jinja's compiled templates, shared by this process's apps.

    Each app has its own Jinja environment, which compiles a template the first time it
    renders it: parsing and generating the code of the admin's templates again in every
    test took a tenth of the admin tests' CPU. Jinja's bytecode cache is the seam for
    keeping them: a bucket is keyed by the template's name and file, and its code is
    used only while the source's checksum matches (an edited template is compiled again)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_templates = _TemplatesAcrossApps()

_pg_schema_ready = False
_RESTART_SEQUENCES = text(
    "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'S' AND n.nspname = current_schema()"
)
#: On SQLite, the schema is built once per process into this file and copied for each test.
_sqlite_template: str | None = None


# The models are all imported with plugin.extension: both maps are built once.
@functools.cache
def _shop_tables() -> frozenset[str]:
    found: set[str] = set()
    pending = list(ShopScoped.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if getattr(model, "__tablename__", None):
            found.add(model.__tablename__)
    return frozenset(found)


_TABLE_NAMED = re.compile(r'\b(?:FROM|JOIN|UPDATE)\s+"?(\w+)"?', re.IGNORECASE)
# One row by its primary key (a flush of a row read in the scope, a read by an id taken
# from one): keys are the database's own, never another shop's by accident.
_WHERE = re.compile(r"\bWHERE\s+(.*?)\s*(?:RETURNING\b.*)?$", re.IGNORECASE | re.DOTALL)
# A bound value as each driver writes it: ``?`` (SQLite), ``%(name)s`` (psycopg), the latter
# with a cast PostgreSQL's dialect may add (``%(id_1)s::INTEGER``).
_VALUE = r"(?:\?|%\(\w+\)s)(?:::\w+(?:\[\])?)?"
_KEY_TERM = re.compile(
    rf'^"?(\w+)"?\."?(\w+)"?\s*(?:=|IN)\s*'
    rf"(?:{_VALUE}|\(__\[POSTCOMPILE_\w+\]\)|\(\s*{_VALUE}(?:\s*,\s*{_VALUE})*\s*\))$",
    re.IGNORECASE,
)


@functools.cache
def _primary_keys() -> dict[str, set[str]]:
    return {t.name: {c.name for c in t.primary_key.columns} for t in db.metadata.tables.values()}


def _by_primary_key(statement: str) -> bool:
    where = _WHERE.search(statement)
    if where is None:
        return False
    named: dict[str, set[str]] = {}
    for term in re.split(r"\s+AND\s+", where.group(1).strip(), flags=re.IGNORECASE):
        match = _KEY_TERM.match(term.strip())
        if match is not None:
            named.setdefault(match.group(1), set()).add(match.group(2))
    # Every column of some table's primary key is pinned: one row (or a list of rows) by key.
    return any(key and key <= named.get(table, set()) for table, key in _primary_keys().items())


@event.listens_for(Engine, "connect")
def _no_flush_to_disk(dbapi_connection: Any, connection_record: Any) -> None:
    """A test's SQLite file is thrown away after it: its commits need not wait for the disk
    (``synchronous=OFF``; the app's own setting, WAL with full sync, is what the served
    suite runs). What a commit makes visible, and when, is unchanged."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous=OFF").close()


@event.listens_for(Engine, "before_cursor_execute")
def _every_statement_names_its_shop(conn, cursor, statement, parameters, context, many):
    """In every test: inside a shop scope, a statement that reads, changes or deletes rows of a
    shop table names a shop (the ORM's automatic criteria, or ``in_shop`` in a Core
    statement), so that no statement of ours can reach another shop's rows unnoticed."""
    if not has_app_context() or g.get(SHOP_SCOPE) is None:
        return
    head = statement.lstrip()[:6].upper()
    if head not in ("SELECT", "UPDATE", "DELETE", "WITH "):
        return
    touched = {name for name in _TABLE_NAMED.findall(statement)} & _shop_tables()
    if touched and "shop_id" not in statement and not _by_primary_key(statement.strip()):
        raise AssertionError(f"A statement over {sorted(touched)} names no shop: {statement}")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The modules that start a browser or a server first (they take seconds each), so that
    under ``-n auto --dist loadfile --no-loadscope-reorder`` (the Makefile's) no worker is
    handed one when the others are done."""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("browser") is None and item.get_closest_marker("served") is None
        )
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"customer-groups database: {PG_URL or 'SQLite (a file per test)'}"


def _sqlite_schema() -> str:
    """A SQLite file holding the models' schema (``create_all``), built once per process."""
    global _sqlite_template
    if _sqlite_template is None:
        directory = tempfile.mkdtemp(prefix="cg-schema-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        path = os.path.join(directory, "schema.sqlite")
        app = create_app(
            {
                "TESTING": True,
                "CUSTOMER_GROUPS_APP_SECRET": SECRET,
                "CUSTOMER_GROUPS_DATABASE_URL": f"sqlite:///{path}",
            }
        )
        with app.app_context():
            db.create_all()
            db.session.remove()
            db.engine.dispose()
        _sqlite_template = path
    return _sqlite_template


def make_app(tmp_path: Any, **overrides: Any) -> Flask:
    global _pg_schema_ready
    url = PG_URL or f"sqlite:///{tmp_path}/test.sqlite"
    copied = not PG_URL and not os.path.exists(f"{tmp_path}/test.sqlite")
    if copied:
        # A copy of a file create_all built: the same schema, a hundredth of the time.
        shutil.copyfile(_sqlite_schema(), f"{tmp_path}/test.sqlite")
    config = {
        "TESTING": True,
        "CUSTOMER_GROUPS_APP_SECRET": SECRET,
        "CUSTOMER_GROUPS_APP_ID": APP_ID,
        "CUSTOMER_GROUPS_DATABASE_URL": url,
        # Vendor clients are pointed at local test servers (http://localhost:port).
        "CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS": True,
        **overrides,
    }
    app = create_app(config)
    app.jinja_env.bytecode_cache = _templates
    with app.app_context():
        db.engine.update_execution_options(compiled_cache=_compiled)
        if PG_URL and not _pg_schema_ready:
            db.drop_all()
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
            db.create_all()
            _pg_schema_ready = True
        elif PG_URL:
            # Emptied as TRUNCATE ... RESTART IDENTITY would, in a twentieth of its time (it
            # rewrites every table's files: 100 ms a test): DELETE children before parents,
            # then every sequence back to 1.
            with db.engine.begin() as conn:
                for table in reversed(db.metadata.sorted_tables):
                    conn.execute(table.delete())
                conn.execute(_RESTART_SEQUENCES)
        elif not copied:
            db.create_all()
    return app


_CONFIGURED_LOGGERS = (
    "",
    "customer_groups.requests",
    "alembic",
    "sqlalchemy",
    "sqlalchemy.engine",
    "werkzeug",
)


@pytest.fixture(autouse=True)
def _logging_put_back() -> Iterator[None]:
    """A command or a migration run in-process configures logging (``basicConfig``,
    alembic's ``fileConfig``) with handlers bound to this test's captured stderr, which
    pytest then closes: every later test's log lines failed ("--- Logging error ---").
    Remove the handlers a test added (pytest's own excepted), put levels and propagation
    back."""
    loggers = [logging.getLogger(name or None) for name in _CONFIGURED_LOGGERS]
    before = [(logger, set(logger.handlers), logger.level, logger.propagate) for logger in loggers]
    yield
    for logger, handlers, level, propagate in before:
        for handler in [h for h in logger.handlers if h not in handlers]:
            if not type(handler).__module__.startswith("_pytest"):
                logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.fixture
def app(tmp_path: Any) -> Iterator[Flask]:
    app = make_app(tmp_path)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


class Host:
    """Plays the host platform: signs and sends webhooks and hook calls."""

    def __init__(self, client: FlaskClient, secret: str = SECRET) -> None:
        self.client = client
        self.secret = secret

    def post(
        self,
        path: str,
        payload: Any,
        shop: str = SHOP,
        topic: str | None = None,
        event_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        body = raw if raw is not None else json.dumps(payload).encode()
        # Contract v2: the signature covers the path the contract names, whatever prefix
        # the app is mounted under.
        signed_path = path if path in HOOK_TOPICS else WEBHOOKS_PATH
        sent = signed_headers(
            secret or self.secret,
            shop,
            body,
            path=signed_path,
            topic=topic,
            event_id=event_id or str(uuid.uuid4()),
            timestamp=timestamp,
        )
        sent.update(headers or {})
        return self.client.post(path, data=body, headers=sent)

    def webhook(self, topic: str, payload: Any, shop: str = SHOP, **kwargs: Any) -> Any:
        return self.post("/webhooks", payload, shop=shop, topic=topic, **kwargs)

    def install(self, shop: str = SHOP, currency: str = "EUR", timezone: str = "UTC") -> Any:
        response = self.webhook(
            "app/installed",
            {
                "shop": {
                    "domain": shop,
                    "name": shop.split(".")[0].title(),
                    "currency": currency,
                    "timezone": timezone,
                    "api_url": f"https://{shop}/api",
                    "access_token": "tok",
                }
            },
            shop=shop,
        )
        assert response.status_code == 200, response.get_json()
        return response


@pytest.fixture
def host(client: FlaskClient) -> Host:
    return Host(client)


@pytest.fixture
def shop(host: Host) -> str:
    host.install()
    return SHOP


def session_token(shop: str = SHOP, **kwargs: Any) -> str:
    return issue_session_token(SECRET, APP_ID, shop, **kwargs)


def auth(shop: str = SHOP) -> dict[str, str]:
    return {"Authorization": f"Bearer {session_token(shop)}"}


def customer_payload(customer_id: str = "c_1", **fields: Any) -> dict[str, Any]:
    base = {
        "id": customer_id,
        "email": f"{customer_id}@example.com",
        "phone": None,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "registered_at": "2026-01-15T10:00:00Z",
        "tags": [],
        "points": 0,
        "accepts_marketing": False,
        "type": "individual",
        "default_address": {"city": "Paris", "country": "FR", "zip": "75001"},
        "dropship_partner": None,
    }
    base.update(fields)
    return base


def order_payload(order_id: str = "o_1", customer_id: str | None = "c_1", **fields: Any) -> dict:
    base = {
        "id": order_id,
        "customer_id": customer_id,
        "placed_at": "2026-03-01T10:00:00Z",
        "currency": "EUR",
        "total": 3998,
        "lines": [{"product_id": "p1", "kind": "product", "quantity": 2, "unit_price": 1999}],
        "discount_codes": [],
        "shipping": {"carrier": "royal_mail", "address": {"city": "Paris", "country": "FR"}},
        "payment_method": "paypal",
        "channel": "web",
    }
    base.update(fields)
    return base


def json_rows(payloads: list[dict[str, Any]]) -> Any:
    """A SELECT of ``payloads``, one JSON object per row, in their order (PostgreSQL): what
    a set-based publish (``plugin.events.publish_selected``) takes."""
    given = func.json_array_elements(literal(payloads, JSON)).table_valued("value")
    return select(given.c.value)
