"""One shop scope, applied by the session itself (plugin.db.ShopScoped).

Inside a shop scope (every request, hook, webhook, job and CLI command enters one), a query
that names no shop reads and changes only the scope's shop: plain selects, joins,
subqueries, relationship loads, aggregates, ORM UPDATE and DELETE.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, update

from plugin.customers.models import Customer, Order
from plugin.db import (
    SHOP_PARAM,
    db,
    enter_shop,
    in_shop,
    run_built,
    scoped_shop_id,
    shop_param,
    shop_scope,
)
from plugin.groups.models import Group
from plugin.shops.models import Shop
from tests.conftest import customer_payload, order_payload

OTHER = "other.example"


@pytest.fixture
def two_shops(app, host, shop):
    host.install(OTHER)
    for domain, prefix in ((shop, "a"), (OTHER, "b")):
        for n in range(2):
            payload = {"customer": customer_payload(f"{prefix}{n}")}
            assert host.webhook("customer/created", payload, shop=domain).status_code == 200
        order = {"order": order_payload(f"{prefix}_o", f"{prefix}0")}
        assert host.webhook("order/paid", order, shop=domain).status_code == 200
    with app.app_context():
        ids = dict(db.session.execute(select(Shop.domain, Shop.id)).all())
    return ids[shop], ids[OTHER]


def test_an_unscoped_query_reads_only_the_scope_shop(app, two_shops):
    mine, theirs = two_shops
    with app.app_context():
        their_group = db.session.execute(
            select(Group.id).where(Group.shop_id == theirs)
        ).scalar_one()
    with app.app_context():
        enter_shop(mine)
        customers = db.session.execute(select(Customer)).scalars().all()
        assert {c.external_id for c in customers} == {"a0", "a1"}
        assert db.session.execute(select(func.count()).select_from(Customer)).scalar() == 2
        # Joins and subqueries are limited too.
        joined = (
            db.session.execute(
                select(Customer.external_id).join(Order, Order.customer_id == Customer.id)
            )
            .scalars()
            .all()
        )
        assert joined == ["a0"]
        inner = select(Group.id).scalar_subquery()
        assert db.session.execute(select(Group).where(Group.id.in_(select(Group.id)))).all()
        assert db.session.execute(select(func.count()).where(Group.id.in_(inner))).scalar() == 1
        # Another shop's row, asked for by its id, does not exist.
        assert db.session.get(Group, their_group) is None
        assert db.session.execute(select(Group).filter_by(id=their_group)).first() is None


def test_an_unscoped_update_or_delete_changes_only_the_scope_shop(app, two_shops):
    mine, theirs = two_shops
    with app.app_context():
        enter_shop(mine)
        db.session.execute(update(Group).values(colour="#000000"))
        db.session.execute(delete(Order))
        db.session.commit()
    with app.app_context():
        colours = dict(db.session.execute(select(Group.shop_id, Group.colour)).all())
        assert colours[mine] == "#000000" and colours[theirs] != "#000000"
        orders = db.session.execute(select(Order.shop_id)).scalars().all()
        assert orders == [theirs]


def test_a_session_scoped_to_one_shop_refuses_another(app, two_shops):
    mine, theirs = two_shops
    with app.app_context():
        enter_shop(mine)
        with pytest.raises(RuntimeError):
            enter_shop(theirs)
        with pytest.raises(RuntimeError), shop_scope(theirs):
            pass
        assert scoped_shop_id() == mine


def test_a_block_scope_ends_with_its_block(app, two_shops):
    mine, theirs = two_shops
    with app.app_context():
        with shop_scope(theirs):
            names = db.session.execute(select(Customer.external_id)).scalars().all()
            assert sorted(names) == ["b0", "b1"]
            assert (
                db.session.execute(
                    select(func.count()).select_from(Customer.__table__).where(in_shop(Customer))
                ).scalar()
                == 2
            )
        assert scoped_shop_id() is None
        with pytest.raises(RuntimeError):
            in_shop(Customer)
        assert db.session.execute(select(func.count()).select_from(Customer)).scalar() == 4


def test_no_query_names_its_shop_by_hand():
    """The scope is the one way a query is limited to a shop: no hand-written
    ``shop_id == shop.id`` (or ``== shop_id``, or ``== bindparam(...)`` where ``shop_param``
    serves) outside plugin/db.py. A comparison with another
    row's shop (``OutboxEvent.shop_id == event.shop_id``, a join on ``Shop.id``) is a join, not
    a filter, and stays."""
    root = Path(__file__).resolve().parents[1]
    by_hand = re.compile(r"shop_id\s*==\s*(shop\.id\b|shop_id\b|bindparam\()")
    offenders = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for package in ("plugin", "hooks", "admin_ui")
        for path in sorted((root / package).rglob("*.py"))
        if path.relative_to(root).as_posix() != "plugin/db.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if by_hand.search(line)
    ]
    assert offenders == [], "shop filters written by hand:\n" + "\n".join(offenders)


def test_a_statement_run_past_the_orm_must_name_the_scope_shop(app, two_shops):
    """run_built skips the session's automatic criteria, so it takes only a statement that
    binds :b_shop (or an INSERT whose rows carry shop_id), for the scope's shop."""
    mine, theirs = two_shops
    customers = Customer.__table__.c
    by_shop = select(customers.external_id).where(shop_param(customers)).order_by(customers.id)
    unnamed = select(customers.external_id).order_by(customers.id)
    with app.app_context():
        enter_shop(mine)
        assert run_built(by_shop, {SHOP_PARAM: mine}).scalars().all() == ["a0", "a1"]
        with pytest.raises(RuntimeError, match="binds :b_shop"):
            run_built(unnamed, {})
        with pytest.raises(RuntimeError, match="not the scope's shop"):
            run_built(by_shop, {SHOP_PARAM: theirs})
        with pytest.raises(RuntimeError, match="not the scope's shop"):
            run_built(insert(Group.__table__), {"shop_id": theirs, "name": "x"})
        with pytest.raises(RuntimeError, match="not the scope's shop"):
            run_built(by_shop, {})
        # It flushes first, as db.session.execute does: a pending change is seen.
        customer = db.session.execute(select(Customer).filter_by(external_id="a1")).scalar_one()
        customer.external_id = "a9"
        assert run_built(by_shop, {SHOP_PARAM: mine}).scalars().all() == ["a0", "a9"]
        db.session.rollback()
    with app.app_context():  # no scope entered: the statement's own shop decides
        assert run_built(by_shop, {SHOP_PARAM: theirs}).scalars().all() == ["b0", "b1"]
