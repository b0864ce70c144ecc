"""Tags, cities and countries compare by one key made in Python (issue #3): non-ASCII
texts match the same customers in SQL (preview, full recompute) and in Python (each
customer's update), so memberships never flip; migration 0005 fills the keys."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import column, create_engine, insert, inspect, select, table, text
from sqlalchemy.engine import make_url

from hooks import signals
from plugin.customers.keys import KEY_LENGTH, text_key
from plugin.customers.models import Customer, CustomerTag
from plugin.db import db, utcnow
from plugin.extension import create_app
from plugin.groups.operations import ensure_default_group
from plugin.schema import downgrade_schema as downgrade
from plugin.schema import upgrade_schema as upgrade
from plugin.segments.conditions import ConditionError, normalise, parse_condition
from plugin.segments.operations import recompute_shop
from plugin.shops.operations import find_shop, install_shop
from tests.conftest import PG_URL, SECRET, SHOP, auth, customer_payload
from tests.segments.conftest import preview

DECOMPOSED_EVRY = "E\u0301vry"  # E + combining acute accent
DECOMPOSED_ZURICH = "Zu\u0308rich"  # u + combining diaeresis


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("Straße", "STRASSE", True),
        ("Straße", "strasse", True),
        ("ÉVRY", "évry", True),
        (DECOMPOSED_EVRY, "évry", True),
        ("Évry", "Evry", False),  # accents count
        ("Zürich", "ZÜRICH", True),
        (DECOMPOSED_ZURICH, "zürich", True),
        ("Øslo", "ØSLO", True),
        ("Øslo", "Oslo", False),
        ("ISTANBUL", "istanbul", True),
        ("ıstanbul", "istanbul", False),  # dotless i is its own letter
        ("İstanbul", "istanbul", False),  # İ folds to i + combining dot above
        ("İstanbul", "İSTANBUL", True),
        ("ﬁnance", "Finance", True),  # compatibility ligature
        ("\u00a0Paris\u3000", "paris", True),  # any whitespace around
    ],
)
def test_text_key(one, other, same):
    assert (text_key(one) == text_key(other)) is same
    assert text_key(text_key(one)) == text_key(one)


def test_text_key_fits_its_column():
    assert len(text_key("ß" * 255)) == KEY_LENGTH
    assert text_key("ß" * 255) == text_key("SS" * 200)  # cut alike on both sides


def test_condition_values_use_the_stored_key():
    assert parse_condition({"field": "customer_tag", "op": "has", "value": "Straße"}).value == (
        "strasse"
    )
    assert parse_condition({"field": "city", "op": "is", "value": DECOMPOSED_EVRY}).value == (
        "évry"
    )
    # Stored as typed (trimmed), folded only when compared.
    assert normalise({"field": "city", "op": "is", "value": " ÉVRY "})["value"] == "ÉVRY"
    with pytest.raises(ConditionError):
        normalise({"field": "country", "op": "is", "value": "\u3000"})


CUSTOMERS = [
    customer_payload("a", tags=["Straße"], default_address={"city": "ÉVRY", "country": "France"}),
    customer_payload("b", tags=["STRASSE"], default_address={"city": "évry", "country": "FRANCE"}),
    customer_payload(
        "c", tags=["strasse"], default_address={"city": "Zürich", "country": "Schweiz"}
    ),
    customer_payload(
        "d", tags=["Zürich"], default_address={"city": "ZÜRICH", "country": "SCHWEIZ"}
    ),
    customer_payload(
        "e",
        tags=["İstanbul"],
        default_address={"city": f" {DECOMPOSED_ZURICH} ", "country": "schweiz"},
    ),
    customer_payload(
        "f", tags=["ıstanbul"], default_address={"city": "Istanbul", "country": "Türkiye"}
    ),
    customer_payload("g", tags=[], default_address=None),
]


def c(field, op, value):
    return {"field": field, "op": op, "value": value}


# Counted by hand from CUSTOMERS.
CASES = [
    (c("customer_tag", "has", "Straße"), "abc"),
    (c("customer_tag", "has", "STRASSE"), "abc"),
    (c("customer_tag", "has_not", "straße"), "defg"),
    (c("customer_tag", "has", "zu\u0308rich"), "d"),
    (c("customer_tag", "has", "İSTANBUL"), "e"),
    (c("customer_tag", "has", "istanbul"), ""),
    (c("city", "is", "évry"), "ab"),
    (c("city", "is", "ÉVRY"), "ab"),
    (c("city", "is", DECOMPOSED_EVRY), "ab"),
    (c("city", "is_not", "Évry"), "cdefg"),
    (c("city", "is", "Zürich"), "cde"),
    (c("city", "is", "ZÜRICH"), "cde"),
    (c("city", "is_not", "zürich"), "abfg"),
    (c("city", "is", "istanbul"), "f"),
    (c("city", "is", "ıstanbul"), ""),
    (c("country", "is", "FRANCE"), "ab"),
    (c("country", "is", "Schweiz"), "cde"),
    (c("country", "is_not", "TÜRKIYE"), "abcdeg"),
]


@pytest.fixture
def cities(host):
    host.install(timezone="Europe/Paris")
    for customer in CUSTOMERS:
        assert host.webhook("customer/created", {"customer": customer}).status_code == 200
    return host


@pytest.fixture
def changes():
    received = []

    def listen(sender, payload=None, event_id=None, **_):
        received.append(payload)

    signals.customer_segments_changed.connect(listen)
    yield received
    signals.customer_segments_changed.disconnect(listen)


@pytest.mark.parametrize(("condition", "expected"), CASES)
def test_preview_counted_by_hand(client, cities, condition, expected):
    assert preview(client, [condition]) == set(expected)


def members(client, segment_id):
    body = client.get(f"/api/segments/{segment_id}/customers", headers=auth()).get_json()
    return {customer["id"] for customer in body["items"]}


def test_memberships_hold_through_updates_and_recomputes(app, client, cities, changes):
    """A customer in "ÉVRY" stays in `city is "évry"`: the full recompute (SQL) and the
    re-evaluation on each update (Python) agree, so no customer/segments_changed flips."""
    segments = {}
    for number, (condition, expected) in enumerate(CASES):
        response = client.post(
            "/api/segments",
            json={"name": f"Segment {number}", "match": "all", "conditions": [condition]},
            headers=auth(),
        )
        assert response.status_code == 201, response.get_json()
        segments[response.get_json()["id"]] = set(expected)
    assert {sid: members(client, sid) for sid in segments} == segments
    changes.clear()

    for customer in CUSTOMERS:
        assert cities.webhook("customer/updated", {"customer": customer}).status_code == 200
    assert changes == []
    with app.app_context():
        recompute_shop(find_shop(SHOP))
        db.session.commit()
    assert changes == []
    for customer in CUSTOMERS:
        assert cities.webhook("customer/updated", {"customer": customer}).status_code == 200
    assert changes == []
    assert {sid: members(client, sid) for sid in segments} == segments


def test_moving_to_another_spelling_of_the_same_city_changes_nothing(client, cities, changes):
    response = client.post(
        "/api/segments",
        json={"name": "Évry", "match": "all", "conditions": [c("city", "is", "Évry")]},
        headers=auth(),
    )
    segment = response.get_json()
    changes.clear()
    moved = customer_payload("a", default_address={"city": DECOMPOSED_EVRY, "country": "FR"})
    assert cities.webhook("customer/updated", {"customer": moved}).status_code == 200
    assert changes == []
    moved = customer_payload("a", default_address={"city": "Evry", "country": "FR"})
    assert cities.webhook("customer/updated", {"customer": moved}).status_code == 200
    assert changes == [{"customer_id": "a", "joined": [], "left": [segment["id"]]}]
    assert members(client, segment["id"]) == {"b"}


def test_keys_are_written_with_the_address_and_the_tags(app, cities):
    with app.app_context():
        rows = db.session.execute(
            select(Customer.external_id, Customer.city_key, Customer.country_key).order_by(
                Customer.external_id
            )
        ).all()
        tags = db.session.execute(
            select(Customer.external_id, CustomerTag.tag_key, CustomerTag.tag)
            .join(CustomerTag, CustomerTag.customer_id == Customer.id)
            .order_by(Customer.external_id)
        ).all()
    assert rows == [
        ("a", "évry", "france"),
        ("b", "évry", "france"),
        ("c", "zürich", "schweiz"),
        ("d", "zürich", "schweiz"),
        ("e", "zürich", "schweiz"),
        ("f", "istanbul", "türkiye"),
        ("g", None, None),
    ]
    assert tags == [
        ("a", "strasse", "Straße"),
        ("b", "strasse", "STRASSE"),
        ("c", "strasse", "strasse"),
        ("d", "zürich", "Zürich"),
        ("e", "i\u0307stanbul", "İstanbul"),
        ("f", "ıstanbul", "ıstanbul"),
    ]


def test_core_inserts_get_keys_too(app):
    """Rows written with a plain INSERT (imports, fixtures) get their keys as well."""
    with app.app_context():
        shop = install_shop("core.example", {"currency": "EUR", "timezone": "UTC"})
        ensure_default_group(shop)
        group_id = db.session.execute(text("SELECT id FROM groups")).scalar_one()
        base = {"shop_id": shop.id, "group_id": group_id, "points": 0, "type": "individual"}
        db.session.execute(
            insert(Customer),
            [
                {**base, "external_id": "x", "city": "ZÜRICH", "country": "ÖSTERREICH"},
                {**base, "external_id": "y", "city": None, "country": None},
            ],
        )
        db.session.execute(insert(Customer), [{**base, "external_id": "z"}])
        keys = db.session.execute(
            select(Customer.external_id, Customer.city_key, Customer.country_key)
            .where(Customer.shop_id == shop.id)
            .order_by(Customer.external_id)
        ).all()
        db.session.rollback()
    assert keys == [("x", "zürich", "österreich"), ("y", None, None), ("z", None, None)]


# Migration 0005 -------------------------------------------------------------------------

OLD_CUSTOMERS = [
    # external id, city, country, tags as 0004 stored them (key = casefold of the text)
    ("m1", "ÉVRY", "France", ["Straße", "VIP"]),
    ("m2", DECOMPOSED_EVRY, "FRANCE", [DECOMPOSED_ZURICH, "ZÜRICH"]),  # two tags, one key now
    ("m3", " Zürich ", None, ["Ⅻ"]),  # compatibility numeral: key "xii" now
    ("m4", None, None, []),
    ("m5", "İstanbul", "TÜRKİYE", ["ıstanbul"]),
]


@pytest.fixture
def migration_url(tmp_path):
    if not PG_URL:
        yield f"sqlite:///{tmp_path}/keys.sqlite"
        return
    name = f"cg_textkeys_{uuid.uuid4().hex[:10]}"
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


def _old_table(spec: str):
    """A table as an old revision had it: ``"name column column ..."``."""
    name, *columns = spec.split()
    return table(name, *(column(each) for each in columns))


def test_migration_fills_keys_and_merges_tags(migration_url):
    app = create_app(
        {
            "TESTING": True,
            "CUSTOMER_GROUPS_APP_SECRET": SECRET,
            "CUSTOMER_GROUPS_DATABASE_URL": migration_url,
        }
    )
    customers = table(
        "customers",
        *(
            column(name)
            for name in (
                "id shop_id external_id group_id city country points accepts_marketing type "
                "order_count total_spent used_discount_code created_at updated_at"
            ).split()
        ),
    )
    tags = table(
        "customer_tags", column("customer_id"), column("tag_key"), column("shop_id"), column("tag")
    )
    with app.app_context():
        upgrade(revision="0004")
        # The shop and its default group written as the tables were at 0004 (the models
        # have columns added since, such as shops.locale).
        now = utcnow()
        shops = _old_table("shops id domain name currency timezone installed installed_at "
                           "rules_version")  # fmt: skip
        shop_id = db.session.execute(
            shops.insert()
            .values(domain="old.example", name="", currency="EUR", timezone="UTC",
                    installed=True, installed_at=now, rules_version=0)
            .returning(shops.c.id)
        ).scalar_one()  # fmt: skip
        groups = _old_table("groups id shop_id name name_key colour is_default created_at")
        group_id = db.session.execute(
            groups.insert()
            .values(shop_id=shop_id, name="Standard", name_key="standard", colour="#6b7280",
                    is_default=True, created_at=now)
            .returning(groups.c.id)
        ).scalar_one()  # fmt: skip
        for number, (external_id, city, country, names) in enumerate(OLD_CUSTOMERS, start=1):
            db.session.execute(
                customers.insert().values(
                    id=number,
                    shop_id=shop_id,
                    external_id=external_id,
                    group_id=group_id,
                    city=city,
                    country=country,
                    points=0,
                    accepts_marketing=False,
                    type="individual",
                    order_count=0,
                    total_spent=0,
                    used_discount_code=False,
                    created_at=now,
                    updated_at=now,
                )
            )
            for name in names:
                db.session.execute(
                    tags.insert().values(
                        customer_id=number, tag_key=name.casefold(), shop_id=shop_id, tag=name
                    )
                )
        db.session.commit()

        upgrade(revision="0005")
        keys = db.session.execute(
            text("SELECT external_id, city_key, country_key FROM customers ORDER BY id")
        ).all()
        stored_tags = db.session.execute(
            text("SELECT customer_id, tag_key, tag FROM customer_tags ORDER BY customer_id, tag")
        ).all()
        db.session.commit()
        assert [tuple(row) for row in keys] == [
            ("m1", "évry", "france"),
            ("m2", "évry", "france"),
            ("m3", "zürich", None),
            ("m4", None, None),
            ("m5", "i\u0307stanbul", "türki\u0307ye"),
        ]
        assert [tuple(row) for row in stored_tags] == [
            (1, "strasse", "Straße"),
            (1, "vip", "VIP"),
            (2, "zürich", "ZÜRICH"),  # the composed spelling already held the key
            (3, "xii", "Ⅻ"),
            (5, "ıstanbul", "ıstanbul"),
        ]
        for _, city, country in keys:
            assert city is None or city == text_key(city)
            assert country is None or country == text_key(country)
        indexes = {ix["name"] for ix in inspect(db.engine).get_indexes("customers")}
        assert {"ix_customers_shop_city_key", "ix_customers_shop_country_key"} <= indexes

        downgrade(revision="0004")
        columns = {col["name"] for col in inspect(db.engine).get_columns("customers")}
        assert "city_key" not in columns and "country_key" not in columns
        stored_tags = db.session.execute(
            text("SELECT customer_id, tag_key FROM customer_tags ORDER BY customer_id, tag")
        ).all()
        db.session.commit()
        assert [tuple(row) for row in stored_tags] == [
            (1, "strasse"),
            (1, "vip"),
            (2, "zürich"),
            (3, "ⅻ"),
            (5, "ıstanbul"),
        ]
        db.session.remove()
        db.engine.dispose()
