"""Requests per second through ``customer-groups serve`` against the floor under the same
gunicorn (issue #13, goal 6).

The schema is made by ``customer-groups db upgrade`` (a SQLite file by default;
``--database-url`` for PostgreSQL, whose database is emptied first), the shop installed
and ``--rules`` active price rules written as ``bench/pricing.py`` writes them. Then two
servers run side by side on loopback with the same gunicorn settings (``--workers 2``,
``--threads``, gthread): ``customer-groups serve`` and the floor of ``bench/floor.py``
(verifies the v2 signature with ``hmac``/``hashlib``, ``json.loads`` the cart, dumps a
same-sized answer; none of our code). A load generator in this process (``--clients``
threads, one keep-alive connection each, requests signed before the clock starts) sends the
same 50-line cart to one server at a time, in alternating rounds, each bounded by
``--requests`` and ``--seconds``. It prints requests per second of each round, the median
of each server and the ratio floor / hook; and the CPU time the server (master and
workers, from ``/proc``) spent per request, which a busy machine does not inflate.

The client shares the machine's cores with both servers: on a small machine it bounds what
the floor can show, so the ratio is a lower bound of what a separate load generator would
see.

Run: ``.venv/bin/python bench/serve.py [--rules 1000] [--rounds 3] [--seconds 5]
[--requests 5000] [--clients 8] [--threads 4] [--database-url URL]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from pricing import SECRET, SHOP, install, make_cart, set_rule_count  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from plugin.auth import PRICE_PATH, signed_headers  # noqa: E402
from plugin.extension import create_app  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMER_GROUPS_")}
    env.update(
        {
            "CUSTOMER_GROUPS_DATABASE_URL": url,
            "CUSTOMER_GROUPS_APP_SECRET": SECRET,
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def prepare(url: str, rules: int) -> bytes:
    """The schema as an operator makes it, the shop, its rules; the cart to send."""
    import random

    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    command = [sys.executable, "-m", "plugin.cli", "db", "upgrade"]
    done = subprocess.run(command, env=environment(url), capture_output=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(done.stderr.decode()[-3000:])
    app = create_app({"CUSTOMER_GROUPS_APP_SECRET": SECRET, "CUSTOMER_GROUPS_DATABASE_URL": url})
    install(app.test_client())
    rng = random.Random(3)
    body = make_cart(rng)
    set_rule_count(app, rules, rng)
    return body


def start(command: list[str], url: str, port: int, log: Any) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command, env=environment(url), cwd=ROOT, stdout=log, stderr=log, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{command[:4]} exited: see {log.name}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{command[:4]} did not listen on {port}: see {log.name}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by a server: its master and its workers (user + system)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        # After the command: state, ppid, ... utime is the 12th field, stime the 13th.
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def raw_requests(port: int, body: bytes, count: int) -> list[bytes]:
    """``count`` signed requests (each its own event id), as the bytes sent on the wire."""
    made = []
    for _ in range(count):
        headers = signed_headers(SECRET, SHOP, body, path=PRICE_PATH)
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        made.append(
            (
                f"POST {PRICE_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}"
                f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
            ).encode()
            + body
        )
    return made


class Client:
    """One keep-alive connection that sends a request and reads its whole answer."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""

    def send(self, request: bytes) -> int:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buffer = b""
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        fields = dict(line.split(b":", 1) for line in lines[1:])
        length = int({k.strip().lower(): v for k, v in fields.items()}[b"content-length"])
        while len(rest) < length:
            rest += self._read(keep=False)
        self.buffer = rest[length:]
        if any(k.strip().lower() == b"connection" and b"close" in v for k, v in fields.items()):
            self.close()
        return status

    def _read(self, keep: bool = True) -> bytes:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        if keep:
            self.buffer += chunk
        return chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None


