"""Benchmark: 1,000,000 codes generated, COPied and imported from CSV, on PostgreSQL.

    .venv/bin/python bench/codes.py [--database-url URL] [--count N]

Prints the time to generate N codes through the generation operation (what the
CLI and the job run), the time to COPY N pre-made rows into the same table,
their ratio, and the time and peak memory (maxrss growth) to import an N-line
CSV through the streamed importer. The database is emptied first.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

from sqlalchemy import text

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/cg_bench_codes"


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--count", type=int, default=1_000_000)
    args = parser.parse_args()

    from plugin import create_app
    from plugin.codes.csv_io import import_codes
    from plugin.codes.generation import RandomParts, alphabet, generate_codes
    from plugin.codes.models import Discount
    from plugin.db import db, utcnow
    from plugin.shops.models import Shop

    app = create_app(
        {
            "TESTING": True,
            "CUSTOMER_GROUPS_APP_SECRET": "bench",
            "CUSTOMER_GROUPS_DATABASE_URL": args.database_url,
        }
    )
    n = args.count
    with app.app_context():
        db.drop_all()
        db.create_all()
        shop = Shop(domain="bench.example", currency="EUR")
        db.session.add(shop)
        db.session.flush()
        discount = Discount(shop_id=shop.id, name="Bench", type="percent", value=1000)
        db.session.add(discount)
        db.session.commit()

        def empty_codes() -> None:
            db.session.execute(text("TRUNCATE codes CASCADE"))
            db.session.commit()

        # 1. Streamed CSV import (first, so that maxrss growth is the importer's own).
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as handle:
            handle.write("code\n")
            parts = RandomParts(alphabet(None))
            for start in range(0, n, 100_000):
                chunk = parts.draw(min(100_000, n - start), 10)
                handle.write("\n".join(f"IMP{c}" for c in chunk) + "\n")
            path = handle.name
        rss_before = maxrss_mib()
        started = time.perf_counter()
        with open(path, "rb") as stream:
            report = import_codes(shop, discount, stream)
        import_seconds = time.perf_counter() - started
        rss_growth = maxrss_mib() - rss_before
        os.unlink(path)
        size_mib = (n * 14) / 2**20
        empty_codes()

        # 2. Generation through the operation the CLI and jobs use.
        started = time.perf_counter()
        made = generate_codes(shop, discount, n, length=10, commit_each_batch=True)
        db.session.commit()
        generate_seconds = time.perf_counter() - started
        empty_codes()

        # 3. COPY of as many pre-made rows into the same table (with its unique index).
        parts = RandomParts(alphabet(None))
        rows = list({f"CPY{c}" for c in parts.draw(n, 10)})
        now = utcnow()
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            started = time.perf_counter()
            with cursor.copy(
                "COPY codes (shop_id, discount_id, code, code_key, shared, status, times_used,"
                " created_at) FROM STDIN"
            ) as copy:
                for code in rows:
                    copy.write_row(
                        (shop.id, discount.id, code, code.lower(), False, "unassigned", 0, now)
                    )
            raw.commit()
            copy_seconds = time.perf_counter() - started
        finally:
            raw.close()
        empty_codes()

    print(f"codes: {n:,} on {args.database_url}")
    print(
        f"generate (operation, batches of 10k, ON CONFLICT): {generate_seconds:6.2f} s"
        f"  ({made:,} codes)"
    )
    print(f"COPY of {len(rows):,} pre-made rows:                  {copy_seconds:6.2f} s")
    print(
        f"ratio generate / COPY:                            {generate_seconds / copy_seconds:6.2f}"
    )
    print(
        f"CSV import (streamed, {size_mib:.0f} MiB file):              {import_seconds:6.2f} s"
        f"  imported {report.imported:,}, duplicates {report.duplicates}, "
        f"invalid {report.invalid}; peak RSS growth {rss_growth:.1f} MiB"
    )


if __name__ == "__main__":
    main()
