"""The customer page (issue 14): the API behind it and the page itself, through the Flask
client; the recorded group and segment changes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from plugin.customers.models import Customer
from plugin.db import db
from plugin.intake import changes
from tests.conftest import auth, customer_payload, order_payload
from tests.test_admin_ui import Admin, text


@pytest.fixture
def admin(client, shop):
    return Admin(client)


def _ok(response, status=200):
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _setup(client, host):
    host.webhook("customer/created", {"customer": customer_payload("c_1", first_name="Ada")})
    host.webhook("customer/created", {"customer": customer_payload("c_2", first_name="Grace")})
    vip = _ok(client.post("/api/groups", json={"name": "VIP"}, headers=auth()), 201)
    buyers = _ok(
        client.post(
            "/api/segments",
            json={
                "name": "Buyers",
                "conditions": [{"field": "total_order_count", "op": "gte", "value": 1}],
            },
            headers=auth(),
        ),
        201,
    )
    pool = _ok(
        client.post(
            "/api/discounts", json={"name": "Welcome", "type": "percent", "value": 10},
            headers=auth(),
        ),
        201,
    )
    _ok(
        client.post(
            f"/api/discounts/{pool['id']}/codes/generate",
            json={"count": 3, "length": 8, "prefix": "HI-"},
            headers=auth(),
        ),
        201,
    )
    return vip, buyers, pool


def test_orders_redemptions_and_changes_of_one_customer(client, host, shop):
    vip, buyers, pool = _setup(client, host)
    _ok(client.post(f"/api/groups/{vip['id']}/customers", json={"customer_ids": ["c_1"]},
                    headers=auth()))
    host.webhook("order/paid", {"order": order_payload("o_1", "c_1", total=4500)})
    host.webhook("order/paid", {"order": order_payload("o_2", "c_1", total=1500)})
    host.webhook("order/paid", {"order": order_payload("o_3", "c_2", total=999)})

    orders = _ok(client.get("/api/customers/c_1/orders", headers=auth()))
    assert orders["total"] == 2
    assert {o["id"] for o in orders["items"]} == {"o_1", "o_2"}
    assert {o["total"] for o in orders["items"]} == {4500, 1500}

    changes = _ok(client.get("/api/customers/c_1/changes", headers=auth()))["items"]
    kinds = [(c["kind"], (c["to_group"] or {}).get("name"), (c["segment"] or {}).get("name"))
             for c in changes]
    # Newest first: joined Buyers with the first order, after the move to VIP.
    assert kinds == [("joined_segment", None, "Buyers"), ("group", "VIP", None)]
    assert changes[1]["from_group"]["name"] == "Standard"
    # Another customer's changes are theirs alone.
    other = _ok(client.get("/api/customers/c_2/changes", headers=auth()))["items"]
    assert [c["kind"] for c in other] == ["joined_segment"]

    given = _ok(
        client.post(
            f"/api/discounts/{pool['id']}/codes/assign", json={"customer_id": "c_1"},
            headers=auth(),
        )
    )
    host.webhook(
        "order/paid", {"order": order_payload("o_4", "c_1", discount_codes=[given["code"]])}
    )
    redemptions = _ok(client.get("/api/customers/c_1/redemptions", headers=auth()))
    assert redemptions["total"] == 1
    [used] = redemptions["items"]
    assert used["code"] == given["code"] and used["order_id"] == "o_4"
    assert used["discount"] == {"id": pool["id"], "name": "Welcome"}
    assert used["status"] == "confirmed"
    assert _ok(client.get("/api/customers/c_2/redemptions", headers=auth()))["total"] == 0


def test_an_unknown_customer_is_a_404_on_every_list(client, shop):
    for part in ("orders", "redemptions", "changes"):
        response = client.get(f"/api/customers/nobody/{part}", headers=auth())
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_a_deleted_group_leaves_the_change_with_no_group(client, host, shop):
    vip, _, _ = _setup(client, host)
    _ok(client.post(f"/api/groups/{vip['id']}/customers", json={"customer_ids": ["c_1"]},
                    headers=auth()))
    assert client.delete(f"/api/groups/{vip['id']}", headers=auth()).status_code == 204
    changes = _ok(client.get("/api/customers/c_1/changes", headers=auth()))["items"]
    # Moved back to the default when VIP went; the move to VIP keeps a null group.
    assert changes[0]["to_group"]["name"] == "Standard"
    assert changes[0]["from_group"] is None  # VIP, gone
    assert changes[-1]["to_group"] is None


def _everyone(client):
    """A segment every customer is in."""
    return _ok(
        client.post(
            "/api/segments",
            json={"name": "Everyone", "conditions": [
                {"field": "total_order_count", "op": "gte", "value": 0}]},
            headers=auth(),
        ),
        201,
    )


def test_a_deleted_segment_leaves_the_change_with_no_segment(client, host, shop):
    host.webhook("customer/created", {"customer": customer_payload("d_1")})
    everyone = _everyone(client)
    assert client.delete(f"/api/segments/{everyone['id']}", headers=auth()).status_code == 204
    found = _ok(client.get("/api/customers/d_1/changes", headers=auth()))["items"]
    # The delete announces that the customer left; that change and the join before it
    # keep no segment.
    assert found and all(change["segment"] is None for change in found)
    assert found[-1]["kind"] == "joined_segment"


def test_the_page_shows_the_customer_and_moves_and_gives_from_there(client, host, admin):
    vip, _, pool = _setup(client, host)
    host.webhook("order/paid", {"order": order_payload("o_1", "c_1", total=123456)})
    listing = text(admin.get("/admin/customers"))
    assert re.search(r'<a href="/admin/customers/c_1\?s=[^"]+">Ada', listing)

    page = text(admin.get("/admin/customers/c_1"))
    assert "<h1>Ada" in page
    assert "Placed by the automatic groups" in page
    assert "€1,234.56" in page
    assert "Buyers" in page and "o_1" in page
    assert "Joined the segment Buyers" in page

    moved = admin.post("/admin/customers/c_1/move", {"group_id": str(vip["id"])})
    assert moved.status_code == 303
    page = text(client.get(moved.headers["Location"]))
    assert "Moved to “VIP”." in page
    assert "Moved from Standard to VIP" in page
    # The lock shown is the one stored (moving by hand locks once automatic groups exist).
    with client.application.app_context():
        locked = db.session.execute(
            select(Customer.group_locked).where(Customer.external_id == "c_1")
        ).scalar_one()
    assert ("Locked in this group" in page) == locked
    assert ("Placed by the automatic groups" in page) != locked

    given = admin.post("/admin/customers/c_1/give-code", {"discount_id": str(pool["id"])})
    assert given.status_code == 303
    page = text(client.get(given.headers["Location"]))
    code = re.search(r"Gave the code (HI-\w+)\.", page)[1]
    assert f"<code>{code}</code>" in page
    view = _ok(client.get("/api/customers/c_1", headers=auth()))
    assert view["group"]["name"] == "VIP"
    assert [c["code"] for c in view["codes"]] == [code]


def test_the_page_refuses_a_move_without_a_group_and_changes_nothing(client, host, admin):
    _setup(client, host)
    refused = admin.post("/admin/customers/c_1/move", {"group_id": ""})
    assert refused.status_code == 422
    assert "Choose the group to move them to." in text(refused)
    assert _ok(client.get("/api/customers/c_1", headers=auth()))["group"]["name"] == "Standard"
    assert admin.get("/admin/customers/nobody").status_code == 404


def test_a_segment_joined_by_many_records_a_change_for_each(client, host, shop, monkeypatch):
    """Chunked host-id lists (one per 5,000 on SQLite) lose no customer: chunks of 1 here."""
    monkeypatch.setattr(changes, "CHUNK", 1)
    for customer_id in ("m_1", "m_2", "m_3"):
        host.webhook("customer/created", {"customer": customer_payload(customer_id)})
    _everyone(client)
    for customer_id in ("m_1", "m_2", "m_3"):
        found = _ok(client.get(f"/api/customers/{customer_id}/changes", headers=auth()))
        assert [(c["kind"], c["segment"]["name"]) for c in found["items"]] == [
            ("joined_segment", "Everyone")
        ]
