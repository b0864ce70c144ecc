"""Memberships kept current by webhooks and segment changes; the events they send."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hooks import signals
from plugin.db import db
from plugin.segments.models import SegmentMember
from tests.conftest import auth, customer_payload, order_payload


@pytest.fixture
def changes():
    received = []

    def listen(sender, payload=None, event_id=None, **_):
        received.append(payload)

    signals.customer_segments_changed.connect(listen)
    yield received
    signals.customer_segments_changed.disconnect(listen)


def make_segment(client, name, conditions, match="all"):
    response = client.post(
        "/api/segments",
        json={"name": name, "match": match, "conditions": conditions},
        headers=auth(),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def member_ids(client, segment_id):
    body = client.get(f"/api/segments/{segment_id}/customers", headers=auth()).get_json()
    return [c["id"] for c in body["items"]]


def count(client, segment_id):
    return client.get(f"/api/segments/{segment_id}", headers=auth()).get_json()["member_count"]


REPEAT = [{"field": "total_order_count", "op": "gte", "value": 2}]


def test_second_paid_order_joins_and_refund_leaves(client, host, shop, changes):
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    repeat = make_segment(client, "Repeat buyers", REPEAT)
    assert repeat["member_count"] == 0
    assert host.webhook("order/paid", {"order": order_payload("o1")}).status_code == 200
    assert member_ids(client, repeat["id"]) == [] and changes == []
    assert host.webhook("order/paid", {"order": order_payload("o2")}).status_code == 200
    assert member_ids(client, repeat["id"]) == ["c_1"]
    assert changes == [{"customer_id": "c_1", "joined": [repeat["id"]], "left": []}]
    view = client.get("/api/customers/c_1", headers=auth()).get_json()
    assert view["segments"] == [{"id": repeat["id"], "name": "Repeat buyers"}]
    # The same order delivered again changes nothing.
    assert host.webhook("order/paid", {"order": order_payload("o2")}).status_code == 200
    assert len(changes) == 1
    assert host.webhook("order/refunded", {"order": {"id": "o2"}}).status_code == 200
    assert member_ids(client, repeat["id"]) == []
    assert changes[-1] == {"customer_id": "c_1", "joined": [], "left": [repeat["id"]]}
    assert client.get("/api/customers/c_1", headers=auth()).get_json()["segments"] == []


def test_customer_update_reevaluates_only_that_customer(client, host, shop, changes):
    for customer_id in ("c_1", "c_2"):
        host.webhook("customer/created", {"customer": customer_payload(customer_id)})
    vip = make_segment(client, "VIP", [{"field": "customer_tag", "op": "has", "value": "vip"}])
    assert vip["member_count"] == 0
    host.webhook("customer/updated", {"customer": customer_payload("c_2", tags=["VIP"])})
    assert member_ids(client, vip["id"]) == ["c_2"]
    assert changes == [{"customer_id": "c_2", "joined": [vip["id"]], "left": []}]


def test_subscription_joins_marketing_segment(client, host, shop):
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    fans = make_segment(client, "Fans", [{"field": "accepts_marketing", "op": "is", "value": True}])
    assert fans["member_count"] == 0
    payload = {"customer_id": "c_1", "channel": "email"}
    assert host.webhook("customer/subscribed", payload).status_code == 200
    assert member_ids(client, fans["id"]) == ["c_1"]


def test_new_segment_and_changed_conditions_recompute(client, host, shop, changes):
    for customer_id, points in (("c_1", 10), ("c_2", 200), ("c_3", 500)):
        host.webhook("customer/created", {"customer": customer_payload(customer_id, points=points)})
    rich = make_segment(client, "Rich", [{"field": "available_points", "op": "gte", "value": 100}])
    assert rich["member_count"] == 2 and member_ids(client, rich["id"]) == ["c_2", "c_3"]
    assert sorted(p["customer_id"] for p in changes) == ["c_2", "c_3"]
    changes.clear()
    response = client.patch(
        f"/api/segments/{rich['id']}",
        json={"conditions": [{"field": "available_points", "op": "lt", "value": 300}]},
        headers=auth(),
    )
    assert response.status_code == 200 and response.get_json()["member_count"] == 2
    assert member_ids(client, rich["id"]) == ["c_1", "c_2"]
    assert sorted((p["customer_id"], tuple(p["joined"]), tuple(p["left"])) for p in changes) == [
        ("c_1", (rich["id"],), ()),
        ("c_3", (), (rich["id"],)),
    ]
    # A rename alone does not recompute or announce anything.
    changes.clear()
    renamed = client.patch(f"/api/segments/{rich['id']}", json={"name": "Mid"}, headers=auth())
    assert renamed.get_json()["name"] == "Mid" and changes == []


def test_deleting_customer_or_segment_removes_memberships(app, client, host, shop, changes):
    for customer_id in ("c_1", "c_2"):
        host.webhook("customer/created", {"customer": customer_payload(customer_id)})
    everyone = make_segment(client, "FR", [{"field": "country", "op": "is", "value": "fr"}])
    assert everyone["member_count"] == 2
    assert host.webhook("customer/deleted", {"customer": {"id": "c_1"}}).status_code == 200
    assert member_ids(client, everyone["id"]) == ["c_2"]
    changes.clear()
    assert client.delete(f"/api/segments/{everyone['id']}", headers=auth()).status_code == 204
    assert changes == [{"customer_id": "c_2", "joined": [], "left": [everyone["id"]]}]
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(SegmentMember)).scalar() == 0
    assert client.get(f"/api/segments/{everyone['id']}", headers=auth()).status_code == 404


def test_rolled_back_change_sends_nothing(client, host, shop, changes):
    make_segment(client, "Any buyer", [{"field": "total_order_count", "op": "gte", "value": 1}])
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    # A foreign currency is refused after the customer was touched: the transaction rolls back.
    bad = order_payload("o1", currency="USD")
    assert host.webhook("order/paid", {"order": bad}).status_code == 400
    assert changes == []


def test_joining_and_leaving_at_once_writes_both_with_their_event(
    app, client, host, shop, changes
):
    """A customer who leaves one segment and joins another in the same webhook: both
    memberships change and one event names both (on PostgreSQL, in the statement that
    writes the event: :class:`plugin.events.Along`)."""
    from sqlalchemy import event

    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    host.webhook("customer/created", {"customer": customer_payload("c_2")})
    once = make_segment(client, "Once", [{"field": "total_order_count", "op": "eq", "value": 1}])
    twice = make_segment(client, "Twice", REPEAT)
    assert host.webhook("order/paid", {"order": order_payload("o1")}).status_code == 200
    assert member_ids(client, once["id"]) == ["c_1"]
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert host.webhook("order/paid", {"order": order_payload("o2")}).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert member_ids(client, once["id"]) == []
    assert member_ids(client, twice["id"]) == ["c_1"]
    assert changes[-1] == {"customer_id": "c_1", "joined": [twice["id"]], "left": [once["id"]]}
    with app.app_context():
        members = db.session.execute(
            select(SegmentMember.segment_id, SegmentMember.customer_id)
        ).all()
        assert [segment for segment, _ in members] == [twice["id"]]
    writes = [s for s in statements if "outbox_events" in s]
    assert len(writes) == 1
    if db_dialect(app) == "postgresql":
        # One round trip for the memberships and their event.
        assert "DELETE FROM segment_members" in writes[0]
        assert "INSERT INTO segment_members" in writes[0]
        assert not [s for s in statements if s.startswith("INSERT INTO segment_members")]


def db_dialect(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


def test_an_update_after_changed_conditions_uses_the_new_ones(client, host, shop, changes):
    """The incremental test is kept per segment definition (its stored text): a change of
    conditions builds it again for the next webhook."""
    points = [{"field": "available_points", "op": "gte", "value": 100}]
    for customer_id, value in (("c_1", 10), ("c_2", 200)):
        host.webhook("customer/created", {"customer": customer_payload(customer_id, points=value)})
    rich = make_segment(client, "Rich", points)
    # An update through the kept test, under the first conditions.
    host.webhook("customer/updated", {"customer": customer_payload("c_1", points=150)})
    assert member_ids(client, rich["id"]) == ["c_1", "c_2"]
    client.patch(
        f"/api/segments/{rich['id']}",
        json={"conditions": [{"field": "available_points", "op": "lt", "value": 300}]},
        headers=auth(),
    )
    assert member_ids(client, rich["id"]) == ["c_1", "c_2"]
    changes.clear()
    # 350 meets the old conditions, not the new ones.
    host.webhook("customer/updated", {"customer": customer_payload("c_1", points=350)})
    assert member_ids(client, rich["id"]) == ["c_2"]
    assert changes == [{"customer_id": "c_1", "joined": [], "left": [rich["id"]]}]
