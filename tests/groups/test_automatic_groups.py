"""Automatic groups (contract §8): placement by segments, locks, one event per real move."""

from __future__ import annotations

import pytest

from hooks import signals
from tests.conftest import auth, customer_payload, order_payload

VIP_TAG = [{"field": "customer_tag", "op": "has", "value": "vip"}]
BUYERS = [{"field": "total_order_count", "op": "gte", "value": 1}]


@pytest.fixture
def moves():
    received = []

    def listen(sender, payload=None, event_id=None, **_):
        received.append(payload)

    signals.customer_group_changed.connect(listen)
    yield received
    signals.customer_group_changed.disconnect(listen)


def segment(client, name, conditions):
    response = client.post(
        "/api/segments", json={"name": name, "match": "all", "conditions": conditions},
        headers=auth(),
    )  # fmt: skip
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def group(client, name, **fields):
    response = client.post("/api/groups", json={"name": name, **fields}, headers=auth())
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def group_of(client, customer_id):
    answer = client.get(f"/api/customers/{customer_id}", headers=auth()).get_json()
    return answer["group"]["id"]


def default_id(client):
    items = client.get("/api/groups", headers=auth()).get_json()["items"]
    return next(g["id"] for g in items if g["is_default"])


def add(host, customer_id, **fields):
    answer = host.webhook("customer/created", {"customer": customer_payload(customer_id, **fields)})
    assert answer.status_code == 200


def tag(host, customer_id, *tags):
    answer = host.webhook(
        "customer/updated", {"customer": customer_payload(customer_id, tags=list(tags))}
    )
    assert answer.status_code == 200


def test_placement_follows_tags_orders_and_refunds(client, host, shop, moves):
    standard = default_id(client)
    vip_segment = segment(client, "VIP", VIP_TAG)
    buyers_segment = segment(client, "Buyers", BUYERS)
    vip = group(client, "VIP", auto_segment_id=vip_segment["id"], auto_priority=1)
    buyers = group(client, "Buyers", auto_segment_id=buyers_segment["id"], auto_priority=2)
    assert (vip["auto_segment_id"], vip["auto_priority"]) == (vip_segment["id"], 1)
    add(host, "c_1")
    assert group_of(client, "c_1") == standard and moves == []

    tag(host, "c_1", "VIP")
    assert group_of(client, "c_1") == vip["id"]
    assert moves == [{"customer_id": "c_1", "from_group": standard, "to_group": vip["id"]}]

    # A paid order puts them in Buyers too, but VIP has the lower auto_priority: no move.
    assert host.webhook("order/paid", {"order": order_payload("o_1")}).status_code == 200
    assert group_of(client, "c_1") == vip["id"] and len(moves) == 1

    tag(host, "c_1")  # no tag left: Buyers takes them
    assert group_of(client, "c_1") == buyers["id"]
    assert moves[-1] == {"customer_id": "c_1", "from_group": vip["id"], "to_group": buyers["id"]}

    assert host.webhook("order/refunded", {"order": {"id": "o_1"}}).status_code == 200
    assert group_of(client, "c_1") == standard
    assert moves[-1]["to_group"] == standard and len(moves) == 3


