"""Audience runs: a 100,000-member audience mirrored at a local fake vendor.

Three runs of one audience (a group) through the job's own boundary (``tasks.drive``,
committing once per step), against a keep-alive fake of the vendor on 127.0.0.1:
1. first run: every member joins;
2. after 10 % of the members left the group: the leavers are removed, nobody else is sent
   (Meta) or everyone is upserted again (Klaviyo, whose properties follow the source);
3. after they came back: they are added again.
Figures: members per second of each run, and the peak of Python memory allocated during
it (``tracemalloc``, in a second pass, so that tracing does not slow the timed one).

Baseline (none of our code): the same member set read with one plain SQL query over the
customers table, hashed or shaped the same way, compared with what the vendor holds (a
plain table of entries, read whole and updated with one executemany each way), and the
difference sent in the same batch sizes with a plain ``requests.Session`` to the same fake
vendor; its figures are measured in the same run and the ratio ours/baseline printed.

Run: ``.venv/bin/python bench/audiences.py [--members 100000] [--vendor meta|klaviyo]
[--database-url URL]`` (a SQLite file by default; a PostgreSQL database given is emptied).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import sys
import tempfile
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
from sqlalchemy import create_engine, insert, select, text, update  # noqa: E402

from plugin.audiences import operations, tasks  # noqa: E402
from plugin.audiences.sync import queue_run  # noqa: E402
from plugin.customers.models import Customer  # noqa: E402
from plugin.db import db, shop_scope  # noqa: E402
from plugin.extension import create_app  # noqa: E402
from plugin.groups.models import Group  # noqa: E402
from plugin.groups.operations import ensure_default_group  # noqa: E402
from plugin.shops.models import Shop  # noqa: E402
from plugin.shops.operations import install_shop  # noqa: E402

SECRET = "bench-secret-0123456789-abcdefghijklmnop"
SHOP = "bench.example"
META_BATCH = 10_000
KLAVIYO_BATCH = 1_000


class Vendor(BaseHTTPRequestHandler):
    """Meta's /users and Klaviyo's profile-import and list relationships, answering at once;
    each server keeps what it holds (``server.held``) so the bench can check the mirror."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold every keep-alive reply for ~40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, adding: bool) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        held: set[str] = self.server.held  # type: ignore[attr-defined]
        if self.path.endswith("/profile-import"):
            email = json.loads(raw)["data"]["attributes"]["email"]
            return self._answer(
                200, json.dumps({"data": {"type": "profile", "id": email}}).encode()
            )
        if self.path.endswith("/users"):
            payload = json.loads(parse_qs(raw.decode())["payload"][0])
            entries = [row[0] for row in payload["data"]]
        else:  # list relationships
            entries = [entry["id"] for entry in json.loads(raw)["data"]]
        with LOCK:
            if adding:
                held.update(entries)
            else:
                held.difference_update(entries)
        if self.path.endswith("/users"):
            answer = {"num_received": len(entries), "num_invalid_entries": 0}
            return self._answer(200, json.dumps(answer).encode())
        self._answer(204)

    def do_POST(self) -> None:  # noqa: N802
        self._handle(adding=True)

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle(adding=False)


LOCK = threading.Lock()


