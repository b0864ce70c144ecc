"""The test suite's wall time, as `make test` runs it (issue 13, goal 7: at most 3 minutes).

Runs ``make test`` (pytest, one process per core) on SQLite and, with ``--database-url``,
on PostgreSQL, ``--runs`` times each, and prints for each run the wall time, the CPU time
of every process it started, the machine's load before it, and pytest's summary line.
With ``--cold``, the project's bytecode caches (``__pycache__`` outside ``.venv``) are
removed before each run, as in CI's fresh clone; otherwise a run finds the previous one's.
Nothing is compared: the goal is a time on this machine.

    .venv/bin/python bench/suite.py [--runs N] [--cold] [--database-url URL]
        [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 180
COMMAND = ["make", "--no-print-directory", "test"]
SUMMARY = re.compile(r"^=*\s*(\d+ (?:passed|failed).*) in [\d.]+s", re.MULTILINE)


def forget_bytecode() -> None:
    for cache in ROOT.rglob("__pycache__"):
        if ".venv" not in cache.relative_to(ROOT).parts:
            shutil.rmtree(cache, ignore_errors=True)


def one_run(database_url: str | None, cold: bool) -> tuple[float, float, str]:
    if cold:
        forget_bytecode()
    env = {k: v for k, v in os.environ.items() if k != "CUSTOMER_GROUPS_TEST_DATABASE_URL"}
    if database_url:
        env["CUSTOMER_GROUPS_TEST_DATABASE_URL"] = database_url
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(COMMAND, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    found = SUMMARY.search(done.stdout)
    summary = found.group(1) if found else f"exit {done.returncode}: no summary line"
    if done.returncode != 0:
        kept = Path(tempfile.mkstemp(prefix="bench-suite-", suffix=".log")[1])
        kept.write_text(done.stdout + done.stderr)
        summary += f" (FAILED: pytest's output is in {kept})"
    return wall, cpu, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--database-url", help="PostgreSQL: the test database (emptied)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--cold", action="store_true", help="no bytecode left by a run before")
    args = parser.parse_args()
    targets: list[tuple[str, str | None]] = []
    if args.only != "postgresql":
        targets.append(("SQLite", None))
    if args.only != "sqlite" and args.database_url:
        targets.append(("PostgreSQL", args.database_url))
    print(f"{os.cpu_count()} cores; goal: at most {GOAL_SECONDS} s a run")
    failed = False
    for name, url in targets:
        for number in range(1, args.runs + 1):
            load = os.getloadavg()[0]
            wall, cpu, summary = one_run(url, args.cold)
            failed |= "FAILED" in summary or "failed" in summary
            print(
                f"{name} run {number}{' (cold)' if args.cold else ''}: {wall:6.1f} s wall "
                f"({wall / GOAL_SECONDS:.2f}x the goal), "
                f"{cpu:6.1f} s CPU, load before {load:.2f}; {summary}",
                flush=True,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
