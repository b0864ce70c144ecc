"""Webhook ingest: events per second through ``POST /webhooks`` against a floor endpoint.

    .venv/bin/python bench/webhooks.py [--database-url URL] [--events N] [--threads 4]

One process, ``--threads`` threads, each with its own Flask test client (WSGI in-process),
on a real database: PostgreSQL (``--database-url``, default ``cg_bench_webhooks``, its
tables dropped and recreated) and a SQLite file, both printed unless ``--only`` names one.
The shop has five segments (figures, a tag, products, a country, last order date), so
every order moves memberships, and ``--customers`` customers created beforehand.

Two mixes, each signed before the clock starts (the host's work is not ours):

- ``order/paid``: N paid orders of 1 to 3 lines for random customers;
- ``storm``: the same kind of orders with refunds and cancellations (of orders already
  sent, and of orders whose ``order/paid`` comes later), re-deliveries under the same
  event id, the same order under a new event id, all shuffled.

The floor is an endpoint registered only in this script: it checks the signature with
``hmac`` (its own code, none of ours), then inserts one row per event (event id, topic and
body) in its own transaction through the same engine. Each figure is events per second
over the run, the ratio ours/floor, and the SQL statements (plus commits) per event; then
the CPU milliseconds per event of this process and of our PostgreSQL backends, which a
busy machine sways much less than wall time. After
each mix, every customer's figures and every segment's members are checked against a
recompute from the orders: a fast path that counted wrong fails the run.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402
from flask import Response, request  # noqa: E402
from sqlalchemy import event, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from plugin.auth import signed_headers  # noqa: E402
from plugin.db import db  # noqa: E402
from plugin.extension import create_app  # noqa: E402

SECRET = "bench-secret-0123456789-abcdefghijklmnop"
SHOP = "bench.example"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/cg_bench_webhooks"
FLOOR_PATH = "/bench/floor"
SEGMENTS = [
    ("Repeat", "all", [{"field": "total_order_count", "op": "gte", "value": 2}]),
    ("Big spenders", "all", [{"field": "total_purchase_amount", "op": "gte", "value": 10000}]),
    (
        "FR VIP buyers",
        "all",
        [
            {"field": "country", "op": "is", "value": "FR"},
            {"field": "customer_tag", "op": "has", "value": "vip"},
            {"field": "purchased_product", "op": "any_of", "value": ["p1", "p2", "p3"]},
        ],
    ),
    ("Recent", "all", [{"field": "last_order_date", "op": "after", "value": "-30d"}]),
    ("Code users", "any", [{"field": "used_discount_code", "op": "is", "value": True}]),
]


def make_app(url: str) -> Any:
    if url.startswith("postgresql"):  # to find our server processes (server_cpu)
        url += ("&" if "?" in url else "?") + f"application_name={APP_NAME}"
    app = create_app(
        {"TESTING": True, "CUSTOMER_GROUPS_APP_SECRET": SECRET, "CUSTOMER_GROUPS_DATABASE_URL": url}
    )
    host_key = hmac.new(SECRET.encode(), b"customer-groups/v2/host", hashlib.sha256).digest()
    insert_row = text("INSERT INTO bench_floor (event_id, topic, body) VALUES (:e, :t, :b)")

    def floor() -> Response:
        """Verify the signature (contract v2) with hmac, insert one row, commit."""
        headers = request.headers
        body = request.get_data()
        fields = [
            headers.get("X-Request-Timestamp", ""),
            headers.get("X-Shop-Domain", ""),
            headers.get("X-Topic", ""),
            headers.get("X-Event-Id", ""),
            "/webhooks",
        ]
        signed = "".join(f"{field}\n" for field in fields).encode() + body
        mac = base64.b64encode(hmac.new(host_key, signed, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(f"v2={mac}", headers.get("X-Signature", "")):
            return Response('{"error": "invalid_signature"}', 401, mimetype="application/json")
        if abs(time.time() - int(fields[0])) > 300:
            return Response('{"error": "stale_request"}', 401, mimetype="application/json")
        with db.engine.begin() as connection:
            connection.execute(insert_row, {"e": fields[3], "t": fields[2], "b": body.decode()})
        return Response('{"status": "ok"}', 200, mimetype="application/json")

    app.add_url_rule(FLOOR_PATH, "bench_floor", floor, methods=["POST"])
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
            connection.execute(text("DROP TABLE IF EXISTS bench_floor"))
            connection.execute(
                text(
                    "CREATE TABLE bench_floor (event_id VARCHAR(255) PRIMARY KEY,"
                    " topic VARCHAR(64) NOT NULL, body TEXT NOT NULL)"
                )
            )
        db.create_all()
    return app


APP_NAME = "bench-webhooks"


def server_cpu(app: Any) -> float:
    """CPU seconds used so far by the PostgreSQL backends of our connections (0 on SQLite,
    NaN when the server runs elsewhere): steadier than wall time on a busy machine."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return 0.0
        with db.engine.connect() as connection:
            pids = connection.execute(
                text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                {"name": APP_NAME},
            ).scalars()
            total = 0.0
            try:
                for pid in pids:
                    with open(f"/proc/{pid}/stat") as stat:
                        fields = stat.read().rsplit(")", 1)[1].split()
                    total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except OSError:
                return float("nan")
    return total


