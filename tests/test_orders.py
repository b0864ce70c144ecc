"""Orders and the figures they feed (contract §3): once per order, exact reversals."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from plugin.customers.models import Customer, CustomerProduct, Order
from plugin.db import db
from plugin.shops.models import ProcessedEvent
from tests.conftest import customer_payload, make_app, order_payload
from tests.test_webhooks import count, customer


def figures(app, external_id="c_1"):
    row = customer(app, external_id)
    return (row.order_count, row.total_spent, row.used_discount_code)


def products(app):
    with app.app_context():
        rows = db.session.execute(
            select(CustomerProduct.product_id, CustomerProduct.quantity).order_by(
                CustomerProduct.product_id
            )
        ).all()
    return [tuple(r) for r in rows]


@pytest.fixture
def known_customer(host, shop):
    assert host.webhook("customer/created", {"customer": customer_payload()}).status_code == 200


def test_paid_orders_feed_figures(app, host, known_customer):
    host.webhook("order/paid", {"order": order_payload("o_1", placed_at="2026-02-01T09:00:00Z")})
    host.webhook(
        "order/paid",
        {
            "order": order_payload(
                "o_2",
                total=1500,
                placed_at="2026-03-05T18:30:00Z",
                lines=[
                    {"product_id": "p1", "kind": "product", "quantity": 1, "unit_price": 1000},
                    {"product_id": "s1", "kind": "service", "quantity": 1, "unit_price": 500},
                ],
                discount_codes=["SUMMER10"],
            )
        },
    )
    row = customer(app)
    assert (row.order_count, row.total_spent, row.used_discount_code) == (2, 5498, True)
    assert row.first_order_at == datetime(2026, 2, 1, 9, tzinfo=UTC)
    assert row.last_order_at == datetime(2026, 3, 5, 18, 30, tzinfo=UTC)
    assert products(app) == [("p1", 3), ("s1", 1)]


def test_same_order_under_new_event_id_counts_once(app, host, known_customer):
    for event_id in ("e1", "e2", "e3"):
        assert host.webhook("order/paid", {"order": order_payload()}, event_id=event_id)
    assert figures(app) == (1, 3998, False)
    assert count(app, Order) == 1


def test_duplicate_event_id_is_duplicate(app, host, known_customer):
    host.webhook("order/paid", {"order": order_payload()}, event_id="e1")
    again = host.webhook("order/paid", {"order": order_payload("o_2")}, event_id="e1")
    assert again.get_json() == {"status": "duplicate"}
    assert figures(app) == (1, 3998, False)


@pytest.mark.parametrize("topic", ["order/cancelled", "order/refunded"])
def test_reversal_undoes_exactly_what_the_order_added(app, host, known_customer, topic):
    host.webhook("order/paid", {"order": order_payload("o_1", total=1000)})
    host.webhook(
        "order/paid",
        {"order": order_payload("o_2", total=2500, discount_codes=["X"], placed_at="2026-04-01")},
    )
    assert figures(app) == (2, 3500, True)
    assert host.webhook(topic, {"order": {"id": "o_2"}}).status_code == 200
    assert figures(app) == (1, 1000, False)
    assert customer(app).last_order_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert products(app) == [("p1", 2)]
    # A second reversal, or the order delivered again, changes nothing.
    host.webhook(topic, {"order": {"id": "o_2"}})
    host.webhook("order/paid", {"order": order_payload("o_2", total=2500)})
    assert figures(app) == (1, 1000, False)


def test_refund_before_paid_wins(app, host, known_customer):
    assert host.webhook("order/refunded", {"order": {"id": "o_1"}}).status_code == 200
    assert host.webhook("order/paid", {"order": order_payload("o_1")}).status_code == 200
    assert figures(app) == (0, 0, False)
    assert products(app) == []
    with app.app_context():
        assert db.session.execute(select(Order.status)).scalar_one() == "refunded"


def test_currency_mismatch_is_refused_and_changes_nothing(app, host, known_customer):
    response = host.webhook("order/paid", {"order": order_payload(currency="USD")})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_payload"
    assert "order.currency" in response.get_json()["error"]["details"]
    assert figures(app) == (0, 0, False)
    assert count(app, Order) == 0
    assert count(app, ProcessedEvent, ProcessedEvent.topic == "order/paid") == 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("total", "39.98"),
        ("total", -1),
        ("lines", [{"product_id": "p", "quantity": 0, "unit_price": 1}]),
        ("placed_at", "yesterday"),
        ("currency", "EURO"),
    ],
)
def test_bad_orders_name_the_field(app, host, known_customer, field, value):
    response = host.webhook("order/paid", {"order": order_payload(**{field: value})})
    assert response.status_code == 400
    details = response.get_json()["error"]["details"]
    assert any(key.startswith(f"order.{field}") for key in details), details
    assert count(app, Order) == 0


def test_order_before_customer_creates_the_customer(app, host, shop):
    host.webhook("order/paid", {"order": order_payload(customer_id="c_9")})
    host.webhook("customer/created", {"customer": customer_payload("c_9")})
    row = customer(app, "c_9")
    assert (row.order_count, row.email) == (1, "c_9@example.com")


def test_guest_orders_are_kept_without_customer(app, host, shop):
    host.webhook("order/paid", {"order": order_payload(customer_id=None)})
    assert count(app, Order, Order.customer_id.is_(None)) == 1
    assert count(app, Customer) == 0


def _race(app, calls):
    """Run the calls at once, each in its own thread and app context."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            results[index] = call(client)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_racing_duplicate_deliveries_count_once(tmp_path):
    from tests.conftest import Host

    app = make_app(tmp_path)
    setup = Host(app.test_client())
    setup.install()
    setup.webhook("customer/created", {"customer": customer_payload()})
    payload = {"order": order_payload()}
    for round_ in range(5):
        event_id = f"race-{round_}"
        payload = {"order": order_payload(f"o_{round_}")}
        answers = _race(
            app,
            [
                lambda c, p=payload, e=event_id: Host(c).webhook("order/paid", p, event_id=e)
                for _ in range(6)
            ],
        )
        statuses = sorted(r.get_json()["status"] for r in answers)
        assert statuses == ["duplicate"] * 5 + ["ok"], statuses
    # Same order, different event ids, racing: still counted once.
    answers = _race(
        app,
        [
            lambda c, e=e: Host(c).webhook(
                "order/paid", {"order": order_payload("o_x")}, event_id=e
            )
            for e in ("a", "b", "c", "d")
        ],
    )
    assert all(r.status_code == 200 for r in answers)
    assert figures(app) == (6, 6 * 3998, False)
    with app.app_context():
        assert db.session.execute(select(func.count(Order.id))).scalar() == 6
        db.session.remove()
        db.engine.dispose()
