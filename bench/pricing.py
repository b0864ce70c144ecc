"""The pricing hook per call against its floor, and where the hook's time goes (issue #13).

For 1,000 and 10,000 active price rules (``--sizes``), a signed ``POST /hooks/cart/price``
of a 50-line cart is passed to the extension's WSGI app (a real database: a SQLite file by
default, ``--database-url`` for PostgreSQL), interleaved with the same request passed to
the floor (``bench/floor.py``: a plain Flask app that verifies the v2 signature with
``hmac``/``hashlib``, ``json.loads`` the cart and dumps a same-sized answer; none of our
code). Each request's WSGI environ is built before its timer starts; the figures are the
medians of ``--calls`` calls in wall time and in this thread's CPU time, and ``hook /
floor`` their ratios (goal: at most 2). On a busy machine the CPU figures are the ones to
read (a process descheduled mid-request inflates wall time, not CPU time); on PostgreSQL
they leave out the server's own work, which the wall figures keep.

Each pair of calls is followed by the hook's own steps, timed one by one (CPU time) as the
hook runs them, in an app context of their own: ``validate`` (parse the body and check the
cart, which makes the engine's cart), ``load`` (the shop and customer query, the currency
against the shop's, the rule snapshot),
``engine`` (the pure engine), ``dump`` (the answer as JSON bytes); ``rest`` is the hook's
median minus their medians (Flask, the signature, the request log). Finally 30 threads
call the hook at once at the largest size (the contract's "ordinary load").

Run: ``.venv/bin/python bench/pricing.py [--calls 300] [--sizes 1000,10000]
[--database-url URL]`` (a PostgreSQL database given is emptied).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson  # noqa: E402
from floor import make_floor_app  # noqa: E402
from sqlalchemy import insert, select, text, update  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402

from plugin.auth import signed_headers  # noqa: E402
from plugin.checkout import pricing as checkout  # noqa: E402
from plugin.db import db, enter_shop, reading, utcnow  # noqa: E402
from plugin.extension import create_app  # noqa: E402
from plugin.groups.models import Group  # noqa: E402
from plugin.rules.models import PriceRule, PriceRuleGroup  # noqa: E402
from plugin.shops.models import Shop  # noqa: E402

SECRET = "bench-secret-0123456789-abcdefghijklmnop"
SHOP = "bench.example"
SIZES = (1_000, 10_000)
PRICE_PATH = "/hooks/cart/price"
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
    with app.app_context():
        if not url.startswith("sqlite"):
            # Emptied whatever it holds (tables of another schema version included).
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        db.create_all()
    return app


def post(client: Any, path: str, body: bytes, topic: str | None = None) -> Any:
    signed_path = "/webhooks" if path == "/webhooks" else PRICE_PATH
    headers = signed_headers(SECRET, SHOP, body, path=signed_path, topic=topic)
    response = client.post(path, data=body, headers=headers)
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code}: {response.get_data()!r}")
    return response


def signed_environ(body: bytes) -> dict[str, Any]:
    """A WSGI environ of the signed pricing request (what a server hands the app)."""
    headers = signed_headers(SECRET, SHOP, body, path=PRICE_PATH)
    return EnvironBuilder(path=PRICE_PATH, method="POST", data=body, headers=headers).get_environ()


def call(app: Any, environ: dict[str, Any]) -> bytes:
    """Run ``app`` on ``environ`` as a WSGI server would; the body, or exit unless 200."""
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)

    chunks = app(environ, start_response)
    try:
        data = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    if not statuses[0].startswith("200"):
        raise SystemExit(f"{PRICE_PATH} answered {statuses[0]}: {data[:500]!r}")
    return data


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


def per_call_ms(app: Any, floor: Any, body: bytes, calls: int) -> dict[str, Any]:
    """Median ms per call of the hook and of the floor, in wall time and in CPU time of
    this thread, and of each of the hook's steps in CPU time: all interleaved call by call
    so that they see the same machine load and the same heap (the snapshot's objects
    included). CPU time is what a busy machine does not inflate (a process descheduled
    mid-request); it leaves out the database server's own work, which wall time keeps."""
    for _ in range(20):
        call(app, signed_environ(body))  # warm up (and build the snapshot)
        call(floor, signed_environ(body))
    wall: dict[str, list[float]] = {"hook": [], "floor": []}
    cpu: dict[str, list[float]] = {"hook": [], "floor": []}
    steps: dict[str, list[float]] = {"validate": [], "load": [], "engine": [], "dump": []}
    for _ in range(calls):
        for name, target in (("hook", app), ("floor", floor)):
            environ = signed_environ(body)
            started, started_cpu = time.perf_counter(), time.thread_time()
            call(target, environ)
            cpu[name].append(time.thread_time() - started_cpu)
            wall[name].append(time.perf_counter() - started)
        for name, took in phases(app, body).items():
            steps[name].append(took)

    def median_ms(samples: dict[str, list[float]]) -> dict[str, float]:
        return {name: statistics.median(values) * 1000 for name, values in samples.items()}

    return {"wall": median_ms(wall), "cpu": median_ms(cpu), "steps": median_ms(steps)}


