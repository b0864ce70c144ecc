"""``/api/groups`` and ``/api/groups/{id}/customers`` (contract §5)."""

from __future__ import annotations

import pytest

from hooks import signals
from tests.conftest import auth, customer_payload

OTHER = "other.example"


def error(response):
    body = response.get_json()
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def create(client, name, colour=None, shop=None, **extra):
    body = {"name": name, **extra}
    if colour is not None:
        body["colour"] = colour
    return client.post("/api/groups", json=body, headers=auth(shop) if shop else auth())


def groups(client, shop=None, **params):
    response = client.get(
        "/api/groups", query_string=params, headers=auth(shop) if shop else auth()
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def add_customers(host, *ids):
    for customer_id in ids:
        response = host.webhook("customer/created", {"customer": customer_payload(customer_id)})
        assert response.status_code == 200


@pytest.fixture
def events():
    received = []

    def listen(sender, payload=None, event_id=None, **_):
        received.append((sender, payload, event_id))

    signals.customer_group_changed.connect(listen)
    yield received
    signals.customer_group_changed.disconnect(listen)


def test_default_group_lists_with_exact_member_count(client, host, shop):
    add_customers(host, "c_1", "c_2", "c_3")
    body = groups(client)
    assert body["total"] == 1 and body["page"] == 1
    [standard] = body["items"]
    assert (standard["name"], standard["is_default"], standard["member_count"]) == (
        "Standard",
        True,
        3,
    )


def test_create_returns_201_with_lowercase_colour(client, shop):
    response = create(client, "Wholesale", "#1E88E5")
    assert response.status_code == 201
    body = response.get_json()
    assert (body["name"], body["colour"], body["is_default"], body["member_count"]) == (
        "Wholesale",
        "#1e88e5",
        False,
        0,
    )
    assert client.get(f"/api/groups/{body['id']}", headers=auth()).get_json()["colour"] == "#1e88e5"


@pytest.mark.parametrize("name", ["standard", "STANDARD", " Standard "])
def test_duplicate_name_in_any_case_is_422(client, shop, name):
    response = create(client, name)
    assert response.status_code == 422
    assert error(response)["details"] == {"name": ["A group with this name already exists."]}


@pytest.mark.parametrize("colour", ["1e88e5", "#1e88e", "#1e88e5f", "#gggggg", "red", 123])
def test_bad_colour_is_422(client, shop, colour):
    response = create(client, "Wholesale", colour)
    assert response.status_code == 422
    err = error(response)
    assert err["code"] == "validation_failed"
    assert list(err["details"]) == ["colour"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "A", "x": 1}, "x"),
    ],
)
def test_bad_bodies_name_the_field(client, shop, body, field):
    response = client.post("/api/groups", json=body, headers=auth())
    assert response.status_code == 422
    assert field in error(response)["details"]


def test_setting_is_default_moves_the_default(client, host, shop):
    standard_id = groups(client)["items"][0]["id"]
    vip = create(client, "VIP").get_json()
    response = client.patch(f"/api/groups/{vip['id']}", json={"is_default": True}, headers=auth())
    assert response.status_code == 200 and response.get_json()["is_default"] is True
    flags = {g["id"]: g["is_default"] for g in groups(client)["items"]}
    assert flags == {standard_id: False, vip["id"]: True}
    # New customers now join VIP.
    add_customers(host, "c_new")
    counts = {g["id"]: g["member_count"] for g in groups(client)["items"]}
    assert counts == {standard_id: 0, vip["id"]: 1}
    # Unsetting the only default is refused.
    response = client.patch(f"/api/groups/{vip['id']}", json={"is_default": False}, headers=auth())
    assert response.status_code == 422 and "is_default" in error(response)["details"]


def test_create_as_default(client, shop):
    vip = create(client, "VIP", is_default=True).get_json()
    assert [g["id"] for g in groups(client)["items"] if g["is_default"]] == [vip["id"]]


def test_delete_default_is_409(client, shop):
    standard_id = groups(client)["items"][0]["id"]
    response = client.delete(f"/api/groups/{standard_id}", headers=auth())
    assert response.status_code == 409
    assert error(response)["code"] == "default_group_protected"
    assert groups(client)["total"] == 1


def test_delete_group_moves_members_to_default(client, host, shop, events):
    add_customers(host, "c_1", "c_2", "c_3")
    standard_id = groups(client)["items"][0]["id"]
    vip = create(client, "VIP").get_json()
    moved = client.post(
        f"/api/groups/{vip['id']}/customers", json={"customer_ids": ["c_1", "c_2"]}, headers=auth()
    )
    assert moved.status_code == 200
    assert moved.get_json()["moved"] == 2 and moved.get_json()["group"]["member_count"] == 2
    events.clear()
    assert client.delete(f"/api/groups/{vip['id']}", headers=auth()).status_code == 204
    body = groups(client)
    assert [(g["id"], g["member_count"]) for g in body["items"]] == [(standard_id, 3)]
    assert client.get(f"/api/groups/{vip['id']}", headers=auth()).status_code == 404
    assert sorted(p["customer_id"] for _, p, _ in events) == ["c_1", "c_2"]
    assert {(p["from_group"], p["to_group"]) for _, p, _ in events} == {(vip["id"], standard_id)}


