"""The benchmark scripts keep running as the schema moves (tiny sizes, SQLite; no timing
is asserted: figures come from the scripts themselves, run by hand)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL, database_beside

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "args",
    [
        ["bench/pricing.py", "--calls", "2", "--sizes", "0,20"],
        ["bench/pricing_engine.py", "--sizes", "0,20", "--calls", "5"],
        ["bench/jobs.py", "--jobs", "5", "--samples", "2"],
        ["bench/webhooks.py", "--only", "sqlite", "--events", "40", "--customers", "10"],
        ["bench/audiences.py", "--members", "200"],
        ["bench/reports.py", "--sqlite", "--orders", "300", "--days", "10", "--runs", "1"],
    ],
    ids=lambda args: args[0],
)
def test_bench_script_runs(args, tmp_path):
    assert _run(args, tmp_path).strip()


def _run(args: list[str], tmp_path: Path) -> str:
    """Run a bench script as a user would, with a bare environment; its output."""
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="bench/segments.py runs on PostgreSQL only")
def test_segments_bench_runs_with_its_recompute_floor(tmp_path):
    """A tiny data set through every part of bench/segments.py, the recompute's
    hand-written floor included (a database of its own beside the tests')."""
    url = database_beside(PG_URL, "_bench_segments")
    printed = _run(
        ["bench/segments.py", "--customers", "2000", "--repeat", "1",
         "--database-url", url.render_as_string(hide_password=False)],  # fmt: skip
        tmp_path,
    )
    assert "its floor (hand-written SQL" in printed
