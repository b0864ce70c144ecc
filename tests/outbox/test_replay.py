"""Our own signed events cannot be posted back to /webhooks.

Contract §2 signs ``"{timestamp}." + body`` with the one app secret, both ways, and signs
neither the shop nor the topic: whoever receives a shop's events could post one back
under another shop's domain and a privacy topic. ``/webhooks`` refuses signatures that
the outbox made.
"""

from __future__ import annotations

import uuid

from werkzeug import Request, Response

from plugin.db import utcnow
from plugin.outbox import delivery
from tests.conftest import SHOP, auth, customer_payload
from tests.outbox.conftest import deliver, install, make_group, move

ATTACKER = "attacker.example"


def test_an_event_we_signed_is_refused_as_a_webhook_under_any_shop_or_topic(
    app, client, host, httpserver
):
    captured = []

    def keep(request: Request) -> Response:
        captured.append((dict(request.headers), request.get_data()))
        return Response("ok")

    httpserver.expect_request("/events", method="POST").respond_with_handler(keep)
    host.install()  # the victim
    assert host.webhook("customer/created", {"customer": customer_payload("vip_42")})
    install(host, httpserver.url_for("/events"), shop=ATTACKER)
    created = host.webhook(
        "customer/created", {"customer": customer_payload("vip_42")}, shop=ATTACKER
    )
    assert created.status_code == 200
    group = client.post(
        "/api/groups", json={"name": "Mine", "colour": "#112233"}, headers=auth(ATTACKER)
    ).get_json()["id"]
    moved = client.post(
        f"/api/groups/{group}/customers", json={"customer_ids": ["vip_42"]}, headers=auth(ATTACKER)
    )
    assert moved.status_code == 200
    assert deliver(app)["delivered"] >= 1
    headers, body = captured[-1]
    assert b"vip_42" in body

    signature = headers["X-Signature"]
    variants = [
        ("customers/redact", signature),
        ("customers/data_request", signature),
        # What the signature check strips must not slip past the replay check.
        ("customers/redact", f"{signature} "),
        ("customers/redact", f"\t{signature}\x0b"),
    ]
    for topic, sent_signature in variants:
        replay = client.post(
            "/webhooks",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-Shop-Domain": SHOP,
                "X-Topic": topic,
                "X-Event-Id": str(uuid.uuid4()),
                "X-Request-Timestamp": headers["X-Request-Timestamp"],
                "X-Signature": sent_signature,
            },
        )
        assert replay.status_code == 401, replay.get_json()
        assert replay.get_json()["error"]["code"] == "invalid_signature"
    customer = client.get("/api/customers/vip_42", headers=auth())
    assert customer.status_code == 200  # the victim's customer is still there

    # The host's own requests still pass.
    assert host.webhook("customers/redact", {"customer_id": "vip_42"}).status_code == 200


def test_old_signatures_are_pruned_past_the_timestamp_window(app, client, host, httpserver):
    from datetime import timedelta

    from sqlalchemy import func, select

    from plugin.db import db
    from plugin.outbox.models import SentSignature

    httpserver.expect_request("/events", method="POST").respond_with_data("ok")
    install(host, httpserver.url_for("/events"))
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    move(client, make_group(client), ["c_1"])
    deliver(app)
    with app.app_context():
        count = select(func.count()).select_from(SentSignature)
        assert db.session.execute(count).scalar() >= 1
        delivery.prune(utcnow())
        assert db.session.execute(count).scalar() >= 1  # still within the window
        delivery.prune(utcnow() + timedelta(seconds=601))
        assert db.session.execute(count).scalar() == 0
