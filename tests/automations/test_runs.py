"""Triggers → give_coupon: each trigger, once per customer, empty pools, expiry, coupon/given."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update

from plugin.automations import triggers
from plugin.automations.models import Automation
from plugin.automations.runs import RUN_JOB, run_for_customer
from plugin.codes.models import Code
from plugin.customers.models import Customer
from plugin.db import db, enter_shop, utcnow
from plugin.events import publish_selected
from plugin.events.models import OutboxEvent
from plugin.jobs.models import Job
from plugin.shops.models import Shop
from tests.automations.conftest import (
    add_codes,
    assigned,
    buyers_segment,
    create_customer,
    queued_jobs,
    run_jobs,
    runs,
)
from tests.conftest import PG_URL, SHOP, auth, json_rows, order_payload


def coupon_events(app):
    with app.app_context():
        rows = db.session.execute(
            select(OutboxEvent.payload)
            .where(OutboxEvent.topic == "coupon/given")
            .order_by(OutboxEvent.id)
        ).scalars()
        return list(rows)


def customer_row_id(app, external_id):
    with app.app_context():
        return db.session.execute(
            select(Customer.id).where(Customer.external_id == external_id)
        ).scalar_one()


def test_customer_created_gives_a_coupon_and_announces_it(
    app, client, host, make_pool, make_automation
):
    pool = make_pool(codes=("WELCOME-A", "WELCOME-B"))
    automation = make_automation({"type": "customer_created"}, pool["id"])
    create_customer(host, "c_1")
    assert queued_jobs(app) == [
        {"automation_id": automation["id"], "customer_ids": ["c_1"], "cause": "customer/created"}
    ]
    assert run_jobs(app) == [{"given": 1, "failed": 0, "skipped": 0}]

    assert assigned(app, pool["id"]) == {"WELCOME-A": customer_row_id(app, "c_1")}
    history = runs(client, automation["id"])
    assert history["total"] == 1
    [run] = history["items"]
    assert run["status"] == "succeeded" and run["customer_id"] == "c_1"
    assert run["code"] == "WELCOME-A" and run["cause"] == "customer/created"
    assert run["expires_at"] is None and run["error"] is None
    assert coupon_events(app) == [
        {
            "customer_id": "c_1",
            "discount_id": pool["id"],
            "code": "WELCOME-A",
            "expires_at": None,
            "automation_id": automation["id"],
        }
    ]
    after = client.get(f"/api/automations/{automation['id']}", headers=auth()).get_json()
    assert after["runs"] == {"succeeded": 1, "failed": 0}
    # An update of the customer is not a creation.
    host.webhook("customer/updated", {"customer": {**_snapshot("c_1"), "points": 5}})
    assert queued_jobs(app) == []


def _snapshot(customer_id):
    from tests.conftest import customer_payload

    return customer_payload(customer_id)


def test_once_per_customer_however_often_the_trigger_comes(
    app, client, host, make_pool, make_automation
):
    pool = make_pool(codes=("P1", "P2", "P3"))
    automation = make_automation({"type": "order_paid"}, pool["id"])
    create_customer(host, "c_1")
    for order_id in ("o_1", "o_2"):
        host.webhook("order/paid", {"order": order_payload(order_id, "c_1")})
    # The same order again under a new event id counts once and triggers nothing more.
    host.webhook("order/paid", {"order": order_payload("o_2", "c_1")})
    assert len(queued_jobs(app)) == 2
    assert run_jobs(app) == [
        {"given": 1, "failed": 0, "skipped": 0},
        {"given": 0, "failed": 0, "skipped": 1},
    ]
    with app.app_context():
        shop = db.session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
        # A redelivered trigger (a job run again) gives nothing either.
        assert run_for_customer(shop, automation["id"], "c_1", "order/paid") == "skipped"
        db.session.remove()
    assert list(assigned(app, pool["id"])) == ["P1"]
    assert runs(client, automation["id"])["total"] == 1
    assert len(coupon_events(app)) == 1


def test_an_empty_pool_records_a_failed_run_and_never_blocks_the_trigger(
    app, client, host, make_pool, make_automation
):
    pool = make_pool(codes=("LAST",))
    automation = make_automation({"type": "order_paid"}, pool["id"])
    for customer_id in ("c_1", "c_2"):
        create_customer(host, customer_id)
        answer = host.webhook(
            "order/paid", {"order": order_payload(f"o_{customer_id}", customer_id)}
        )
        assert answer.status_code == 200
    assert run_jobs(app) == [
        {"given": 1, "failed": 0, "skipped": 0},
        {"given": 0, "failed": 1, "skipped": 0},
    ]
    # The orders were counted all the same.
    customer = client.get("/api/customers/c_2", headers=auth()).get_json()
    assert customer["figures"]["order_count"] == 1
    failed = runs(client, automation["id"], "?status=failed")["items"]
    assert [(r["customer_id"], r["error_code"], r["code"]) for r in failed] == [
        ("c_2", "pool_empty", None)
    ]
    assert failed[0]["error"].startswith("Pool empty")
    told = client.get(f"/api/automations/{automation['id']}", headers=auth()).get_json()
    assert told["last_error"].startswith("Pool empty") and told["last_error_at"]
    assert told["runs"] == {"succeeded": 1, "failed": 1}
    assert len(coupon_events(app)) == 1

    # More codes, the next order: the customer gets theirs and the alert is cleared.
    add_codes(client, pool["id"], ["FRESH"])
    host.webhook("order/paid", {"order": order_payload("o_again", "c_2")})
    assert run_jobs(app) == [{"given": 1, "failed": 0, "skipped": 0}]
    healed = client.get(f"/api/automations/{automation['id']}", headers=auth()).get_json()
    assert healed["last_error"] is None and healed["runs"] == {"succeeded": 2, "failed": 1}


def test_a_failing_reactor_never_undoes_the_trigger(
    app, host, make_pool, make_automation, monkeypatch
):
    pool = make_pool()
    make_automation({"type": "customer_created"}, pool["id"])

    def broken(*args, **kwargs):
        raise RuntimeError("the job table is on fire")

    monkeypatch.setattr(triggers, "enqueue", broken)
    create_customer(host, "c_1")
    assert customer_row_id(app, "c_1") is not None and queued_jobs(app) == []


def test_joined_group_by_a_move_and_by_creation_in_the_default_group(
    app, client, host, make_pool, make_automation
):
    pool = make_pool(codes=("G1", "G2", "G3"))
    vip = client.post("/api/groups", json={"name": "VIP"}, headers=auth()).get_json()["id"]
    standard = next(
        g["id"]
        for g in client.get("/api/groups", headers=auth()).get_json()["items"]
        if g["is_default"]
    )
    to_vip = make_automation({"type": "joined_group", "group_id": vip}, pool["id"])
    welcome = make_automation({"type": "joined_group", "group_id": standard}, pool["id"])
    create_customer(host, "c_1")
    create_customer(host, "c_2")
    client.post(f"/api/groups/{vip}/customers", json={"customer_ids": ["c_2"]}, headers=auth())
    run_jobs(app)
    assert [r["customer_id"] for r in runs(client, welcome["id"])["items"]] == ["c_2", "c_1"]
    assert [r["customer_id"] for r in runs(client, to_vip["id"])["items"]] == ["c_2"]
    assert [r["cause"] for r in runs(client, to_vip["id"])["items"]] == ["customer/group_changed"]


def test_joined_segment_incrementally_and_on_a_recompute(
    app, client, host, make_pool, make_automation
):
    pool = make_pool(codes=("S1", "S2", "S3"))
    create_customer(host, "early")
    host.webhook("order/paid", {"order": order_payload("o_0", "early")})
    segment = buyers_segment(client)
    automation = make_automation({"type": "joined_segment", "segment_id": segment}, pool["id"])
    create_customer(host, "c_1")
    host.webhook("order/paid", {"order": order_payload("o_1", "c_1")})
    # A change of conditions recomputes the segment set-based: 'early' leaves and joins again.
    client.patch(
        f"/api/segments/{segment}",
        json={"conditions": [{"field": "total_order_count", "op": "gte", "value": 5}]},
        headers=auth(),
    )
    client.patch(
        f"/api/segments/{segment}",
        json={"conditions": [{"field": "total_order_count", "op": "gte", "value": 1}]},
        headers=auth(),
    )
    run_jobs(app)
    given = {r["customer_id"]: r["status"] for r in runs(client, automation["id"])["items"]}
    assert given == {"c_1": "succeeded", "early": "succeeded"}
    assert len(assigned(app, pool["id"])) == 2


def test_customer_subscribed(app, client, host, make_pool, make_automation):
    pool = make_pool()
    automation = make_automation({"type": "customer_subscribed"}, pool["id"])
    create_customer(host, "c_1")
    host.webhook("customer/subscribed", {"customer_id": "c_1", "channel": "email"})
    run_jobs(app)
    [run] = runs(client, automation["id"])["items"]
    assert run["customer_id"] == "c_1" and run["cause"] == "customer/subscribed"


def test_coupon_given_sets_off_other_automations(app, client, host, make_pool, make_automation):
    welcome = make_pool(codes=("W1",), name="Welcome")
    bonus = make_pool(codes=("B1",), name="Bonus")
    first = make_automation({"type": "customer_created"}, welcome["id"])
    follow = make_automation({"type": "coupon_given", "discount_id": welcome["id"]}, bonus["id"])
    # Giving from the bonus discount triggers nothing (it listens to the welcome discount).
    make_automation({"type": "coupon_given", "discount_id": bonus["id"]}, bonus["id"], active=False)
    create_customer(host, "c_1")
    run_jobs(app)
    assert [r["code"] for r in runs(client, first["id"])["items"]] == ["W1"]
    [chained] = runs(client, follow["id"])["items"]
    assert chained["code"] == "B1" and chained["cause"] == "coupon/given"
    assert [e["code"] for e in coupon_events(app)] == ["W1", "B1"]


def test_inactive_automations_do_not_fire(app, client, host, make_pool, make_automation):
    pool = make_pool()
    automation = make_automation({"type": "customer_created"}, pool["id"], active=False)
    create_customer(host, "c_1")
    assert queued_jobs(app) == []
    # Switched off after the trigger but before the run: the run does nothing.
    client.patch(f"/api/automations/{automation['id']}", json={"active": True}, headers=auth())
    create_customer(host, "c_2")
    client.patch(f"/api/automations/{automation['id']}", json={"active": False}, headers=auth())
    assert run_jobs(app) == [{"given": 0, "failed": 0, "skipped": 1}]
    assert assigned(app, pool["id"]) == {}


def test_a_deleted_discount_fails_the_run_and_tells_the_merchant(
    app, client, host, make_pool, make_automation
):
    pool = make_pool()
    automation = make_automation({"type": "customer_created"}, pool["id"])
    create_customer(host, "c_1")
    assert client.delete(f"/api/discounts/{pool['id']}", headers=auth()).status_code == 204
    assert run_jobs(app) == [{"given": 0, "failed": 1, "skipped": 0}]
    [run] = runs(client, automation["id"])["items"]
    assert run["error_code"] == "discount_missing"
    after = client.get(f"/api/automations/{automation['id']}", headers=auth()).get_json()
    assert after["action"]["discount_id"] is None and "deleted" in after["last_error"]


def test_the_code_expires_after_the_days_or_at_the_discount_end(
    app, client, host, make_pool, make_automation
):
    soon = (utcnow() + timedelta(days=3)).isoformat()
    short = make_pool(codes=("SHORT1",), name="Short", ends_at=soon)
    long = make_pool(codes=("LONG1",), name="Long")
    make_automation({"type": "customer_created"}, short["id"], action={"expires_after_days": 30})
    make_automation({"type": "customer_created"}, long["id"], action={"expires_after_days": 7})
    create_customer(host, "c_1")
    before = utcnow()
    run_jobs(app)
    with app.app_context():
        codes = {c.code: c.expires_at for c in db.session.execute(select(Code)).scalars()}
    assert abs((codes["SHORT1"] - (before + timedelta(days=3))).total_seconds()) < 60
    assert abs((codes["LONG1"] - (before + timedelta(days=7))).total_seconds()) < 60
    [event_short, event_long] = coupon_events(app)
    assert event_long["expires_at"].endswith("Z") and event_short["expires_at"].startswith(
        codes["SHORT1"].date().isoformat()
    )


def _price(host, code, customer_id="c_1"):
    body = {
        "cart_id": "k_1",
        "currency": "EUR",
        "customer_id": customer_id,
        "channel": "web",
        "payment_method": "paypal",
        "shipping": None,
        "lines": [
            {
                "id": "l1",
                "product_id": "p1",
                "kind": "product",
                "category_ids": [],
                "quantity": 1,
                "unit_price": 10000,
            }
        ],
        "codes": [code],
    }
    answer = host.post("/hooks/cart/price", body)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["codes"][0]


def test_pricing_refuses_an_expired_assigned_code(app, client, host, make_pool, make_automation):
    pool = make_pool(codes=("GIFT1",))
    make_automation({"type": "customer_created"}, pool["id"], action={"expires_after_days": 7})
    create_customer(host, "c_1")
    run_jobs(app)
    applied = _price(host, "GIFT1")
    assert applied["status"] == "applied"
    assert _price(host, "GIFT1", "c_2")["reason"] == "assigned_to_another_customer"
    with app.app_context():
        db.session.execute(
            update(Code)
            .where(Code.code == "GIFT1")
            .values(expires_at=utcnow() - timedelta(hours=1))
        )
        db.session.commit()
    expired = _price(host, "GIFT1")
    assert (expired["status"], expired["reason"]) == ("rejected", "expired")


def test_a_killed_job_resumes_after_its_progress(app, host, make_pool, make_automation):
    from plugin.automations.runs import run_automation_job
    from plugin.jobs.models import Job

    pool = make_pool(codes=("R1", "R2", "R3"))
    automation = make_automation({"type": "customer_created"}, pool["id"])
    for customer_id in ("c_1", "c_2", "c_3"):
        create_customer(host, customer_id)
    with app.app_context():
        shop = db.session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
        job = Job(shop_id=shop.id, kind="automations.run", status="running", progress=2, total=3)
        job.params = {"automation_id": automation["id"], "customer_ids": ["c_1", "c_2", "c_3"]}
        db.session.add(job)
        db.session.commit()
        done = []
        assert run_automation_job(job, done.append) == {"given": 1, "failed": 0, "skipped": 2}
        assert done == [3]
        db.session.remove()


@pytest.mark.parametrize("chunk", [2])
def test_many_customers_are_split_into_jobs(
    app, client, host, make_pool, make_automation, monkeypatch, chunk
):
    monkeypatch.setattr(triggers, "CHUNK", chunk)
    pool = make_pool(codes=tuple(f"M{i}" for i in range(5)))
    for customer_id in ("a", "b", "c", "d", "e"):
        create_customer(host, customer_id)
    group = client.post("/api/groups", json={"name": "VIP"}, headers=auth()).get_json()["id"]
    make_automation({"type": "joined_group", "group_id": group}, pool["id"])
    client.post(
        f"/api/groups/{group}/customers",
        json={"customer_ids": ["a", "b", "c", "d", "e"]},
        headers=auth(),
    )
    assert [job["customer_ids"] for job in queued_jobs(app)] == [["a", "b"], ["c", "d"], ["e"]]
    assert sum(r["given"] for r in run_jobs(app)) == 5


def test_automation_model_has_one_row_per_automation(app, make_pool, make_automation):
    pool = make_pool()
    make_automation({"type": "customer_created"}, pool["id"])
    with app.app_context():
        assert len(db.session.execute(select(Automation)).all()) == 1


def test_the_job_runner_runs_automations(app, client, host, make_pool, make_automation):
    from plugin.jobs import run_pending

    pool = make_pool(codes=("RUNNER1",))
    automation = make_automation({"type": "customer_created"}, pool["id"])
    create_customer(host, "c_1")
    assert run_pending(app) == 1
    [run] = runs(client, automation["id"])["items"]
    assert run["code"] == "RUNNER1"
    # The jobs API shows the run's outcome.
    jobs = client.get("/api/jobs?per_page=10", headers=auth()).get_json()["items"]
    [done] = [j for j in jobs if j["kind"] == "automations.run"]
    assert done["status"] == "succeeded"
    assert done["result"] == {"given": 1, "failed": 0, "skipped": 0}


def test_a_commit_reads_the_shops_automations_once(app, client, host, make_pool, make_automation):
    """An order/paid reacts twice (to the order, then to the segment the customer joins):
    both reactions fire their automations from one read of the shop's automations, and
    not even that one while the shop's settings keep their version (per_version)."""
    pool = make_pool(codes=("P1", "P2", "P3", "P4"))
    segment = buyers_segment(client)
    on_segment = make_automation({"type": "joined_segment", "segment_id": segment}, pool["id"])
    on_order = make_automation({"type": "order_paid"}, pool["id"])
    create_customer(host, "c_1")
    # A change of an automation bumps the version: the next webhook reads them again.
    changed = client.patch(
        f"/api/automations/{on_order['id']}", json={"name": "On order"}, headers=auth()
    )
    assert changed.status_code == 200, changed.get_json()
    reads: list[str] = []

    def count_reads(conn, cursor, statement, parameters, context, many):
        if statement.lstrip().upper().startswith("SELECT") and "FROM automations" in statement:
            reads.append(statement)

    def paid_counting_reads(order_id: str, customer_id: str) -> Any:
        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", count_reads)
        try:
            return host.webhook("order/paid", {"order": order_payload(order_id, customer_id)})
        finally:
            event.remove(engine, "before_cursor_execute", count_reads)

    paid = paid_counting_reads("o_1", "c_1")
    assert paid.status_code == 200, paid.get_json()
    assert len(reads) == 1, reads
    create_customer(host, "c_2")
    paid = paid_counting_reads("o_2", "c_2")
    assert paid.status_code == 200, paid.get_json()
    assert len(reads) == 1, reads  # the same version: kept from the first order
    run_jobs(app)
    for automation in (on_segment, on_order):
        given = {r["customer_id"]: r["status"] for r in runs(client, automation["id"])["items"]}
        assert given == {"c_1": "succeeded", "c_2": "succeeded"}


