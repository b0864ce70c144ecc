"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from plugin import MIGRATIONS_DIR, create_app
from plugin.db import db
from tests.conftest import PG_URL, SECRET


def _migrated_diff(url: str) -> list:
    app = create_app(
        {"TESTING": True, "CUSTOMER_GROUPS_APP_SECRET": SECRET, "CUSTOMER_GROUPS_DATABASE_URL": url}
    )
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
            tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
        assert tables == set(db.metadata.tables)
        downgrade(directory=MIGRATIONS_DIR, revision="base")
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
    try:
        assert _migrated_diff(server.set(database=name).render_as_string(False)) == []
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