def timed_run(
    app: Any, path: str, requests: list[tuple], threads: int
) -> tuple[float, float, float]:
    """:func:`run`, with the CPU seconds of this process and of our server backends."""
    server, client = server_cpu(app), time.process_time()
    elapsed = run(app, path, requests, threads)
    return elapsed, time.process_time() - client, server_cpu(app) - server


class Counter:
    """SQL statements and commits sent on the engine (cursor executes + COMMITs)."""

    def __init__(self, engine: Any) -> None:
        self.statements = 0
        self.lock = threading.Lock()
        event.listen(engine, "before_cursor_execute", self._one)
        event.listen(engine, "commit", self._one)

    def _one(self, *args: Any) -> None:
        with self.lock:
            self.statements += 1


def signed(topic: str, payload: dict[str, Any], event_id: str | None = None) -> tuple:
    body = json.dumps(payload).encode()
    return body, signed_headers(SECRET, SHOP, body, topic=topic, event_id=event_id)


def setup_shop(app: Any, customers: int, rng: random.Random) -> None:
    from plugin.segments.operations import create_segment
    from plugin.shops.models import Shop

    client = app.test_client()
    shop = {"domain": SHOP, "name": "Bench", "currency": "EUR", "timezone": "Europe/Paris"}
    for topic, payload in [("app/installed", {"shop": shop})] + [
        (
            "customer/created",
            {
                "customer": {
                    "id": f"c_{i}",
                    "email": f"c{i}@example.com",
                    "registered_at": "2025-01-01",
                    "tags": ["VIP"] if rng.random() < 0.3 else [],
                    "points": 0,
                    "type": "individual",
                    "default_address": {"city": "Paris", "country": rng.choice(["FR", "DE"])},
                }
            },
        )
        for i in range(customers)
    ]:
        body, headers = signed(topic, payload)
        answer = client.post("/webhooks", data=body, headers=headers)
        assert answer.status_code == 200, answer.get_data()
    with app.app_context():
        row = db.session.query(Shop).filter_by(domain=SHOP).one()
        for name, match, conditions in SEGMENTS:
            create_segment(row, {"name": name, "match": match, "conditions": conditions})
        db.session.commit()
        # The statistics a database in service has (autovacuum gathers them within a
        # minute of such a load; the run is over by then). Without them PostgreSQL plans
        # for empty tables: it looked a customer up by id through an index on shop_id,
        # reading all 1,000 rows, in three of the event's statements.
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def order(rng: random.Random, number: int, customers: int) -> dict[str, Any]:
    lines = [
        {
            "product_id": f"p{rng.randint(1, 40)}",
            "kind": "product",
            "quantity": rng.randint(1, 3),
            "unit_price": rng.randint(100, 5000),
        }
        for _ in range(rng.randint(1, 3))
    ]
    day = rng.randint(0, 60)
    return {
        "id": f"o_{number}",
        "customer_id": f"c_{rng.randrange(customers)}",
        "placed_at": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - day * 86400 - rng.randint(0, 86399))
        ),
        "currency": "EUR",
        "total": sum(line["quantity"] * line["unit_price"] for line in lines),
        "lines": lines,
        "discount_codes": ["SAVE10"] if rng.random() < 0.2 else [],
        "payment_method": "paypal",
        "channel": "web",
    }


