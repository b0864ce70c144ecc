"""The retrying session: what is retried, how long it waits, what is never replayed.

These servers are local (http://localhost): the sessions allow private destinations, as
CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS does for the app's tests.
"""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from werkzeug import Response

from plugin.audiences.http import DestinationNotAllowed, RetryingSession, VendorError
from plugin.outbox import delivery
from plugin.outgoing import retry_after_seconds


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Sun, 01 Mar 2026 10:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Sun, 01 Mar 2026 09:59:00 GMT", now) == 0.0
    assert retry_after_seconds(None, now) is None
    assert retry_after_seconds("soon", now) is None


def test_post_that_creates_is_sent_once_on_500(httpserver, sleeps):
    httpserver.expect_request("/jobs", method="POST").respond_with_data("oops", status=500)
    session = RetryingSession(allow_private=True)
    response = session.request("POST", httpserver.url_for("/jobs"), json={"a": 1})

    assert response.status_code == 500
    assert len(httpserver.log) == 1
    assert sleeps == []


def test_post_that_creates_is_retried_on_429(httpserver, sleeps):
    httpserver.expect_oneshot_request("/jobs").respond_with_data(
        "", status=429, headers={"Retry-After": "3"}
    )
    httpserver.expect_request("/jobs").respond_with_data("made", status=201)
    response = RetryingSession(allow_private=True).request("POST", httpserver.url_for("/jobs"))

    assert response.status_code == 201
    assert sleeps == [3.0]


def test_backoff_grows_with_a_cap_and_gives_up(httpserver, sleeps):
    httpserver.expect_request("/thing").respond_with_data("", status=503)
    session = RetryingSession(max_attempts=6, backoff_base=1.0, backoff_cap=4.0, allow_private=True)
    response = session.request("GET", httpserver.url_for("/thing"))

    assert response.status_code == 503
    assert len(httpserver.log) == 6
    ceilings = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(sleeps) == 5
    assert all(c / 2 <= wait <= c for wait, c in zip(sleeps, ceilings, strict=True))


def test_a_wait_longer_than_a_run_should_take_is_not_slept(httpserver, sleeps):
    httpserver.expect_request("/thing").respond_with_data(
        "", status=429, headers={"Retry-After": "86400"}
    )
    response = RetryingSession(allow_private=True).request("GET", httpserver.url_for("/thing"))

    assert response.status_code == 429
    assert sleeps == []


# --- The one policy (plugin.outgoing.RetryPolicy) on the guarded transport -----------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again: nothing listens there


def test_a_connection_never_made_is_retried_even_for_a_post(sleeps):
    session = RetryingSession(max_attempts=3, allow_private=True)
    with pytest.raises(VendorError, match="Could not connect") as failed:
        session.request("POST", f"http://127.0.0.1:{_closed_port()}/jobs", json={"a": 1})
    assert failed.value.status is None
    assert len(sleeps) == 2


def test_a_refused_destination_is_never_retried(httpserver, sleeps):
    session = RetryingSession(allow_private=False)
    with pytest.raises(DestinationNotAllowed):
        session.request("GET", httpserver.url_for("/thing").replace("http:", "https:"))
    assert sleeps == [] and len(httpserver.log) == 0


def test_a_redirect_is_neither_followed_nor_retried(httpserver, sleeps):
    httpserver.expect_request("/thing").respond_with_data(
        "", status=307, headers={"Location": "/elsewhere", "Retry-After": "1"}
    )
    with pytest.raises(VendorError) as failed:
        RetryingSession(allow_private=True).request("GET", httpserver.url_for("/thing"))
    assert failed.value.status == 307
    assert len(httpserver.log) == 1 and sleeps == []


def test_a_read_timeout_is_retried_only_when_idempotent(httpserver, sleeps):
    def late(request):
        time.sleep(1.0)  # far past the client's read timeout, even on a loaded machine
        return Response("late")

    httpserver.expect_request("/slow").respond_with_handler(late)
    session = RetryingSession(max_attempts=2, timeout=(2.0, 0.05), allow_private=True)
    with pytest.raises(VendorError, match="No reply"):
        session.request("POST", httpserver.url_for("/slow"))
    assert sleeps == []
    with pytest.raises(VendorError, match="No reply"):
        session.request("POST", httpserver.url_for("/slow"), idempotent=True)
    assert len(sleeps) == 1

    # The test server answers one request at a time: let it catch up, then count.
    deadline = time.monotonic() + 10
    while len(httpserver.log) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert len(httpserver.log) == 3


def test_a_refusal_only_the_body_tells_shares_the_calls_attempts(httpserver, sleeps):
    """urllib3 retries the 429; the throttled 400s (told by their body) are retried by the
    same policy, and all of them count toward one budget of attempts."""
    httpserver.expect_oneshot_request("/upload").respond_with_data("", status=429)
    httpserver.expect_request("/upload").respond_with_json({"error": {"code": 17}}, status=400)
    session = RetryingSession(
        max_attempts=3,
        allow_private=True,
        is_throttled=lambda response: response.json().get("error", {}).get("code") == 17,
    )
    response = session.request("POST", httpserver.url_for("/upload"))

    assert response.status_code == 400
    assert len(httpserver.log) == 3
    assert len(sleeps) == 2


def test_the_outbox_reads_retry_after_as_the_policy_does():
    later = datetime.now(UTC) + timedelta(seconds=120)
    for value in ("120", format_datetime(later, usegmt=True)):
        response = requests.Response()
        response.headers["Retry-After"] = value
        assert 115 <= delivery._retry_after(response) <= 120
        assert 115 <= retry_after_seconds(value) <= 120
