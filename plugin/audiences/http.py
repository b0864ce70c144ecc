"""One retrying HTTP session for the vendors' APIs.

What is retried, and how long it waits, is ``plugin.outgoing.RetryPolicy`` (urllib3's
``Retry`` on the guarded transport), the one policy of every outgoing request:
- a 429, or a connect failure: the vendor did not act on the call, so sending it again is
  safe whatever the method;
- a 5xx, a read timeout or a dropped connection only when the call is idempotent (GET, PUT,
  DELETE, or a POST the caller marks ``idempotent=True`` because the vendor's semantics make a
  replay harmless, such as an upsert). A POST that creates something is sent once: the vendor
  may have done it before failing, and a replay would do it twice;
- a refusal only the reply's body tells (``is_throttled``: Meta's throttling codes come with
  a 400), by the same policy here, since urllib3 decides before the body is read.

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
from collections.abc import Callable
from typing import Any

import requests
from urllib3.exceptions import MaxRetryError

from plugin.outgoing import (
    DestinationRefused,
    GuardedSession,
    RetryPolicy,
    log_reply,
    never_sent,
    reply_summary,
    url_for_logs,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (5.0, 30.0)  # connect, read (seconds)
USER_AGENT = "customer-groups-audiences/1"


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


class RetryingSession:
    """``requests`` sessions that retry what is safe to retry (see the module docstring)."""

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
        self.max_attempts = max_attempts
        self.policy = RetryPolicy(
            max_attempts - 1,
            backoff_factor=backoff_base,
            backoff_max=backoff_cap,
            max_retry_after=max_retry_after,
        )
        self.headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self.timeout = timeout
        self.is_throttled = is_throttled
        self.allow_private = allow_private
        # One guarded session per set of replayable methods (urllib3 applies a policy per
        # transport): the idempotent methods, plus a POST a call marks idempotent.
        self._sessions: dict[frozenset[str], tuple[GuardedSession, RetryPolicy]] = {}

    def close(self) -> None:
        for session, _ in self._sessions.values():
            session.close()
        self._sessions.clear()

    def _session(self, method: str, idempotent: bool | None) -> tuple[GuardedSession, RetryPolicy]:
        replayable = RetryPolicy.IDEMPOTENT_METHODS
        if idempotent is True:
            replayable = replayable | {method}
        elif idempotent is False:
            replayable = replayable - {method}
        if replayable not in self._sessions:
            policy = self.policy.new(allowed_methods=replayable)
            session = GuardedSession(allow_private=self.allow_private, retry=policy)
            session.headers.update(self.headers)
            self._sessions[replayable] = (session, policy)
        return self._sessions[replayable]

    def request(
        self, method: str, url: str, *, idempotent: bool | None = None, **kwargs: Any
    ) -> requests.Response:
        """Send, retrying as the module docstring says; the last reply is returned as is.

        Raises ``VendorError``: with status None when no reply came back in the end, with
        the status of a 3xx (a redirect, never followed); ``DestinationNotAllowed`` when the
        guard refused the destination before anything was sent.
        """
        method = method.upper()
        session, policy = self._session(method, idempotent)
        kwargs.setdefault("timeout", self.timeout)
        kwargs["allow_redirects"] = False
        spent: tuple[Any, ...] = ()  # this call's retries so far (urllib3's and the loop's)
        while True:
            try:
                response = session.request(method, url, **kwargs)
            except DestinationRefused as exc:
                log.warning("Refused an outgoing request to %s: %s", url_for_logs(url), exc.reason)
                raise DestinationNotAllowed(exc.reason) from exc
            except requests.RequestException as exc:
                name = type(exc).__name__
                if never_sent(exc):
                    log.warning("Could not connect to %s: %s", url_for_logs(url), exc)
                    raise VendorError(f"Could not connect ({name}).") from exc
                log.warning("No reply from %s: %s", url_for_logs(url), exc)
                raise VendorError(f"No reply from the vendor ({name}).") from exc

            if 300 <= response.status_code < 400:
                log_reply(log, url, response)
                response.close()
                raise VendorError(
                    f"HTTP {response.status_code}: a redirect, which is not followed.",
                    response.status_code,
                )
            if self.is_throttled is None or not self.is_throttled(response):
                return response
            # A refusal only the body tells: the policy decides and waits here, counting the
            # retries urllib3 already made for this call.
            made = getattr(response.raw, "retries", None)
            spent += made.history if made is not None else ()
            state = policy.new(total=self.max_attempts - 1 - len(spent), history=spent)
            try:
                state = state.increment(method, url, response=response.raw)
            except MaxRetryError:
                return response
            spent = state.history
            response.close()
            state.sleep(response.raw)


def error_message(response: requests.Response) -> str:
    """What the merchant sees of a failed reply: its status and the vendor's error code,
    never its text (contract §5); the text goes to the log for operators."""
    log_reply(log, response.url or "", response)
    return reply_summary(response)