def test_editing_auto_fields_replaces_set_based_and_a_segment_in_use_is_409(
    client, host, shop, moves
):
    standard = default_id(client)
    for customer_id in ("c_1", "c_2", "c_3"):
        add(host, customer_id, tags=["vip"] if customer_id != "c_3" else [])
    vip_segment = segment(client, "VIP", VIP_TAG)
    anyone = [{"field": "total_order_count", "op": "gte", "value": 0}]
    everyone = segment(client, "Everyone", anyone)
    assert moves == []

    vip = group(client, "VIP", auto_segment_id=vip_segment["id"], auto_priority=5)
    assert {m["customer_id"] for m in moves} == {"c_1", "c_2"}
    wide = group(client, "Wide", auto_segment_id=everyone["id"], auto_priority=9)
    placed = [group_of(client, c) for c in ("c_1", "c_2", "c_3")]
    assert placed == [vip["id"], vip["id"], wide["id"]]
    assert len(moves) == 3

    # Wide first now: everyone moves there, each announced once.
    moves.clear()
    patched = client.patch(f"/api/groups/{wide['id']}", json={"auto_priority": 1}, headers=auth())
    assert patched.status_code == 200 and patched.get_json()["auto_priority"] == 1
    assert sorted(m["customer_id"] for m in moves) == ["c_1", "c_2"]
    # Saving again moves nobody and says nothing.
    client.patch(f"/api/groups/{wide['id']}", json={"auto_priority": 1}, headers=auth())
    assert len(moves) == 2

    conflict = client.delete(f"/api/segments/{everyone['id']}", headers=auth())
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["details"]["group_ids"] == [str(wide["id"])]

    # Not automatic any more: its customers go back by the rule.
    moves.clear()
    client.patch(f"/api/groups/{wide['id']}", json={"auto_segment_id": None}, headers=auth())
    assert [group_of(client, c) for c in ("c_1", "c_2", "c_3")] == [vip["id"], vip["id"], standard]
    assert len(moves) == 3
    assert client.delete(f"/api/segments/{everyone['id']}", headers=auth()).status_code == 204

    unknown = client.patch(f"/api/groups/{vip['id']}", json={"auto_segment_id": 999_999},
                           headers=auth())  # fmt: skip
    assert unknown.status_code == 422
    assert "auto_segment_id" in unknown.get_json()["error"]["details"]


def test_moves_by_hand_lock_and_release_places_at_once(client, host, shop, moves):
    standard = default_id(client)
    vip_segment = segment(client, "VIP", VIP_TAG)
    vip = group(client, "VIP", auto_segment_id=vip_segment["id"])
    manual = group(client, "Manual")
    add(host, "c_1", tags=["vip"])
    add(host, "c_2")
    assert group_of(client, "c_1") == vip["id"]

    moved = client.post(f"/api/groups/{manual['id']}/customers",
                        json={"customer_ids": ["c_1", "c_2"]}, headers=auth())  # fmt: skip
    assert moved.status_code == 200 and moved.get_json()["moved"] == 2
    tag(host, "c_2", "vip")  # locked: the segment no longer moves them
    assert group_of(client, "c_2") == manual["id"]

    moves.clear()
    released = client.post("/api/groups/locks/release", json={"customer_ids": ["c_1", "c_2"]},
                           headers=auth())  # fmt: skip
    assert released.status_code == 200, released.get_json()
    assert released.get_json() == {"released": 2, "moved": 2}
    assert group_of(client, "c_1") == group_of(client, "c_2") == vip["id"]
    assert len(moves) == 2

    unknown = client.post("/api/groups/locks/release", json={"customer_ids": ["c_1", "nobody"]},
                          headers=auth())  # fmt: skip
    assert unknown.status_code == 422
    # Moving into the default by hand locks them there too.
    client.post(f"/api/groups/{standard}/customers", json={"customer_ids": ["c_1"]},
                headers=auth())  # fmt: skip
    tag(host, "c_1", "vip", "again")
    assert group_of(client, "c_1") == standard


def test_a_deleted_groups_members_and_a_moved_default_are_placed_by_the_rule(
    client, host, shop, moves
):
    standard = default_id(client)
    vip_segment = segment(client, "VIP", VIP_TAG)
    vip = group(client, "VIP", auto_segment_id=vip_segment["id"])
    manual = group(client, "Manual")
    add(host, "c_1", tags=["vip"])
    add(host, "c_2")
    add(host, "c_3")
    client.post(f"/api/groups/{manual['id']}/customers", json={"customer_ids": ["c_1", "c_2"]},
                headers=auth())  # fmt: skip
    moves.clear()
    assert client.delete(f"/api/groups/{manual['id']}", headers=auth()).status_code == 204
    assert group_of(client, "c_1") == vip["id"] and group_of(client, "c_2") == standard
    assert sorted((m["customer_id"], m["to_group"]) for m in moves) == [
        ("c_1", vip["id"]),
        ("c_2", standard),
    ]

    # The default moves: unlocked customers who were in it by default follow it.
    other = group(client, "Other")
    moves.clear()
    client.patch(f"/api/groups/{other['id']}", json={"is_default": True}, headers=auth())
    assert group_of(client, "c_2") == group_of(client, "c_3") == other["id"]
    assert group_of(client, "c_1") == vip["id"]
    assert sorted(m["customer_id"] for m in moves) == ["c_2", "c_3"]
    # A new customer lands by the rule.
    add(host, "c_4", tags=["vip"])
    assert group_of(client, "c_4") == vip["id"]
    add(host, "c_5")
    assert group_of(client, "c_5") == other["id"]


