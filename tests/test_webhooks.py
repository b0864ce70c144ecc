"""Signed webhooks (contract §2, §3): every refusal, every topic."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from plugin.customers.models import Customer, Order
from plugin.db import db
from plugin.groups.models import Group
from plugin.shops.models import ProcessedEvent, Shop
from tests.conftest import SHOP, customer_payload, order_payload


def error_code(response):
    return response.get_json()["error"]["code"]


def count(app, model, *where):
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar()


def customer(app, external_id="c_1"):
    with app.app_context():
        row = db.session.execute(
            select(Customer).where(Customer.external_id == external_id)
        ).scalar_one_or_none()
        if row is not None:
            db.session.expunge(row)
        return row


def test_install_creates_shop_and_default_group(app, host):
    host.install()
    with app.app_context():
        shop = db.session.execute(select(Shop)).scalar_one()
        groups = db.session.execute(select(Group)).scalars().all()
    assert (shop.domain, shop.currency, shop.installed) == (SHOP, "EUR", True)
    assert [(g.name, g.is_default) for g in groups] == [("Standard", True)]


def test_reinstall_reactivates_without_second_default_group(app, host):
    host.install()
    assert host.webhook("app/uninstalled", {}).status_code == 200
    host.install()
    assert count(app, Group) == 1
    with app.app_context():
        assert db.session.execute(select(Shop.installed)).scalar_one() is True


@pytest.mark.parametrize(
    "tamper, status, code",
    [
        ({"secret": "wrong-secret"}, 401, "invalid_signature"),
        ({"headers": {"X-Signature": ""}}, 401, "invalid_signature"),
        ({"headers": {"X-Signature": "bm90IGEgc2lnbmF0dXJl"}}, 401, "invalid_signature"),
        ({"offset": -310}, 401, "stale_request"),
        ({"offset": 310}, 401, "stale_request"),
    ],
)
def test_signature_refusals(app, host, shop, tamper, status, code):
    tamper = dict(tamper)
    if "offset" in tamper:
        tamper["timestamp"] = int(time.time()) + tamper.pop("offset")
    response = host.webhook("customer/created", {"customer": customer_payload()}, **tamper)
    assert response.status_code == status
    assert error_code(response) == code
    assert set(response.get_json()["error"]) == {"code", "message", "details"}
    assert count(app, Customer) == 0


def test_signature_over_other_body_is_refused(app, host, shop):
    good = json.dumps({"customer": customer_payload()}).encode()
    from plugin.auth import signed_headers
    from tests.conftest import SECRET

    headers = signed_headers(SECRET, SHOP, good, topic="customer/created", event_id="e1")
    tampered = good.replace(b"Ada", b"Eve")
    response = host.client.post("/webhooks", data=tampered, headers=headers)
    assert response.status_code == 401 and error_code(response) == "invalid_signature"


def test_unknown_shop_is_refused(app, host):
    response = host.webhook(
        "customer/created", {"customer": customer_payload()}, shop="nope.example"
    )
    assert response.status_code == 403
    assert error_code(response) == "shop_not_installed"


def test_uninstalled_shop_refused_but_privacy_topics_accepted(app, host, shop):
    host.webhook("customer/created", {"customer": customer_payload()})
    host.webhook("app/uninstalled", {})
    refused = host.webhook("customer/created", {"customer": customer_payload("c_2")})
    assert refused.status_code == 403 and error_code(refused) == "shop_not_installed"
    answer = host.webhook("customers/data_request", {"customer_id": "c_1"})
    assert answer.status_code == 200
    assert answer.get_json()["data"]["customer"]["email"] == "c_1@example.com"
    assert host.webhook("customers/redact", {"customer_id": "c_1"}).status_code == 200
    assert customer(app) is None
    assert host.webhook("shop/redact", {}).status_code == 200
    assert count(app, Shop) == 0


def test_invalid_payload_names_each_field(app, host, shop):
    # (A customer snapshot's optional fields are cleaned instead: tests/limits.)
    bad = order_payload(total="many", currency="EURO", placed_at="yesterday")
    response = host.webhook("order/paid", {"order": bad})
    assert response.status_code == 400
    assert error_code(response) == "invalid_payload"
    details = response.get_json()["error"]["details"]
    assert {"order.total", "order.currency", "order.placed_at"} <= set(details)
    assert count(app, Order) == 0
    assert count(app, ProcessedEvent, ProcessedEvent.topic == "order/paid") == 0


def test_body_that_is_not_json_is_invalid_payload(app, host, shop):
    response = host.webhook("customer/created", None, raw=b"{not json")
    assert response.status_code == 400 and error_code(response) == "invalid_payload"


def test_unknown_topic(app, host, shop):
    # Contract v2 §2: a topic that does not belong to the endpoint is invalid_payload on X-Topic.
    response = host.webhook("customer/teleported", {})
    assert response.status_code == 400 and error_code(response) == "invalid_payload"
    assert "X-Topic" in response.get_json()["error"]["details"]


def test_oversized_body_is_413_before_signature(app, host, shop):
    raw = b'{"customer": "' + b"x" * (1024 * 1024) + b'"}'
    response = host.webhook("customer/created", None, raw=raw, secret="wrong")
    assert response.status_code == 413
    assert error_code(response) == "payload_too_large"


def test_check_order_signature_before_shop(app, host):
    # An unknown shop with a bad signature is judged by the signature, never the shop.
    response = host.webhook("customer/created", {}, shop="nope.example", secret="bad")
    assert error_code(response) == "invalid_signature"


def test_check_order_shop_before_payload(app, host):
    response = host.webhook("customer/created", None, shop="nope.example", raw=b"nonsense")
    assert response.status_code == 403


def test_duplicate_event_is_answered_once(app, host, shop):
    payload = {"order": order_payload()}
    first = host.webhook("order/paid", payload, event_id="evt-1")
    again = host.webhook("order/paid", payload, event_id="evt-1")
    assert first.get_json() == {"status": "ok"}
    assert again.status_code == 200 and again.get_json() == {"status": "duplicate"}
    assert customer(app).order_count == 1


def test_duplicate_checked_before_payload(app, host, shop):
    host.webhook("customer/created", {"customer": customer_payload()}, event_id="evt-9")
    response = host.webhook("customer/created", {"customer": "garbage"}, event_id="evt-9")
    assert response.get_json() == {"status": "duplicate"}


def test_same_event_id_in_two_shops_is_two_events(app, host, shop):
    host.install("other.example")
    host.webhook("customer/created", {"customer": customer_payload()}, event_id="e")
    response = host.webhook(
        "customer/created", {"customer": customer_payload()}, shop="other.example", event_id="e"
    )
    assert response.get_json() == {"status": "ok"}
    assert count(app, Customer) == 2


def test_missing_event_id_is_invalid(app, host, shop):
    # Contract v2 §2: the event id is signed; an empty one is an invalid signature.
    response = host.webhook(
        "customer/created", {"customer": customer_payload()}, headers={"X-Event-Id": ""}
    )
    assert response.status_code == 401
    assert error_code(response) == "invalid_signature"


def test_customer_created_joins_default_group_and_keeps_snapshot(app, host, shop):
    payload = customer_payload(
        tags=["VIP", "vip", "Wholesale"],
        points=120,
        type="business",
        phone="+33612345678",
        dropship_partner={"id": "d1", "registered_at": "2025-12-01"},
    )
    assert host.webhook("customer/created", {"customer": payload}).status_code == 200
    row = customer(app)
    with app.app_context():
        default = db.session.execute(select(Group).where(Group.is_default)).scalar_one()
        tags = sorted(t.tag for t in db.session.get(Customer, row.id).tags)
    assert row.group_id == default.id
    assert (row.points, row.type, row.city, row.country) == (120, "business", "Paris", "FR")
    assert row.dropship_partner_id == "d1" and row.dropship_registered_at is not None
    assert tags == ["VIP", "Wholesale"]


def test_customer_updated_is_a_full_snapshot(app, host, shop):
    host.webhook("customer/created", {"customer": customer_payload(tags=["a"], points=5)})
    host.webhook("customer/updated", {"customer": {"id": "c_1", "email": "new@example.com"}})
    row = customer(app)
    assert (row.email, row.points, row.city) == ("new@example.com", 0, None)
    with app.app_context():
        assert db.session.get(Customer, row.id).tags == []


def test_customer_deleted_keeps_orders_anonymised(app, host, shop):
    host.webhook("customer/created", {"customer": customer_payload()})
    host.webhook("order/paid", {"order": order_payload()})
    host.webhook("customer/deleted", {"customer": {"id": "c_1"}})
    assert customer(app) is None
    assert count(app, Order) == 1
    assert count(app, Order, Order.customer_id.is_(None)) == 1


def test_subscribed_records_consent(app, host, shop):
    host.webhook("customer/created", {"customer": customer_payload()})
    host.webhook("customer/subscribed", {"customer_id": "c_1", "channel": "sms"})
    row = customer(app)
    assert row.subscribed_sms_at is not None and row.accepts_marketing is True
    bad = host.webhook("customer/subscribed", {"customer_id": "c_1", "channel": "fax"})
    assert bad.status_code == 400 and "channel" in bad.get_json()["error"]["details"]
