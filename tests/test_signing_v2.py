"""Contract v2 §2: what a signature binds, which key signs which direction, rotation.

The worked examples are computed here with nothing but ``hmac`` and ``base64`` and
pinned byte for byte; the replay matrix sends one captured request again with each of
its signed parts changed, and every variant is refused with nothing changed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug import Request, Response

from plugin.auth import (
    events_key,
    host_key,
    issue_session_token,
    parse_signed_headers,
    sign,
    signed_headers,
    verify_signature,
)
from plugin.db import db
from plugin.outbox.delivery import event_headers
from tests.conftest import (
    APP_ID,
    SECRET,
    SHOP,
    Host,
    auth,
    customer_payload,
    make_app,
    order_payload,
)
from tests.outbox.conftest import deliver, install, make_group, move

VICTIM = "victim.example"


def _b64_hmac(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def test_the_contracts_worked_example_byte_for_byte():
    host = hmac.new(b"s3cret", b"customer-groups/v2/host", hashlib.sha256).digest()
    signed = b'1700000000\nlumen.example\norder/paid\nevt-1\n/webhooks\n{"order":{"id":"o1"}}'
    expected = "v2=gp4kyEEpGlDU1TnlseWS7zjm1JiHdAxxMCAHUeym2Fs="
    assert "v2=" + _b64_hmac(host, signed) == expected  # the contract's own figures
    assert host_key("s3cret") == host
    body = b'{"order":{"id":"o1"}}'
    assert sign(host, 1700000000, "lumen.example", "order/paid", "evt-1", "/webhooks", body) == (
        expected
    )
    headers = signed_headers(
        "s3cret", "lumen.example", body, topic="order/paid", event_id="evt-1", timestamp=1700000000
    )
    assert headers["X-Signature"] == expected
    assert headers["X-Topic"] == "order/paid" and headers["X-Event-Id"] == "evt-1"


def test_an_event_signed_with_a_shops_events_key_byte_for_byte(monkeypatch):
    key = hmac.new(b"s3cret", b"customer-groups/v2/events/lumen.example", hashlib.sha256).digest()
    assert events_key("s3cret", "lumen.example") == key
    body = b'{"customer_id":"c_1"}'
    signed = b"1700000000\nlumen.example\ncustomer/group_changed\nevt-9\n/cg/events\n" + body
    expected = "v2=c69d7vQ8FYwO04jSTY03MFQRtLR812ehi7AzkrGghXM="
    assert "v2=" + _b64_hmac(key, signed) == expected

    class Event:
        topic = "customer/group_changed"
        event_id = "evt-9"

    monkeypatch.setattr(time, "time", lambda: 1700000000.4)
    headers = event_headers(
        ["s3cret"], "lumen.example", "https://hooks.example/cg/events?x=1", Event(), body
    )
    # The path of the events_url as written, without its query string.
    assert headers["X-Signature"] == expected
    assert headers["X-Request-Timestamp"] == "1700000000"
    # During a rotation: one entry per secret, the current one first.
    both = event_headers(
        ["s3cret", "old"], "lumen.example", "https://hooks.example/cg/events", Event(), body
    )
    old = events_key("old", "lumen.example")
    assert both["X-Signature"] == f"{expected} v2={_b64_hmac(old, signed)}"


def _counts(app) -> dict[str, int]:
    with app.app_context():
        counts = {
            table.name: db.session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in db.metadata.sorted_tables
        }
        db.session.remove()
    return counts


def _send(client, path: str, body: bytes, headers: dict[str, str]) -> Any:
    return client.post(path, data=body, headers=headers)


def _variants(headers: dict[str, str], path: str) -> list[tuple[str, str, dict[str, str]]]:
    """(what changed, path, headers): each signed part changed in turn, signature kept."""
    other_path = "/hooks/cart/price" if path == "/webhooks" else "/webhooks"
    changed = []
    for topic in (
        "shop/redact",
        "customers/redact",
        "customers/data_request",
        "order/refunded",
        "app/uninstalled",
        "hooks/cart/price",
        "hooks/checkout/redeem",
    ):
        if topic != headers["X-Topic"]:
            changed.append((f"topic {topic}", path, {**headers, "X-Topic": topic}))
    changed += [
        ("shop", path, {**headers, "X-Shop-Domain": VICTIM}),
        ("shop case", path, {**headers, "X-Shop-Domain": headers["X-Shop-Domain"].upper()}),
        ("event id", path, {**headers, "X-Event-Id": str(uuid.uuid4())}),
        ("path", other_path, headers),
        ("redeem path", "/hooks/checkout/redeem", headers),
        ("timestamp", path, {**headers, "X-Request-Timestamp": str(int(time.time()) + 1)}),
        ("padded signature", path, {**headers, "X-Signature": headers["X-Signature"] + " "}),
        ("two spaces", path, {**headers, "X-Signature": "v1=x  " + headers["X-Signature"]}),
        ("no version", path, {**headers, "X-Signature": headers["X-Signature"][3:]}),
    ]
    return changed


@pytest.fixture
def two_shops(host: Host) -> Host:
    host.install()
    host.install(VICTIM)
    for shop in (SHOP, VICTIM):
        for customer in ("c_1", "c_2"):
            response = host.webhook(
                "customer/created", {"customer": customer_payload(customer)}, shop=shop
            )
            assert response.status_code == 200
        paid = host.webhook("order/paid", {"order": order_payload("o_1", "c_1")}, shop=shop)
        assert paid.status_code == 200
    return host


CAPTURED = [
    ("/webhooks", "app/uninstalled", {}),
    ("/webhooks", "order/paid", {"order": order_payload("o_9", "c_2")}),
    ("/webhooks", "customers/data_request", {"customer_id": "c_1"}),
    ("/hooks/cart/price", "hooks/cart/price", {"cart_id": "k", "currency": "EUR", "lines": []}),
]


@pytest.mark.parametrize("path,topic,payload", CAPTURED, ids=[c[1] for c in CAPTURED])
def test_a_captured_request_replayed_with_any_part_changed_is_refused(
    app, client, two_shops, path, topic, payload
):
    """The replay matrix: topic, shop, event id, path and timestamp, each changed alone."""
    body = json.dumps(payload).encode()
    headers = signed_headers(SECRET, "x.example", body, path=path, topic=topic)
    before = _counts(app)
    for what, target, sent in _variants(headers, path):
        answer = _send(client, target, body, sent)
        assert answer.status_code == 401, (what, answer.get_json())
        assert answer.get_json()["error"]["code"] == "invalid_signature", what
    assert _counts(app) == before
    # Both shops and their customers are all there.
    for shop in (SHOP, VICTIM):
        assert client.get("/api/customers/c_1", headers=auth(shop)).status_code == 200


def test_version_1_signatures_are_refused(app, client, two_shops):
    body = b"{}"
    ts = str(int(time.time()))
    v1 = _b64_hmac(SECRET.encode(), f"{ts}.".encode() + body)
    before = _counts(app)
    for signature in (v1, f"v1={v1}", f"v2={v1}"):
        answer = client.post(
            "/webhooks",
            data=body,
            headers={
                "X-Shop-Domain": VICTIM,
                "X-Request-Timestamp": ts,
                "X-Topic": "shop/redact",
                "X-Event-Id": "e-1",
                "X-Signature": signature,
            },
        )
        assert answer.status_code == 401, signature
        assert answer.get_json()["error"]["code"] == "invalid_signature"
    assert _counts(app) == before


CART = {
    "cart_id": "k",
    "currency": "EUR",
    "channel": "web",
    "lines": [
        {"id": "l1", "product_id": "p1", "kind": "product", "quantity": 1, "unit_price": 100}
    ],
}


def test_a_hook_signed_for_the_secret_itself_or_an_events_key_is_refused(app, client, two_shops):
    body = json.dumps(CART).encode()
    good = signed_headers(SECRET, SHOP, body, path="/hooks/cart/price")
    parsed = parse_signed_headers(good)
    args = (parsed.timestamp, SHOP, parsed.topic, parsed.event_id, "/hooks/cart/price", body)
    for key in (SECRET.encode(), events_key(SECRET, SHOP)):
        sent = {**good, "X-Signature": sign(key, *args)}
        answer = client.post("/hooks/cart/price", data=body, headers=sent)
        assert answer.status_code == 401
    assert client.post("/hooks/cart/price", data=body, headers=good).status_code == 200


def test_an_event_we_sent_is_refused_at_every_endpoint(app, client, host, httpserver):
    """Direction: what the outbox signs never verifies as a request from the host."""
    posts: list[tuple[dict[str, str], bytes]] = []

    def keep(request: Request) -> Response:
        posts.append((dict(request.headers), request.get_data()))
        return Response("ok")

    httpserver.expect_request("/events", method="POST").respond_with_handler(keep)
    install(host, httpserver.url_for("/events"))
    assert host.webhook("customer/created", {"customer": customer_payload("c_1")})
    move(client, make_group(client), ["c_1"])
    assert deliver(app)["delivered"] >= 1
    sent, body = posts[-1]
    headers = {
        name: sent[name]
        for name in ("X-Shop-Domain", "X-Request-Timestamp", "X-Topic", "X-Event-Id", "X-Signature")
    }
    before = _counts(app)
    for target in ("/webhooks", "/hooks/cart/price", "/hooks/checkout/redeem"):
        for topic in (sent["X-Topic"], "customers/redact", "shop/redact", "hooks/cart/price"):
            answer = client.post(target, data=body, headers={**headers, "X-Topic": topic})
            assert answer.status_code == 401, (target, topic)
    assert _counts(app) == before


@pytest.mark.parametrize(
    "header,value",
    [
        ("X-Request-Timestamp", "01700000000"),
        ("X-Request-Timestamp", "+1700000000"),
        ("X-Request-Timestamp", "1700000000000"),
        ("X-Request-Timestamp", " 1700000000"),
        ("X-Shop-Domain", "lumen.example "),
        ("X-Shop-Domain", ""),
        ("X-Topic", ""),
        ("X-Topic", "order/paid\t"),
        ("X-Event-Id", "e" * 256),
        ("X-Event-Id", "é"),
        ("X-Signature", ""),
        ("X-Signature", " ".join(["v1=x"] * 8 + ["v2=x"])),
    ],
)
def test_headers_outside_their_forms_are_invalid_signature(app, client, host, header, value):
    host.install()
    body = b"{}"
    headers = signed_headers(SECRET, SHOP, body, topic="app/uninstalled")
    headers[header] = value
    answer = client.post("/webhooks", data=body, headers=headers)
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "invalid_signature"
    assert client.get("/api/groups", headers=auth()).status_code == 200  # still installed


def test_entries_of_other_versions_are_ignored_and_any_v2_entry_may_match(app, client, host):
    host.install()
    body = json.dumps({"customer": customer_payload("c_7")}).encode()
    headers = signed_headers(SECRET, SHOP, body, topic="customer/created")
    good = headers["X-Signature"]
    bogus = "v2=" + base64.b64encode(b"\0" * 32).decode()
    headers["X-Signature"] = f"v1=abc v3=def {bogus} {good}"
    assert client.post("/webhooks", data=body, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "path,topic",
    [
        ("/hooks/cart/price", "order/paid"),
        ("/hooks/cart/price", "hooks/checkout/redeem"),
        ("/hooks/checkout/redeem", "hooks/cart/price"),
        ("/webhooks", "hooks/cart/price"),
        ("/webhooks", "customer/teleported"),
    ],
)
def test_a_topic_that_does_not_belong_to_the_endpoint_is_invalid_payload(
    app, client, host, path, topic
):
    host.install()
    body = json.dumps({"cart_id": "k", "currency": "EUR", "lines": [], "order_id": "o"}).encode()
    headers = signed_headers(SECRET, SHOP, body, path=path, topic=topic)
    answer = client.post(path, data=body, headers=headers)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"] == "invalid_payload" and "X-Topic" in error["details"]


def test_a_rotation_accepts_the_previous_secret_and_signs_events_with_both(tmp_path, httpserver):
    old = "the-previous-secret-0123456789"
    app = make_app(tmp_path, CUSTOMER_GROUPS_APP_SECRET_PREVIOUS=old)
    client = app.test_client()
    Host(client, secret=old).install()  # the host has not switched yet
    new_host = Host(client)
    assert new_host.webhook("customer/created", {"customer": customer_payload("c_1")})
    # Session tokens of either secret.
    for secret in (SECRET, old):
        token = issue_session_token(secret, APP_ID, SHOP)
        answer = client.get("/api/groups", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
    # Events carry one entry per secret, each verifying with that secret's events key.
    posts: list[tuple[dict[str, str], bytes, str]] = []

    def keep(request: Request) -> Response:
        posts.append((dict(request.headers), request.get_data(), request.path))
        return Response("ok")

    httpserver.expect_request("/events", method="POST").respond_with_handler(keep)
    install(new_host, httpserver.url_for("/events"))
    move(client, make_group(client), ["c_1"])
    assert deliver(app)["delivered"] >= 1
    headers, body, path = posts[-1]
    entries = headers["X-Signature"].split(" ")
    assert len(entries) == 2
    signed = parse_signed_headers(headers)
    for secret in (SECRET, old):
        verify_signature([events_key(secret, SHOP)], signed, path, body, 300)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()

    # Once the previous secret is removed, what it signs is refused.
    (tmp_path / "after").mkdir()
    plain = make_app(tmp_path / "after")
    stale = Host(plain.test_client(), secret=old)
    refused = stale.post("/webhooks", {}, topic="app/uninstalled")
    assert refused.status_code == 401
    token = issue_session_token(old, APP_ID, SHOP)
    assert (
        plain.test_client()
        .get("/api/groups", headers={"Authorization": f"Bearer {token}"})
        .status_code
        == 401
    )
    with plain.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_signature_covers_the_contracts_path_whatever_the_mount(tmp_path):
    """A host mounting the extension under a prefix signs the contract's path."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    app = make_app(tmp_path)
    outer = Flask("host")
    outer.wsgi_app = DispatcherMiddleware(outer.wsgi_app, {"/ext": app.wsgi_app})
    client = outer.test_client()
    body = json.dumps(
        {"shop": {"domain": SHOP, "name": "L", "currency": "EUR", "timezone": "UTC"}}
    ).encode()
    headers = signed_headers(SECRET, SHOP, body, topic="app/installed")
    assert client.post("/ext/webhooks", data=body, headers=headers).status_code == 200
    wrong = signed_headers(SECRET, SHOP, body, path="/ext/webhooks", topic="app/installed")
    assert client.post("/ext/webhooks", data=body, headers=wrong).status_code == 401
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_malformed_v2_entry_is_refused_even_beside_a_good_one(app, client, host):
    host.install()
    body = b"{}"
    headers = signed_headers(SECRET, SHOP, body, topic="app/uninstalled")
    headers["X-Signature"] = f"v2=short {headers['X-Signature']}"
    answer = client.post("/webhooks", data=body, headers=headers)
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "invalid_signature"


def test_the_previous_secret_alone_authenticates_nothing(tmp_path):
    old = "the-previous-secret-0123456789-abcdef"
    app = make_app(
        tmp_path,
        CUSTOMER_GROUPS_APP_SECRET=None,
        CUSTOMER_GROUPS_APP_SECRET_PREVIOUS=old,
    )
    answer = Host(app.test_client(), secret=old).post("/webhooks", {}, topic="app/uninstalled")
    assert answer.status_code == 401
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_secret_that_is_not_utf8_is_refused_by_name():
    from plugin.config import SettingError, from_environ

    for name in ("CUSTOMER_GROUPS_APP_SECRET", "CUSTOMER_GROUPS_APP_SECRET_PREVIOUS"):
        with pytest.raises(SettingError, match=name):
            from_environ({name: "abc\udcff"})  # undecodable bytes, as os.environ gives them
