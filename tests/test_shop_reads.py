"""What the webhook path reads of the shop (plugin.shops.operations): the shop and its
event in one statement, the shop alone as every API call reads it (find_shop), and
per_version, what it keeps of the shop's settings per version
of them (shops.rules_version), never what a transaction that bumped the version read."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, update

from plugin.db import db, enter_shop
from plugin.shops.models import ProcessedEvent, Shop
from plugin.shops.operations import (
    ClaimAlong,
    bump_rules_version,
    find_shop,
    find_shop_and_event,
    per_version,
    uninstall_shop,
)
from tests.conftest import PG_URL


def test_kept_per_version_and_never_from_a_transaction_that_bumped_it(app, shop):
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return len(loads)

    with app.app_context():
        row = db.session.execute(select(Shop).where(Shop.domain == shop)).scalar_one()
        enter_shop(row.id)
        assert per_version(row, "x", load) == 1
        assert per_version(row, "x", load) == 1  # kept
        assert per_version(row, "y", load) == 2  # another name, its own entry
        bump_rules_version(row)
        # This transaction bumped it: what it reads is its own, not yet committed.
        assert per_version(row, "x", load) == 3
        assert per_version(row, "x", load) == 4
        db.session.rollback()
        # Rolled back: the old version, and what was kept for it, stand.
        assert per_version(row, "x", load) == 1
        bump_rules_version(row)
        db.session.commit()
    with app.app_context():  # the next request reads the new version, and keeps it
        row = db.session.execute(select(Shop).where(Shop.domain == shop)).scalar_one()
        enter_shop(row.id)
        assert per_version(row, "x", load) == 5
        assert per_version(row, "x", load) == 5


def test_the_webhook_path_reads_the_shop_and_its_event_in_one_statement(app, host, shop):
    created = host.webhook("customer/created", {"customer": {"id": "c1"}}, event_id="e-1")
    assert created.status_code == 200
    with app.app_context():
        found, seen, _, _ = find_shop_and_event(shop, "e-1")
        assert found is not None and seen is True
        assert found in db.session and not db.session.is_modified(found)
        assert (found.domain, found.installed, found.rules_version) == (shop, True, 0)
        assert find_shop_and_event(shop, "e-2") == (found, False, None, None)  # the instance held
        assert find_shop_and_event(shop, None) == (found, False, None, None)
        assert find_shop_and_event("nobody.example", "e-1") == (None, False, None, None)
        # An instance the session already holds is the one kept, as a query would.
        db.session.expunge_all()
        held = db.session.execute(select(Shop).where(Shop.domain == shop)).scalar_one()
        assert find_shop_and_event(shop, "e-1")[0] is held
        # What it had expired is refilled from the row, as a query would.
        db.session.expire(held)
        assert find_shop_and_event(shop, "e-1")[0] is held
        assert "name" not in inspect(held).unloaded
        db.session.rollback()
        assert "e-1" in db.session.execute(select(ProcessedEvent.event_id)).scalars().all()
    with app.app_context():
        # The instance it made is a row like any other: a change is written by the commit.
        made = find_shop_and_event(shop, None)[0]
        made.name = "Renamed"
        bump_rules_version(made)
        uninstall_shop(made)
        db.session.commit()
    with app.app_context():
        row = db.session.execute(select(Shop).where(Shop.domain == shop)).scalar_one()
        assert (row.name, row.rules_version, row.installed) == ("Renamed", 1, False)


def test_every_api_call_reads_its_shop_as_columns_into_the_session(app, shop):
    with app.app_context():
        found = find_shop(shop)
        assert found is not None and found in db.session and not db.session.is_modified(found)
        assert (found.domain, found.installed, found.rules_version) == (shop, True, 0)
        assert find_shop(shop) is found
        assert find_shop("nobody.example") is None
        db.session.expunge_all()
        held = db.session.execute(select(Shop).where(Shop.domain == shop)).scalar_one()
        db.session.expire(held)
        assert find_shop(shop) is held
        assert "name" not in inspect(held).unloaded
        # A change not yet flushed is flushed first, as a query autoflushes, and kept.
        held.name = "Pending"
        assert find_shop(shop) is held and held.name == "Pending"
        db.session.rollback()
    with app.app_context():
        made = find_shop(shop)
        made.name = "Renamed by the API"
        db.session.commit()
    with app.app_context():
        row = db.session.execute(select(Shop).where(Shop.domain == shop)).scalar_one()
        assert row.name == "Renamed by the API"


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="the claim rides on the read on PostgreSQL only")
def test_the_read_claims_the_event_on_postgresql(app, host, shop):
    def claims() -> list[str]:
        return (
            db.session.execute(
                select(ProcessedEvent.event_id).where(ProcessedEvent.topic == "order/paid")
            )
            .scalars()
            .all()
        )

    with app.app_context():
        found, seen, claimed, _ = find_shop_and_event(shop, "e-9", "order/paid")
        assert (found.domain, seen, claimed) == (shop, False, True)
        assert claims() == ["e-9"]
        db.session.rollback()  # a refused payload: the claim goes with the rest
        assert claims() == []
        assert find_shop_and_event(shop, "e-9", "order/paid")[2] is True
        db.session.commit()
    with app.app_context():
        # Seen: no claim tried; and nothing is claimed for a shop that is not installed.
        assert find_shop_and_event(shop, "e-9", "order/paid")[1:3] == (True, None)
        db.session.rollback()
        db.session.execute(update(Shop).where(Shop.domain == shop).values(installed=False))
        assert find_shop_and_event(shop, "e-10", "order/paid")[1:3] == (False, None)
        assert claims() == ["e-9"]
        db.session.rollback()


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="the claim rides on the read on PostgreSQL only")
def test_order_paid_makes_its_customer_in_the_claim_and_only_when_it_claims(app, host, shop):
    """The customer's upsert and the order's first redemption ride in the claim's
    statement (intake's ClaimAlong): made when this delivery claims the event, never for
    an event already seen or a shop that is not installed."""
    from plugin.customers.models import Customer
    from plugin.groups.models import Group
    from plugin.intake.operations import paid_order_claim

    def customers() -> list[tuple[str, int]]:
        return db.session.execute(
            select(Customer.external_id, Customer.group_id).order_by(Customer.external_id)
        ).all()

    with app.app_context():
        default = db.session.execute(select(Group.id).where(Group.is_default)).scalar_one()
        along = paid_order_claim({"id": "o_1", "customer_id": "c_new"})
        assert along is not None
        found, seen, claimed, made = find_shop_and_event(shop, "e-20", "order/paid", along)
        assert (seen, claimed) == (False, True)
        assert customers() == [("c_new", default)]
        row_id = db.session.execute(select(Customer.id)).scalar_one()
        assert made == (row_id, default, None, None)  # no redemption held for o_1
        db.session.commit()
    with app.app_context():
        again = paid_order_claim({"id": "o_1", "customer_id": "c_other"})
        assert find_shop_and_event(shop, "e-20", "order/paid", again)[1:] == (True, None, None)
        assert customers() == [("c_new", default)]
        db.session.execute(update(Shop).where(Shop.domain == shop).values(installed=False))
        assert find_shop_and_event(shop, "e-21", "order/paid", again)[1:] == (False, None, None)
        assert customers() == [("c_new", default)]
        db.session.rollback()
    # A guest's order has nothing to do first.
    assert paid_order_claim({"id": "o_2", "customer_id": None}) is None
    # Its parameters may not take over the claim's own.
    with app.app_context():
        clash = ClaimAlong("clash", lambda dialect, claim: ([], []), {"b_event": "e-99"})
        with pytest.raises(ValueError):
            find_shop_and_event(shop, "e-22", "order/paid", clash)