def paid_mix(rng: random.Random, events: int, customers: int, first: int) -> list[tuple]:
    return [
        signed("order/paid", {"order": order(rng, first + i, customers)}) for i in range(events)
    ]


def storm_mix(rng: random.Random, events: int, customers: int, first: int) -> list[tuple]:
    """Paid orders, reversals after and before payment, re-deliveries, all shuffled."""
    batch: list[tuple] = []
    number = first
    while len(batch) < events:
        number += 1
        paid = signed("order/paid", {"order": order(rng, number, customers)})
        batch.append(paid)
        roll = rng.random()
        if roll < 0.25:  # reversed (the shuffle puts it before the payment half the time)
            topic = rng.choice(["order/refunded", "order/cancelled"])
            batch.append(signed(topic, {"order": {"id": f"o_{number}"}}))
        elif roll < 0.35:  # the same delivery again
            batch.append(paid)
        elif roll < 0.40:  # the same order under a new event id
            body, headers = paid
            batch.append(signed("order/paid", json.loads(body), event_id=str(uuid.uuid4())))
    rng.shuffle(batch)
    return batch[:events]


def run(app: Any, path: str, requests: list[tuple], threads: int) -> float:
    """Post every request from ``threads`` threads; the wall time in seconds."""
    position = iter(range(len(requests)))
    lock = threading.Lock()
    failures: list[str] = []

    def work() -> None:
        client = app.test_client()
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                return
            body, headers = requests[index]
            answer = client.post(path, data=body, headers=headers)
            if answer.status_code != 200:
                failures.append(f"{answer.status_code} {answer.get_data()[:300]!r}")

    workers = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, first: {failures[0]}")
    return elapsed


FIGURES_CHECK = """
SELECT count(*) FROM customers c
LEFT JOIN (SELECT customer_id, count(*) AS n, sum(total) AS s, min(placed_at) AS f,
                  max(placed_at) AS l
           FROM orders WHERE status = 'paid' AND customer_id IS NOT NULL
           GROUP BY customer_id) o ON o.customer_id = c.id
WHERE c.order_count <> coalesce(o.n, 0) OR c.total_spent <> coalesce(o.s, 0)
   OR coalesce(c.first_order_at = o.f, o.f IS NULL AND c.first_order_at IS NULL) IS NOT TRUE
   OR coalesce(c.last_order_at = o.l, o.l IS NULL AND c.last_order_at IS NULL) IS NOT TRUE
"""
PRODUCTS_CHECK = """
SELECT count(*) FROM (
  SELECT o.customer_id, l.product_id, sum(l.quantity) AS q FROM orders o
  JOIN order_lines l ON l.order_id = o.id
  WHERE o.status = 'paid' AND o.customer_id IS NOT NULL GROUP BY o.customer_id, l.product_id
) want FULL JOIN customer_products p
  ON p.customer_id = want.customer_id AND p.product_id = want.product_id
WHERE want.q IS NULL OR p.quantity IS NULL OR want.q <> p.quantity
"""


