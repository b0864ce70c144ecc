"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from plugin import create_app
from plugin.codes.integrity import TRIGGERS
from plugin.db import created_on, db
from plugin.schema import downgrade_schema as downgrade
from plugin.schema import upgrade_schema as upgrade
from tests.conftest import PG_URL, SECRET

#: What Alembic's comparison does not see: triggers (and their functions' code), column
#: collations and defaults.
_EXTRAS = """
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


def _app(url: str):
    return create_app(
        {"TESTING": True, "CUSTOMER_GROUPS_APP_SECRET": SECRET, "CUSTOMER_GROUPS_DATABASE_URL": url}
    )


def _migrated_diff(url: str, extras: list[str] | None = None) -> list:
    """Alembic's differences between the migrated database and the models; with
    ``extras`` (PostgreSQL), also fills it with the migrated triggers and collations."""
    app = _app(url)
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            if extras is not None:
                extras.extend(conn.exec_driver_sql(_EXTRAS).scalars())
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
    assert _migrated_diff(f"sqlite:///{tmp_path}/migrated.sqlite") == []


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
        # The same database built by the models (create_all) has the same triggers
        # and collations as the migrated one.
        app = _app(url)
        with app.app_context():
            db.create_all()
            with db.engine.connect() as conn:
                created = list(conn.exec_driver_sql(_EXTRAS).scalars())
            db.engine.dispose()
        assert migrated == created
        assert "collation codes.code_key C" in created
        assert "default codes.status 'unassigned'::character varying" in created
        triggers = {line.rsplit(" ", 2)[0] for line in created if line.startswith("trigger ")}
        assert triggers == {f"trigger {name} on {t.table}" for name, t in TRIGGERS.items()}
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
