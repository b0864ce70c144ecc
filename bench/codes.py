"""Benchmark: N codes generated, COPied and imported from CSV, on PostgreSQL.

    .venv/bin/python bench/codes.py [--database-url URL] [--count N] [--runs R]

It drops and recreates every table of the database it is given (the models' schema),
then, each run, on an emptied ``codes`` table:

1. imports an N-line CSV through the streamed importer, in a fresh process, and
   reports its time, the process's resident memory before the import and at its
   peak (VmHWM), and the largest growth seen by a sampler every 20 ms;
2. generates N codes (length 10, default alphabet) through ``generate_codes``
   with a commit per batch, which is what ``customer-groups codes generate`` and
   the generation job run;
3. COPies N pre-made rows of the same shape (the same columns as the generator
   sends, the others left to their defaults, the same code length and alphabet)
   into the same table with the same indexes and constraints, its two foreign keys
   included (to ``discounts`` and ``customers``; the script checks they are there
   and that no trigger is), in one COPY and in the order drawn. The COPY data is
   formatted before the clock starts, so the baseline is the server's own cost of
   taking those rows: the index and foreign-key work is counted in both figures,
   and both include the commit. (The generator also sorts each batch by key, which
   the unique index takes in one sweep: that is why it can come out below 1.)

A CHECKPOINT (when allowed) starts each timed step, so no step pays for the
previous one's writes. It prints each run's figures, then the medians, with
the load average before and after: wall times are only comparable on an
otherwise idle machine, so each step also reports the CPU seconds used by its
server processes (when PostgreSQL runs on this machine) and by the client.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from typing import Any

from sqlalchemy import select, text

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/cg_bench_codes"
LENGTH = 10


def rss_mib(field: str = "VmRSS") -> float:
    """Resident memory now (VmRSS) or at its peak since the process started (VmHWM), MiB.

    Not ``ru_maxrss``: it survives exec, so a spawned child would report its parent's peak.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def make_app(url: str, name: str) -> Any:
    """The app on ``url``, its connections named ``name`` (to find their server processes)."""
    from plugin.extension import create_app

    separator = "&" if "?" in url else "?"
    return create_app(
        {
            "TESTING": True,
            "CUSTOMER_GROUPS_APP_SECRET": "bench",
            "CUSTOMER_GROUPS_DATABASE_URL": f"{url}{separator}application_name={name}",
        }
    )


def server_cpu(name: str) -> float:
    """CPU seconds used so far by the server processes of our connections named ``name``
    (NaN unless PostgreSQL runs on this machine). Less swayed by other load than time."""
    from plugin.db import db

    pids = db.session.execute(
        text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"), {"name": name}
    ).scalars()
    total = 0.0
    try:
        for pid in pids:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        total = float("nan")
    db.session.commit()
    return total


def bench_objects() -> tuple[Any, Any]:
    from plugin.codes.models import Discount
    from plugin.db import db
    from plugin.shops.models import Shop

    shop = db.session.execute(select(Shop).where(Shop.domain == "bench.example")).scalar_one()
    discount = db.session.execute(
        select(Discount).where(Discount.shop_id == shop.id)
    ).scalar_one()
    return shop, discount


def import_in_child(url: str, path: str, answers: Any) -> None:
    """Run the streamed importer in this (fresh) process; send back time and memory."""
    from plugin.codes.csv_io import import_codes
    from plugin.db import db

    app = make_app(url, "bench-import")
    with app.app_context():
        shop, discount = bench_objects()
        before = rss_mib()
        server_before, client_before = server_cpu("bench-import"), time.process_time()
        highest = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                highest[0] = max(highest[0], rss_mib())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        with open(path, "rb") as stream:
            report = import_codes(shop, discount, stream)
        db.session.commit()  # the boundary's commit: the operation commits nothing
        seconds = time.perf_counter() - started
        client = time.process_time() - client_before
        server = server_cpu("bench-import") - server_before
        done.set()
        sampler.join()
    answers.put(
        {
            "seconds": seconds,
            "server": server,
            "client": client,
            "rss_before": before,
            "rss_peak": rss_mib("VmHWM"),
            "growth": max(highest[0], rss_mib()) - before,
            "imported": report.imported,
            "duplicates": report.duplicates,
            "invalid": report.invalid,
        }
    )


