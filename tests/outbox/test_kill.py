"""Killing the delivering process halfway and starting again: every event arrives, and a
receiver that deduplicates by event id sees each one once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

from werkzeug import Request, Response

from tests.conftest import PG_URL, SECRET
from tests.outbox.conftest import Clock, Receiver, add_customers, deliver, make_group, move, outbox

DELIVER_FOREVER = textwrap.dedent(
    """
    import sys
    from plugin.extension import create_app
    from plugin.outbox.delivery import deliver_pending

    app = create_app({
        "TESTING": True,
        "CUSTOMER_GROUPS_APP_SECRET": sys.argv[1],
        "CUSTOMER_GROUPS_DATABASE_URL": sys.argv[2],
        # The receiver is local (http://localhost), as in make_app.
        "CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS": True,
    })
    with app.app_context():
        while True:
            deliver_pending()
    """
)


class SlowReceiver(Receiver):
    """Records each POST, then takes its time to answer: a kill lands mid-request."""

    def __call__(self, request: Request) -> Response:
        answer = super().__call__(request)
        time.sleep(0.05)
        return answer


def test_a_killed_delivery_ends_with_every_event_delivered_once(
    app, client, host, events_shop, httpserver, tmp_path
):
    receiver = SlowReceiver()
    httpserver.expect_request("/events", method="POST").respond_with_handler(receiver)
    ids = add_customers(host, 40)
    move(client, make_group(client), ids)
    url = PG_URL or f"sqlite:///{tmp_path}/test.sqlite"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    process = subprocess.Popen(
        [sys.executable, "-c", DELIVER_FOREVER, SECRET, url],
        cwd=root,
        env={**os.environ, "PYTHONPATH": root},
    )
    try:
        deadline = time.monotonic() + 60
        while len(receiver.posts) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process.poll() is None, "the delivering process died on its own"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    posted_before_kill = len(receiver.posts)
    assert 10 <= posted_before_kill < 40
    left = [r for r in outbox(app) if r.status != "delivered"]
    assert left  # the kill left work undone, some of it leased by the dead process

    # "Restart": another run, once the dead process's leases have run out.
    clock = Clock(step=timedelta(minutes=2))
    clock.advance()
    deliver(app, clock)
    rows = outbox(app)
    assert all(r.status == "delivered" for r in rows)
    assert sorted(p["body"]["customer_id"] for p in receiver.unique) == sorted(ids)
    assert {p["event_id"] for p in receiver.unique} == {r.event_id for r in rows}
    # At least once: what the dead process posted but never marked was posted again.
    assert len(receiver.posts) >= 40