def test_moving_customers_announces_and_counts(client, host, shop, events):
    add_customers(host, "c_1", "c_2")
    standard_id = groups(client)["items"][0]["id"]
    vip = create(client, "VIP").get_json()
    url = f"/api/groups/{vip['id']}/customers"
    assert client.post(url, json={"customer_ids": ["c_1"]}, headers=auth()).status_code == 200
    assert [(s, p["customer_id"], p["from_group"], p["to_group"]) for s, p, _ in events] == [
        (shop, "c_1", standard_id, vip["id"])
    ]
    assert events[0][2]  # an event id
    # Moving again changes nothing and says nothing.
    again = client.post(url, json={"customer_ids": ["c_1"]}, headers=auth())
    assert again.get_json()["moved"] == 0 and len(events) == 1
    listed = client.get(url, headers=auth()).get_json()
    assert [c["id"] for c in listed["items"]] == ["c_1"] and listed["total"] == 1
    # An unknown id refuses the whole move.
    bad = client.post(url, json={"customer_ids": ["c_2", "nobody"]}, headers=auth())
    assert bad.status_code == 422 and "customer_ids" in error(bad)["details"]
    counts = {g["name"]: g["member_count"] for g in groups(client)["items"]}
    assert counts == {"Standard": 1, "VIP": 1}
    # The customer view shows the new group.
    view = client.get("/api/customers/c_1", headers=auth()).get_json()
    assert view["group"]["id"] == vip["id"] and view["segments"] == []


def test_pagination(client, shop):
    for index in range(5):
        assert create(client, f"Group {index}").status_code == 201
    first = groups(client, page=1, per_page=4)
    second = groups(client, page=2, per_page=4)
    assert (first["total"], first["page"], first["per_page"], len(first["items"])) == (6, 1, 4, 4)
    assert (second["page"], len(second["items"])) == (2, 2)
    names = [g["name"] for g in first["items"] + second["items"]]
    assert names == ["Standard"] + [f"Group {i}" for i in range(5)]
    assert groups(client, per_page=1000)["per_page"] == 1000
    for params in ({"per_page": 1001}, {"page": 0}, {"per_page": "x"}):
        response = client.get("/api/groups", query_string=params, headers=auth())
        assert response.status_code == 422
        assert set(error(response)["details"]) <= {"page", "per_page"}


def test_other_shops_token_gets_404(client, host, shop):
    host.install(OTHER)
    mine = create(client, "VIP").get_json()
    for method in ("get", "patch", "delete"):
        kwargs = {"json": {"name": "Stolen"}} if method == "patch" else {}
        response = getattr(client, method)(
            f"/api/groups/{mine['id']}", headers=auth(OTHER), **kwargs
        )
        assert response.status_code == 404, method
        assert error(response)["code"] == "not_found"
    moved = client.post(
        f"/api/groups/{mine['id']}/customers", json={"customer_ids": ["c_1"]}, headers=auth(OTHER)
    )
    assert moved.status_code == 404
    assert [g["name"] for g in groups(client, shop=OTHER)["items"]] == ["Standard"]
    assert client.get(f"/api/groups/{mine['id']}", headers=auth()).get_json()["name"] == "VIP"


def test_rename_keeps_uniqueness_and_allows_own_case_change(client, shop):
    vip = create(client, "VIP").get_json()
    own = client.patch(f"/api/groups/{vip['id']}", json={"name": "Vip"}, headers=auth())
    assert own.status_code == 200 and own.get_json()["name"] == "Vip"
    clash = client.patch(f"/api/groups/{vip['id']}", json={"name": "STANDARD"}, headers=auth())
    assert clash.status_code == 422


def test_missing_token_is_401(client, shop):
    response = client.get("/api/groups")
    assert response.status_code == 401 and error(response)["code"] == "invalid_token"


def test_name_race_lost_at_the_database_is_still_422(client, shop, monkeypatch):
    from plugin.groups import operations

    # As if another request created the name between our check and our insert.
    monkeypatch.setattr(operations, "_check_name_free", lambda *args, **kwargs: None)
    response = create(client, "standard")
    assert response.status_code == 422
    assert error(response)["details"] == {"name": ["A group with this name already exists."]}
    assert groups(client)["total"] == 1
