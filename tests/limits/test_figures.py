"""A customer's running figures saturate at ±(2^53 − 1) instead of overflowing, so one order
can never make that customer's later orders fail (contract v2 §2, "Input limits")."""

from __future__ import annotations

from plugin.limits import MAX_INTEGER
from tests.conftest import auth, customer_payload, order_payload
from tests.limits.conftest import snapshot


def _figures(client, customer_id: str = "c_1") -> dict:
    response = client.get(f"/api/customers/{customer_id}", headers=auth())
    assert response.status_code == 200
    return response.get_json()["figures"]


def _paid(host, order_id: str, **fields) -> int:
    response = host.webhook("order/paid", {"order": order_payload(order_id, **fields)})
    return response.status_code


def test_an_order_of_2_63_minus_1_is_refused_and_later_orders_work(app, client, host, shop):
    host.webhook("customer/created", {"customer": customer_payload()})
    before = snapshot(app)
    response = host.webhook("order/paid", {"order": order_payload("o_big", total=2**63 - 1)})
    assert response.status_code == 400
    assert "order.total" in response.get_json()["error"]["details"]
    assert snapshot(app) == before
    assert _paid(host, "o_next") == 200
    assert _figures(client)["total_spent"] == 3998


def test_totals_saturate_instead_of_overflowing(app, client, host, shop):
    host.webhook("customer/created", {"customer": customer_payload()})
    line = {"product_id": "p1", "kind": "product", "quantity": 1, "unit_price": MAX_INTEGER}
    for index in range(3):
        assert _paid(host, f"o_{index}", total=MAX_INTEGER, lines=[line]) == 200
    figures = _figures(client)
    assert figures["total_spent"] == MAX_INTEGER
    assert figures["order_count"] == 3
    # Later orders of that customer still count, and a refund still reverses exactly.
    assert _paid(host, "o_small", total=100) == 200
    assert host.webhook("order/refunded", {"order": {"id": "o_0"}}).status_code == 200
    assert host.webhook("order/refunded", {"order": {"id": "o_1"}}).status_code == 200
    assert host.webhook("order/refunded", {"order": {"id": "o_2"}}).status_code == 200
    figures = _figures(client)
    assert (figures["total_spent"], figures["order_count"]) == (100, 1)


def test_quantities_past_32_bits_and_their_sums(app, client, host, shop):
    host.webhook("customer/created", {"customer": customer_payload()})
    lines = [
        {"product_id": "p1", "kind": "product", "quantity": MAX_INTEGER, "unit_price": 0},
        {"product_id": "p2", "kind": "product", "quantity": 2**31, "unit_price": 1},
    ]
    assert _paid(host, "o_1", total=2**31, lines=lines) == 200
    assert _paid(host, "o_2", total=0, lines=lines[:1]) == 200
    data = host.webhook("customers/data_request", {"customer_id": "c_1"}).get_json()["data"]
    quantities = {p["product_id"]: p["quantity"] for p in data["products"]}
    assert quantities == {"p1": MAX_INTEGER, "p2": 2**31}


def test_points_past_32_bits_are_kept(app, client, host, shop):
    host.webhook("customer/created", {"customer": customer_payload(points=2**31)})
    response = client.get("/api/customers/c_1", headers=auth())
    assert response.get_json()["points"] == 2**31
    segment = {
        "name": "Rich",
        "match": "all",
        "conditions": [{"field": "available_points", "op": "gte", "value": 2**31}],
    }
    made = client.post("/api/segments", json=segment, headers=auth())
    assert made.status_code == 201 and made.get_json()["member_count"] == 1
