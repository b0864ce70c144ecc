"""Automations and the event outbox: how fast things happen after their trigger.

1. Trigger → coupon: with the embedded job runner started (as ``customer-groups serve``
   does), a signed ``customer/created`` webhook per customer goes through WSGI; the time
   from its 200 to the automation's succeeded run (code taken, run recorded, coupon/given
   in the outbox) is measured per customer. The contract asks for 5 s.
2. Commit → POST: the same customers' ``coupon/given`` events, from the commit that wrote
   them to their arrival at a local receiver (the runner's ``outbox.deliver`` task and
   jobs, nothing called by hand).
3. Publishing in bulk: ``publish_many`` of 100,000 events (a segment recompute announcing
   its newcomers) against a plain executemany INSERT of the same rows.
4. Delivery throughput: 5,000 pending events posted by ``deliver_pending`` to a local
   keep-alive receiver, in events per second.

Run: ``.venv/bin/python bench/automations.py [--customers 50] [--database-url URL]``
(a SQLite file by default; the PostgreSQL database is emptied).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import delete, func, insert, select, text  # noqa: E402

from plugin.auth import signed_headers  # noqa: E402
from plugin.automations.models import AutomationRun  # noqa: E402
from plugin.db import db, utcnow  # noqa: E402
from plugin.events import publish_many  # noqa: E402
from plugin.events.models import OutboxEvent  # noqa: E402
from plugin.extension import create_app  # noqa: E402
from plugin.jobs.runner import start_runner, stop_runner  # noqa: E402
from plugin.outbox.delivery import deliver_pending  # noqa: E402
from plugin.shops.models import Shop  # noqa: E402

SECRET = "bench-secret-0123456789-abcdefghijklmnop"
SHOP = "bench.example"


class Receiver(BaseHTTPRequestHandler):
    """The shop's endpoint: answers 204 and notes when each event id first arrived."""

    arrived: dict[str, float] = {}
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with self.lock:
            self.arrived.setdefault(self.headers["X-Event-Id"], time.monotonic())
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def percentiles(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return (
        f"median {statistics.median(values) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {values[-1] * 1000:.0f} ms"
    )


def webhook(client: Any, topic: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers = signed_headers(SECRET, SHOP, body, topic=topic, event_id=str(uuid.uuid4()))
    answer = client.post("/webhooks", data=body, headers=headers)
    assert answer.status_code == 200, answer.get_json()


def reset(app: Any) -> None:
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.drop_all()
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.create_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite"

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    events_url = f"http://127.0.0.1:{server.server_address[1]}/events"

    app = create_app(
        {
            "TESTING": True,
            "CUSTOMER_GROUPS_APP_SECRET": SECRET,
            "CUSTOMER_GROUPS_DATABASE_URL": url,
            "CUSTOMER_GROUPS_RUN_JOBS": True,
            "CUSTOMER_GROUPS_JOB_POLL_SECONDS": 1,
            # The events receiver is local, plain http (contract §5 allows it only so).
            "CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS": True,
        }
    )
    reset(app)
    client = app.test_client()
    webhook(
        client,
        "app/installed",
        {"shop": {"domain": SHOP, "currency": "EUR", "events_url": events_url}},
    )
    discount = client.post(
        "/api/discounts",
        json={"name": "Welcome", "type": "percent", "value": 10},
        headers=_admin(),
    ).get_json()
    assert "id" in discount, discount
    codes = "code\n" + "\n".join(f"W{i:06d}" for i in range(args.customers)) + "\n"
    client.post(
        f"/api/discounts/{discount['id']}/codes/import",
        data=codes.encode(),
        headers={**_admin(), "Content-Type": "text/csv"},
    )
    client.post(
        "/api/automations",
        json={
            "name": "Welcome",
            "trigger": {"type": "customer_created"},
            "action": {"type": "give_coupon", "discount_id": discount["id"]},
        },
        headers=_admin(),
    )

    print(f"database: {db_name(app)}; {args.customers} customers, one automation")
    start_runner(app)
    try:
        latencies = []
        for i in range(args.customers):
            webhook(client, "customer/created", {"customer": _customer(f"c_{i}")})
            sent = time.monotonic()
            while not _has_run(app, f"c_{i}"):
                if time.monotonic() - sent > 30:
                    raise SystemExit(f"no run for c_{i} after 30 s")
                time.sleep(0.005)
            latencies.append(time.monotonic() - sent)
        print(f"trigger → coupon given (embedded runner): {percentiles(latencies)}")

        # The coupon/given events: from their commit to the receiver.
        deadline = time.monotonic() + 60
        with app.app_context():
            events = db.session.execute(
                select(OutboxEvent.event_id, OutboxEvent.created_at).where(
                    OutboxEvent.topic == "coupon/given"
                )
            ).all()
            db.session.remove()
        while len([e for e, _ in events if e in Receiver.arrived]) < len(events):
            if time.monotonic() > deadline:
                raise SystemExit("events not delivered after 60 s")
            time.sleep(0.01)
        offset = time.monotonic() - utcnow().timestamp()  # wall clock → monotonic
        delays = [Receiver.arrived[e] - (c.timestamp() + offset) for e, c in events]
        print(f"commit → POST received (outbox.deliver task and jobs): {percentiles(delays)}")
    finally:
        stop_runner(app, timeout=5)

    bulk = 100_000
    with app.app_context():
        shop = db.session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
        db.session.execute(delete(OutboxEvent))
        db.session.commit()
        payloads = [{"customer_id": f"c_{i}", "joined": [1], "left": []} for i in range(bulk)]
        started = time.perf_counter()
        publish_many(shop, "customer/segments_changed", payloads)
        db.session.commit()
        ours = time.perf_counter() - started
        db.session.execute(delete(OutboxEvent))
        db.session.commit()
        rows = [
            {
                "shop_id": shop.id,
                "topic": "customer/segments_changed",
                "event_id": str(uuid.uuid4()),
                "payload": payload,
                "status": "skipped",
                "attempts": 0,
                "created_at": utcnow(),
            }
            for payload in payloads
        ]
        started = time.perf_counter()
        db.session.execute(insert(OutboxEvent), rows)
        db.session.commit()
        plain = time.perf_counter() - started
        print(
            f"publish_many of {bulk:,} events: {ours:.2f} s ({bulk / ours:,.0f}/s); a plain "
            f"executemany INSERT of the same rows: {plain:.2f} s; ratio {ours / plain:.2f}"
        )

        db.session.execute(delete(OutboxEvent))
        db.session.commit()
        count = 5_000
        publish_many(
            shop,
            "customer/segments_changed",
            [{"customer_id": f"c_{i}", "joined": [1], "left": []} for i in range(count)],
        )
        db.session.commit()
        started = time.perf_counter()
        result = deliver_pending(budget_seconds=600)
        took = time.perf_counter() - started
        delivered = db.session.execute(
            select(func.count()).where(OutboxEvent.status == "delivered")
        ).scalar_one()
        assert delivered == count == result["delivered"], result
        print(
            f"delivery: {count:,} events to a local receiver in {took:.2f} s "
            f"({count / took:,.0f} events/s, one process, sequential POSTs)"
        )
        db.session.remove()
    server.shutdown()


def _admin() -> dict[str, str]:
    """A fresh session token (they live 60 s)."""
    from plugin.auth import issue_session_token

    return {"Authorization": "Bearer " + issue_session_token(SECRET, "customer-groups", SHOP)}


def _customer(customer_id: str) -> dict[str, Any]:
    return {
        "id": customer_id,
        "email": f"{customer_id}@example.com",
        "first_name": "Bench",
        "last_name": "Customer",
        "tags": [],
        "points": 0,
        "accepts_marketing": False,
        "type": "individual",
    }


def _has_run(app: Any, external_id: str) -> bool:
    from plugin.customers.models import Customer

    with app.app_context():
        found = db.session.execute(
            select(AutomationRun.id)
            .join(Customer, Customer.id == AutomationRun.customer_id)
            .where(Customer.external_id == external_id, AutomationRun.status == "succeeded")
        ).first()
        db.session.remove()
        return found is not None


def db_name(app: Any) -> str:
    with app.app_context():
        return db.engine.dialect.name


if __name__ == "__main__":
    main()
