"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import re
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from plugin.db import created_on, db
from plugin.extension import create_app
from plugin.schema import downgrade_schema as downgrade
from plugin.schema import upgrade_schema as upgrade
from tests.conftest import PG_URL, SECRET

#: What Alembic's comparison does not see: triggers (and their functions' code), column
#: collations and defaults, and each index's definition (a partial one's WHERE included).
_EXTRAS = """
SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'trigger ' || tgname || ' on ' || tgrelid::regclass::text || ' '
    || md5(pg_get_triggerdef(t.oid)) || ' ' || md5(p.prosrc)
FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal
UNION ALL
SELECT 'collation ' || table_name || '.' || column_name || ' ' || collation_name
FROM information_schema.columns
WHERE table_schema = 'public' AND collation_name IS NOT NULL
UNION ALL
SELECT 'default ' || table_name || '.' || column_name || ' ' || column_default
FROM information_schema.columns
WHERE table_schema = 'public' AND column_default IS NOT NULL
ORDER BY 1
"""


def _sqlite_extras(conn) -> list[str]:
    """What Alembic's comparison does not see on SQLite: which tables have AUTOINCREMENT
    (reflection does not report it) and each index's SQL (partial ones' WHERE included)."""
    rows = conn.exec_driver_sql(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"
        " AND type IN ('table', 'index') AND name NOT LIKE 'sqlite_%'"
    ).all()
    found = [f"autoincrement {name}" for kind, name, sql in rows if "AUTOINCREMENT" in sql]
    found += [
        "index " + re.sub(r"\s+", " ", sql.replace('"', "")).strip()
        for kind, name, sql in rows
        if kind == "index"
    ]
    return sorted(found)


def _extras(conn) -> list[str]:
    if conn.dialect.name == "sqlite":
        return _sqlite_extras(conn)
    return list(conn.exec_driver_sql(_EXTRAS).scalars())


def _app(url: str):
    return create_app(
        {"TESTING": True, "CUSTOMER_GROUPS_APP_SECRET": SECRET, "CUSTOMER_GROUPS_DATABASE_URL": url}
    )


def _migrated_diff(url: str, extras: list[str] | None = None) -> list:
    """Alembic's differences between the migrated database and the models; with
    ``extras``, also fills it with what the comparison does not see (:func:`_extras`)."""
    app = _app(url)
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            if extras is not None:
                extras.extend(_extras(conn))
            context = MigrationContext.configure(
                conn,
                opts={"compare_type": True, "include_object": created_on(conn.dialect.name)},
            )
            diff = compare_metadata(context, db.metadata)
            tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
        assert tables == set(db.metadata.tables)
        downgrade(revision="base")
        with db.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()
    return diff


def test_migrations_match_models_on_sqlite(tmp_path):
    migrated: list[str] = []
    assert _migrated_diff(f"sqlite:///{tmp_path}/migrated.sqlite", migrated) == []
    # The same database built by the models has the same AUTOINCREMENT tables and indexes.
    app = _app(f"sqlite:///{tmp_path}/created.sqlite")
    with app.app_context():
        db.create_all()
        with db.engine.connect() as conn:
            created = _sqlite_extras(conn)
        db.engine.dispose()
    assert migrated == created
    assert "autoincrement groups" in created and "autoincrement codes" in created


def test_every_integer_id_is_never_reused_on_sqlite():
    """Each table whose key is an integer id has AUTOINCREMENT on SQLite (a deleted row's
    id never comes back to mean another row)."""
    for table in db.metadata.tables.values():
        key = list(table.primary_key.columns)
        if [c.name for c in key] == ["id"]:
            assert table.dialect_options["sqlite"]["autoincrement"], table.name


@pytest.mark.skipif(not PG_URL, reason="needs CUSTOMER_GROUPS_TEST_DATABASE_URL (PostgreSQL)")
def test_migrations_match_models_on_postgresql():
    name = f"cg_migrations_{uuid.uuid4().hex[:10]}"
    server = make_url(PG_URL)
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(False)
    try:
        migrated: list[str] = []
        assert _migrated_diff(url, migrated) == []
        # The same database built by the models (create_all) has the same collations and
        # defaults as the migrated one, and neither has a trigger (foreign keys only).
        app = _app(url)
        with app.app_context():
            db.create_all()
            with db.engine.connect() as conn:
                created = list(conn.exec_driver_sql(_EXTRAS).scalars())
            db.engine.dispose()
        assert migrated == created
        assert "collation codes.code_key C" in created
        assert "default codes.status 'unassigned'::character varying" in created
        assert not [line for line in created if line.startswith("trigger ")]
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
