"""The real ``customer-groups serve`` runs jobs itself, and a kill does not lose or repeat one.

Starts gunicorn (2 worker processes) on a SQLite file, asks for a code-generation job
through the API, kills every process of the server (SIGKILL) while the job runs, starts the
server again and follows the job to its end: it finishes once, on its second attempt, with
exactly the codes asked for.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from typing import Any

import pytest
import requests

from plugin.auth import signed_headers
from plugin.codes.generation import BATCH_SIZE
from tests.conftest import SECRET, SHOP, auth

# Six batches: each commits with its progress, so the kill lands between two of them.
COUNT = 10 * BATCH_SIZE


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """``customer-groups serve`` in its own process group, so that a kill takes every worker."""

    def __init__(self, env: dict[str, str], port: int, log_path: str) -> None:
        self.env, self.port, self.log_path = env, port, log_path
        self.base = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self, *args: str) -> list[str]:
        interpreter = [sys.executable, *(["-S"] if sys.flags.no_site else [])]
        return [*interpreter, "-m", "plugin.cli", *args]

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115  (the server writes to it until killed)
        self.process = subprocess.Popen(
            self.command(
                "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "2",
                "--threads", "2",
            ),
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                requests.get(f"{self.base}/api/openapi.json", timeout=1)
                return
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.1)
        raise AssertionError("the server did not start:\n" + self.log())

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, sig)
        self.process.wait(30)

    def log(self) -> str:
        with open(self.log_path, errors="replace") as handle:
            return handle.read()[-5000:]

    def webhook(self, topic: str, payload: dict[str, Any]) -> requests.Response:
        body = json.dumps(payload).encode()
        headers = signed_headers(SECRET, SHOP, body, topic=topic, event_id=f"evt-{topic}")
        return requests.post(f"{self.base}/webhooks", data=body, headers=headers, timeout=60)

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        # On SQLite a request waits for the write lock that a batch of the job holds.
        return requests.request(
            method, f"{self.base}/api{path}", headers=auth(), timeout=60, **kwargs
        )


@pytest.fixture
def server(tmp_path):
    database = tmp_path / "served.sqlite"
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("CUSTOMER_GROUPS_")
    }
    env.update(
        CUSTOMER_GROUPS_DATABASE_URL=f"sqlite:///{database}",
        CUSTOMER_GROUPS_APP_SECRET=SECRET,
        CUSTOMER_GROUPS_LOG_LEVEL="WARNING",
        # A short lease, so that the restarted server takes the dead one's job soon; on SQLite
        # it must outlast a batch, which holds the write lock (the heartbeat waits for it).
        CUSTOMER_GROUPS_JOB_LEASE_SECONDS="10",
        CUSTOMER_GROUPS_JOB_POLL_SECONDS="0.2",
    )
    served = Server(env, free_port(), str(tmp_path / "server.log"))
    upgraded = subprocess.run(served.command("db", "upgrade"), env=env, capture_output=True)
    assert upgraded.returncode == 0, upgraded.stderr.decode()[-3000:]
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

    server.start()  # nothing else to start: the server picks the job up once its lease ends
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = server.api("GET", f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.2)
    assert job["status"] == "succeeded", (job, server.log())
    assert (job["attempts"], job["progress"], job["result"]) == (2, COUNT, {"generated": COUNT})
    listed = server.api("GET", f"/discounts/{discount.json()['id']}/codes?per_page=1").json()
    assert listed["total"] == COUNT
    (codes,) = read(server.database, "SELECT count(*) FROM codes")
    assert codes == COUNT
