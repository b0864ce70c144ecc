"""Delivery: signed POSTs, retries with backoff, leases, and the merchant's view of it."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from plugin.db import db, utcnow
from plugin.events.models import OutboxEvent
from plugin.outbox import delivery
from plugin.outbox.delivery import backoff, claim_batch
from tests.conftest import SHOP, Host, auth
from tests.outbox.conftest import (
    Clock,
    add_customers,
    deliver,
    install,
    make_group,
    move,
    outbox,
)


def _events(client, host, count=3):
    ids = add_customers(host, count)
    move(client, make_group(client), ids)
    return ids


def test_events_arrive_signed_with_topic_event_id_and_payload(
    app, client, host, events_shop, receiver
):
    _events(client, host, 2)
    assert deliver(app) == {"delivered": 2, "failed": 0, "dead": 0, "skipped": 0}
    rows = outbox(app)
    assert [p["event_id"] for p in receiver.posts] == [r.event_id for r in rows]
    for post, row in zip(receiver.posts, rows, strict=True):
        assert post["topic"] == "customer/group_changed" and post["shop"] == SHOP
        assert post["body"] == row.payload
        assert post["created_at"].endswith("Z")
    assert all(r.status == "delivered" and r.attempts == 1 for r in rows)
    assert all(r.delivered_at is not None and r.last_status_code == 200 for r in rows)
    assert deliver(app)["delivered"] == 0  # nothing left to send


def test_an_endpoint_down_then_up_ends_with_every_event_delivered_once(
    app, client, host, events_shop, receiver
):
    ids = _events(client, host, 5)
    receiver.failures = 7  # 500, 500, ... then up
    clock = Clock()
    for _ in range(20):
        deliver(app, clock)
        clock.advance()
        if all(r.status == "delivered" for r in outbox(app)):
            break
    rows = outbox(app)
    assert all(r.status == "delivered" for r in rows)
    assert sorted(p["body"]["customer_id"] for p in receiver.unique) == sorted(ids)
    assert len(receiver.unique) == 5
    # While the endpoint was down only the oldest event probed it; the rest waited for it.
    assert len(receiver.posts) == 7 + 5
    assert {p["event_id"] for p in receiver.posts[:7]} == {rows[0].event_id}
    assert rows[0].attempts == 8 and all(r.attempts == 1 for r in rows[1:])


def test_failures_back_off_exponentially_with_jitter(app, client, host, events_shop, receiver):
    _events(client, host, 1)
    receiver.failures = 3
    clock = Clock()
    waits = []
    for _ in range(3):
        deliver(app, clock)
        [row] = outbox(app)
        assert row.status == "pending" and "HTTP 500" in row.last_error
        assert row.last_status_code == 500
        waits.append((row.next_attempt_at - row.last_attempt_at).total_seconds())
        assert deliver(app, clock)["delivered"] == 0  # not due yet
        clock.advance()
    # base 2 s: after attempt n the wait is in [2^(n-1), 2^n] seconds (half fixed, half random).
    assert [1 <= waits[0] <= 2, 2 <= waits[1] <= 4, 4 <= waits[2] <= 8] == [True] * 3
    deliver(app, clock)
    assert outbox(app)[0].status == "delivered"


def test_backoff_is_capped_and_jittered():
    assert backoff(1, 2, 3600, rng=lambda: 0.0) == 1 and backoff(1, 2, 3600, rng=lambda: 1.0) == 2
    assert backoff(5, 2, 3600, rng=lambda: 1.0) == 32
    assert backoff(40, 2, 3600, rng=lambda: 0.0) == 1800
    assert backoff(10_000, 2, 3600, rng=lambda: 1.0) == 3600


def test_a_crash_between_post_and_mark_redelivers_with_the_same_event_id(
    app, client, host, events_shop, receiver, monkeypatch
):
    _events(client, host, 2)

    def crash(rows):
        raise SystemExit("the process dies after posting, before marking the events delivered")

    monkeypatch.setattr(delivery, "_settle_delivered", crash)
    with pytest.raises(SystemExit):
        deliver(app)
    monkeypatch.undo()
    first, second = outbox(app)
    assert [p["event_id"] for p in receiver.posts] == [first.event_id, second.event_id]
    assert first.status == second.status == "pending"
    assert first.lock_token is not None  # still leased by the dead run
    assert deliver(app)["delivered"] == 0  # nobody takes them while its lease holds
    clock = Clock(step=timedelta(minutes=2))
    clock.advance()
    assert deliver(app, clock)["delivered"] == 2  # the lease ran out: posted again
    assert [p["event_id"] for p in receiver.posts] == [first.event_id, second.event_id] * 2
    assert len(receiver.unique) == 2 and all(r.status == "delivered" for r in outbox(app))
    assert all(r.attempts == 1 for r in outbox(app))


def test_delivered_events_are_marked_in_groups(
    app, client, host, events_shop, receiver, monkeypatch
):
    _events(client, host, 7)
    monkeypatch.setattr(delivery._Delivered, "FLUSH_EVERY", 3)
    # Groups by count only: a post slowed by a loaded machine must not flush one early.
    monkeypatch.setattr(delivery._Delivered, "FLUSH_SECONDS", 1e9)
    marks = []
    real = delivery._settle_delivered
    monkeypatch.setattr(
        delivery, "_settle_delivered", lambda rows: marks.append(len(rows)) or real(rows)
    )
    assert deliver(app)["delivered"] == 7
    assert marks == [3, 3, 1]
    assert all(r.status == "delivered" and r.last_status_code == 200 for r in outbox(app))


def test_two_runs_never_claim_the_same_event(app, client, host, events_shop):
    _events(client, host, 30)
    claimed: list[list[int]] = []
    barrier = threading.Barrier(3)

    def claim():
        with app.app_context():
            barrier.wait()
            mine = []
            while batch := claim_batch(utcnow(), 4):
                mine += [event.id for event in batch]
            claimed.append(mine)
            db.session.remove()

    threads = [threading.Thread(target=claim) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [event_id for mine in claimed for event_id in mine]
    assert len(everything) == len(set(everything)) == 30


def test_a_run_whose_lease_was_taken_over_does_not_post(app, client, host, events_shop, receiver):
    _events(client, host, 1)
    with app.app_context():
        [mine] = claim_batch(utcnow(), 10)
        later = utcnow() + timedelta(minutes=5)
        [theirs] = claim_batch(later, 10)  # our lease ran out; another run took it
        assert theirs.token != mine.token
        clock = delivery._Clock(later)
        assert delivery._hold(mine, clock, timedelta(seconds=3600)) is False
        assert delivery._settle(mine, status="delivered") is False
        db.session.remove()
    assert receiver.posts == [] and outbox(app)[0].status == "pending"


def test_a_rejected_event_does_not_hold_up_the_others(app, client, host, events_shop, httpserver):
    ids = _events(client, host, 3)
    rejected = ids[0]
    got = []

    def handler(request):
        from werkzeug import Response

        body = request.get_json()
        got.append(body["customer_id"])
        return Response("bad", status=422 if body["customer_id"] == rejected else 204)

    httpserver.expect_request("/events", method="POST").respond_with_handler(handler)
    assert deliver(app) == {"delivered": 2, "failed": 1, "dead": 0, "skipped": 0}
    statuses = {r.payload["customer_id"]: r.status for r in outbox(app)}
    assert statuses == {ids[0]: "pending", ids[1]: "delivered", ids[2]: "delivered"}


def test_an_unreachable_endpoint_is_retried(app, client, host):
    install(host, "http://127.0.0.1:9/events")  # the discard port: connection refused
    _events(client, host, 2)
    assert deliver(app) == {"delivered": 0, "failed": 1, "dead": 0, "skipped": 0}
    first, second = outbox(app)
    assert first.status == "pending" and first.last_status_code is None
    assert "ConnectionError" in first.last_error
    assert second.attempts == 0 and second.next_attempt_at >= first.next_attempt_at


def test_after_the_last_attempt_an_event_is_dead_and_can_be_retried(
    app, client, host, events_shop, receiver
):
    app.config["CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPTS"] = 3
    _events(client, host, 1)
    receiver.failures = 3
    clock = Clock()
    for _ in range(4):
        deliver(app, clock)
        clock.advance()
    [row] = outbox(app)
    assert row.status == "dead" and row.attempts == 3 and row.next_attempt_at is None

    dead = client.get("/api/events?status=dead", headers=auth()).get_json()
    assert [e["id"] for e in dead["items"]] == [row.id] and dead["total"] == 1
    assert dead["items"][0]["last_error"].startswith("HTTP 500")

    retried = client.post(f"/api/events/{row.id}/retry", headers=auth())
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["status"] == "pending" and retried.get_json()["attempts"] == 0
    assert deliver(app)["delivered"] == 1
    again = client.post(f"/api/events/{row.id}/retry", headers=auth())
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"
    assert len(receiver.unique) == 1


def test_skipped_and_uninstalled(app, client, host, events_url, receiver):
    install(host, events_url)
    _events(client, host, 1)
    host.webhook("app/uninstalled", {})
    assert deliver(app)["skipped"] == 1
    [row] = outbox(app)
    assert row.status == "skipped" and row.last_error == "The shop has uninstalled the app."
    assert receiver.posts == []


def test_the_events_api(app, client, host, events_shop, receiver):
    _events(client, host, 3)
    receiver.failures = 1
    deliver(app)
    listing = client.get("/api/events?per_page=2", headers=auth()).get_json()
    assert listing["total"] == 3 and len(listing["items"]) == 2 and listing["page"] == 1
    newest = listing["items"][0]
    assert set(newest) >= {
        "id",
        "event_id",
        "topic",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "delivered_at",
    }
    pending = client.get("/api/events?status=pending", headers=auth()).get_json()
    assert pending["total"] == 3  # one failed, the two others wait behind it
    one = client.get(f"/api/events/{newest['id']}", headers=auth())
    assert one.status_code == 200 and one.get_json() == newest
    by_id = client.get(f"/api/events?event_id={newest['event_id']}", headers=auth()).get_json()
    assert [e["id"] for e in by_id["items"]] == [newest["id"]]
    bad = client.get("/api/events?status=lost", headers=auth())
    assert bad.status_code == 422 and "status" in bad.get_json()["error"]["details"]
    not_dead = client.post(f"/api/events/{newest['id']}/retry", headers=auth())
    assert not_dead.status_code == 409
    assert client.get("/api/events", headers={}).status_code == 401


def test_another_shop_never_sees_the_events(app, client, host, events_shop, receiver):
    _events(client, host, 1)
    install(Host(client), None, shop="other.example")
    [row] = outbox(app)
    other = {"Authorization": auth("other.example")["Authorization"]}
    assert client.get(f"/api/events/{row.id}", headers=other).status_code == 404
    assert client.post(f"/api/events/{row.id}/retry", headers=other).status_code == 404
    assert client.get("/api/events", headers=other).get_json()["total"] == 0


def test_retry_after_is_honoured(app, client, host, events_shop, httpserver):
    from werkzeug import Response

    httpserver.expect_request("/events", method="POST").respond_with_handler(
        lambda request: Response("slow down", status=429, headers={"Retry-After": "120"})
    )
    _events(client, host, 1)
    deliver(app)
    [row] = outbox(app)
    assert (row.next_attempt_at - row.last_attempt_at).total_seconds() >= 120


def test_prune_forgets_old_delivered_events(app, client, host, events_shop, receiver):
    _events(client, host, 2)
    deliver(app)
    with app.app_context():
        db.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == select(OutboxEvent.id).limit(1).scalar_subquery())
            .values(created_at=utcnow() - timedelta(days=31))
        )
        db.session.commit()
        assert delivery.prune(utcnow()) == 1
    assert len(outbox(app)) == 1


def test_the_job_runner_delivers_through_one_job_per_shop(app, client, host, events_shop, receiver):
    from plugin.jobs import run_pending
    from plugin.jobs.models import Job
    from plugin.jobs.registry import PERIODIC_TASKS

    assert PERIODIC_TASKS["outbox.deliver"].run is delivery.deliver_outbox
    assert PERIODIC_TASKS["outbox.deliver"].every <= 1
    with app.app_context():
        delivery.deliver_outbox()  # nothing due: no job
        assert db.session.execute(select(Job)).first() is None
    _events(client, host, 2)
    with app.app_context():
        delivery.deliver_outbox()
        delivery.deliver_outbox()  # the shop's job is still queued: not a second one
        jobs = db.session.execute(select(Job.kind, Job.status)).all()
        db.session.remove()
    assert jobs == [("outbox.deliver", "queued")]
    assert run_pending(app) == 1
    assert all(r.status == "delivered" for r in outbox(app)) and len(receiver.unique) == 2


def test_no_redirects_are_followed(app, client, host, events_shop, httpserver):
    from werkzeug import Response

    httpserver.expect_request("/events", method="POST").respond_with_handler(
        lambda request: Response("", status=302, headers={"Location": "http://example.com/"})
    )
    _events(client, host, 1)
    assert deliver(app)["failed"] == 1
    assert outbox(app)[0].last_status_code == 302


def test_every_dead_event_is_retried_at_once(app, client, host, events_shop, receiver):
    app.config["CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPTS"] = 1
    _events(client, host, 3)
    receiver.failures = 3
    clock = Clock()
    for _ in range(6):  # the endpoint fails: the others wait behind the first, then die too
        deliver(app, clock)
        clock.advance()
    assert {row.status for row in outbox(app)} == {"dead"}

    for body, field in (
        ({}, "status"),
        ({"status": "pending"}, "status"),
        ({"status": "dead", "topic": "order/exploded"}, "topic"),
    ):
        refused = client.post("/api/events/retry", json=body, headers=auth())
        assert refused.status_code == 422 and field in refused.get_json()["error"]["details"]
    assert {row.status for row in outbox(app)} == {"dead"}  # a refused call changes nothing
    other = {"Authorization": auth("other.example")["Authorization"]}
    install(Host(client), None, shop="other.example")
    refused = client.post("/api/events/retry", json={"status": "dead"}, headers=other)
    assert refused.status_code == 409  # that shop has no events_url

    retried = client.post("/api/events/retry", json={"status": "dead"}, headers=auth())
    assert retried.status_code == 200 and retried.get_json() == {"retried": 3}
    assert {(row.status, row.attempts) for row in outbox(app)} == {("pending", 0)}
    assert deliver(app)["delivered"] == 3
    assert len(receiver.unique) == 3
    again = client.post("/api/events/retry", json={"status": "dead"}, headers=auth())
    assert again.get_json() == {"retried": 0}
