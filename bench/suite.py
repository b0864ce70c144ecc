"""The test suite's wall time, as `make test` runs it (issue 13, goal 7: at most 3 minutes).

Runs the suite's command (``pytest -q -n auto --dist loadfile --no-loadscope-reorder``, the
Makefile's) on SQLite
and, with ``--database-url``, on PostgreSQL, ``--runs`` times each, and prints for each run
the wall time, the CPU time of every process it started, the machine's load before it,
and pytest's summary line. Nothing is compared: the goal is a time on this machine.

    .venv/bin/python bench/suite.py [--runs N] [--database-url URL] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 180
PYTEST = str(ROOT / ".venv" / "bin" / "pytest")
COMMAND = [PYTEST, "-q", "-n", "auto", "--dist", "loadfile", "--no-loadscope-reorder"]
SUMMARY = re.compile(r"^=*\s*(\d+ (?:passed|failed).*) in [\d.]+s", re.MULTILINE)


def one_run(database_url: str | None) -> tuple[float, float, str]:
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
            wall, cpu, summary = one_run(url)
            failed |= "FAILED" in summary or "failed" in summary
            print(
                f"{name} run {number}: {wall:6.1f} s wall ({wall / GOAL_SECONDS:.2f}x the goal), "
                f"{cpu:6.1f} s CPU, load before {load:.2f}; {summary}",
                flush=True,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
