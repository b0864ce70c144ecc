"""The events outbox and the rules for outgoing requests (contract v2 §5): an unsafe
events_url refused when installing and when connecting, redirects never followed, the
endpoint's reply never shown beyond its status and error code."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import func, select
from werkzeug import Response

from plugin.db import db
from plugin.shops.models import Shop
from tests.conftest import SHOP, auth
from tests.outbox.conftest import add_customers, deliver, install, make_group, move, outbox
from tests.test_outgoing import Resolver

SECRET_TEXT = "root:x:0:0 internal-admin-panel 10.0.0.7"


def guard_on(app):
    """The tests' apps allow private destinations (make_app); these tests need the guard."""
    app.config["CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS"] = False


def one_event(client, host):
    move(client, make_group(client), add_customers(host, 1))
    assert len(outbox(client.application)) == 1


def events_seen_by_the_merchant(client) -> str:
    return client.get("/api/events", headers=auth()).get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost./events",
        "https://LOCALHOST./events",
        "https://[64:ff9b::7f00:1]/events",
        "https://[2002:7f00:1::]/events",
        "https://127.0.0.1:8443/events",
        "https://10.1.2.3/events",
        "https://[::1]/events",
        "http://events.host.example/events",
    ],
)
def test_an_unsafe_events_url_is_refused_when_installing(app, host, url):
    guard_on(app)
    response = host.webhook(
        "app/installed",
        {"shop": {"domain": SHOP, "currency": "EUR", "events_url": url}},
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_payload"
    assert "shop.events_url" in error["details"], error
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Shop)).scalar() == 0


def test_a_public_https_events_url_is_accepted(app, host):
    guard_on(app)
    install(host, "https://events.host.example/hooks/customer-groups")


def test_a_private_events_url_saved_earlier_is_refused_when_connecting(
    app, client, host, events_url, receiver
):
    install(host, events_url)  # allowed then: private destinations were on
    one_event(client, host)
    guard_on(app)
    assert deliver(app) == {"delivered": 0, "failed": 1, "dead": 0, "skipped": 0}
    [row] = outbox(app)
    assert row.status == "pending" and row.last_status_code is None
    assert row.last_error.startswith("Refused:")
    assert receiver.posts == []


def test_a_name_resolving_to_a_private_address_is_refused_when_connecting(
    app, client, host, monkeypatch
):
    guard_on(app)
    install(host, "https://events.host.example/hooks")  # a name: judged when connecting
    one_event(client, host)
    resolver = Resolver(monkeypatch, {"events.host.example": ["93.184.216.34", "10.0.0.9"]})
    assert deliver(app)["failed"] == 1
    [row] = outbox(app)
    assert row.last_error.startswith("Refused:") and "10.0.0.9" not in row.last_error
    assert resolver.asked == ["events.host.example"]


def test_a_redirect_is_a_failed_delivery_and_is_not_followed(
    app, client, host, events_url, httpserver
):
    """Private destinations allowed (the tests' setting): redirects are refused all the same."""
    httpserver.expect_request("/events", method="POST").respond_with_handler(
        lambda request: Response("", status=307, headers={"Location": "/accepted"})
    )
    httpserver.expect_request("/accepted").respond_with_data("ok")
    install(host, events_url)
    one_event(client, host)
    assert deliver(app)["failed"] == 1
    [row] = outbox(app)
    assert row.status == "pending" and row.last_status_code == 307
    assert row.last_error == "HTTP 307: a redirect, which is not followed"
    assert [request.path for request, _ in httpserver.log] == ["/events"]


@pytest.mark.parametrize(
    "reply, content_type, expected",
    [
        (SECRET_TEXT, "text/plain", "HTTP 500"),
        (
            json.dumps({"error": {"code": "maintenance", "message": SECRET_TEXT}}),
            "application/json",
            "HTTP 500 (error code maintenance)",
        ),
    ],
    ids=["text", "error-code"],
)
def test_the_endpoint_s_reply_is_not_shown_to_the_merchant(
    app, client, host, events_url, httpserver, caplog, reply, content_type, expected
):
    httpserver.expect_request("/events", method="POST").respond_with_data(
        reply, status=500, content_type=content_type
    )
    install(host, events_url)
    one_event(client, host)
    with caplog.at_level(logging.WARNING):
        deliver(app)
    [row] = outbox(app)
    assert row.last_error == expected
    shown = events_seen_by_the_merchant(client)
    assert expected in shown and SECRET_TEXT not in shown
    assert SECRET_TEXT in caplog.text  # kept for operators
