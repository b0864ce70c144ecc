"""``customer-groups serve`` in its own process, driven over real HTTP.

What production runs is what these tests run: the console command, gunicorn with worker
processes and threads, the schema made by ``customer-groups db upgrade`` (Alembic, not
``create_all``), background jobs in the workers, and ``requests`` on a real socket.

``served_database_url`` gives the served app a database of its own:

- SQLite: a file in the given directory;
- PostgreSQL (``CUSTOMER_GROUPS_TEST_DATABASE_URL`` set): a *second* database, the test
  database's name plus ``_served`` (``test`` → ``test_served``), created when missing and
  emptied (its ``public`` schema dropped and created again) for each server.
  The in-process fixtures drop, create and TRUNCATE the test database for every test; a
  server whose workers run jobs in the background must not share it, and its schema must
  be the migrations' own. The second database needs no set-up: the role that may empty
  the test database is asked to create it (CI's ``postgres`` may).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import create_engine, text
from werkzeug.serving import BaseWSGIServer, make_server

from plugin.auth import signed_headers
from tests.conftest import PG_URL, SECRET, SHOP, auth, database_beside

SERVED_SUFFIX = "_served"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def served_database_url(directory: Path) -> str:
    """An empty database for a served app (see the module docstring)."""
    if not PG_URL:
        return f"sqlite:///{directory}/served.sqlite"
    served = database_beside(PG_URL, SERVED_SUFFIX)
    name = served.database
    # Emptied by dropping its schema (DROP DATABASE waits for a checkpoint: seconds on a busy
    # machine), after ending the sessions a server of an earlier module may have left.
    engine = create_engine(served, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return served.render_as_string(hide_password=False)


def server_environment(database_url: str, **settings: str) -> dict[str, str]:
    """The process environment of a served app: ours, minus every CUSTOMER_GROUPS_ variable
    of the test run, plus the database, the secret and ``settings``."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("CUSTOMER_GROUPS_")
    }
    env.update(
        CUSTOMER_GROUPS_DATABASE_URL=database_url,
        CUSTOMER_GROUPS_APP_SECRET=SECRET,
        CUSTOMER_GROUPS_LOG_LEVEL="WARNING",
    )
    env.update(settings)
    return env


class Server:
    """``customer-groups serve`` in its own process group, so that a kill takes every worker.

    ``request`` (and the helpers built on it) records each method and path it sent in
    ``sent``, so that a test can tell which routes were exercised.
    """

    def __init__(self, env: dict[str, str], port: int, log_path: str | Path) -> None:
        self.env, self.port, self.log_path = env, port, str(log_path)
        self.base = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.http = requests.Session()
        self.sent: list[tuple[str, str]] = []

    def command(self, *args: str) -> list[str]:
        interpreter = [sys.executable, *(["-S"] if sys.flags.no_site else [])]
        return [*interpreter, "-m", "plugin.cli", *args]

    def upgrade(self) -> None:
        """``customer-groups db upgrade``: the schema as an operator makes it."""
        upgraded = subprocess.run(self.command("db", "upgrade"), env=self.env, capture_output=True)
        assert upgraded.returncode == 0, upgraded.stderr.decode()[-3000:]

    def start(self, workers: int = 2, threads: int = 2) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115  (the server writes to it until killed)
        self.process = subprocess.Popen(
            self.command(
                "serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--workers", str(workers), "--threads", str(threads),
            ),
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )  # fmt: skip
        log.close()  # the child holds its own copy
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

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop), SIGKILL when that takes too long."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()
        self.http.close()

    def log(self) -> str:
        with open(self.log_path, errors="replace") as handle:
            return handle.read()[-5000:]

    # -- HTTP -------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send ``method path`` (a path with its query, or a URL on this server)."""
        url = path if path.startswith("http") else self.base + path
        self.sent.append((method.upper(), urlsplit(url).path))
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("allow_redirects", False)
        response = self.http.request(method, url, **kwargs)
        response.served_by = self  # type: ignore[attr-defined]  (for failure messages)
        return response

    def signed(
        self,
        path: str,
        payload: Any,
        *,
        shop: str = SHOP,
        topic: str | None = None,
        event_id: str | None = None,
        raw: bytes | None = None,
    ) -> requests.Response:
        """A request from the host, signed as contract v2 §2 says."""
        body = raw if raw is not None else json.dumps(payload).encode()
        headers = signed_headers(SECRET, shop, body, path=path, topic=topic, event_id=event_id)
        return self.request("POST", path, data=body, headers=headers)

    def webhook(
        self, topic: str, payload: Any, shop: str = SHOP, event_id: str | None = None
    ) -> requests.Response:
        return self.signed("/webhooks", payload, shop=shop, topic=topic, event_id=event_id)

    def install(self, shop: str = SHOP, **fields: Any) -> requests.Response:
        installed = self.webhook(
            "app/installed",
            {
                "shop": {
                    "domain": shop, "name": shop.split(".")[0].title(), "currency": "EUR",
                    "timezone": "UTC", "api_url": f"https://{shop}/api", "access_token": "tok",
                    **fields,
                }
            },
            shop=shop,
        )  # fmt: skip
        assert installed.status_code == 200, (installed.text, self.log())
        return installed

    def api(self, method: str, path: str, shop: str = SHOP, **kwargs: Any) -> requests.Response:
        """``/api{path}`` with a fresh session token of ``shop``."""
        headers = {**auth(shop), **kwargs.pop("headers", {})}
        return self.request(method, f"/api{path}", headers=headers, **kwargs)


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """An HTTP endpoint of the outside world (a vendor's API, a shop's ``events_url``) on
    ``127.0.0.1``, in a thread: it records every request and answers ``status`` (set
    ``failing`` to a set of paths to answer those with 500)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.failing: set[str] = set()
        self.lock = threading.Lock()
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        path = environ["PATH_INFO"]
        with self.lock:
            self.received.append(Received(environ["REQUEST_METHOD"], path, headers, body))
            failing = path in self.failing
        status = "500 Internal Server Error" if failing else "200 OK"
        start_response(status, [("Content-Type", "application/json")])
        return [b"{}"]

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [one for one in self.received if one.path == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def wait_for(check: Any, timeout: float = 30, interval: float = 0.1) -> Any:
    """Call ``check`` until it answers something true (returned) or ``timeout`` seconds pass
    (AssertionError with its last answer). For work the server does in the background."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"still {answer!r} after {timeout} s")
        time.sleep(interval)