def test_the_pricing_hook_sees_the_placement(client, host, shop):
    vip_segment = segment(client, "VIP", VIP_TAG)
    vip = group(client, "VIP", auto_segment_id=vip_segment["id"])
    add(host, "c_1")
    tag(host, "c_1", "vip")
    body = {"cart_id": "k", "currency": "EUR", "customer_id": "c_1", "channel": "web",
            "payment_method": None, "shipping": None, "codes": [],
            "lines": [{"id": "l1", "product_id": "p1", "kind": "product", "category_ids": [],
                       "quantity": 1, "unit_price": 1000}]}  # fmt: skip
    answer = host.post("/hooks/cart/price", body)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["customer"]["group"]["id"] == vip["id"]


def test_placing_a_whole_shop_leaves_every_other_shop_alone(client, host, shop, moves):
    """A whole-shop placement (on PostgreSQL one statement: the plan, the moves and their
    events) touches only its shop: another shop's customers keep their group, and no event
    of this shop names them."""
    other = "other.example"
    host.install(other)
    answer = host.webhook(
        "customer/created", {"customer": customer_payload("c_theirs", tags=["vip"])}, shop=other
    )
    assert answer.status_code == 200
    theirs = client.get("/api/customers/c_theirs", headers=auth(other)).get_json()["group"]["id"]
    add(host, "c_ours", tags=["vip"])
    vip_segment = segment(client, "VIP", VIP_TAG)

    vip = group(client, "VIP", auto_segment_id=vip_segment["id"], auto_priority=1)  # whole shop
    assert group_of(client, "c_ours") == vip["id"]
    standard = default_id(client)
    assert moves == [{"customer_id": "c_ours", "from_group": standard, "to_group": vip["id"]}]
    assert client.get("/api/customers/c_theirs", headers=auth(other)).get_json()["group"]["id"] == (
        theirs
    )
    # A new default re-places the whole shop again: only ours, and nobody of theirs moves.
    staff = group(client, "Staff")
    moved = client.patch(f"/api/groups/{staff['id']}", json={"is_default": True}, headers=auth())
    assert moved.status_code == 200, moved.get_json()
    after = client.get("/api/customers/c_theirs", headers=auth(other)).get_json()
    assert after["group"]["id"] == theirs
    assert all(move["customer_id"] == "c_ours" for move in moves), moves


def test_a_group_made_automatic_is_heard_by_the_next_webhook(client, host, shop):
    """The ingest path keeps the segments automatic groups use per version of the shop's
    settings: a group given a segment, or its segment taken away, is heard at once."""
    standard = default_id(client)
    buyers_segment = segment(client, "Buyers", BUYERS)
    buyers = group(client, "Buyers")
    add(host, "c_1")
    assert host.webhook("order/paid", {"order": order_payload("o_1")}).status_code == 200
    assert group_of(client, "c_1") == standard  # no automatic group yet
    patched = client.patch(
        f"/api/groups/{buyers['id']}", json={"auto_segment_id": buyers_segment["id"]},
        headers=auth(),
    )  # fmt: skip
    assert patched.status_code == 200, patched.get_json()
    add(host, "c_2")
    assert host.webhook("order/paid", {"order": order_payload("o_2", "c_2")}).status_code == 200
    assert group_of(client, "c_2") == buyers["id"]
