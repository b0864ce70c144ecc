"""Migration 0013 turns the JSON id lists of audiences into link rows (dropping ids of no
group or segment of the shop), an audience's source into its foreign key, and puts the
foreign keys of ``codes`` back on PostgreSQL; its downgrade gives the lists back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

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
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url

from plugin.db import db
from plugin.extension import create_app
from plugin.schema import downgrade_schema as downgrade
from plugin.schema import upgrade_schema as upgrade
from tests.conftest import PG_URL, SECRET

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/migrated.sqlite"
        return
    if not PG_URL:
        pytest.skip("needs CUSTOMER_GROUPS_TEST_DATABASE_URL (PostgreSQL)")
    name = f"cg_audiences_{uuid.uuid4().hex[:10]}"
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


def _filler(column: Any) -> Any:
    """A value for a NOT NULL column the test does not care about."""
    if isinstance(column.type, Boolean):
        return False
    if isinstance(column.type, Integer):
        return 0
    if isinstance(column.type, DateTime):
        return NOW if column.type.timezone else NOW.replace(tzinfo=None)
    if isinstance(column.type, JSON):
        return []
    if isinstance(column.type, String):
        return "x"
    raise AssertionError(f"no filler for {column}")


class Rows:
    """Inserts rows into the tables as they are at the current revision."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.meta = MetaData()

    def add(self, table_name: str, **values: Any) -> int:
        table = Table(table_name, self.meta, autoload_with=self.conn)
        for column in table.columns:
            if column.name in values or column.nullable or column.primary_key:
                continue
            if column.server_default is None:
                values[column.name] = _filler(column)
        return self.conn.execute(insert(table).values(**values).returning(table.c.id)).scalar_one()


def _named(rows: Rows, table: str, shop_id: int, name: str, **values: Any) -> int:
    return rows.add(table, shop_id=shop_id, name=name, name_key=name.casefold(), **values)


def test_audiences_become_rows_and_come_back(url):
    app = create_app(
        {"TESTING": True, "CUSTOMER_GROUPS_APP_SECRET": SECRET, "CUSTOMER_GROUPS_DATABASE_URL": url}
    )
    with app.app_context():
        upgrade(revision="0012")
        with db.engine.begin() as conn:
            rows = Rows(conn)
            mine = rows.add("shops", domain="a.example", currency="EUR")
            theirs = rows.add("shops", domain="b.example", currency="EUR")
            g1 = _named(rows, "groups", mine, "Standard", colour="#9e9e9e", is_default=True)
            g2 = _named(rows, "groups", mine, "Trade", colour="#9e9e9e")
            g3 = _named(rows, "groups", theirs, "Theirs", colour="#9e9e9e")
            s1 = _named(rows, "segments", mine, "Loyal", match="all")
            rule = {"scope_type": "all", "action_type": "discount_fixed", "action_value": 1}
            r1 = _named(
                rows, "price_rules", mine, "r1", audience_type="groups",
                audience_ids=[g2, g3, 999_999, g2], **rule,
            )
            r2 = _named(
                rows, "price_rules", mine, "r2", audience_type="segments", audience_ids=[s1],
                **rule,
            )
            r3 = _named(rows, "price_rules", mine, "r3", audience_type="all", **rule)
            bundle = _named(
                rows, "bundles", mine, "b", audience_type="groups", audience_ids=[g2],
                price_type="fixed_total", price_value=1,
            )
            gift = _named(
                rows, "gift_rules", mine, "g", audience_type="segments",
                audience_ids=[s1, 12345], trigger_type="subtotal", trigger_min_quantity=1,
                gift_quantity=1,
            )
            programme = _named(
                rows, "benefit_programmes", mine, "p", audience_type="groups", audience_ids=[g1]
            )
            discount = _named(
                rows, "discounts", mine, "d", audience_type="groups", audience_ids=[g2],
                applies_to="products", type="percent", minimum_type="none",
            )
            destination = {"destination_type": "klaviyo", "schedule": "manual"}
            a1 = _named(
                rows, "audiences", mine, "a1", source_type="group", source_id=g2, **destination
            )
            a2 = _named(
                rows, "audiences", mine, "a2", source_type="segment", source_id=999_999,
                **destination,
            )
            customer = rows.add("customers", shop_id=mine, external_id="c1", group_id=g1)
            code = {"shop_id": mine, "discount_id": discount}
            rows.add("codes", **code, code="KEEP", code_key="keep", assigned_customer_id=customer)
            if conn.dialect.name == "postgresql":
                # What 0010's triggers let through: rows loaded with triggers off (a restore).
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                rows.add("codes", **code, code="LOST", code_key="lost",
                         assigned_customer_id=999_999)
                rows.add("codes", shop_id=mine, discount_id=999_999, code="ORPHAN",
                         code_key="orphan")

        upgrade()
        with db.engine.connect() as conn:
            links = {
                table: sorted(tuple(r) for r in conn.execute(text(f"SELECT * FROM {table}")))
                for table in (
                    "price_rule_groups", "price_rule_segments", "bundle_groups",
                    "gift_rule_segments", "programme_groups", "discount_groups",
                    "bundle_segments", "discount_segments",
                )
            }
            sources = dict(
                (r[0], (r[1], r[2])) for r in conn.execute(text(
                    "SELECT id, source_group_id, source_segment_id FROM audiences"
                ))
            )
            codes = sorted(
                tuple(r) for r in conn.execute(text("SELECT code, assigned_customer_id FROM codes"))
            )
            keys = {fk["name"] for fk in inspect(conn).get_foreign_keys("codes")}
        assert links == {
            "price_rule_groups": [(mine, r1, g2)],
            "price_rule_segments": [(mine, r2, s1)],
            "bundle_groups": [(mine, bundle, g2)],
            "gift_rule_segments": [(mine, gift, s1)],
            "programme_groups": [(mine, programme, g1)],
            "discount_groups": [(mine, discount, g2)],
            "bundle_segments": [],
            "discount_segments": [],
        }
        assert sources == {a1: (g2, None), a2: (None, None)}
        expected = [("KEEP", customer)]
        if db.engine.dialect.name == "postgresql":
            expected.append(("LOST", None))  # the orphan code is gone, the lost customer too
        assert codes == sorted(expected)
        assert {"fk_codes_shop_id_discounts", "fk_codes_assigned_customer_id_customers"} <= keys

        downgrade(revision="0012")
        with db.engine.connect() as conn:
            meta = MetaData()
            lists = {}
            for table in ("price_rules", "bundles", "gift_rules", "benefit_programmes",
                          "discounts"):
                reflected = Table(table, meta, autoload_with=conn)
                lists.update(
                    ((table, r.id), (r.audience_type, r.audience_ids))
                    for r in conn.execute(select(reflected))
                )
            audiences = dict(
                tuple(r) for r in conn.execute(text("SELECT id, source_id FROM audiences"))
            )
        assert lists == {
            ("price_rules", r1): ("groups", [g2]),
            ("price_rules", r2): ("segments", [s1]),
            ("price_rules", r3): ("all", []),
            ("bundles", bundle): ("groups", [g2]),
            ("gift_rules", gift): ("segments", [s1]),
            ("benefit_programmes", programme): ("groups", [g1]),
            ("discounts", discount): ("groups", [g2]),
        }
        assert audiences == {a1: g2, a2: 0}
        upgrade()
        db.engine.dispose()