def one_run(app: Any, url: str, n: int, csv_path: str, copy_payload: str) -> dict[str, Any]:
    from plugin.codes.generation import generate_codes
    from plugin.db import db

    def empty_codes() -> None:
        db.session.execute(text("TRUNCATE codes RESTART IDENTITY CASCADE"))
        db.session.commit()
        try:
            db.session.execute(text("CHECKPOINT"))
            db.session.commit()
        except Exception:  # not allowed for this role: figures are just noisier
            db.session.rollback()

    def rows() -> int:
        return db.session.execute(text("SELECT count(*) FROM codes")).scalar_one()

    figures: dict[str, Any] = {"load_before": os.getloadavg()[0]}
    with app.app_context():
        # 1. Streamed CSV import in a fresh process (its memory is the importer's own).
        empty_codes()
        answers = multiprocessing.get_context("spawn").Queue()
        child = multiprocessing.get_context("spawn").Process(
            target=import_in_child, args=(url, csv_path, answers)
        )
        child.start()
        imported = answers.get()
        child.join()
        figures["import"] = imported
        assert rows() == n, "the import did not write every row"

        # 2. Generation through the operation the CLI and the job run.
        empty_codes()
        shop, discount = bench_objects()
        server_before, client_before = server_cpu("bench"), time.process_time()
        started = time.perf_counter()
        made = generate_codes(shop, discount, n, length=LENGTH, after_batch=db.session.commit)
        db.session.commit()
        figures["generate"] = time.perf_counter() - started
        figures["generate_cpu"] = (
            server_cpu("bench") - server_before,
            time.process_time() - client_before,
        )
        assert made == n and rows() == n, "generation did not write every row"

        # 3. COPY of as many pre-made rows of the same shape into the same table.
        empty_codes()
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            server_before, client_before = server_cpu("bench"), time.process_time()
            started = time.perf_counter()
            with cursor.copy(
                "COPY codes (shop_id, discount_id, code, code_key) FROM STDIN"
            ) as copy:
                for start in range(0, len(copy_payload), 1 << 20):
                    copy.write(copy_payload[start : start + (1 << 20)])
            raw.commit()
            figures["copy"] = time.perf_counter() - started
            client = time.process_time() - client_before
            figures["copy_cpu"] = (server_cpu("bench") - server_before, client)
        finally:
            raw.close()
        assert rows() == n, "COPY did not write every row"
        empty_codes()
    figures["load_after"] = os.getloadavg()[0]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="runs; medians are printed")
    args = parser.parse_args()

    from plugin.codes.generation import RandomParts, alphabet
    from plugin.codes.models import CUSTOMER_KEY, DISCOUNT_KEY, Discount
    from plugin.db import db
    from plugin.shops.models import Shop

    url, n = args.database_url, args.count
    app = make_app(url, "bench")
    with app.app_context():
        db.drop_all()
        db.create_all()
        shop = Shop(domain="bench.example", currency="EUR")
        db.session.add(shop)
        db.session.flush()
        discount = Discount(
            shop_id=shop.id, name="Bench", name_key="bench", type="percent", value=1000
        )
        db.session.add(discount)
        db.session.commit()
        indexes = db.session.execute(
            text("SELECT indexname FROM pg_indexes WHERE tablename = 'codes' ORDER BY 1")
        ).scalars()
        foreign_keys = list(
            db.session.execute(
                text(
                    "SELECT conname FROM pg_constraint WHERE conrelid = 'codes'::regclass"
                    " AND contype = 'f' ORDER BY 1"
                )
            ).scalars()
        )
        print(f"codes: {n:,} on {url}")
        triggers = list(
            db.session.execute(
                text(
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'codes'::regclass"
                    " AND NOT tgisinternal ORDER BY 1"
                )
            ).scalars()
        )
        # Both timed writes (and the import) go into this table: foreign keys, no triggers.
        assert {DISCOUNT_KEY, CUSTOMER_KEY} <= set(foreign_keys), foreign_keys
        assert not triggers, triggers
        print(
            f"codes indexes: {', '.join(indexes)}; foreign keys: {', '.join(foreign_keys)};"
            f" triggers: {', '.join(triggers) or 'none'}"
        )
        shop_id, discount_id = shop.id, discount.id

    # The same shape for all three: LENGTH characters of the default alphabet.
    parts = RandomParts(alphabet(None))
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as handle:
        handle.write("code\n")
        for start in range(0, n, 100_000):
            handle.write("\n".join(parts.draw(min(100_000, n - start), LENGTH)) + "\n")
        csv_path = handle.name
    size_mib = os.path.getsize(csv_path) / 2**20
    copy_payload = "".join(
        f"{shop_id}\t{discount_id}\t{code}\t{code.lower()}\n"
        for code in dict.fromkeys(parts.draw(n, LENGTH))
    )
    assert copy_payload.count("\n") == n, "rerun: the pre-made rows repeat a code"

    runs = []
    try:
        for number in range(1, args.runs + 1):
            figures = one_run(app, url, n, csv_path, copy_payload)
            runs.append(figures)
            imp = figures["import"]
            gen_server, gen_client = figures["generate_cpu"]
            copy_server, copy_client = figures["copy_cpu"]
            print(
                f"run {number} (load {figures['load_before']:.2f} → {figures['load_after']:.2f}):"
                f" generate {figures['generate']:6.2f} s (CPU server {gen_server:.1f} s,"
                f" client {gen_client:.1f} s); COPY {figures['copy']:6.2f} s (CPU server"
                f" {copy_server:.1f} s, client {copy_client:.1f} s); ratio"
                f" {figures['generate'] / figures['copy']:4.2f}; import {imp['seconds']:6.2f} s"
                f" (ratio {imp['seconds'] / figures['copy']:4.2f})"
                f" (CPU server {imp['server']:.1f} s, client {imp['client']:.1f} s;"
                f" {imp['imported']:,} imported, {imp['duplicates']} duplicates,"
                f" {imp['invalid']} invalid; RSS {imp['rss_before']:.0f} MiB before,"
                f" peak {imp['rss_peak']:.0f} MiB, growth {imp['growth']:.1f} MiB)",
                flush=True,
            )
    finally:
        os.unlink(csv_path)

    def median(values: list[float]) -> float:
        return statistics.median(values)

    def cpu(step: str) -> str:
        server = median([r[f"{step}_cpu"][0] for r in runs])
        client = median([r[f"{step}_cpu"][1] for r in runs])
        return f"(CPU server {server:.1f} s, client {client:.1f} s)"

    imports = [r["import"] for r in runs]
    print(f"median of {len(runs)} runs ({n:,} codes, CSV file {size_mib:.0f} MiB):")
    print(
        f"  generate (generate_codes, batches, commit each): "
        f"{median([r['generate'] for r in runs]):6.2f} s {cpu('generate')}"
    )
    print(
        f"  COPY of pre-made rows, same table, indexes, FKs: "
        f"{median([r['copy'] for r in runs]):6.2f} s {cpu('copy')}"
    )
    print(
        f"  ratio generate / COPY:                          "
        f"{median([r['generate'] / r['copy'] for r in runs]):6.2f}"
    )
    print(
        f"  ratio import / COPY:                            "
        f"{median([r['import']['seconds'] / r['copy'] for r in runs]):6.2f}"
    )
    print(
        f"  CSV import (streamed):                          "
        f"{median([i['seconds'] for i in imports]):6.2f} s (CPU server"
        f" {median([i['server'] for i in imports]):.1f} s, client"
        f" {median([i['client'] for i in imports]):.1f} s), peak RSS"
        f" {median([i['rss_peak'] for i in imports]):.0f} MiB"
        f" (growth {median([i['growth'] for i in imports]):.1f} MiB)"
    )
    loads = ", ".join(f"{r['load_before']:.2f}" for r in runs)
    print(f"  load average (1 min) at the start of each run: {loads}")


if __name__ == "__main__":
    main()
