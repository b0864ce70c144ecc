"""Price lists and offers (issue #16): the import against a COPY, the hook against its floor.

1. Import (PostgreSQL only): 1,000,000 entries (``--entries``) as the CSV the admin uploads,
   through ``plugin.rules.pricelists.import_entries`` (parse, check each line, write, commit)
   into an empty list, against the baseline: the same rows, already in COPY's text format,
   written by one ``COPY price_list_entries FROM STDIN`` into another empty list of the same
   table and committed (psycopg alone, none of our code). Runs alternate; medians of
   ``--rounds``. Then a re-import of the same file over the full list (the old entries
   deleted in the same transaction), for information.
2. The pricing hook (a signed ``POST /hooks/cart/price`` of a 50-line cart, through the
   WSGI app) with 10 price lists of 100,000 entries each (``--list-entries``) and 1,000
   offers, against the floor of ``bench/floor.py`` (verify the signature with ``hmac``,
   ``json.loads``, dump a same-sized answer: none of our code); calls interleaved, median of
   ``--calls``. Goal: at most 2x.
3. The pure engine alone (no database, no HTTP) on the same kind of cart, with and without
   10 price lists and 1,000 offers: what the two steps add to a call.

Run: ``.venv/bin/python bench/pricelists.py --database-url postgresql+psycopg://...``
(without it: SQLite, and the import part is skipped).
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson  # noqa: E402
from floor import make_floor_app  # noqa: E402
from pricing import SECRET, SHOP, call, install, make_app, signed_environ  # noqa: E402
from sqlalchemy import insert, select, update  # noqa: E402

from plugin.db import copying, db  # noqa: E402
from plugin.pricing import (  # noqa: E402
    Audience,
    Cart,
    CustomerContext,
    Line,
    OfferDiscount,
    OfferTarget,
    RuleSet,
    price_cart,
)
from plugin.pricing import Offer as EngineOffer  # noqa: E402
from plugin.pricing import PriceList as EnginePriceList  # noqa: E402
from plugin.rules.models import Offer, PriceList, PriceListEntry  # noqa: E402
from plugin.rules.pricelists import import_entries  # noqa: E402
from plugin.shops.models import Shop  # noqa: E402

CATEGORIES = [f"c{i}" for i in range(200)]
COPY = (
    "COPY price_list_entries (shop_id, price_list_id, product_id, min_quantity, price) FROM STDIN"
)


def shop_row() -> Shop:
    found: Shop = db.session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
    return found


def new_list(shop_id: int, name: str, priority: int = 0) -> int:
    list_id: int = db.session.execute(
        insert(PriceList)
        .values(
            shop_id=shop_id,
            name=name,
            name_key=name.lower(),
            audience_type="all",
            priority=priority,
            active=True,
        )
        .returning(PriceList.id)
    ).scalar_one()
    return list_id


def empty(list_id: int) -> None:
    db.session.execute(
        PriceListEntry.__table__.delete().where(PriceListEntry.price_list_id == list_id)
    )
    db.session.commit()


# -- 1. Import against COPY ---------------------------------------------------------------


def import_vs_copy(app: Any, entries: int, rounds: int) -> None:
    rng = random.Random(7)
    rows = [
        (f"sku-{n:07d}", rng.choice((1, 1, 1, 5, 10)), rng.randint(100, 99_999))
        for n in range(entries)
    ]
    csv_bytes = (
        "product_id,min_quantity,price\n" + "".join(f"{p},{m},{c}\n" for p, m, c in rows)
    ).encode()
    with app.app_context():
        shop = shop_row()
        ours_id = new_list(shop.id, "Bench import")
        copy_id = new_list(shop.id, "Bench copy")
        db.session.commit()
        copy_text = "".join(f"{shop.id}\t{copy_id}\t{p}\t{m}\t{c}\n" for p, m, c in rows)
        ours: list[float] = []
        base: list[float] = []
        for _ in range(rounds):
            empty(copy_id)
            started = time.perf_counter()
            with copying(db.session.connection(), COPY) as copy:
                copy.write(copy_text)
            db.session.commit()
            base.append(time.perf_counter() - started)
            empty(ours_id)
            price_list = db.session.get_one(PriceList, ours_id)
            shop = shop_row()
            started = time.perf_counter()
            report = import_entries(shop, price_list, io.BytesIO(csv_bytes))
            db.session.commit()
            ours.append(time.perf_counter() - started)
            assert report.imported == entries and report.invalid == 0, report.errors[:3]
        shop = shop_row()
        price_list = db.session.get_one(PriceList, ours_id)
        started = time.perf_counter()
        import_entries(shop, price_list, io.BytesIO(csv_bytes))
        db.session.commit()
        replace = time.perf_counter() - started
        ours_s, base_s = statistics.median(ours), statistics.median(base)
        print(
            f"import of {entries:,} entries: COPY {base_s:.2f} s, import {ours_s:.2f} s, "
            f"ratio {ours_s / base_s:.2f} (median of {rounds}; CSV {len(csv_bytes) / 1e6:.1f} MB)"
        )
        print(f"  re-import over the full list (delete + import, one transaction): {replace:.2f} s")
        empty(copy_id)
        empty(ours_id)


# -- 2. The hook against its floor --------------------------------------------------------


def seed_lists_and_offers(
    app: Any, lists: int, per_list: int, offers: int, rng: random.Random
) -> list[str]:
    """``lists`` price lists of ``per_list`` entries and ``offers`` offers; return the products."""
    products = [f"p{i}" for i in range(per_list)]
    with app.app_context():
        shop = shop_row()
        for n in range(lists):
            list_id = new_list(shop.id, f"Bench list {n}", priority=n)
            conn = db.session.connection()
            chosen = products if n == 0 else rng.sample(products, per_list // 2)
            data = "".join(
                f"{shop.id}\t{list_id}\t{p}\t{m}\t{rng.randint(100, 20_000)}\n"
                for p in chosen
                for m in ((1, 3) if rng.random() < 0.2 else (1,))
            )
            if conn.dialect.name == "postgresql":
                with copying(conn, COPY) as copy:
                    copy.write(data)
            else:
                conn.exec_driver_sql(
                    "INSERT INTO price_list_entries (shop_id, price_list_id, product_id, "
                    "min_quantity, price) VALUES (?, ?, ?, ?, ?)",
                    [tuple(line.split("\t")) for line in data.splitlines()],  # type: ignore[arg-type]
                )
        rows = []
        for n in range(offers):
            by_category = rng.random() < 0.3
            ids = rng.sample(CATEGORIES, 2) if by_category else rng.sample(products, 3)
            percent = rng.random() < 0.5
            rows.append(
                {
                    "shop_id": shop.id,
                    "name": f"Offer {n}",
                    "name_key": f"offer {n}",
                    "audience_type": "all",
                    "buy_type": "categories" if by_category else "products",
                    "buy_ids": ids,
                    "buy_quantity": rng.randint(1, 3),
                    "get_type": "categories" if by_category else "products",
                    "get_ids": ids,
                    "get_quantity": 1,
                    "discount_type": "percent" if percent else "free",
                    "discount_value": rng.randint(500, 5000) if percent else None,
                    "max_applications": rng.choice((None, 1, 2)),
                    "priority": rng.randint(0, 100),
                    "active": True,
                }
            )
        db.session.execute(insert(Offer.__table__), rows)
        db.session.execute(
            update(Shop).where(Shop.id == shop.id).values(rules_version=Shop.rules_version + 1)
        )
        db.session.commit()
    return products


def make_cart(products: list[str], rng: random.Random) -> bytes:
    lines = [
        {
            "id": f"l{i}",
            "product_id": rng.choice(products),
            "kind": "product",
            "category_ids": rng.sample(CATEGORIES, 2),
            "quantity": rng.randint(1, 4),
            "unit_price": rng.randint(100, 20_000),
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
    return orjson.dumps(cart)


def per_call_ms(app: Any, floor: Any, body: bytes, calls: int) -> tuple[float, float]:
    """Median ms per call of the hook and of the floor, calls interleaved (same load, same
    heap); each WSGI environ is built before its timer starts."""
    for _ in range(20):
        call(app, signed_environ(body))  # warm up (and build the snapshot)
        call(floor, signed_environ(body))
    hook: list[float] = []
    bare: list[float] = []
    for _ in range(calls):
        for target, samples in ((app, hook), (floor, bare)):
            environ = signed_environ(body)
            started = time.perf_counter()
            call(target, environ)
            samples.append(time.perf_counter() - started)
    return statistics.median(hook) * 1000, statistics.median(bare) * 1000


def hook_vs_floor(app: Any, lists: int, per_list: int, offers: int, calls: int) -> None:
    rng = random.Random(11)
    floor = make_floor_app(SECRET)
    body = make_cart([f"p{i}" for i in range(per_list)], random.Random(5))
    call(app, signed_environ(body))
    plain, bare = per_call_ms(app, floor, body, calls)
    print(
        f"hook without price lists or offers: floor {bare:.2f} ms, hook {plain:.2f} ms, "
        f"ratio {plain / bare:.2f} (median of {calls}; 50-line cart)"
    )
    started = time.perf_counter()
    seed_lists_and_offers(app, lists, per_list, offers, rng)
    seeded = time.perf_counter() - started
    answer = orjson.loads(call(app, signed_environ(body)))
    listed = sum(
        1 for ln in answer["lines"] if any(a["source"] == "price_list" for a in ln["adjustments"])
    )
    offered = sum(
        1 for ln in answer["lines"] if any(a["source"] == "offer" for a in ln["adjustments"])
    )
    hook, bare = per_call_ms(app, floor, body, calls)
    print(
        f"hook with {lists} price lists x {per_list:,} entries and {offers:,} offers "
        f"(seeded in {seeded:.1f} s): floor {bare:.2f} ms, hook {hook:.2f} ms, "
        f"ratio {hook / bare:.2f} (median of {calls}; {listed}/50 lines priced by a list, "
        f"{offered} given an offer; +{hook - plain:.2f} ms over the hook without them)"
    )


def engine_ms(lists: int, per_list: int, offers: int, calls: int) -> None:
    rng = random.Random(11)
    products = [f"p{i}" for i in range(per_list)]
    made = []
    for n in range(offers):
        by_category = rng.random() < 0.3
        ids = frozenset(rng.sample(CATEGORIES, 2) if by_category else rng.sample(products, 3))

        def target(quantity: int, ids: frozenset[str] = ids, by: bool = by_category) -> Any:
            if by:
                return OfferTarget(quantity, category_ids=ids)
            return OfferTarget(quantity, product_ids=ids)

        percent = rng.random() < 0.5
        discount = (
            OfferDiscount("percent", Decimal(rng.randint(5, 50)))
            if percent
            else OfferDiscount("free")
        )
        made.append(
            EngineOffer(
                n + 1, f"Offer {n}", Audience(), target(rng.randint(1, 3)), target(1), discount,
                rng.choice((None, 1, 2)), rng.randint(0, 100),
            )
        )  # fmt: skip
    heads = [EnginePriceList(i + 1, f"List {i}", Audience(), i) for i in range(lists)]
    lines = tuple(
        Line(f"l{i}", rng.choice(products), "product", tuple(rng.sample(CATEGORIES, 2)),
             rng.randint(1, 4), rng.randint(100, 20_000))
        for i in range(50)
    )  # fmt: skip
    entries = {
        head.id: {ln.product_id: ((1, rng.randint(100, 20_000)),) for ln in lines} for head in heads
    }
    cart = Cart("k_1", "EUR", "c_1", "web", None, None, lines)
    customer = CustomerContext("c_1")
    now = datetime.now(UTC)
    figures = []
    for rules, given in (
        (RuleSet.build(), None),
        (RuleSet.build(price_lists=heads, offers=made), entries),
    ):
        for _ in range(50):
            price_cart(cart, customer, rules, {}, now, given)
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            price_cart(cart, customer, rules, {}, now, given)
            samples.append(time.perf_counter() - started)
        figures.append(statistics.median(samples) * 1000)
    candidates = len(made and RuleSet.build(offers=made).offers_for(
        (ln.product_id, ln.category_ids) for ln in lines
    ))  # fmt: skip
    print(
        f"engine alone, 50-line cart: {figures[0]:.2f} ms without, {figures[1]:.2f} ms with "
        f"{lists} price lists and {offers:,} offers ({candidates} offers the cart can apply)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lists", type=int, default=10)
    parser.add_argument("--list-entries", type=int, default=100_000)
    parser.add_argument("--offers", type=int, default=1_000)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="cg-bench-")
    url = args.database_url or f"sqlite:///{tmp}/bench.sqlite"
    app = make_app(url)
    install(app.test_client())
    print(f"database: {url.split('@')[-1]}")
    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"
    if postgresql and args.entries:
        import_vs_copy(app, args.entries, args.rounds)
    elif not postgresql:
        print("import against COPY: skipped (PostgreSQL only; pass --database-url)")
    hook_vs_floor(app, args.lists, args.list_entries, args.offers, args.calls)
    engine_ms(args.lists, args.list_entries, args.offers, args.calls)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


if __name__ == "__main__":
    main()
