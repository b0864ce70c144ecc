"""``/api/discounts``: every field of contract §5, validation, the shared code."""

from __future__ import annotations

from tests.codes.conftest import discount_payload
from tests.conftest import auth


def test_create_read_update_delete(client, shop):
    body = discount_payload(
        code=" Summer10 ",
        applies_to="products",
        type="percent",
        value=12.5,
        carriers=["royal_mail"],
        starts_at="2026-03-01T00:00:00Z",
        ends_at=None,
        usage_limit=100,
        once_per_customer=True,
        audience={"type": "all", "ids": []},
        minimum={"type": "amount", "value": 5000},
        payment_methods=["paypal", "cash"],
        channels=["web", "in_store"],
        active=True,
    )
    created = client.post("/api/discounts", json=body, headers=auth())
    assert created.status_code == 201, created.get_json()
    data = created.get_json()
    assert data["code"] == "Summer10"
    assert data["value"] == 12.5
    assert data["minimum"] == {"type": "amount", "value": 5000}
    assert data["ends_at"] is None and data["usage_limit"] == 100
    assert data["warnings"] == []

    got = client.get(f"/api/discounts/{data['id']}", headers=auth()).get_json()
    assert got["payment_methods"] == ["paypal", "cash"]

    patched = client.patch(
        f"/api/discounts/{data['id']}", json={"value": 20, "active": False}, headers=auth()
    )
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["value"] == 20 and patched.get_json()["active"] is False
    assert patched.get_json()["code"] == "Summer10"

    listed = client.get("/api/discounts", headers=auth()).get_json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == data["id"]

    assert client.delete(f"/api/discounts/{data['id']}", headers=auth()).status_code == 204
    assert client.get(f"/api/discounts/{data['id']}", headers=auth()).status_code == 404


def test_code_rules(client, shop):
    long_code = client.post(
        "/api/discounts", json=discount_payload(code="SUMMERSALE2026"), headers=auth()
    )
    assert long_code.status_code == 201
    assert len(long_code.get_json()["warnings"]) == 1

    for bad in ("SUMMER 10", "É10", "x" * 65, ""):
        answer = client.post("/api/discounts", json=discount_payload(code=bad), headers=auth())
        assert answer.status_code == 422, bad
        assert "code" in answer.get_json()["error"]["details"]

    # Compared ignoring case, across the shop.
    dup = client.post(
        "/api/discounts",
        json=discount_payload(name="Another sale", code="summersale2026"),
        headers=auth(),
    )
    assert dup.status_code == 422
    assert "code" in dup.get_json()["error"]["details"]


def test_validation_details(client, shop):
    cases = [
        ({"type": "percent", "value": 0}, "value"),
        ({"type": "percent", "value": 101}, "value"),
        ({"type": "fixed", "value": None}, "value"),
        ({"type": "fixed", "value": 9.5}, "value"),
        ({"applies_to": "services", "channels": ["in_store"]}, "channels"),
        ({"channels": ["phone"]}, "channels.0"),
        ({"payment_methods": ["bitcoin"]}, "payment_methods.0"),
        ({"audience": {"type": "groups", "ids": [999]}}, "audience.ids"),
        ({"audience": {"type": "segments", "ids": []}}, "audience.ids"),
        ({"minimum": {"type": "amount", "value": 0}}, "minimum.value"),
        ({"usage_limit": 0}, "usage_limit"),
        ({"starts_at": "2026-03-02", "ends_at": "2026-03-01"}, "ends_at"),
    ]
    for fields, bad in cases:
        answer = client.post("/api/discounts", json=discount_payload(**fields), headers=auth())
        assert answer.status_code == 422, (fields, answer.get_json())
        assert bad in answer.get_json()["error"]["details"], (fields, answer.get_json())


def test_free_shipping_and_fixed(client, shop):
    fixed = client.post(
        "/api/discounts", json=discount_payload(type="fixed", value=500), headers=auth()
    )
    assert fixed.get_json()["value"] == 500
    free = client.post(
        "/api/discounts",
        json=discount_payload(
            name="Free shipping", type="free_shipping", value=None, carriers=["dhl"]
        ),
        headers=auth(),
    )
    assert free.status_code == 201 and free.get_json()["value"] is None


def test_other_shop_sees_nothing(client, host, shop, make_discount):
    discount = make_discount(code="MINE")
    host.install("other.example")
    answer = client.get(f"/api/discounts/{discount['id']}", headers=auth("other.example"))
    assert answer.status_code == 404
