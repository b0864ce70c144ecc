"""Benchmark automatic groups on PostgreSQL: re-placing every customer after an automatic
group's segment changes (contract §8), set-based, events included.

    .venv/bin/python bench/autogroups.py --customers 1000000

Builds ``--customers`` customers in the default group with ``INSERT ... SELECT
generate_series``, a segment and an automatic group using it. Each round, every customer
joins the segment (one ``INSERT ... SELECT``, as a recompute writes it, not timed), then
:func:`plugin.segments.placement.place` re-places the shop and the transaction commits:
its seconds are printed with the customers moved and the ``customer/group_changed``
events written. The baseline does the unavoidable work with none of our code: one
hand-written ``UPDATE customers ... FROM`` the same rule and one ``INSERT ... SELECT`` of
the events (ids by ``gen_random_uuid()``), committed. The database (default
``cg_bench_autogroups``) is created if missing and rebuilt.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/cg_bench_autogroups"

CUSTOMERS = """
INSERT INTO customers (shop_id, external_id, group_id, group_locked, points, accepts_marketing,
    type, order_count, total_spent, used_discount_code, created_at, updated_at)
SELECT :shop, 'c_' || i, :grp, false, 0, false, 'individual', 0, 0, false, now(), now()
FROM generate_series(1, :n) AS i
"""

JOIN_ALL = """
INSERT INTO segment_members (shop_id, segment_id, customer_id, joined_at)
SELECT :shop, :segment, id, now() FROM customers WHERE shop_id = :shop
"""

RESET = [
    "DELETE FROM segment_members WHERE shop_id = :shop",
    "UPDATE customers SET group_id = :grp WHERE shop_id = :shop AND group_id <> :grp",
    "DELETE FROM outbox_events WHERE shop_id = :shop",
]

# The baseline: the same rule and the same events, hand-written, none of our code.
BASELINE = """
WITH moved AS (
    UPDATE customers c SET group_id = t.target
    FROM (
        SELECT c2.id, c2.group_id AS old, COALESCE((
            SELECT g.id FROM groups g JOIN segment_members m ON m.segment_id = g.auto_segment_id
            WHERE g.shop_id = :shop AND m.customer_id = c2.id
            ORDER BY g.auto_priority, g.id LIMIT 1), :grp) AS target
        FROM customers c2 WHERE c2.shop_id = :shop AND NOT c2.group_locked
    ) AS t
    WHERE c.id = t.id AND t.old <> t.target
    RETURNING c.external_id, t.old, c.group_id
)
INSERT INTO outbox_events (shop_id, topic, event_id, payload, status, attempts, created_at)
SELECT :shop, 'customer/group_changed', gen_random_uuid()::text,
       json_build_object('customer_id', external_id, 'from_group', old, 'to_group', group_id),
       'skipped', 0, now()
FROM moved
"""


def ensure_database(url: str) -> None:
    parsed = make_url(url)
    conninfo = dict(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        dbname="template1",  # only to issue CREATE DATABASE
    )
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)
        ).fetchone()
        if not found:
            conn.execute(f'CREATE DATABASE "{parsed.database}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    ensure_database(args.database_url)
    from plugin.db import db, enter_shop
    from plugin.events.models import OutboxEvent
    from plugin.extension import create_app
    from plugin.groups.models import Group
    from plugin.groups.operations import ensure_default_group
    from plugin.segments import placement
    from plugin.segments.models import Segment
    from plugin.shops.operations import install_shop

    app = create_app(
        {"CUSTOMER_GROUPS_DATABASE_URL": args.database_url, "CUSTOMER_GROUPS_APP_SECRET": "bench"}
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
        shop = install_shop("bench.example", {"currency": "EUR", "timezone": "Europe/Paris"})
        default = ensure_default_group(shop)
        db.session.commit()
        enter_shop(shop.id)  # as every boundary does once it knows the shop
        segment = Segment(shop_id=shop.id, name="Everyone", name_key="everyone", match="all",
                          conditions=[])  # fmt: skip
        db.session.add(segment)
        db.session.flush()
        group = Group(shop_id=shop.id, name="Auto", name_key="auto", colour="#1e88e5",
                      auto_segment_id=segment.id, auto_priority=1)  # fmt: skip
        db.session.add(group)
        params = {"shop": shop.id, "grp": default.id, "n": args.customers, "segment": segment.id}
        started = time.perf_counter()
        db.session.execute(text(CUSTOMERS), params)
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        print(f"built {args.customers:,} customers in {time.perf_counter() - started:.1f} s")

        def prepare() -> None:
            for statement in RESET:
                db.session.execute(text(statement), params)
            db.session.execute(text(JOIN_ALL), params)
            db.session.commit()
            db.session.execute(text("ANALYZE segment_members"))  # as autovacuum would
            db.session.commit()

        def events() -> int:
            return int(
                db.session.execute(
                    text("SELECT count(*) FROM outbox_events WHERE shop_id = :shop"), params
                ).scalar_one()
            )

        ours, theirs = [], []
        for round_ in range(args.rounds):
            prepare()
            start = time.perf_counter()
            moved = placement.place(shop)
            db.session.commit()
            ours.append(time.perf_counter() - start)
            written = events()
            assert moved == written == args.customers, (moved, written)

            prepare()
            start = time.perf_counter()
            db.session.execute(text(BASELINE), params)
            db.session.commit()
            theirs.append(time.perf_counter() - start)
            assert events() == args.customers
            print(f"round {round_ + 1}: placement {ours[-1]:.1f} s, baseline {theirs[-1]:.1f} s")
        _ = OutboxEvent  # created by create_all above
        mine, floor = statistics.median(ours), statistics.median(theirs)
        print(
            f"re-placing {args.customers:,} customers after their segment changed "
            f"(each moved, one customer/group_changed each): {mine:.1f} s (median of "
            f"{args.rounds}); hand-written SQL baseline {floor:.1f} s; ratio {mine / floor:.2f}"
        )


if __name__ == "__main__":
    main()
