"""The retrying session: what is retried, how long it waits, what is never replayed.

These servers are local (http://localhost): the sessions allow private destinations, as
CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS does for the app's tests.
"""

from __future__ import annotations

from datetime import UTC, datetime

from plugin.audiences.http import RetryingSession
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
    session = RetryingSession(
        max_attempts=6, backoff_base=1.0, backoff_cap=4.0, allow_private=True
    )
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