def test_a_paused_or_deleted_automation_is_not_heard_by_the_next_webhook(
    app, client, host, make_pool, make_automation
):
    """The ingest path keeps the active automations per version of the shop's settings:
    pausing, resuming or deleting one is heard by the very next webhook."""
    pool = make_pool(codes=("P1", "P2", "P3"))
    on_order = make_automation({"type": "order_paid"}, pool["id"])
    url = f"/api/automations/{on_order['id']}"
    for number, active in ((1, True), (2, False), (3, True)):
        if number > 1:
            changed = client.patch(url, json={"active": active}, headers=auth())
            assert changed.status_code == 200, changed.get_json()
        create_customer(host, f"c_{number}")
        paid = host.webhook("order/paid", {"order": order_payload(f"o_{number}", f"c_{number}")})
        assert paid.status_code == 200, paid.get_json()
    run_jobs(app)
    given = {r["customer_id"] for r in runs(client, on_order["id"])["items"]}
    assert given == {"c_1", "c_3"}
    on_created = make_automation({"type": "customer_created"}, pool["id"])
    create_customer(host, "c_4")
    assert queued_runs(app) == 1
    assert client.delete(f"/api/automations/{on_created['id']}", headers=auth()).status_code == 204
    create_customer(host, "c_5")
    assert queued_runs(app) == 1  # no run queued for the deleted automation


