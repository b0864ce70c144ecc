"""Bulk writes of codes: the fast insert path, its race fallback, the CSV importer's batches."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import MetaData, Table, func, insert, select
from sqlalchemy.exc import IntegrityError

from plugin.codes import csv_io, generation
from plugin.codes.csv_io import import_codes
from plugin.codes.generation import generate_codes, insert_codes, insert_new_codes
from plugin.codes.models import Code, Discount, Redemption
from plugin.db import db, utcnow
from plugin.errors import ApiError
from plugin.extension import create_app
from plugin.schema import downgrade_schema as downgrade
from plugin.schema import upgrade_schema as upgrade
from plugin.shops.models import Shop
from tests.conftest import SECRET, auth


def _rows(shop, discount=None):
    query = select(Code.code).where(Code.shop_id == shop.id)
    if discount is not None:
        query = query.where(Code.discount_id == discount.id)
    return set(db.session.execute(query).scalars())


@pytest.fixture
def pool(app, shop, make_discount):
    """(shop, discount) rows inside an app context, with the shared code TAKEN elsewhere."""
    make_discount(name="Other", code="TAKEN")
    created = make_discount(name="Pool")
    with app.app_context():
        shop_row = db.session.execute(select(Shop).where(Shop.domain == shop)).scalar_one()
        yield shop_row, db.session.get(Discount, created["id"])


def test_insert_new_codes_reports_what_the_shop_held(pool):
    shop, discount = pool
    taken = insert_new_codes(shop.id, discount.id, ["AAA1", "taken", "BBB2", "aaa1"])
    db.session.commit()
    assert taken == {"taken"}
    assert _rows(shop, discount) == {"AAA1", "BBB2"}
    assert insert_codes(shop.id, discount.id, ["bbb2", "CCC3"]) == ["ccc3"]
    db.session.commit()
    assert _rows(shop, discount) == {"AAA1", "BBB2", "CCC3"}


@pytest.mark.parametrize("optimistic", [True, False])
def test_a_taken_code_is_skipped_not_lost(pool, optimistic):
    """A plain INSERT that hits a taken code is redone ignoring conflicts (PostgreSQL);
    without optimism ON CONFLICT is used at once. Both tell which codes were taken."""
    shop, discount = pool
    taken = insert_new_codes(shop.id, discount.id, ["NEW1", "TAKEN", "NEW2"], optimistic)
    db.session.commit()
    assert taken == {"taken"}
    assert _rows(shop, discount) == {"NEW1", "NEW2"}
    assert (
        db.session.execute(select(Code.discount_id).where(Code.code_key == "taken")).scalar_one()
        != discount.id
    )


def test_an_import_after_a_batch_with_duplicates_stops_being_optimistic(pool, monkeypatch):
    shop, discount = pool
    monkeypatch.setattr(csv_io, "BATCH_SIZE", 2)
    seen = []
    real = csv_io.insert_new_codes

    def spy(shop_id, discount_id, codes, optimistic=True):
        seen.append(optimistic)
        return real(shop_id, discount_id, codes, optimistic)

    monkeypatch.setattr(csv_io, "insert_new_codes", spy)
    lines = ["code", "A1", "B2", "C3", "TAKEN", "D4", "E5", "F6", "G7"]
    report = import_codes(shop, discount, io.BytesIO("\n".join(lines).encode()))
    assert (report.imported, report.duplicates) == (7, 1)
    assert seen == [True, True, False, True]  # the batch after C3,TAKEN expects clashes


def test_generation_retries_only_the_shortfall(pool, monkeypatch):
    shop, discount = pool
    monkeypatch.setattr(generation, "BATCH_SIZE", 7)
    calls = []
    real = generation.insert_new_codes

    def insert_and_steal(shop_id, discount_id, codes, optimistic=True):
        codes = list(codes)
        calls.append(len(codes))
        if len(calls) == 1:  # someone else takes two of the first batch's codes first
            real(shop_id, discount_id, codes[:2])
        return real(shop_id, discount_id, codes, optimistic)

    monkeypatch.setattr(generation, "insert_new_codes", insert_and_steal)
    progress = []
    made = generate_codes(
        shop, discount, 20, length=10, progress=lambda done, total: progress.append(done)
    )
    db.session.commit()
    assert made == 20
    # 2 of 7 lost in the first batch: the last batch asks only for what is missing.
    assert calls == [7, 7, 7, 1] and progress == [5, 12, 19, 20]
    assert len(_rows(shop, discount)) == 22  # the 20 generated and the 2 "stolen" ones


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"charset": "AB\t"}, "charset"),
        ({"charset": "A"}, "charset"),
        ({"prefix": "a,b"}, "prefix"),
        ({"suffix": "\\N"}, "suffix"),
        ({"length": 3}, "length"),
        ({"count": 0}, "count"),
    ],
)
def test_generation_checks_its_input_for_every_caller(pool, fields, field):
    """The CLI and jobs call the operation directly: it checks what the API checks."""
    shop, discount = pool
    args = {"count": 5, "length": 8, **fields}
    with pytest.raises(ApiError) as raised:
        generate_codes(shop, discount, **args)
    assert raised.value.status == 422 and field in raised.value.details
    db.session.rollback()
    assert _rows(shop, discount) == set()


def test_import_in_small_batches_reports_lines(pool, monkeypatch):
    shop, discount = pool
    monkeypatch.setattr(csv_io, "BATCH_SIZE", 3)
    lines = ["code", "A1", "B2", "TAKEN", "C3", "a1", "D4", "bad code", "E5", "b2", "F6"]
    report = import_codes(shop, discount, io.BytesIO("\n".join(lines).encode()))
    assert (report.imported, report.duplicates, report.invalid) == (6, 3, 1)
    assert [(e["line"], e["code"], e["reason"]) for e in report.errors] == [
        (4, "TAKEN", "duplicate"),
        (6, "a1", "duplicate"),
        (8, "bad code", "invalid"),
        (10, "b2", "duplicate"),
    ]
    assert _rows(shop, discount) == {"A1", "B2", "C3", "D4", "E5", "F6"}


def test_a_code_belongs_to_a_discount_of_its_own_shop(app, host, shop, make_discount):
    discount = make_discount(name="Mine")
    host.install("other.example")
    with app.app_context():
        other = db.session.execute(select(Shop).where(Shop.domain == "other.example")).scalar_one()
        db.session.add(
            Code(shop_id=other.id, discount_id=discount["id"], code="CROSS", code_key="cross")
        )
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_migrating_keeps_codes_and_redemptions_on_sqlite(tmp_path):
    """Rebuilding ``codes`` and ``discounts`` (SQLite batch mode) loses no row of
    theirs, nor of the tables that refer to them."""
    app = create_app(
        {
            "TESTING": True,
            "CUSTOMER_GROUPS_APP_SECRET": SECRET,
            "CUSTOMER_GROUPS_DATABASE_URL": f"sqlite:///{tmp_path}/migrated.sqlite",
        }
    )
    counted = (Discount, Code, Redemption)
    with app.app_context():
        upgrade(revision="0003")
        # The tables as they are at 0003 (no name_key yet, audience ids as a JSON list; the
        # models have columns added since).
        def table(name):
            return Table(name, MetaData(), autoload_with=db.session.connection())

        shops = table("shops")
        shop_id = db.session.execute(
            insert(shops)
            .values(domain="a.example", name="", currency="EUR", timezone="UTC",
                    installed=True, installed_at=utcnow(), rules_version=0)
            .returning(shops.c.id)
        ).scalar_one()  # fmt: skip
        discounts = table("discounts")
        discount_id = db.session.execute(
            insert(discounts)
            .values(
                shop_id=shop_id, name="D", applies_to="products", type="percent", value=100,
                carriers=[], once_per_customer=False, audience_type="all", audience_ids=[],
                minimum_type="none", minimum_value=0, payment_methods=[], channels=[],
                active=True, created_at=utcnow(), updated_at=utcnow(),
            )
            .returning(discounts.c.id)
        ).scalar_one()
        codes = table("codes")
        code_id = db.session.execute(
            insert(codes)
            .values(shop_id=shop_id, discount_id=discount_id, code="ABC", code_key="abc",
                    shared=False, status="unassigned", times_used=0)
            .returning(codes.c.id)
        ).scalar_one()  # fmt: skip
        redemptions = table("redemptions")
        db.session.execute(
            insert(redemptions).values(
                shop_id=shop_id, code_id=code_id, discount_id=discount_id,
                order_external_id="o1", once_per_customer=False, status="held", flagged=False,
                created_at=utcnow(),
            )
        )  # fmt: skip
        db.session.commit()
        db.session.close()
        for step in ("head", "0003", "head"):
            (upgrade if step == "head" else downgrade)(revision=step)
            counts = [
                db.session.execute(select(func.count()).select_from(model)).scalar_one()
                for model in counted
            ]
            assert counts == [1, 1, 1], step
            db.session.close()
        db.engine.dispose()


def test_an_unreadable_csv_is_a_422_and_imports_nothing(client, make_discount, monkeypatch):
    monkeypatch.setattr(csv_io, "BATCH_SIZE", 1)  # A1 and B2 are written before the fault
    discount = make_discount()
    body = "code\nA1\nB2\n" + '"' + "x" * 200_000 + '"\nC3\n'
    answer = client.post(
        f"/api/discounts/{discount['id']}/codes/import",
        data=body.encode(),
        headers={**auth(), "Content-Type": "text/csv"},
    )
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["error"]["details"]["file"][0].startswith("Line 4:")
    listed = client.get(f"/api/discounts/{discount['id']}/codes", headers=auth()).get_json()
    assert listed["total"] == 0


def test_the_first_errors_by_line_are_kept(pool, monkeypatch):
    shop, discount = pool
    monkeypatch.setattr(csv_io, "MAX_ERRORS", 3)
    monkeypatch.setattr(csv_io, "BATCH_SIZE", 2)
    # Duplicates found by the database (TAKEN) and by the parser (bad, repeated) mix.
    lines = ["code", "TAKEN", "ok1", "bad code", "ok2", "ok1", "taken", "x y", "ok3"]
    report = import_codes(shop, discount, io.BytesIO("\n".join(lines).encode()))
    assert (report.imported, report.duplicates, report.invalid) == (3, 3, 2)
    assert [(e["line"], e["reason"]) for e in report.errors] == [
        (2, "duplicate"),
        (4, "invalid"),
        (6, "duplicate"),
    ]
    assert report.errors_truncated
