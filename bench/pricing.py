"""In-process cost of the pricing hook per call, against a bare signed endpoint.

For 0, 1,000 and 10,000 active price rules, a signed ``POST /hooks/cart/price`` of a
50-line cart goes through the Flask test client (WSGI, real database: a SQLite file by
default, ``--database-url`` for PostgreSQL). The bare endpoint, registered only in this
script's app, verifies the signature, parses the same cart with the same schema and answers
a same-sized body; the ratio hook / bare is what the extension adds. Then 30 threads call
the hook at once at the largest size (the contract's "ordinary load").

Run: ``.venv/bin/python bench/pricing.py [--calls 300] [--database-url URL]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flask import jsonify  # noqa: E402
from sqlalchemy import insert, select, text, update  # noqa: E402

from hooks.signing import parse_json_object, read_signed_request  # noqa: E402
from plugin.auth import signed_headers  # noqa: E402
from plugin.checkout.schemas import CartIn  # noqa: E402
from plugin.db import db  # noqa: E402
from plugin.extension import create_app  # noqa: E402
from plugin.groups.models import Group  # noqa: E402
from plugin.rules.models import PriceRule, PriceRuleGroup  # noqa: E402
from plugin.shops.models import Shop  # noqa: E402

SECRET = "bench-secret-0123456789-abcdefghijklmnop"
SHOP = "bench.example"
SIZES = (0, 1_000, 10_000)
PRODUCTS = [f"p{i}" for i in range(5000)]
CATEGORIES = [f"c{i}" for i in range(200)]


def make_app(url: str) -> Any:
    app = create_app(
        {
            "TESTING": True,
            "CUSTOMER_GROUPS_APP_SECRET": SECRET,
            "CUSTOMER_GROUPS_DATABASE_URL": url,
        }
    )
    schema = CartIn()

    def bare() -> Any:
        """Signature, the same schema, a same-sized answer: no database, no pricing."""
        signed = read_signed_request("/hooks/cart/price", ["hooks/cart/price"])
        data = schema.load(parse_json_object(signed.body))
        lines = [
            {
                "id": ln["id"],
                "quantity": ln["quantity"],
                "unit_price": ln["unit_price"],
                "rule_unit_price": ln["unit_price"],
                "subtotal": ln["unit_price"] * ln["quantity"],
                "discount": 0,
                "total": ln["unit_price"] * ln["quantity"],
                "adjustments": [
                    {"source": "price_rule", "rule_id": 1, "label": "Rule 1", "amount": 0}
                ],
            }
            for ln in data["lines"]
        ]
        subtotal = sum(ln["subtotal"] for ln in lines)
        return jsonify(
            {
                "currency": data["currency"],
                "customer": {"group": {"id": 1, "name": "Standard", "colour": "#9e9e9e"}},
                "lines": lines,
                "gifts": [],
                "shipping": {"price": 500, "discount": 0, "total": 500, "adjustments": []},
                "codes": [],
                "earns_loyalty_points": True,
                "subtotal": subtotal,
                "discount_total": 0,
                "shipping_total": 500,
                "total": subtotal + 500,
                "programme": None,
            }
        )

    app.add_url_rule("/bench/bare", "bench_bare", bare, methods=["POST"])
    with app.app_context():
        if not url.startswith("sqlite"):
            db.drop_all()
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.create_all()
    return app


def post(client: Any, path: str, body: bytes, topic: str | None = None) -> Any:
    # The bare endpoint verifies exactly what the pricing hook verifies.
    signed_path = "/webhooks" if path == "/webhooks" else "/hooks/cart/price"
    headers = signed_headers(SECRET, SHOP, body, path=signed_path, topic=topic)
    response = client.post(path, data=body, headers=headers)
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code}: {response.get_data()!r}")
    return response


def install(client: Any) -> None:
    shop = {"domain": SHOP, "name": "Bench", "currency": "EUR", "timezone": "UTC"}
    post(client, "/webhooks", json.dumps({"shop": shop}).encode(), "app/installed")
    customer = {
        "id": "c_1",
        "email": "c1@example.com",
        "registered_at": "2026-01-01",
        "tags": [],
        "points": 0,
        "type": "individual",
    }
    post(client, "/webhooks", json.dumps({"customer": customer}).encode(), "customer/created")


def set_rule_count(app: Any, count: int, rng: random.Random) -> None:
    """Replace the shop's price rules with ``count`` rules of mixed scope and audience."""
    with app.app_context():
        shop_id = db.session.execute(select(Shop.id).where(Shop.domain == SHOP)).scalar_one()
        group_id = db.session.execute(select(Group.id).where(Group.shop_id == shop_id)).scalar_one()
        db.session.execute(PriceRule.__table__.delete().where(PriceRule.shop_id == shop_id))
        rows = []
        for i in range(count):
            roll = rng.random()
            if roll < 0.6:
                scope = ("products", rng.sample(PRODUCTS, rng.randint(1, 5)))
            elif roll < 0.97:
                scope = ("categories", rng.sample(CATEGORIES, rng.randint(1, 3)))
            else:
                scope = ("all", [])
            audience = ("groups",) if rng.random() < 0.5 else ("all",)
            percent = rng.random() < 0.7
            rows.append(
                {
                    "shop_id": shop_id,
                    "name": f"Rule {i}",
                    "name_key": f"rule {i}",
                    "audience_type": audience[0],
                    "scope_type": scope[0],
                    "scope_ids": scope[1],
                    "action_type": "discount_percent" if percent else "discount_fixed",
                    "action_value": rng.randint(100, 3000) if percent else rng.randint(10, 500),
                    "priority": rng.randint(0, 100),
                    "active": True,
                }
            )
        links = []
        for start in range(0, len(rows), 2000):
            batch = rows[start : start + 2000]
            ids = db.session.execute(
                insert(PriceRule.__table__).returning(PriceRule.id, sort_by_parameter_order=True),
                batch,
            ).scalars()
            # Audiences are link rows (plugin/rules/audience.py), not id lists.
            links += [
                {"shop_id": shop_id, "price_rule_id": rule_id, "group_id": group_id}
                for rule_id, row in zip(ids, batch, strict=True)
                if row["audience_type"] == "groups"
            ]
        if links:
            db.session.execute(insert(PriceRuleGroup), links)
        db.session.execute(
            update(Shop).where(Shop.id == shop_id).values(rules_version=Shop.rules_version + 1)
        )
        db.session.commit()


