"""A shop whose events go to a local receiver that checks signatures and deduplicates."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug import Request, Response

from plugin.auth import events_key, parse_signed_headers, verify_signature
from plugin.db import db, utcnow
from plugin.events.models import OutboxEvent
from plugin.outbox.delivery import deliver_pending
from tests.conftest import SECRET, SHOP, auth, customer_payload


class Receiver:
    """The shop's endpoint: verifies each POST, records it, and deduplicates by event id.

    ``failures`` answers that many POSTs with ``fail_status`` first (the endpoint is down).
    """

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.seen: dict[str, dict[str, Any]] = {}  # event id → the first body received
        self.failures = 0
        self.fail_status = 500
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        body = request.get_data()
        # As a shop's receiver does (contract §6): the shop's events key, the path it was
        # posted to.
        signed = parse_signed_headers(request.headers)
        verify_signature([events_key(SECRET, signed.shop)], signed, request.path, body, 300)
        with self.lock:
            post = {
                "topic": request.headers["X-Topic"],
                "event_id": request.headers["X-Event-Id"],
                "shop": request.headers["X-Shop-Domain"],
                "created_at": request.headers.get("X-Event-Created-At"),
                "body": json.loads(body),
            }
            self.posts.append(post)
            if self.failures > 0:
                self.failures -= 1
                return Response("down for maintenance", status=self.fail_status)
            self.seen.setdefault(post["event_id"], post)
        return Response("ok", status=200)

    @property
    def unique(self) -> list[dict[str, Any]]:
        return list(self.seen.values())


@pytest.fixture
def receiver(httpserver) -> Receiver:
    handler = Receiver()
    httpserver.expect_request("/events", method="POST").respond_with_handler(handler)
    return handler


@pytest.fixture
def events_url(httpserver) -> str:
    return httpserver.url_for("/events")


def install(host, events_url: str | None, shop: str = SHOP) -> None:
    response = host.webhook(
        "app/installed",
        {
            "shop": {
                "domain": shop,
                "name": "Lumen",
                "currency": "EUR",
                "timezone": "UTC",
                "events_url": events_url,
            }
        },
        shop=shop,
    )
    assert response.status_code == 200, response.get_json()


@pytest.fixture
def events_shop(host, events_url) -> str:
    install(host, events_url)
    return SHOP


def add_customers(host, count: int, prefix: str = "c") -> list[str]:
    ids = [f"{prefix}_{i}" for i in range(count)]
    for customer_id in ids:
        response = host.webhook("customer/created", {"customer": customer_payload(customer_id)})
        assert response.status_code == 200, response.get_json()
    return ids


def make_group(client, name: str = "VIP") -> int:
    answer = client.post("/api/groups", json={"name": name, "colour": "#112233"}, headers=auth())
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def move(client, group_id: int, customer_ids: list[str]) -> None:
    answer = client.post(
        f"/api/groups/{group_id}/customers", json={"customer_ids": customer_ids}, headers=auth()
    )
    assert answer.status_code == 200, answer.get_json()


def outbox(app) -> list[OutboxEvent]:
    with app.app_context():
        rows = list(db.session.execute(select(OutboxEvent).order_by(OutboxEvent.id)).scalars())
        db.session.expunge_all()
        return rows


class Clock:
    """Deliver as if time went on: each round starts ``step`` later (past any backoff)."""

    def __init__(self, step: timedelta = timedelta(hours=2)) -> None:
        self.now = utcnow()
        self.step = step

    def advance(self) -> None:
        self.now += self.step


def deliver(app, clock: Clock | None = None, **kwargs: Any) -> dict[str, int]:
    with app.app_context():
        try:
            return deliver_pending(now=clock.now if clock else None, **kwargs)
        finally:
            db.session.remove()
