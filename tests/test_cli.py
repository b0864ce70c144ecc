"""The ``customer-groups`` command for real: a subprocess, a port, signed requests."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, inspect

from plugin.auth import signed_headers, verify_session_token
from plugin.db import db
from tests.conftest import APP_ID, SECRET, SHOP

BIN = Path(sys.executable).parent
COMMAND = (
    [str(BIN / "customer-groups")]
    if (BIN / "customer-groups").exists()
    else [
        sys.executable,
        "-m",
        "plugin.cli",
    ]
)


def _env(**values: str) -> dict[str, str]:
    """The environment without any CUSTOMER_GROUPS_ setting of the caller, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMER_GROUPS_")}
    env.update(values)
    return env


def _run(*args: str, env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*COMMAND, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port} after {seconds} s")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/served.sqlite"


def test_db_upgrade_builds_every_table_of_the_models(database_url):
    done = _run(
        "db",
        "upgrade",
        env=_env(CUSTOMER_GROUPS_APP_SECRET=SECRET, CUSTOMER_GROUPS_DATABASE_URL=database_url),
    )
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout
    engine = create_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()
    import plugin.models  # noqa: F401  (registers every model's table)

    assert tables == set(db.metadata.tables)


def test_serve_answers_a_signed_webhook_and_logs_one_json_line(tmp_path, database_url):
    env = _env(CUSTOMER_GROUPS_APP_SECRET=SECRET, CUSTOMER_GROUPS_DATABASE_URL=database_url)
    upgraded = _run("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    port = _free_port()
    stderr_path = tmp_path / "serve.stderr"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [*COMMAND, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            _wait_for_port(port, process)
            body = json.dumps(
                {
                    "shop": {
                        "domain": SHOP,
                        "name": "Lumen",
                        "currency": "EUR",
                        "timezone": "Europe/Paris",
                        "api_url": f"https://{SHOP}/api",
                        "access_token": "tok",
                    }
                }
            ).encode()
            event_id = f"cli-{uuid.uuid4()}"
            headers = signed_headers(SECRET, SHOP, body, topic="app/installed", event_id=event_id)
            # The master listens before its workers have loaded the app: the first request
            # waits for a worker's start, which a loaded machine makes slow.
            response = requests.post(
                f"http://127.0.0.1:{port}/webhooks", data=body, headers=headers, timeout=60
            )
            assert response.status_code == 200, response.text
            assert response.json() == {"status": "ok"}

            unsigned = requests.post(f"http://127.0.0.1:{port}/webhooks", data=body, timeout=10)
            assert unsigned.status_code == 401
            assert unsigned.json()["error"]["code"] == "invalid_signature"
            time.sleep(0.5)  # let the worker write its log line
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    lines = [json.loads(line) for line in stderr_path.read_text().splitlines() if _is_json(line)]
    ours = [line for line in lines if line.get("event_id") == event_id]
    assert len(ours) == 1, stderr_path.read_text()
    assert ours[0]["method"] == "POST"
    assert ours[0]["path"] == "/webhooks"
    assert ours[0]["status"] == 200
    assert ours[0]["shop"] == SHOP
    assert ours[0]["topic"] == "app/installed"
    assert isinstance(ours[0]["ms"], float | int)
    assert [line["status"] for line in lines if line.get("event_id") is None] == [401]


def _is_json(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def test_serve_refuses_to_start_without_a_secret(database_url):
    done = _run(
        "serve", "--port", str(_free_port()), env=_env(CUSTOMER_GROUPS_DATABASE_URL=database_url)
    )
    assert done.returncode != 0
    assert "CUSTOMER_GROUPS_APP_SECRET is not set" in done.stderr
    assert "Traceback" not in done.stderr


def test_token_mints_an_admin_url_the_app_accepts():
    done = _run(
        "token",
        "--shop",
        SHOP,
        "--admin-url",
        "http://127.0.0.1:5000/",
        env=_env(CUSTOMER_GROUPS_APP_SECRET=SECRET),
    )
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith(f"http://127.0.0.1:5000/admin?shop={SHOP}&id_token=")
    token = url.split("id_token=", 1)[1]
    session = verify_session_token(token, SECRET, APP_ID, leeway=10, max_age=60)
    assert session.shop_domain == SHOP


def test_token_without_a_secret_says_so():
    done = _run("token", "--shop", SHOP, env=_env())
    assert done.returncode != 0
    assert "CUSTOMER_GROUPS_APP_SECRET is not set" in done.stderr


def test_sign_prints_a_curl_that_the_app_accepts(tmp_path, client):
    body_file = tmp_path / "install.json"
    body_file.write_bytes(
        json.dumps(
            {
                "shop": {
                    "domain": SHOP,
                    "name": "Lumen",
                    "currency": "EUR",
                    "timezone": "UTC",
                    "api_url": f"https://{SHOP}/api",
                    "access_token": "tok",
                }
            },
            indent=2,
        ).encode()
        + b"\n"
    )
    done = _run(
        "sign",
        "--shop",
        SHOP,
        "--file",
        str(body_file),
        "--url",
        "http://127.0.0.1:5000/webhooks",
        "--topic",
        "app/installed",
        env=_env(CUSTOMER_GROUPS_APP_SECRET=SECRET),
    )
    assert done.returncode == 0, done.stderr
    words = shlex.split(done.stdout)
    assert words[:5] == ["curl", "-sS", "-X", "POST", "http://127.0.0.1:5000/webhooks"]
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    assert headers["X-Shop-Domain"] == SHOP
    assert headers["X-Topic"] == "app/installed"
    data = words[words.index("--data-binary") + 1]
    assert data == f"@{body_file}"
    # What curl would send, sent to the app: the signature covers the exact bytes.
    answer = client.post("/webhooks", data=body_file.read_bytes(), headers=headers)
    assert answer.status_code == 200, answer.get_json()
    tampered = client.post("/webhooks", data=body_file.read_bytes().strip(), headers=headers)
    assert tampered.status_code == 401
