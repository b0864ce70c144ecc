"""A host Flask app with its own Flask-SQLAlchemy installs the extension (contract §7).

The host keeps its own database (``SQLALCHEMY_DATABASE_URI``, its own models); the
extension keeps its own engine on ``CUSTOMER_GROUPS_DATABASE_URL``, creates its schema with
``upgrade_schema(app)``, and prices the same cart identically through the in-process
signal and through the signed HTTP hook.
"""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import inspect, text

from hooks import signals
from plugin.auth import issue_session_token
from plugin.db import db
from plugin.extension import CustomerGroups
from plugin.schema import upgrade_schema
from tests import conftest
from tests.conftest import APP_ID, PG_URL, SECRET, SHOP, Host, customer_payload

CART = {
    "cart_id": "k_1",
    "currency": "EUR",
    "customer_id": "c_1",
    "channel": "web",
    "payment_method": "paypal",
    "shipping": {"carrier": "royal_mail", "price": 500, "address": {"city": "Paris"}},
    "lines": [
        {
            "id": "l1",
            "product_id": "p1",
            "kind": "product",
            "category_ids": ["shoes"],
            "quantity": 2,
            "unit_price": 1999,
        }
    ],
    "codes": [],
}


def _send(signal, **kwargs):
    answers = [body for _, body in signal.send(SHOP, **kwargs) if body is not None]
    assert len(answers) == 1
    return answers[0]


@pytest.fixture
def host_app(tmp_path):
    """The host's whole set-up, as the README shows it."""
    app = Flask("shop_platform")
    app.config.update(
        TESTING=True,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/host.sqlite",  # the host's own data
        CUSTOMER_GROUPS_DATABASE_URL=PG_URL or f"sqlite:///{tmp_path}/customer_groups.sqlite",
        CUSTOMER_GROUPS_APP_SECRET=SECRET,
        CUSTOMER_GROUPS_APP_ID=APP_ID,
    )
    host_db = SQLAlchemy(app)

    class Product(host_db.Model):  # type: ignore[name-defined]
        __tablename__ = "host_products"
        id = host_db.Column(host_db.Integer, primary_key=True)
        title = host_db.Column(host_db.String(80))

    CustomerGroups(app)  # used to fail: "A 'SQLAlchemy' instance has already been registered"
    with app.app_context():
        host_db.create_all()
        if PG_URL:  # the suite's database: start from an empty schema
            db.drop_all()
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade_schema(app)
        host_db.session.add(Product(title="Desk lamp"))
        host_db.session.commit()
    yield app, host_db
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
        host_db.engine.dispose()
    if PG_URL:  # leave the suite's database as the other tests expect it (create_all)
        conftest._pg_schema_ready = False


def test_a_host_with_flask_sqlalchemy_keeps_its_database_and_prices_alike(host_app, tmp_path):
    app, host_db = host_app
    with app.app_context():
        # Each on its own database: the host's tables are not ours, and ours not the host's.
        host_tables = set(inspect(host_db.engine).get_table_names())
        our_tables = set(inspect(db.engine).get_table_names())
        assert host_tables == {"host_products"}
        assert "shops" in our_tables and "host_products" not in our_tables
        assert db.engine.url != host_db.engine.url

        install = {
            "shop": {"domain": SHOP, "name": "Lumen", "currency": "EUR", "timezone": "UTC"}
        }
        assert _send(signals.app_installed, payload=install, event_id="e0") == {"status": "ok"}
        created = _send(
            signals.customer_created, payload={"customer": customer_payload()}, event_id="e1"
        )
        assert created == {"status": "ok"}

    client = app.test_client()
    token_headers = {"Authorization": f"Bearer {_token()}"}
    group = client.post(
        "/api/groups", json={"name": "Wholesale", "colour": "#1E88E5"}, headers=token_headers
    )
    assert group.status_code == 201, group.get_json()
    group_id = group.get_json()["id"]
    moved = client.post(
        f"/api/groups/{group_id}/customers", json={"customer_ids": ["c_1"]}, headers=token_headers
    )
    assert moved.status_code == 200
    rule = client.post(
        "/api/price-rules",
        json={
            "name": "Wholesale -10%",
            "audience": {"type": "groups", "ids": [group_id]},
            "scope": {"type": "all"},
            "action": {"type": "discount_percent", "value": 10},
            "priority": 1,
            "active": True,
        },
        headers=token_headers,
    )
    assert rule.status_code == 201, rule.get_json()

    with app.app_context():
        by_signal = _send(signals.cart_price, payload=CART)
    over_http = Host(client).post("/hooks/cart/price", CART)
    assert over_http.status_code == 200, over_http.get_json()
    assert json.loads(json.dumps(by_signal)) == over_http.get_json()
    assert by_signal["lines"][0]["rule_unit_price"] == 1799
    assert by_signal["customer"]["group"]["name"] == "Wholesale"
    with app.app_context():
        titles = [row.title for row in host_db.session.execute(host_db.select(_product(host_db)))]
        assert titles == ["Desk lamp"]  # the host's data untouched


def _product(host_db):
    return host_db.Model.metadata.tables["host_products"]


def _token() -> str:
    return issue_session_token(SECRET, APP_ID, SHOP)