def load(
    port: int, requests: list[bytes], clients: int, total: int, seconds: float
) -> tuple[int, float]:
    """Requests sent and their seconds, over at most ``total`` requests and ``seconds``."""
    sent = 0
    failures: list[str] = []
    lock = threading.Lock()
    deadline = 0.0

    def worker() -> None:
        nonlocal sent
        client = Client(port)
        try:
            while True:
                with lock:
                    if sent >= total or time.perf_counter() > deadline or failures:
                        return
                    request = requests[sent % len(requests)]
                    sent += 1
                try:
                    status = client.send(request)
                except (ConnectionError, OSError):
                    client.close()
                    status = client.send(request)
                if status != 200:
                    failures.append(f"answered {status}")
        finally:
            client.close()

    pool = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    deadline = started + seconds
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    took = time.perf_counter() - started
    if failures:
        raise SystemExit(f"port {port}: {failures[0]}")
    return sent, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="at most, per round")
    parser.add_argument("--requests", type=int, default=5000, help="at most, per round")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cg-serve-"))
    url = args.database_url or f"sqlite:///{tmp}/bench.sqlite"
    body = prepare(url, args.rules)
    hook_port, floor_port = free_port(), free_port()
    settings = ["--workers", str(args.workers), "--threads", str(args.threads)]
    kind = "gthread" if args.threads > 1 else "sync"
    hook_command = [sys.executable, "-m", "plugin.cli", "serve", "--port", str(hook_port)]
    floor_command = [
        *(sys.executable, "-m", "gunicorn", "--pythonpath", str(HERE), "--worker-class", kind),
        *("--bind", f"127.0.0.1:{floor_port}", "--timeout", "30", "--graceful-timeout", "10"),
        *settings,
        "floor:app",
    ]
    with open(tmp / "hook.log", "ab") as hook_log, open(tmp / "floor.log", "ab") as floor_log:
        hook = start([*hook_command, *settings], url, hook_port, hook_log)
        floor = start(floor_command, url, floor_port, floor_log)
        try:
            targets = {
                "floor": (floor, floor_port, raw_requests(floor_port, body, 500)),
                "hook": (hook, hook_port, raw_requests(hook_port, body, 500)),
            }
            for _, port, requests in targets.values():  # warm every worker (the snapshot)
                load(port, requests, args.clients, 400, 30)
            figures: dict[str, list[float]] = {"floor": [], "hook": []}
            cpu: dict[str, list[float]] = {"floor": [], "hook": []}
            print(
                f"database: {url.split('@')[-1]}; {args.rules:,} rules; 50-line cart; "
                f"{args.workers} workers x {args.threads} threads ({kind}); "
                f"{args.clients} keep-alive clients; rounds of at most {args.requests:,} "
                f"requests or {args.seconds:g} s"
            )
            for round_number in range(args.rounds):
                for name, (process, port, requests) in targets.items():
                    before = server_cpu(process.pid)
                    sent, took = load(port, requests, args.clients, args.requests, args.seconds)
                    figures[name].append(sent / took)
                    cpu[name].append((server_cpu(process.pid) - before) / sent * 1000)
                print(
                    f"round {round_number + 1}: floor {figures['floor'][-1]:7.0f} req/s "
                    f"({cpu['floor'][-1]:.2f} ms CPU each), hook {figures['hook'][-1]:7.0f} "
                    f"req/s ({cpu['hook'][-1]:.2f} ms CPU each)"
                )
            floor_rate = statistics.median(figures["floor"])
            hook_rate = statistics.median(figures["hook"])
            floor_cpu = statistics.median(cpu["floor"])
            hook_cpu = statistics.median(cpu["hook"])
            print(
                f"median: floor {floor_rate:.0f} req/s, hook {hook_rate:.0f} req/s, "
                f"ratio floor / hook {floor_rate / hook_rate:.2f}; server CPU per request: "
                f"floor {floor_cpu:.2f} ms, hook {hook_cpu:.2f} ms, "
                f"ratio {hook_cpu / floor_cpu:.2f}"
            )
        finally:
            stop(hook)
            stop(floor)


if __name__ == "__main__":
    main()