def queued_runs(app) -> int:
    with app.app_context():
        return len(
            db.session.execute(
                select(Job.id).where(Job.kind == RUN_JOB, Job.status == "queued")
            ).all()
        )


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="a set-based publish runs set-based on PostgreSQL only")
def test_a_set_based_publish_queues_runs_for_the_segments_and_groups_listened_to(
    app, client, host, make_pool, make_automation
):
    """The set-based form reads only the events that name a group or segment an automation
    listens to, and queues what the list form would: not a customer who joined another
    segment, or whose event names none."""
    pool = make_pool()
    segment = buyers_segment(client)
    vip = client.post("/api/groups", json={"name": "VIP"}, headers=auth()).get_json()["id"]
    make_automation({"type": "joined_segment", "segment_id": segment}, pool["id"])
    make_automation({"type": "joined_group", "group_id": vip}, pool["id"])
    for customer_id in ("c_1", "c_2", "c_3", "c_4"):
        create_customer(host, customer_id)
    run_jobs(app)  # nothing listens to customer/created
    with app.app_context():
        shop = db.session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
        enter_shop(shop.id)
        publish_selected(
            shop,
            "customer/segments_changed",
            json_rows(
                [
                    {"customer_id": "c_1", "joined": [segment + 1000], "left": []},
                    {"customer_id": "c_2", "joined": [segment + 1000, segment], "left": []},
                    {"customer_id": "c_3", "joined": None, "left": [segment]},
                    {"customer_id": "c_4", "joined": [segment], "left": []},
                ]
            ),
        )
        publish_selected(
            shop,
            "customer/group_changed",
            json_rows(
                [
                    {"customer_id": "c_1", "from_group": None, "to_group": vip},
                    {"customer_id": "c_3", "from_group": vip, "to_group": None},
                ]
            ),
        )
        db.session.commit()
    queued = {(job["cause"], tuple(job["customer_ids"])) for job in queued_jobs(app)}
    assert queued == {
        ("customer/segments_changed", ("c_2", "c_4")),
        ("customer/group_changed", ("c_1",)),
    }