def make_cart(rng: random.Random) -> bytes:
    lines = [
        {
            "id": f"l{i}",
            "product_id": rng.choice(PRODUCTS),
            "kind": "product",
            "category_ids": rng.sample(CATEGORIES, 2),
            "quantity": rng.randint(1, 4),
            "unit_price": rng.randint(100, 20000),
        }
        for i in range(50)
    ]
    cart = {
        "cart_id": "k_1",
        "currency": "EUR",
        "customer_id": "c_1",
        "channel": "web",
        "payment_method": "paypal",
        "shipping": {"carrier": "royal_mail", "price": 500, "address": None},
        "lines": lines,
        "codes": [],
    }
    return json.dumps(cart).encode()


def per_call_ms(client: Any, body: bytes, calls: int) -> tuple[float, float]:
    """Median ms per call of the hook and of the bare endpoint, calls interleaved so that
    both see the same machine load and the same heap (the snapshot's objects included)."""
    for _ in range(10):
        post(client, "/hooks/cart/price", body)  # warm up (and build the snapshot)
        post(client, "/bench/bare", body)
    hook, bare = [], []
    for _ in range(calls):
        for path, samples in (("/hooks/cart/price", hook), ("/bench/bare", bare)):
            started = time.perf_counter()
            post(client, path, body)
            samples.append(time.perf_counter() - started)
    return statistics.median(hook) * 1000, statistics.median(bare) * 1000


def concurrent_ms(app: Any, body: bytes, threads: int, calls_each: int) -> list[float]:
    samples: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker() -> None:
        client = app.test_client()
        barrier.wait()
        for _ in range(calls_each):
            started = time.perf_counter()
            post(client, "/hooks/cart/price", body)
            with lock:
                samples.append((time.perf_counter() - started) * 1000)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sorted(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument(
        "--sizes",
        default=",".join(str(size) for size in SIZES),
        help="active rule counts to measure, comma separated (the issue's: 0,1000,10000)",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    tmp = tempfile.mkdtemp(prefix="cg-bench-")
    url = args.database_url or f"sqlite:///{tmp}/bench.sqlite"
    app = make_app(url)
    client = app.test_client()
    install(client)
    rng = random.Random(3)
    body = make_cart(rng)
    print(f"database: {url.split('@')[-1]}; 50-line cart; median of {args.calls} calls")
    for size in sizes:
        set_rule_count(app, size, rng)
        started = time.perf_counter()
        post(client, "/hooks/cart/price", body)
        cold = (time.perf_counter() - started) * 1000
        hook, bare = per_call_ms(client, body, args.calls)
        answer = json.loads(post(client, "/hooks/cart/price", body).get_data())
        ruled = sum(1 for ln in answer["lines"] if ln["rule_unit_price"] != ln["unit_price"])
        print(
            f"{size:6,} rules: hook {hook:6.2f} ms, bare {bare:6.2f} ms, ratio {hook / bare:4.2f}"
            f"  ({ruled}/50 lines ruled; first call after the change rebuilt the snapshot"
            f" in {cold:.1f} ms)"
        )
    samples = concurrent_ms(app, body, threads=30, calls_each=10)
    p50 = samples[len(samples) // 2]
    p95 = samples[int(len(samples) * 0.95)]
    print(
        f"30 threads x 10 calls at {sizes[-1]:,} rules: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
        f"max {samples[-1]:.1f} ms (2 cores, one process, the GIL shared)"
    )
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


if __name__ == "__main__":
    main()
