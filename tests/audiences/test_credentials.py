"""Destination credentials: encrypted at rest, never shown beyond a masked hint, re-encrypted
when the app secret rotates (CUSTOMER_GROUPS_APP_SECRET_PREVIOUS), sealed by migration 0016."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
    text,
)
from sqlalchemy.engine import make_url

from plugin.audiences import tasks
from plugin.audiences.credentials import CredentialsUnavailable, unseal
from plugin.audiences.models import Audience
from plugin.db import db, utcnow
from plugin.extension import create_app
from plugin.schema import upgrade_schema as upgrade
from tests.audiences.conftest import add_customers, audience_body, create_audience, run
from tests.audiences.vendors import FakeKlaviyo
from tests.conftest import PG_URL, SECRET, auth

KEY = "pk_live_secret_value_9f3a"
NEW_SECRET = "rotated-secret-0123456789-abcdefghijklmnopqrstuv"


def klaviyo(httpserver):
    return {
        "type": "klaviyo",
        "credentials": {"api_key": KEY},
        "list_id": "LIST1",
        "base_url": httpserver.url_for("/"),
    }


def stored_token(app) -> str:
    with app.app_context():
        return db.session.execute(select(Audience.sealed_credentials)).scalar_one()


def test_the_key_is_stored_encrypted_and_shown_only_as_its_last_4(app, client, shop, httpserver):
    created = create_audience(client, audience_body(app, klaviyo(httpserver)))
    token = stored_token(app)
    assert KEY not in token and KEY[:-4] not in token
    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM audiences")).all()
    assert KEY not in repr(rows)
    for answer in (
        created,
        client.get(f"/api/audiences/{created['id']}", headers=auth()).get_json(),
        client.get("/api/audiences", headers=auth()).get_json(),
    ):
        assert KEY[:-4] not in repr(answer)
    assert created["destination"]["credentials"] == {"api_key": "****9f3a"}


def test_a_rotated_secret_still_opens_them_and_the_reseal_moves_them_to_the_new_one(
    app, client, shop, httpserver
):
    add_customers(app, [{"external_id": "c_1", "email": "ada@example.com"}])
    vendor = FakeKlaviyo(httpserver, "LIST1", KEY)
    created = create_audience(client, audience_body(app, klaviyo(httpserver)))
    before = stored_token(app)

    app.config["CUSTOMER_GROUPS_APP_SECRET"] = NEW_SECRET
    app.config["CUSTOMER_GROUPS_APP_SECRET_PREVIOUS"] = SECRET
    # During the rotation the run still has its key (sent as it was saved).
    assert run(client, created["id"]).get_json()["synced"] == 1
    assert vendor.problems == []
    with app.app_context():
        tasks.reseal_credentials()
    after = stored_token(app)
    assert after != before

    # Once the previous secret is dropped, the resealed key opens with the new one alone.
    app.config["CUSTOMER_GROUPS_APP_SECRET_PREVIOUS"] = None
    with app.app_context():
        assert unseal(after) == {"api_key": KEY}
        try:
            unseal(before)
        except CredentialsUnavailable:
            pass
        else:
            raise AssertionError("the old token still opens without the previous secret")


def filled(table: Table, **values):
    """A row of a reflected table: ``values``, and a plain value for every other column
    that needs one (the tables as they were at that revision)."""
    plain = {JSON: {}, Integer: 0, String: "x", Boolean: True, DateTime: utcnow()}
    for column in table.columns:
        if column.name in values or column.nullable or column.primary_key:
            continue
        if column.server_default is not None:
            continue
        kind = next((v for t, v in plain.items() if isinstance(column.type, t)), "x")
        values[column.name] = kind
    return values


@pytest.fixture
def empty_database(tmp_path):
    """A database of its own (PostgreSQL: created for the test, dropped after it)."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path}/migrate.sqlite"
        return
    name = f"cg_seal_{uuid.uuid4().hex[:10]}"
    server = make_url(PG_URL)
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migration_0016_seals_the_credentials_kept_in_clear(empty_database):
    url = empty_database
    app = create_app(
        {"TESTING": True, "CUSTOMER_GROUPS_APP_SECRET": SECRET, "CUSTOMER_GROUPS_DATABASE_URL": url}
    )
    with app.app_context():
        upgrade(revision="0015")
        conn = db.session.connection()
        shops = Table("shops", MetaData(), autoload_with=conn)
        shop_id = db.session.execute(
            insert(shops).values(**filled(shops, domain="m.example")).returning(shops.c.id)
        ).scalar_one()
        audiences = Table("audiences", MetaData(), autoload_with=conn)
        values = filled(
            audiences,
            shop_id=shop_id,
            name="Old",
            name_key="old",
            source_type="group",
            destination_type="klaviyo",
            schedule="manual",
            credentials={"api_key": KEY},
        )
        db.session.execute(insert(audiences).values(**values))
        db.session.commit()
        upgrade(revision="0016")
        token = db.session.execute(text("SELECT sealed_credentials FROM audiences")).scalar_one()
        db.session.commit()
        assert KEY not in token
        assert unseal(token) == {"api_key": KEY}
        db.session.remove()
        db.engine.dispose()