def serve() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Vendor)
    server.held = set()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class Baseline:
    """The thinnest mirror: plain SQL, plain hashing, plain requests (none of our code)."""

    def __init__(self, url: str, vendor_url: str, kind: str, group_id: int) -> None:
        self.engine = create_engine(url)
        self.kind = kind
        self.group_id = group_id
        self.vendor_url = vendor_url
        self.http = requests.Session()
        with self.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS bench_held"))
            conn.execute(text("CREATE TABLE bench_held (entry VARCHAR(255) PRIMARY KEY)"))

    def members(self) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT email FROM customers WHERE group_id = :g ORDER BY id"),
                {"g": self.group_id},
            )
            return [email for (email,) in rows]

    def send(self, method: str, entries: list[str]) -> None:
        size = META_BATCH if self.kind == "meta" else KLAVIYO_BATCH
        for start in range(0, len(entries), size):
            chunk = entries[start : start + size]
            if self.kind == "meta":
                payload = {"schema": ["EMAIL"], "is_raw": True, "data": [[e] for e in chunk]}
                data = {"payload": json.dumps(payload), "access_token": "t"}
                self.http.request(method, f"{self.vendor_url}/v26.0/1/users", data=data)
            else:
                body = {"data": [{"type": "profile", "id": e} for e in chunk]}
                url = f"{self.vendor_url}/api/lists/L/relationships/profiles"
                self.http.request(method, url, json=body)

    def run(self) -> None:
        """Read the source and what the vendor holds, send the difference, record it: the
        record is a plain table, as a mirror that survives a restart needs one."""
        emails = self.members()
        with self.engine.connect() as conn:
            held = {entry for (entry,) in conn.execute(text("SELECT entry FROM bench_held"))}
        if self.kind == "meta":
            now = {hashlib.sha256(e.strip().lower().encode()).hexdigest() for e in emails}
        else:
            now = set()
            for email in emails:  # one upsert per profile, as Klaviyo's API has it
                self.http.post(
                    f"{self.vendor_url}/api/profile-import",
                    json={"data": {"type": "profile", "attributes": {"email": email}}},
                )
                now.add(email)
        gone, joined = sorted(held - now), sorted(now - held)
        self.send("DELETE", gone)
        self.send("POST", joined)
        with self.engine.begin() as conn:
            if gone:
                conn.execute(
                    text("DELETE FROM bench_held WHERE entry = :e"), [{"e": e} for e in gone]
                )
            if joined:
                conn.execute(
                    text("INSERT INTO bench_held (entry) VALUES (:e)"), [{"e": e} for e in joined]
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--vendor", choices=("meta", "klaviyo"), default="meta")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite"

    ours_vendor, ours_url = serve()
    base_vendor, base_url = serve()
    app = create_app(
        {
            "TESTING": True,
            "CUSTOMER_GROUPS_APP_SECRET": SECRET,
            "CUSTOMER_GROUPS_DATABASE_URL": url,
            "CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS": True,
        }
    )
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.drop_all()
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.create_all()
        shop = install_shop(SHOP, {"currency": "EUR", "timezone": "UTC"})
        default = ensure_default_group(shop)
        elsewhere = Group(shop_id=shop.id, name="Elsewhere", name_key="elsewhere", colour="#000000")
        db.session.add(elsewhere)
        db.session.flush()
        shop_id, group_id, other_id = shop.id, default.id, elsewhere.id
        for start in range(0, args.members, 10_000):
            db.session.execute(
                insert(Customer),
                [
                    {
                        "shop_id": shop_id,
                        "group_id": group_id,
                        "external_id": f"c{i:07d}",
                        "email": f"Member{i}@Example.com",
                        "points": 0,
                        "accepts_marketing": False,
                        "type": "individual",
                        "order_count": 0,
                        "total_spent": 0,
                        "used_discount_code": False,
                    }
                    for i in range(start, min(start + 10_000, args.members))
                ],
            )
        db.session.commit()

    def new_audience(name: str) -> int:
        with app.app_context(), shop_scope(shop_id):
            shop = db.session.get(Shop, shop_id)
            audience = operations.create_audience(
                shop,
                {
                    "name": name,
                    "source": {"type": "group", "id": group_id},
                    "destination": {
                        "type": args.vendor,
                        "credentials": {"access_token": "t"}
                        if args.vendor == "meta"
                        else {"api_key": "k"},
                        "base_url": ours_url,
                        "list_id": "L" if args.vendor == "klaviyo" else None,
                        "audience_id": "1" if args.vendor == "meta" else None,
                    },
                    "mapping": {"identifier": "email", "properties": {}},
                    "only_update_existing": False,
                    "schedule": "manual",
                    "active": True,
                },
            )
            db.session.commit()
            return audience.id

    def ours(audience_id: int) -> None:
        with app.app_context(), shop_scope(shop_id):
            run_id, _ = queue_run(shop_id, audience_id)
            db.session.commit()
            run = tasks.drive(shop_id, audience_id, run_id, lambda _: db.session.commit())
            assert run is not None and run.status == "succeeded", run and run.errors

    def move(group: int) -> int:
        """Move every tenth customer to ``group``; the source's size then."""
        with app.app_context():
            db.session.execute(update(Customer).where(Customer.id % 10 == 0).values(group_id=group))
            db.session.commit()
            return len(
                db.session.execute(select(Customer.id).where(Customer.group_id == group_id)).all()
            )

    steps = [
        ("first run (all join)", None),
        ("10 % left the group", other_id),
        ("they came back", group_id),
    ]

    def scenario(name: str, trace: bool) -> list[tuple[str, int, float, float]]:
        """The three runs, each by us then by the baseline: (label, members, ours, base),
        in seconds, or in MiB of peak allocation when traced."""
        ours_vendor.held.clear()  # type: ignore[attr-defined]
        base_vendor.held.clear()  # type: ignore[attr-defined]
        baseline = Baseline(url, base_url, args.vendor, group_id)
        audience_id = new_audience(name)
        figures = []
        for label, group in steps:
            members = move(group) if group is not None else args.members
            sides = []
            for work in (lambda: ours(audience_id), baseline.run):
                if trace:
                    tracemalloc.start()
                    work()
                    sides.append(tracemalloc.get_traced_memory()[1] / 2**20)
                    tracemalloc.stop()
                else:
                    started = time.perf_counter()
                    work()
                    sides.append(time.perf_counter() - started)
            held = (len(ours_vendor.held), len(base_vendor.held))  # type: ignore[attr-defined]
            assert held == (members, members), (held, members)  # both mirror the source
            figures.append((label, members, sides[0], sides[1]))
        return figures

    timed = scenario("Timed", trace=False)
    traced = scenario("Traced", trace=True)
    print(f"{args.members:,} members, {args.vendor}, {url.split(':', 1)[0]}")
    header = ("run", "ours m/s", "base m/s", "time ratio", "ours MiB", "base MiB")
    print("{:<22}{:>10}{:>10}{:>11}{:>10}{:>10}".format(*header))
    for (label, members, t_ours, t_base), (_, _, m_ours, m_base) in zip(timed, traced, strict=True):
        print(
            f"{label:<22}{members / t_ours:>10,.0f}{members / t_base:>10,.0f}"
            f"{t_ours / t_base:>11.2f}{m_ours:>10.1f}{m_base:>10.1f}"
        )
    ours_vendor.shutdown()
    base_vendor.shutdown()


if __name__ == "__main__":
    main()
