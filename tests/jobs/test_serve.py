"""The real ``customer-groups serve`` runs jobs itself, and a kill does not lose or repeat one.

Starts gunicorn (2 worker processes) on a SQLite file, asks for a code-generation job
through the API, kills every process of the server (SIGKILL) while the job runs, starts the
server again and follows the job to its end: it finishes once, on its second attempt, with
exactly the codes asked for. The dead server's lease is moved into the past rather than
waited for (the restarted server takes the job at its next look, as it would once the lease
ran out); ``tests/jobs/test_runner.py`` holds leases against the clock.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from typing import Any

import pytest

from plugin.codes.generation import BATCH_SIZE
from tests.conftest import SHOP
from tests.served.server import Server, free_port, server_environment

# Four batches: each commits with its progress, so the kill lands between two of them (the
# test kills the server as soon as the first one is committed).
COUNT = 4 * BATCH_SIZE


@pytest.fixture
def server(tmp_path):
    database = tmp_path / "served.sqlite"
    env = server_environment(
        f"sqlite:///{database}",
        # A short lease, so that the restarted server takes the dead one's job soon; on SQLite
        # it must outlast a batch, which holds the write lock (the heartbeat waits for it).
        CUSTOMER_GROUPS_JOB_LEASE_SECONDS="10",
        CUSTOMER_GROUPS_JOB_POLL_SECONDS="0.2",
    )
    served = Server(env, free_port(), str(tmp_path / "server.log"))
    served.upgrade()
    served.database = str(database)  # type: ignore[attr-defined]
    yield served
    if served.process is not None and served.process.poll() is None:
        served.kill(signal.SIGTERM)


def read(database: str, query: str) -> Any:
    with sqlite3.connect(database, timeout=30) as connection:
        return connection.execute(query).fetchone()


def test_a_job_survives_a_killed_server_and_finishes_exactly_once(server):
    server.start()
    installed = server.webhook(
        "app/installed",
        {
            "shop": {
                "domain": SHOP, "name": "Lumen", "currency": "EUR", "timezone": "UTC",
                "api_url": f"https://{SHOP}/api", "access_token": "tok",
            }
        },
    )  # fmt: skip
    assert installed.status_code == 200, installed.text
    discount = server.api(
        "POST", "/discounts", json={"name": "Pool", "type": "percent", "value": 5}
    )
    assert discount.status_code == 201, discount.text
    asked = server.api(
        "POST",
        f"/discounts/{discount.json()['id']}/codes/generate",
        json={"count": COUNT, "length": 10, "prefix": "K-"},
    )
    assert asked.status_code == 202, asked.text
    job_id = asked.json()["id"]

    # The server runs the job by itself; kill every process of it halfway.
    # Watch the database file itself (a WAL reader never waits for the job's write lock,
    # where an API request would), so the kill lands right after the first batch.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        (progress,) = read(server.database, f"SELECT progress FROM jobs WHERE id = {job_id}")
        if progress > 0:
            break
        time.sleep(0.005)
    server.kill()
    status, progress, attempts = read(
        server.database, f"SELECT status, progress, attempts FROM jobs WHERE id = {job_id}"
    )
    (codes,) = read(server.database, "SELECT count(*) FROM codes")
    assert (status, attempts) == ("running", 1), server.log()
    assert 0 < progress < COUNT, "the job was not killed halfway: make COUNT larger"
    assert codes == progress  # the codes made so far were committed with their progress
    (lease_until,) = read(server.database, f"SELECT lease_until FROM jobs WHERE id = {job_id}")
    assert lease_until is not None  # the dead server's claim still holds the job

    # The dead server's lease would run out CUSTOMER_GROUPS_JOB_LEASE_SECONDS after its last
    # heartbeat; the test moves that moment into the past instead of sleeping until then.
    with sqlite3.connect(server.database, timeout=30) as connection:
        connection.execute(
            "UPDATE jobs SET lease_until = '2000-01-01 00:00:00.000000' WHERE id = ?", (job_id,)
        )
    server.start()  # nothing else to start: the server picks the job up once its lease ends
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = server.api("GET", f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.2)
    assert job["status"] == "succeeded", (job, server.log())
    assert (job["attempts"], job["progress"]) == (2, COUNT)
    assert job["result"] == {"generated": COUNT, "warnings": []}
    listed = server.api("GET", f"/discounts/{discount.json()['id']}/codes?per_page=1").json()
    assert listed["total"] == COUNT
    (codes,) = read(server.database, "SELECT count(*) FROM codes")
    assert codes == COUNT
