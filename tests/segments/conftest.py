"""A shop in Paris with five customers whose figures were counted by hand."""

from __future__ import annotations

import pytest

from tests.conftest import Host, auth, customer_payload, order_payload

TIMEZONE = "Europe/Paris"  # UTC+1 until 29 March 2026


def line(product_id, unit_price=1000, quantity=1):
    return {
        "product_id": product_id,
        "kind": "product",
        "quantity": quantity,
        "unit_price": unit_price,
    }


CUSTOMERS = [
    customer_payload(
        "a",
        registered_at="2026-01-10T23:30:00Z",  # 11 January in Paris
        tags=["VIP", "newsletter"],
        points=100,
        accepts_marketing=True,
        type="business",
        default_address={"city": "Paris", "country": "FR", "zip": "75001"},
        dropship_partner={"id": "dp1", "registered_at": "2026-02-01"},
    ),
    customer_payload(
        "b",
        registered_at="2026-01-10T12:00:00Z",
        tags=["vip"],
        points=50,
        default_address={"city": "Lyon", "country": "FR", "zip": "69001"},
    ),
    customer_payload(
        "c",
        registered_at="2026-01-12",  # a day: midnight in Paris
        points=0,
        default_address={"city": "Berlin", "country": "DE", "zip": "10115"},
        dropship_partner={"id": "dp2", "registered_at": "2026-03-01T12:00:00Z"},
    ),
    customer_payload(
        "d",
        registered_at=None,
        tags=["wholesale"],
        points=250,
        accepts_marketing=True,
        type="business",
        default_address=None,
    ),
    customer_payload(
        "e",
        registered_at="2026-02-15T10:00:00Z",
        points=50,
        default_address={"city": "London", "country": "GB", "zip": "N1"},
    ),
]

ORDERS = [
    order_payload("o1", "a", placed_at="2026-03-01T10:00:00Z", total=3000, lines=[line("p1")]),
    # 23:30 UTC on 5 March is 00:30 on 6 March in Paris.
    order_payload(
        "o2",
        "a",
        placed_at="2026-03-05T23:30:00Z",
        total=2000,
        lines=[line("p2")],
        discount_codes=["SAVE"],
    ),
    # 22:59 UTC on 1 March is 23:59 on 1 March in Paris.
    order_payload(
        "o3",
        "b",
        placed_at="2026-03-01T22:59:00Z",
        total=10000,
        lines=[line("p1"), line("p3")],
    ),
    order_payload("o4", "c", placed_at="2026-02-10T10:00:00Z", total=500, lines=[line("p3")]),
    order_payload("o5", "c", placed_at="2026-03-06T10:00:00Z", total=1500, lines=[line("p2")]),
    order_payload(
        "o6",
        "e",
        placed_at="2026-03-06T10:00:00Z",
        total=7000,
        lines=[line("p1"), line("p2")],
        discount_codes=["X"],
    ),
    order_payload("o7", "e", placed_at="2026-03-10T10:00:00Z", total=100, lines=[line("p4")]),
]


def load_paris(host: Host) -> Host:
    """Figures after every order and the refund of o5:

    a: 2 orders, 5000, p1 p2, 1 and 6 March, used a code; b: 1, 10000, p1 p3, 1 March;
    c: 1, 500, p3, 10 February; d: none; e: 2, 7100, p1 p2 p4, 6 and 10 March, used a code.
    """
    host.install(timezone=TIMEZONE)
    for customer in CUSTOMERS:
        assert host.webhook("customer/created", {"customer": customer}).status_code == 200
    for order in ORDERS:
        assert host.webhook("order/paid", {"order": order}).status_code == 200
    assert host.webhook("order/refunded", {"order": {"id": "o5"}}).status_code == 200
    return host


@pytest.fixture
def paris(host):
    """The Paris shop of :func:`load_paris`, in this test's app."""
    return load_paris(host)


def preview(client, conditions, match="all"):
    response = client.post(
        "/api/segments/preview", json={"match": match, "conditions": conditions}, headers=auth()
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    ids = {c["id"] for c in body["sample"]}
    assert body["count"] == len(ids)  # fewer than the sample size here
    return ids
