"""Two automation runs at once never hand out one code twice (PostgreSQL: real row locks;
SQLite serialises writers, and must end the same way)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from plugin.automations import runs as automation_runs
from plugin.db import db, unit_of_work
from plugin.shops.models import Shop
from tests.automations.conftest import add_codes, assigned, create_customer, runs
from tests.conftest import PG_URL, SHOP, auth


def _race(app, monkeypatch, automation_id, customers, until_the_other_ended=False):
    """Run the automation for each customer in its own thread; the first to take a code
    holds its transaction open until the other has tried to take one too (or, with
    ``until_the_other_ended``, until the other's run has committed)."""
    real_take = automation_runs.take_pool_code
    lock = threading.Lock()
    taken, attempted, other_ended = threading.Event(), threading.Event(), threading.Event()
    order: list[str] = []
    # On SQLite the second run waits for the writer lock, so it cannot try while we wait.
    patience = 5 if PG_URL else 0.5

    def take(discount, customer, expires_at=None):
        with lock:
            first = not order
            order.append(customer.external_id)
        if first:
            code = real_take(discount, customer, expires_at)
            taken.set()
            (other_ended if until_the_other_ended else attempted).wait(patience)
            return code
        taken.wait(patience)
        code = real_take(discount, customer, expires_at)
        attempted.set()
        return code

    monkeypatch.setattr(automation_runs, "take_pool_code", take)
    outcomes: dict[str, str] = {}
    barrier = threading.Barrier(len(customers))

    def run(external_id):
        with app.app_context():
            shop = db.session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
            db.session.commit()  # SQLite: let go of the writer lock before meeting the others
            barrier.wait(30)
            try:
                with unit_of_work():  # the job's checkpoint
                    outcome = automation_runs.run_for_customer(
                        shop, automation_id, external_id, "test"
                    )
                outcomes[external_id + str(len(outcomes))] = outcome
            finally:
                db.session.remove()
                if order and order[0] != external_id:
                    other_ended.set()

    threads = [threading.Thread(target=run, args=(c,)) for c in customers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return sorted(outcomes.values())


def test_one_code_left_two_runs_one_succeeds_one_fails(
    app, client, host, make_pool, make_automation, monkeypatch
):
    pool = make_pool(codes=("ONLY",))
    automation = make_automation({"type": "order_paid"}, pool["id"])
    create_customer(host, "c_1")
    create_customer(host, "c_2")
    assert _race(app, monkeypatch, automation["id"], ["c_1", "c_2"]) == ["failed", "given"]
    history = runs(client, automation["id"])["items"]
    assert sorted(r["status"] for r in history) == ["failed", "succeeded"]
    failed = next(r for r in history if r["status"] == "failed")
    succeeded = next(r for r in history if r["status"] == "succeeded")
    assert failed["error_code"] == "pool_empty" and succeeded["code"] == "ONLY"
    assert len(assigned(app, pool["id"])) == 1
    told = client.get(f"/api/automations/{automation['id']}", headers=auth()).get_json()
    assert told["last_error"].startswith("Pool empty")


@pytest.mark.skipif(not PG_URL, reason="races need PostgreSQL row locks; SQLite serialises all")
def test_a_run_that_failed_while_another_held_the_last_code_keeps_its_alert(
    app, client, host, make_pool, make_automation, monkeypatch
):
    """The run that found the pool empty commits first, the run that took the last code
    after it: the merchant's alert stays (the pool is empty), whichever commits last."""
    pool = make_pool(codes=("ONLY",))
    automation = make_automation({"type": "order_paid"}, pool["id"])
    create_customer(host, "c_1")
    create_customer(host, "c_2")
    outcomes = _race(app, monkeypatch, automation["id"], ["c_1", "c_2"], until_the_other_ended=True)
    assert outcomes == ["failed", "given"]
    told = client.get(f"/api/automations/{automation['id']}", headers=auth()).get_json()
    assert told["last_error"].startswith("Pool empty"), told
    # A later success clears it.
    add_codes(client, pool["id"], ["MORE"])
    create_customer(host, "c_3")
    with app.app_context():
        shop = db.session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
        with unit_of_work():
            assert automation_runs.run_for_customer(shop, automation["id"], "c_3", "t") == "given"
    told = client.get(f"/api/automations/{automation['id']}", headers=auth()).get_json()
    assert told["last_error"] is None and told["last_error_at"] is None


def test_two_runs_for_one_customer_give_one_code(
    app, client, host, make_pool, make_automation, monkeypatch
):
    pool = make_pool(codes=("FIRST", "SECOND"))
    automation = make_automation({"type": "order_paid"}, pool["id"])
    create_customer(host, "c_1")
    assert _race(app, monkeypatch, automation["id"], ["c_1", "c_1"]) == ["given", "skipped"]
    assert len(assigned(app, pool["id"])) == 1  # the loser's code went back to the pool
    unassigned = client.get(
        f"/api/discounts/{pool['id']}/codes?status=unassigned", headers=auth()
    ).get_json()
    assert unassigned["total"] == 1
    assert [r["status"] for r in runs(client, automation["id"])["items"]] == ["succeeded"]


def test_many_runs_on_a_small_pool_never_share_a_code(
    app, client, host, make_pool, make_automation
):
    pool = make_pool(codes=tuple(f"K{i}" for i in range(5)))
    automation = make_automation({"type": "order_paid"}, pool["id"])
    customers = [f"c_{i}" for i in range(8)]
    for customer_id in customers:
        create_customer(host, customer_id)
    outcomes = []
    barrier = threading.Barrier(len(customers))

    def run(external_id):
        with app.app_context():
            shop = db.session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
            db.session.commit()  # SQLite: let go of the writer lock before meeting the others
            barrier.wait(30)
            try:
                with unit_of_work():  # the job's checkpoint
                    outcome = automation_runs.run_for_customer(
                        shop, automation["id"], external_id, "t"
                    )
                outcomes.append(outcome)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(c,)) for c in customers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["failed"] * 3 + ["given"] * 5
    given = assigned(app, pool["id"])
    assert len(given) == 5 and len(set(given.values())) == 5
    codes = [r["code"] for r in runs(client, automation["id"], "?status=succeeded")["items"]]
    assert sorted(codes) == sorted(given)
