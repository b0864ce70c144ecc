"""One retrying HTTP session for the vendors' APIs.

What is retried, and why:
- a 429, or a reply the vendor marks as throttling (Meta's error codes): the vendor refused
  the call without doing it, so sending it again is safe whatever the method;
- a connect timeout: the request never left;
- a 5xx, a read timeout or a dropped connection only when the call is idempotent (GET, PUT,
  DELETE, or a POST the caller marks ``idempotent=True`` because the vendor's semantics make a
  replay harmless, such as an upsert). A POST that creates something is sent once: the vendor
  may have done it before failing, and a replay would do it twice.

Waits honour ``Retry-After`` (seconds or an HTTP date); otherwise exponential backoff with a cap
and jitter. Every call has a timeout.

Where calls may go (contract §5): through ``plugin.outgoing.GuardedSession``, so every
connection is checked when it is opened; a destination it refuses fails the whole run at once
(``DestinationNotAllowed``). Redirects are never followed: a 3xx is a failed call. What the
merchant sees of a failed call is its status and the vendor's error code (``error_message``),
never the reply's text, which goes to the log for operators.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from plugin.outgoing import (
    DestinationRefused,
    GuardedSession,
    log_reply,
    reply_summary,
    url_for_logs,
)

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
DEFAULT_TIMEOUT = (5.0, 30.0)  # connect, read (seconds)
USER_AGENT = "customer-groups-audiences/1"


def sleep(seconds: float) -> None:
    """Wait between attempts (a module function so tests can replace it)."""
    time.sleep(seconds)


class VendorError(Exception):
    """A vendor call that did not succeed: the reply's status (None: no reply) and message."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


class FatalVendorError(VendorError):
    """No other call of the run can succeed: the run fails at once, saying ``summary``."""

    summary = "The {kind} destination failed: {message}"

    def describe(self, kind: str) -> str:
        return self.summary.format(kind=kind, message=self.message)


class CredentialsRefused(FatalVendorError):
    """The vendor refused our credentials (401/403)."""

    summary = "The {kind} credentials were refused: {message}"


class DestinationNotAllowed(FatalVendorError):
    """The destination is not one outgoing requests may go to (contract §5)."""

    summary = "Nothing was sent to {kind}: {message}"


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: a number of seconds or an HTTP date; None if absent."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


class RetryingSession:
    """A ``requests`` session that retries what is safe to retry (see the module docstring)."""

    def __init__(
        self,
        headers: dict[str, str] | None = None,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_retry_after: float = 300.0,
        is_throttled: Callable[[requests.Response], bool] | None = None,
        allow_private: bool = False,
    ) -> None:
        self.session = GuardedSession(allow_private=allow_private)
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers.update(headers or {})
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self.is_throttled = is_throttled or (lambda response: False)

    def close(self) -> None:
        self.session.close()

    def backoff(self, attempt: int) -> float:
        """Exponential, capped, with jitter so that many workers do not retry in step."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def request(
        self, method: str, url: str, *, idempotent: bool | None = None, **kwargs: Any
    ) -> requests.Response:
        """Send, retrying as the module docstring says; the last reply is returned as is.

        Raises ``VendorError``: with status None when no reply came back in the end, with
        the status of a 3xx (a redirect, never followed); ``DestinationNotAllowed`` when the
        guard refused the destination before anything was sent.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        kwargs.setdefault("timeout", self.timeout)
        kwargs["allow_redirects"] = False
        attempt = 0
        while True:
            attempt += 1
            last_attempt = attempt >= self.max_attempts
            try:
                response = self.session.request(method, url, **kwargs)
            except DestinationRefused as exc:
                log.warning("Refused an outgoing request to %s: %s", url_for_logs(url), exc.reason)
                raise DestinationNotAllowed(exc.reason) from exc
            except requests.ConnectTimeout as exc:
                if last_attempt:
                    log.warning("Could not connect to %s: %s", url_for_logs(url), exc)
                    raise VendorError(f"Could not connect ({type(exc).__name__}).") from exc
                sleep(self.backoff(attempt))
                continue
            except requests.RequestException as exc:
                # Read timeout or dropped connection: the vendor may have acted on the call.
                if not idempotent or last_attempt:
                    log.warning("No reply from %s: %s", url_for_logs(url), exc)
                    raise VendorError(f"No reply from the vendor ({type(exc).__name__}).") from exc
                sleep(self.backoff(attempt))
                continue

            if 300 <= response.status_code < 400:
                log_reply(log, url, response)
                response.close()
                raise VendorError(
                    f"HTTP {response.status_code}: a redirect, which is not followed.",
                    response.status_code,
                )
            refused = response.status_code == 429 or self.is_throttled(response)
            transient = response.status_code >= 500 and idempotent
            if last_attempt or not (refused or transient):
                return response
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            if wait is None:
                wait = self.backoff(attempt)
            elif wait > self.max_retry_after:
                return response  # the vendor asks for longer than a run should wait
            response.close()
            sleep(wait)


def error_message(response: requests.Response) -> str:
    """What the merchant sees of a failed reply: its status and the vendor's error code,
    never its text (contract §5); the text goes to the log for operators."""
    log_reply(log, response.url or "", response)
    return reply_summary(response)