def read_cart(body: bytes) -> Any:
    """The hook's first step: the body parsed and checked, as the engine's cart."""
    return checkout.read_cart(body)


def answer_bytes(result: Any) -> bytes:
    """The hook's last step: the engine's result as the answer's JSON."""
    return orjson.dumps(result.to_dict(), option=orjson.OPT_SORT_KEYS)


def phases(app: Any, body: bytes) -> dict[str, float]:
    """CPU seconds of each of the hook's steps, run as the hook runs them, in an
    application context of its own (as a request has)."""
    with app.app_context():
        now = utcnow()
        t0 = time.thread_time()
        checked = read_cart(body)
        t1 = time.thread_time()
        shop, customer, row_id = checkout.shop_and_customer(SHOP, checked.cart.customer_id)
        enter_shop(shop.id)
        cart = checkout.to_cart(shop, checked)
        with reading():
            codes = checkout.code_facts(shop, cart, row_id, now, checked.client_ip)
            inputs = checkout.with_rules(shop, cart, customer, codes, now)
        t2 = time.thread_time()
        result = checkout.compute(inputs, now)
        t3 = time.thread_time()
        answer_bytes(result)
        t4 = time.thread_time()
    return {"validate": t1 - t0, "load": t2 - t1, "engine": t3 - t2, "dump": t4 - t3}


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
        help="active rule counts to measure, comma separated (the issue's: 1000,10000)",
    )
    parser.add_argument("--threads", type=int, default=30, help="0: skip the concurrent run")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    tmp = tempfile.mkdtemp(prefix="cg-bench-")
    url = args.database_url or f"sqlite:///{tmp}/bench.sqlite"
    app = make_app(url)
    floor = make_floor_app(SECRET)
    client = app.test_client()
    install(client)
    rng = random.Random(3)
    body = make_cart(rng)
    print(f"database: {url.split('@')[-1]}; 50-line cart; median of {args.calls} calls")
    for size in sizes:
        set_rule_count(app, size, rng)
        started = time.perf_counter()
        answer = json.loads(call(app, signed_environ(body)))
        cold = (time.perf_counter() - started) * 1000
        figures = per_call_ms(app, floor, body, args.calls)
        wall, cpu, steps = figures["wall"], figures["cpu"], figures["steps"]
        ruled = sum(1 for ln in answer["lines"] if ln["rule_unit_price"] != ln["unit_price"])
        rest = cpu["hook"] - sum(steps.values())
        print(
            f"{size:6,} rules: floor {wall['floor']:5.2f} ms, hook {wall['hook']:5.2f} ms, "
            f"ratio {wall['hook'] / wall['floor']:4.2f} (wall); floor {cpu['floor']:5.2f} ms, "
            f"hook {cpu['hook']:5.2f} ms, ratio {cpu['hook'] / cpu['floor']:4.2f} (CPU)"
        )
        print(
            "              hook CPU = "
            + ", ".join(f"{name} {took:.3f}" for name, took in steps.items())
            + f", rest {rest:.3f} ms (Flask, signature, request log)"
        )
        print(
            f"              {ruled}/50 lines ruled; the first call after the change rebuilt "
            f"the snapshot in {cold:.1f} ms"
        )
    if args.threads:
        samples = concurrent_ms(app, body, threads=args.threads, calls_each=10)
        p50 = samples[len(samples) // 2]
        p95 = samples[int(len(samples) * 0.95)]
        print(
            f"{args.threads} threads x 10 calls at {sizes[-1]:,} rules: p50 {p50:.1f} ms, "
            f"p95 {p95:.1f} ms, max {samples[-1]:.1f} ms (one process, the GIL shared)"
        )
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


if __name__ == "__main__":
    main()
