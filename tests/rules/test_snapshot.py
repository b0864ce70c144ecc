"""The rule snapshot: built once per rules version, reused, rebuilt when any worker changes
a rule, one query per kind of rule, and one rebuild however many threads ask at once."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import event, insert, select, update

from plugin.checkout import pricing as checkout
from plugin.db import db
from plugin.pricing import RuleSet
from plugin.rules import snapshot
from plugin.rules.models import PriceRule
from plugin.shops.models import Shop
from tests.conftest import make_app
from tests.rules.helpers import Admin, cart, line, price_rule

HOOK = "/hooks/cart/price"


class Statements:
    """Counts the SELECTs an engine runs while active: through SQLAlchemy, and the hook's
    read past it (``plugin.db.read_rows``, which no engine event sees)."""

    def __init__(self, engine):
        self.engine = engine
        self.selects: list[str] = []

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            self.selects.append(statement)

    def _read_rows(self, statement, params):
        self.selects.append(str(statement))
        return self._real_read_rows(statement, params)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        self._real_read_rows = checkout.read_rows
        checkout.read_rows = self._read_rows
        return self

    def __exit__(self, *exc):
        checkout.read_rows = self._real_read_rows
        event.remove(self.engine, "before_cursor_execute", self._record)


def add_price_rules(app, count, start=0):
    """Write ``count`` active rules straight to the database (one per product) and bump the
    version as the operations do."""
    with app.app_context():
        shop_id = db.session.execute(select(Shop.id)).scalar_one()
        db.session.execute(
            insert(PriceRule),
            [
                {
                    "shop_id": shop_id,
                    "name": f"Rule {i}",
                    "name_key": f"rule {i}",
                    "audience_type": "all",
                    "audience_ids": [],
                    "scope_type": "products",
                    "scope_ids": [f"x{i}"],
                    "action_type": "discount_fixed",
                    "action_value": 100,
                    "priority": 0,
                    "active": True,
                }
                for i in range(start, start + count)
            ],
        )
        db.session.execute(update(Shop).values(rules_version=Shop.rules_version + 1))
        db.session.commit()


def selects_per_call(app, host, body):
    with app.app_context():
        engine = db.engine
    with Statements(engine) as first:
        assert host.post(HOOK, body).status_code == 200
    with Statements(engine) as second:
        assert host.post(HOOK, body).status_code == 200
    return len(first.selects), len(second.selects)


def test_queries_per_call_are_few_and_do_not_grow_with_rules(app, host, shop):
    body = cart([line(f"l{i}", f"x{i}") for i in range(50)])
    add_price_rules(app, 5)
    building_5, cached_5 = selects_per_call(app, host, body)
    add_price_rules(app, 195, start=5)
    building_200, cached_200 = selects_per_call(app, host, body)
    # Cached: the shop row only (a guest, no codes, no price list). Building adds one query
    # per kind of rule (price rules, bundles, gift rules, programmes, price lists, offers).
    assert cached_5 == cached_200 == 1
    assert building_5 == building_200 == cached_5 + 6
    answer = host.post(HOOK, body).get_json()
    assert answer["discount_total"] == 0 and answer["subtotal"] == 50 * 1000 - 50 * 100


def test_a_change_through_another_worker_is_seen_at_the_next_call(app, host, tmp_path):
    # Same database, its own cache: another process. (Made before the shop is installed:
    # on PostgreSQL a new test app empties the tables.)
    other_worker = make_app(tmp_path)
    host.install()
    other_admin = Admin(other_worker.test_client())
    body = cart([line("l1", "p1", unit_price=2000)])
    assert host.post(HOOK, body).get_json()["total"] == 2500
    created = other_admin.create(
        "/price-rules", price_rule(action={"type": "set_price", "value": 1500})
    )
    assert host.post(HOOK, body).get_json()["total"] == 2000
    other_admin.patch(f"/price-rules/{created['id']}", {"active": False})
    assert host.post(HOOK, body).get_json()["total"] == 2500
    other_admin.patch(f"/price-rules/{created['id']}", {"active": True})
    assert host.post(HOOK, body).get_json()["total"] == 2000
    assert other_admin.delete(f"/price-rules/{created['id']}").status_code == 204
    assert host.post(HOOK, body).get_json()["total"] == 2500
    with other_worker.app_context():
        db.session.remove()
        db.engine.dispose()


def test_rules_outside_their_window_do_not_apply(host, shop):
    admin = Admin(host.client)
    admin.create(
        "/price-rules",
        price_rule(
            "Past", ends_at="2020-01-01T00:00:00Z", action={"type": "set_price", "value": 1}
        ),
    )
    admin.create(
        "/price-rules",
        price_rule("Future", starts_at="2099-01-01", action={"type": "set_price", "value": 2}),
    )
    admin.create(
        "/price-rules", price_rule("Now", priority=9, action={"type": "set_price", "value": 3})
    )
    answer = host.post(HOOK, cart()).get_json()
    assert answer["lines"][0]["rule_unit_price"] == 3


def test_one_rebuild_for_many_threads(app, monkeypatch):
    built = []

    def slow_load(shop_id):
        built.append(shop_id)
        time.sleep(0.05)  # long enough for every thread to arrive while it builds
        return RuleSet.empty()

    monkeypatch.setattr(snapshot, "load_rule_set", slow_load)
    shop = SimpleNamespace(id=4242, rules_version=7)
    results = []

    def ask():
        with app.app_context():
            results.append(snapshot.rule_set(shop))

    threads = [threading.Thread(target=ask) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert built == [4242]
    assert len(results) == 12 and all(r is results[0] for r in results)
    shop.rules_version = 8
    with app.app_context():
        assert snapshot.rule_set(shop) is not results[0]
    assert built == [4242, 4242]


@pytest.mark.parametrize("percent, expected", [(1250, "12.50"), (1000, "10.00"), (1, "0.01")])
def test_basis_points_become_exact_percents(percent, expected):
    assert str(snapshot.percent(percent)) == expected