def check(app: Any) -> None:
    """Figures, products and memberships equal what a recompute from the orders gives."""
    from plugin.segments.models import Segment, SegmentMember
    from plugin.segments.operations import recompute_segment
    from plugin.shops.models import Shop

    with app.app_context():
        wrong = db.session.execute(text(FIGURES_CHECK)).scalar_one()
        wrong_products = db.session.execute(text(PRODUCTS_CHECK)).scalar_one()
        shop = db.session.query(Shop).filter_by(domain=SHOP).one()
        before = set(db.session.query(SegmentMember.segment_id, SegmentMember.customer_id))
        for segment in db.session.query(Segment).order_by(Segment.id):
            recompute_segment(shop, segment)
        after = set(db.session.query(SegmentMember.segment_id, SegmentMember.customer_id))
        db.session.rollback()
    if wrong or wrong_products or before != after:
        raise SystemExit(
            f"wrong figures: {wrong} customers, {wrong_products} product rows, "
            f"{len(before ^ after)} memberships differ from a recompute"
        )


def bench(url: str, label: str, args: argparse.Namespace) -> None:
    rng = random.Random(13)
    app = make_app(url)
    setup_shop(app, args.customers, rng)
    with app.app_context():
        counter = Counter(db.engine)
    print(f"{label}: {args.customers} customers, {len(SEGMENTS)} segments, {args.threads} threads")
    first = 0
    for mix_name, mix in (("order/paid", paid_mix), ("storm", storm_mix)):
        ours = mix(rng, args.events, args.customers, first)
        first += args.events * 2
        floor = [signed(*_floor_args(body, headers)) for body, headers in ours]
        run(app, "/webhooks", ours[: args.threads * 5], args.threads)  # warm-up
        run(app, FLOOR_PATH, floor[: args.threads * 5], args.threads)
        ours, floor = ours[args.threads * 5 :], floor[args.threads * 5 :]
        counted = counter.statements
        t_ours, client, server = timed_run(app, "/webhooks", ours, args.threads)
        statements = (counter.statements - counted) / len(ours)
        counted = counter.statements
        t_floor, floor_client, floor_server = timed_run(app, FLOOR_PATH, floor, args.threads)
        floor_statements = (counter.statements - counted) / len(floor)
        check(app)
        rate, floor_rate = len(ours) / t_ours, len(floor) / t_floor
        per = 1000 / len(ours)
        print(
            f"  {mix_name:<10} ours {rate:7.0f} events/s ({statements:4.1f} statements/event)"
            f"   floor {floor_rate:7.0f} events/s ({floor_statements:3.1f})"
            f"   ratio {floor_rate / rate:5.2f}x",
            flush=True,
        )
        print(
            f"  {'':<10} CPU ms/event: ours client {client * per:5.2f} server {server * per:5.2f}"
            f"   floor client {floor_client * per:5.2f} server {floor_server * per:5.2f}"
            f"   ratio {(client + server) / (floor_client + floor_server):5.2f}x",
            flush=True,
        )
    with app.app_context():
        db.engine.dispose()


def _floor_args(body: bytes, headers: dict[str, str]) -> tuple:
    """The floor's copy of a request: the same body and topic under a fresh event id (a
    re-delivery to the floor is a new row too, which is what one insert per event means)."""
    return headers["X-Topic"], json.loads(body), str(uuid.uuid4())


def ensure_database(url: str) -> None:
    parsed = make_url(url)
    with psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        dbname="template1",
        autocommit=True,
    ) as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)
        ).fetchone()
        if not found:
            connection.execute(f'CREATE DATABASE "{parsed.database}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_PG)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--only", choices=["postgresql", "sqlite"])
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"load average (1 min) at the start: {load:.2f}")
    if args.only != "sqlite":
        if not args.database_url.startswith("postgresql"):
            raise SystemExit("--database-url must be a PostgreSQL URL")
        ensure_database(args.database_url)
        bench(args.database_url, "PostgreSQL", args)
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as folder:
            bench(f"sqlite:///{folder}/bench.sqlite", "SQLite", args)
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