def test_every_change_of_what_is_kept_per_version_bumps_it(app, client, make_pool):
    """Groups (automatic ones), automations and discounts (automations name them) are read
    by the webhooks per version of the shop's settings: each change bumps it."""

    def version() -> int:
        with app.app_context():
            return db.session.execute(
                select(Shop.rules_version).where(Shop.domain == SHOP)
            ).scalar_one()

    def bumps(method: str, url: str, body: Any = None, status: int = 200) -> Any:
        before = version()
        answer = client.open(url, method=method, json=body, headers=auth())
        assert answer.status_code == status, answer.get_json()
        assert version() == before + 1, (method, url)
        return answer.get_json()

    group = bumps("POST", "/api/groups", {"name": "VIP"}, 201)
    bumps("PATCH", f"/api/groups/{group['id']}", {"auto_priority": 2})
    discount = make_pool(codes=("K1",))
    body = {
        "name": "A",
        "trigger": {"type": "customer_created"},
        "action": {"type": "give_coupon", "discount_id": discount["id"]},
    }
    automation = bumps("POST", "/api/automations", body, 201)
    bumps("PATCH", f"/api/automations/{automation['id']}", {"active": False})
    bumps("DELETE", f"/api/automations/{automation['id']}", status=204)
    bumps("DELETE", f"/api/discounts/{discount['id']}", status=204)
