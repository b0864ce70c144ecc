"""Our own signed events cannot be posted back to /webhooks.

Whoever receives a shop's events holds a body and a signature of ours. Contract v2 signs
events with that shop's events key, over shop, topic, event id and the events_url's path,
and /webhooks verifies with the host key only: posted back under any shop, topic or path,
the signature does not verify.
"""

from __future__ import annotations

import uuid

from werkzeug import Request, Response

from tests.conftest import SHOP, auth, customer_payload
from tests.outbox.conftest import deliver, install

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
        (headers["X-Topic"], signature),  # as it was sent, to /webhooks
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
                "X-Event-Id": headers["X-Event-Id"] if topic == headers["X-Topic"] else str(
                    uuid.uuid4()
                ),
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
