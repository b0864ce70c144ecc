"""Benchmark: the reports (contract v2 §8) over many paid orders, against plain SQL.

    .venv/bin/python bench/reports.py [--database-url URL | --sqlite] [--orders N] [--days D]
        [--runs R]

It drops and recreates every table of the database it is given (default: PostgreSQL
``cg_bench_reports``; ``--database-url sqlite:///…`` works too), installs one shop in
Europe/Paris with 6 groups, N/10 customers and 5 discounts, then writes N paid orders over
the last two years (5 % of them refunded), a tenth of them with a confirmed redemption
and its amount. Timed, median of R runs, over the last D days:

- ``GET /api/reports/groups``'s operation (``plugin.reports.operations.groups_report``:
  the per-day series of every group, the range's distinct customers, the members);
- ``GET /api/reports/discounts``'s (``discounts_report``).

The baseline is the thinnest SQL that does the unavoidable work, with none of our code:
the same rows grouped by group (or discount) and by the shop's day, sent as text through
the driver (on PostgreSQL the day is ``(placed_at AT TIME ZONE 'Europe/Paris')::date``; on
SQLite, which has no time zones, the UTC day: a cheaper baseline). Figures print as
milliseconds and as ratios to that baseline. The groups report reads the range three times
(the series, the range's distinct customers per group and in all) where the baseline reads
it once.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, text

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/cg_bench_reports"
TIMEZONE = "Europe/Paris"


def build(url: str, orders: int) -> Any:
    from plugin.codes.models import Code, Discount, Redemption
    from plugin.customers.models import Customer, Order
    from plugin.db import db
    from plugin.extension import create_app
    from plugin.groups.models import Group
    from plugin.shops.models import Shop

    settings = {"CUSTOMER_GROUPS_APP_SECRET": "bench", "CUSTOMER_GROUPS_DATABASE_URL": url}
    app = create_app({"TESTING": True, **settings})
    rng = random.Random(7)
    now = datetime.now(UTC)
    with app.app_context():
        db.drop_all()
        db.create_all()
        shop = Shop(domain="bench.example", currency="EUR", timezone=TIMEZONE)
        db.session.add(shop)
        db.session.flush()
        groups = [Group(shop_id=shop.id, name=f"G{n}", name_key=f"g{n}", is_default=n == 0)
                  for n in range(6)]  # fmt: skip
        discounts = [Discount(shop_id=shop.id, name=f"D{n}", name_key=f"d{n}", type="percent",
                              value=1000) for n in range(5)]  # fmt: skip
        db.session.add_all(groups + discounts)
        db.session.flush()
        customers = max(1, orders // 10)
        db.session.execute(
            insert(Customer),
            [
                {"shop_id": shop.id, "external_id": f"c{n}", "group_id": rng.choice(groups).id}
                for n in range(customers)
            ],  # fmt: skip
        )
        customer_ids = list(db.session.execute(text("SELECT id, group_id FROM customers")))
        codes = [Code(shop_id=shop.id, discount_id=d.id, code=f"C{d.id}", code_key=f"c{d.id}",
                      shared=True) for d in discounts]  # fmt: skip
        db.session.add_all(codes)
        db.session.flush()
        rows, used = [], []
        for n in range(orders):
            customer_id, group_id = rng.choice(customer_ids)
            placed = now - timedelta(seconds=rng.randint(0, 730 * 86400))
            status = "refunded" if rng.random() < 0.05 else "paid"
            rows.append({"shop_id": shop.id, "external_id": f"o{n}", "customer_id": customer_id,
                         "group_id": group_id, "status": status, "placed_at": placed,
                         "paid_at": placed, "currency": "EUR", "total": rng.randint(500, 30000),
                         "discount_codes": []})  # fmt: skip
            if rng.random() < 0.1:
                code = rng.choice(codes)
                used.append({"shop_id": shop.id, "code_id": code.id,
                             "discount_id": code.discount_id, "order_external_id": f"o{n}",
                             "customer_id": customer_id, "status": "confirmed",
                             "amount": rng.randint(50, 3000), "created_at": placed})  # fmt: skip
        for start in range(0, len(rows), 20000):
            db.session.execute(insert(Order), rows[start : start + 20000])
        if used:
            db.session.execute(insert(Redemption), used)
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("ANALYZE"))
            db.session.commit()
    return app


BASELINE = {
    "postgresql": {
        "groups": "SELECT group_id, (placed_at AT TIME ZONE :tz)::date AS day,"
        " count(DISTINCT customer_id), count(*), sum(total) FROM orders"
        " WHERE shop_id = :shop AND status = 'paid' AND group_id IS NOT NULL"
        " AND placed_at >= :start AND placed_at < :end GROUP BY 1, 2",
        "discounts": "SELECT r.discount_id, (o.placed_at AT TIME ZONE :tz)::date AS day,"
        " count(*), sum(r.amount), sum(o.total) FROM redemptions r JOIN orders o"
        " ON o.shop_id = r.shop_id AND o.external_id = r.order_external_id"
        " WHERE r.shop_id = :shop AND r.status = 'confirmed' AND o.status = 'paid'"
        " AND o.placed_at >= :start AND o.placed_at < :end GROUP BY 1, 2",
    },
    "sqlite": {
        "groups": "SELECT group_id, date(placed_at) AS day, count(DISTINCT customer_id),"
        " count(*), sum(total) FROM orders WHERE shop_id = :shop AND status = 'paid'"
        " AND group_id IS NOT NULL AND placed_at >= :start AND placed_at < :end GROUP BY 1, 2",
        "discounts": "SELECT r.discount_id, date(o.placed_at) AS day, count(*), sum(r.amount),"
        " sum(o.total) FROM redemptions r JOIN orders o ON o.shop_id = r.shop_id"
        " AND o.external_id = r.order_external_id WHERE r.shop_id = :shop"
        " AND r.status = 'confirmed' AND o.status = 'paid' AND o.placed_at >= :start"
        " AND o.placed_at < :end GROUP BY 1, 2",
    },
}


def median_ms(action: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file in a temporary folder")
    args = parser.parse_args()
    if args.sqlite:
        args.database_url = f"sqlite:///{tempfile.mkdtemp()}/reports.sqlite"

    from plugin.db import db, shop_scope
    from plugin.reports import operations
    from plugin.shops.models import Shop

    app = build(args.database_url, args.orders)
    with app.app_context():
        shop = db.session.execute(select(Shop)).scalar_one()
        db.session.expunge(shop)
        db.session.rollback()  # no transaction (SQLite: no write lock) between the timings
        end = operations.shop_today(shop)
        start = end - timedelta(days=args.days - 1)
        dialect = db.engine.dialect.name
        zone = ZoneInfo(TIMEZONE)
        bounds = [
            datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
            for day in (start, end + timedelta(days=1))
        ]
        if dialect == "sqlite":  # stored as naive UTC text
            bounds = [moment.replace(tzinfo=None) for moment in bounds]
        print(f"{args.orders} orders, {args.days} days, {dialect}; median of {args.runs} runs")
        for name, report in (("groups", operations.groups_report),
                             ("discounts", operations.discounts_report)):  # fmt: skip
            sql = BASELINE[dialect][name]

            params = {"tz": TIMEZONE, "shop": shop.id, "start": bounds[0], "end": bounds[1]}

            def baseline(sql: str = sql, params: dict[str, Any] = params) -> None:
                with db.engine.connect() as conn:
                    conn.execute(text(sql), params).all()

            def ours(report: Any = report) -> None:
                with shop_scope(shop.id):
                    report(shop, start, end)
                db.session.rollback()

            baseline()
            ours()  # warm both
            floor = median_ms(baseline, args.runs)
            mine = median_ms(ours, args.runs)
            print(f"  {name:9} report {mine:8.1f} ms   plain SQL {floor:8.1f} ms   "
                  f"ratio {mine / floor:5.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
