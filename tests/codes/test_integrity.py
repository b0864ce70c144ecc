"""A code belongs to a discount of its own shop and is assigned only to a customer who
exists, enforced by the database on both engines with the same two foreign keys
(``Code.__table_args__``): deleting the discount deletes its codes, deleting the customer
unassigns them, whatever the isolation level."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from plugin.codes.generation import insert_codes
from plugin.codes.models import Code, Discount, Redemption
from plugin.customers.models import Customer
from plugin.db import db, name_key
from plugin.groups.models import Group
from plugin.shops.models import Shop
from tests.conftest import PG_URL


@pytest.fixture
def two_shops(app):
    """Two shops with a discount each (and a second discount in the first shop)."""
    with app.app_context():
        ids = {}
        for domain in ("a.example", "b.example"):
            shop = Shop(domain=domain, currency="EUR")
            db.session.add(shop)
            db.session.flush()
            ids[domain] = shop.id
        discounts = {}
        for label, domain in (("a1", "a.example"), ("a2", "a.example"), ("b1", "b.example")):
            discount = Discount(
                shop_id=ids[domain],
                name=label,
                name_key=name_key(label),
                type="percent",
                value=1000,
            )
            db.session.add(discount)
            db.session.flush()
            discounts[label] = (ids[domain], discount.id)
        db.session.commit()
        return discounts


def _row(shop_id, discount_id, code):
    return {
        "shop_id": shop_id,
        "discount_id": discount_id,
        "code": code,
        "code_key": code.lower(),
        "status": "unassigned",
    }


def _count(**where):
    query = select(func.count()).select_from(Code)
    for column, value in where.items():
        query = query.where(getattr(Code, column) == value)
    return db.session.execute(query).scalar_one()


def test_a_code_of_another_shops_discount_is_refused_and_nothing_is_written(app, two_shops):
    shop_a, _ = two_shops["a1"]
    _, discount_b = two_shops["b1"]
    with app.app_context():
        with pytest.raises(IntegrityError):
            db.session.execute(
                insert(Code),
                [_row(shop_a, two_shops["a1"][1], "GOOD1"), _row(shop_a, discount_b, "BAD1")],
            )
            db.session.commit()
        db.session.rollback()
        assert _count() == 0


def test_a_code_of_no_discount_is_refused(app, two_shops):
    shop_a, _ = two_shops["a1"]
    with app.app_context():
        with pytest.raises(IntegrityError):
            db.session.execute(insert(Code), [_row(shop_a, 999_999, "NOWHERE")])
            db.session.commit()
        db.session.rollback()
        assert _count() == 0


def test_bulk_codes_of_an_existing_discount_are_written(app, two_shops):
    shop_a, discount_a = two_shops["a1"]
    with app.app_context():
        written = insert_codes(shop_a, discount_a, [f"BULK{i:05d}" for i in range(2000)])
        db.session.commit()
        assert len(written) == 2000
        assert _count(discount_id=discount_a) == 2000


def test_moving_a_code_is_checked_like_a_foreign_key(app, two_shops):
    shop_a, discount_a1 = two_shops["a1"]
    _, discount_a2 = two_shops["a2"]
    _, discount_b = two_shops["b1"]
    with app.app_context():
        insert_codes(shop_a, discount_a1, ["MOVEME"])
        db.session.commit()
        # To another discount of the same shop: allowed, as a foreign key would.
        db.session.execute(update(Code).values(discount_id=discount_a2))
        db.session.commit()
        # To another shop's discount, or to none: refused.
        for discount_id in (discount_b, 999_999):
            with pytest.raises(IntegrityError):
                db.session.execute(update(Code).values(discount_id=discount_id))
                db.session.commit()
            db.session.rollback()
        assert db.session.execute(select(Code.discount_id)).scalar_one() == discount_a2
        # Other updates of a code (its uses, its status) are not checked at all.
        db.session.execute(update(Code).values(times_used=Code.times_used + 1))
        db.session.commit()


def test_deleting_a_discount_deletes_its_codes_and_their_redemptions(app, two_shops):
    shop_a, discount_a1 = two_shops["a1"]
    _, discount_a2 = two_shops["a2"]
    with app.app_context():
        insert_codes(shop_a, discount_a1, ["GONE1", "GONE2"])
        insert_codes(shop_a, discount_a2, ["KEPT1"])
        db.session.flush()
        code_id = db.session.execute(select(Code.id).where(Code.code == "GONE1")).scalar_one()
        db.session.add(
            Redemption(
                shop_id=shop_a, code_id=code_id, discount_id=discount_a1, order_external_id="o1"
            )
        )
        db.session.commit()
        db.session.execute(delete(Discount).where(Discount.id == discount_a1))
        db.session.commit()
        assert db.session.execute(select(Code.code)).scalars().all() == ["KEPT1"]
        assert db.session.execute(select(func.count()).select_from(Redemption)).scalar_one() == 0


def test_deleting_a_shop_deletes_its_codes(app, two_shops):
    shop_a, discount_a1 = two_shops["a1"]
    shop_b, discount_b = two_shops["b1"]
    with app.app_context():
        insert_codes(shop_a, discount_a1, ["SHOPA1"])
        insert_codes(shop_b, discount_b, ["SHOPB1"])
        db.session.commit()
        db.session.execute(delete(Shop).where(Shop.id == shop_a))
        db.session.commit()
        assert db.session.execute(select(Code.code)).scalars().all() == ["SHOPB1"]


def test_a_discount_with_codes_keeps_its_key(app, two_shops):
    shop_a, discount_a1 = two_shops["a1"]
    with app.app_context():
        insert_codes(shop_a, discount_a1, ["KEYED"])
        db.session.commit()
        with pytest.raises(IntegrityError):
            db.session.execute(
                update(Discount).where(Discount.id == discount_a1).values(id=discount_a1 + 1000)
            )
            db.session.commit()
        db.session.rollback()


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL's row locks (SQLite has one writer)")
def test_a_discount_deleted_while_codes_are_written_takes_them_along(app, two_shops):
    """The writer's FOR KEY SHARE lock makes the delete wait; then the delete's cascade sees
    the committed codes. No code is left without its discount."""
    shop_a, discount_a1 = two_shops["a1"]
    deleted = threading.Event()

    def delete_discount():
        with app.app_context():
            db.session.execute(delete(Discount).where(Discount.id == discount_a1))
            db.session.commit()
            deleted.set()
            db.session.remove()

    with app.app_context():
        insert_codes(shop_a, discount_a1, [f"RACE{i:04d}" for i in range(500)])
        db.session.flush()  # written and the discount locked; not committed yet
        deleter = threading.Thread(target=delete_discount)
        deleter.start()
        time.sleep(0.5)
        assert not deleted.is_set(), "the delete must wait for the writer"
        db.session.commit()
        deleter.join(10)
        assert deleted.is_set()
        assert _count() == 0


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL's row locks (SQLite has one writer)")
def test_codes_written_after_their_discount_was_deleted_are_refused(app, two_shops):
    shop_a, discount_a1 = two_shops["a1"]
    with app.app_context():
        db.session.execute(select(Code.id).limit(1)).all()  # a transaction, opened before
        with app.app_context():
            db.session.execute(delete(Discount).where(Discount.id == discount_a1))
            db.session.commit()
        with pytest.raises(IntegrityError):
            insert_codes(shop_a, discount_a1, ["LATE1"])
            db.session.commit()
        db.session.rollback()
        assert _count() == 0


def _customer(shop_id: int, external_id: str) -> int:
    group = Group(shop_id=shop_id, name=f"G {external_id}", name_key=name_key(f"G {external_id}"))
    db.session.add(group)
    db.session.flush()
    customer = Customer(shop_id=shop_id, external_id=external_id, group_id=group.id)
    db.session.add(customer)
    db.session.flush()
    return customer.id


def test_a_code_is_assigned_only_to_a_customer_that_exists(app, two_shops):
    shop_a, discount_a1 = two_shops["a1"]
    with app.app_context():
        customer_id = _customer(shop_a, "c1")
        insert_codes(shop_a, discount_a1, ["GIVEN"])
        db.session.commit()
        db.session.execute(update(Code).values(assigned_customer_id=customer_id))
        db.session.commit()
        with pytest.raises(IntegrityError):
            db.session.execute(update(Code).values(assigned_customer_id=customer_id + 1000))
            db.session.commit()
        db.session.rollback()
        with pytest.raises(IntegrityError):
            db.session.execute(
                insert(Code),
                [
                    {
                        **_row(shop_a, discount_a1, "GIVEN2"),
                        "assigned_customer_id": customer_id + 1000,
                    }
                ],
            )
            db.session.commit()
        db.session.rollback()
        # Inserted already assigned to a customer who exists: fine.
        db.session.execute(
            insert(Code),
            [{**_row(shop_a, discount_a1, "GIVEN3"), "assigned_customer_id": customer_id}],
        )
        db.session.commit()
        assigned = select(Code.assigned_customer_id).order_by(Code.code)
        assert db.session.execute(assigned).scalars().all() == [customer_id, customer_id]


def test_deleting_a_customer_unassigns_their_codes(app, two_shops):
    shop_a, discount_a1 = two_shops["a1"]
    with app.app_context():
        leaving, staying = _customer(shop_a, "leaving"), _customer(shop_a, "staying")
        insert_codes(shop_a, discount_a1, ["LEFT1", "KEPT2"])
        db.session.flush()
        db.session.execute(
            update(Code).where(Code.code == "LEFT1").values(assigned_customer_id=leaving)
        )
        db.session.execute(
            update(Code).where(Code.code == "KEPT2").values(assigned_customer_id=staying)
        )
        db.session.commit()
        db.session.execute(delete(Customer).where(Customer.id == leaving))
        db.session.commit()
        rows = db.session.execute(select(Code.code, Code.assigned_customer_id).order_by(Code.code))
        assert rows.all() == [("KEPT2", staying), ("LEFT1", None)]
        # A customer whose codes still name them keeps their id.
        with pytest.raises(IntegrityError):
            db.session.execute(update(Customer).values(id=staying + 1000))
            db.session.commit()
        db.session.rollback()


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL's row locks (SQLite has one writer)")
def test_a_customer_deleted_while_assigned_a_code_leaves_it_unassigned(app, two_shops):
    shop_a, discount_a1 = two_shops["a1"]
    with app.app_context():
        customer_id = _customer(shop_a, "racing")
        insert_codes(shop_a, discount_a1, ["RACED"])
        db.session.commit()
    deleted = threading.Event()

    def delete_customer():
        with app.app_context():
            db.session.execute(delete(Customer).where(Customer.id == customer_id))
            db.session.commit()
            deleted.set()
            db.session.remove()

    with app.app_context():
        db.session.execute(update(Code).values(assigned_customer_id=customer_id))
        deleter = threading.Thread(target=delete_customer)
        deleter.start()
        time.sleep(0.5)
        assert not deleted.is_set(), "the delete must wait for the assignment"
        db.session.commit()
        deleter.join(10)
        assert deleted.is_set()
        assert db.session.execute(select(Code.assigned_customer_id)).scalar_one() is None


@pytest.mark.skipif(not PG_URL, reason="TRUNCATE is PostgreSQL's (SQLite has DELETE only)")
def test_truncating_what_codes_refer_to_is_refused_unless_codes_go_too(app, two_shops):
    shop_a, discount_a1 = two_shops["a1"]
    with app.app_context():
        customer_id = _customer(shop_a, "kept")
        insert_codes(shop_a, discount_a1, ["TRUNC1"])
        db.session.execute(update(Code).values(assigned_customer_id=customer_id))
        db.session.commit()
        for table in ("discounts", "customers"):
            # PostgreSQL refuses to truncate a table that a foreign key refers to...
            with pytest.raises(DBAPIError, match="foreign key"):
                db.session.execute(text(f"TRUNCATE {table}"))
                db.session.commit()
            db.session.rollback()
        assert _count() == 1
        # ...unless what refers to it goes too: CASCADE, which the triggers refused.
        db.session.execute(text("TRUNCATE discounts CASCADE"))
        db.session.commit()
        assert _count() == 0


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL's isolation levels")
@pytest.mark.parametrize("isolation", ["REPEATABLE READ", "SERIALIZABLE"])
def test_a_discount_deleted_from_an_older_snapshot_leaves_no_code_behind(
    app, two_shops, isolation
):
    """Codes committed after the deleting transaction took its snapshot: the foreign key
    either takes them along or refuses the delete; never a code without its discount
    (a statement trigger's cascade, run with the old snapshot, left them)."""
    shop_a, discount_a1 = two_shops["a1"]
    with app.app_context():
        with db.engine.connect() as deleter:
            deleter = deleter.execution_options(isolation_level=isolation)
            transaction = deleter.begin()
            deleter.execute(select(func.count()).select_from(Code)).scalar_one()  # snapshot
            with app.app_context():
                insert_codes(shop_a, discount_a1, ["AFTER1", "AFTER2"])
                db.session.commit()
            try:
                deleter.execute(delete(Discount).where(Discount.id == discount_a1))
                transaction.commit()
            except DBAPIError:  # refused (could not serialize): the discount and codes stay
                transaction.rollback()
        orphans = db.session.execute(
            select(func.count())
            .select_from(Code)
            .outerjoin(Discount, Discount.id == Code.discount_id)
            .where(Discount.id.is_(None))
        ).scalar_one()
        assert orphans == 0
