"""Outgoing requests (contract v2 §5): one guarded transport for audience runs and events.

Where our requests may go:
- ``https`` only; plain ``http`` and private hosts too when
  ``CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS`` is on (tests, a proxy inside the operator's own
  network);
- to a host whose every address is global (``ipaddress``' ``is_global``, multicast excluded).
  An IPv6 address that stands for an IPv4 one (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-translated
  and IPv4-compatible forms, NAT64 ``64:ff9b::/96`` and ``64:ff9b:1::/48``, 6to4 ``2002::/16``)
  is judged by the IPv4 address it carries, whatever Python thinks of its IPv6 prefix.

The check that counts is made when each connection is opened (``GuardedSession``): the name
is resolved once, every address it resolves to is judged (one private address refuses the
name), and the socket is connected to one of the addresses that were checked, never to the
result of a second lookup, so a name whose answer changes in between (DNS rebinding) cannot
slip through. TLS still sends the host name by SNI and verifies the certificate for it, and
the ``Host`` header stays the name. Redirects are never followed, and the environment's
proxies are not used (a proxy would be the one connecting, unchecked).

Retries (``RetryPolicy``): urllib3's ``Retry``, mounted on this transport, so a retried
request is checked again like the first; ``retry_after_seconds`` is the one reader of
``Retry-After``, for these retries and for the outbox's stored per-event backoff alike.

``url_problem`` makes the same checks when a URL is saved, without a DNS lookup (the answer
could change before the request anyway): the scheme, a host, literal addresses in every
spelling the resolver accepts (``127.1``, ``0x7f.0.0.1``, ``2130706433``), and names that are
local by definition (``localhost.``, ``LOCALHOST``, ``*.internal``).
"""

from __future__ import annotations

import functools
import logging
import random
import re
import socket
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ResponseError,
)
from urllib3.util import Retry, parse_url
from urllib3.util.connection import allowed_gai_family
from urllib3.util.timeout import _DEFAULT_TIMEOUT

ALLOW_PRIVATE_SETTING = "CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS"

# IPv6 ranges whose addresses carry an IPv4 address in their last 32 bits.
_LAST_32_BITS = (
    IPv6Network("::ffff:0:0/96"),  # IPv4-mapped
    IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT)
    IPv6Network("64:ff9b::/96"),  # NAT64, well-known prefix
    IPv6Network("::/96"),  # IPv4-compatible (deprecated; also holds :: and ::1)
)
# NAT64 local-use prefix (RFC 8215): the operator picks the prefix length inside it, so the
# IPv4 address may sit at any place RFC 6052 allows for a prefix of 48, 56, 64 or 96 bits.
_NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")
_SIX_TO_FOUR = IPv6Network("2002::/16")
# Names that are local by definition, whatever a resolver answers.
_LOCAL_NAMES = ("localhost",)
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".localdomain")


class DestinationRefused(Exception):
    """An outgoing request that may not go where it was sent (contract §5).

    ``reason`` is safe to show the merchant: it names no address a name resolved to.
    Not an ``OSError``, so urllib3 and requests let it through unchanged.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def private_destinations_allowed(config: Mapping[str, Any]) -> bool:
    """Whether plain http and private hosts are allowed: the setting as the app reads it
    (``CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS``, a switch from the environment)."""
    return bool(config.get(ALLOW_PRIVATE_SETTING))


# --- Judging addresses -----------------------------------------------------------------------


def _bits(value: int, start: int, length: int) -> int:
    """``length`` bits of a 128-bit ``value`` from bit ``start`` (0 is the leftmost)."""
    return (value >> (128 - start - length)) & ((1 << length) - 1)


def carried_ipv4(address: IPv6Address) -> list[IPv4Address] | None:
    """The IPv4 address(es) an IPv6 address stands for, or None for a plain IPv6 address."""
    value = int(address)
    for network in _LAST_32_BITS:
        if address in network:
            return [IPv4Address(value & 0xFFFFFFFF)]
    if address in _SIX_TO_FOUR:
        return [IPv4Address(_bits(value, 16, 32))]
    if address in _NAT64_LOCAL:
        # RFC 6052 §2.2: bits 64-71 are never used; the IPv4 address is split around them.
        return [
            IPv4Address(_bits(value, 48, 16) << 16 | _bits(value, 72, 16)),  # /48
            IPv4Address(_bits(value, 56, 8) << 24 | _bits(value, 72, 24)),  # /56
            IPv4Address(_bits(value, 72, 32)),  # /64
            IPv4Address(value & 0xFFFFFFFF),  # /96
        ]
    return None


def is_public(address: IPv4Address | IPv6Address) -> bool:
    """May a request go to this address? Global and not multicast; an IPv6 address that carries
    an IPv4 one is judged by what it carries (every candidate, for the local-use NAT64 prefix)."""
    if isinstance(address, IPv6Address):
        carried = carried_ipv4(address)
        if carried is not None:
            return all(is_public(v4) for v4 in carried)
    return address.is_global and not address.is_multicast


def literal_address(host: str) -> IPv4Address | IPv6Address | None:
    """The address a host written as an IP literal stands for, in any spelling the resolver
    accepts (``127.1``, ``0x7f000001``, ``2130706433``); None for a name."""
    text = host.strip("[]")
    try:
        return ip_address(text)
    except ValueError:
        pass
    try:
        return IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError, UnicodeError):
        return None


def is_local_name(host: str) -> bool:
    """A name that is local by definition (``localhost``, ``LOCALHOST.``, ``x.internal``)."""
    name = host.strip().rstrip(".").lower()
    return name in _LOCAL_NAMES or name.endswith(_LOCAL_SUFFIXES)


def host_problem(host: str, *, allow_private: bool) -> str | None:
    """Why requests may not go to ``host`` as written (a name or a literal), or None."""
    if not host:
        return "Must name a host."
    if allow_private:
        return None
    if is_local_name(host):
        return "Must be a public host, not a local name."
    address = literal_address(host)
    if address is not None and not is_public(address):
        return "Must be a public host, not a private or local address."
    return None


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """Why outgoing requests could not go to ``url`` (checked when it is saved), or None.

    The URL is read the way ``requests`` reads it (urllib3's parser), so what is judged here
    is the host a request would go to.
    """
    try:
        parts = parse_url(url)
    except ValueError:
        return "Not a valid URL."
    scheme = (parts.scheme or "").lower()
    if scheme != "https" and not (allow_private and scheme == "http"):
        return "Must be an https URL."
    return host_problem(parts.host or "", allow_private=allow_private)


def checked_addresses(host: str, port: int | None, *, allow_private: bool) -> list[Any]:
    """Resolve ``host`` once and judge every address: the ``getaddrinfo`` entries to connect
    to, or ``DestinationRefused`` when any address is not public."""
    name = host.strip("[]")
    if not allow_private and host_problem(name, allow_private=False):
        # Local by name, or a literal address already known not to be public.
        raise DestinationRefused(f"{name} is not a public host.")
    found = socket.getaddrinfo(name, port, allowed_gai_family(), socket.SOCK_STREAM)
    if not found:
        raise socket.gaierror(socket.EAI_NONAME, "No address found")
    if not allow_private:
        for *_, sockaddr in found:
            try:
                address = ip_address(sockaddr[0])
            except ValueError:
                address = None
            if address is None or not is_public(address):
                raise DestinationRefused(f"{name} does not resolve to public addresses only.")
    return found


def connect_checked(
    found: list[Any],
    timeout: Any,
    source_address: tuple[str, int] | None,
    socket_options: list[tuple[int, int, int | bytes]] | None,
) -> socket.socket:
    """Connect to the first of these checked addresses that answers (no lookup here: each
    address is already numeric)."""
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in found:
        sock = None
        try:
            sock = socket.socket(family, kind, proto)
            for option in socket_options or ():
                sock.setsockopt(*option)
            if timeout is not _DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            if sock is not None:
                sock.close()
    assert error is not None
    raise error


# --- The transport ---------------------------------------------------------------------------


class _CheckedOpen:
    """Opens the socket of an urllib3 connection to an address ``checked_addresses`` judged."""

    allow_private = False  # set per policy by ``_pool_classes``

    def _new_conn(self: Any) -> socket.socket:
        try:
            found = checked_addresses(self._dns_host, self.port, allow_private=self.allow_private)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        try:
            sock = connect_checked(found, self.timeout, self.source_address, self.socket_options)
        except TimeoutError as exc:
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            ) from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock


class _CheckedConnection(_CheckedOpen, HTTPConnection):
    """Plain http: only used when private destinations are allowed (``GuardedAdapter``
    refuses http otherwise)."""


class _CheckedHTTPSConnection(_CheckedOpen, HTTPSConnection):
    """https: the socket to the checked address, then TLS for the host name (SNI and
    certificate verification use ``self.host``, the name, not the address)."""


@functools.cache
def _pool_classes(allow_private: bool) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pool classes whose connections apply one policy. The policy rides on the
    connection class because urllib3's pool keys take no extra arguments."""
    policy = {"allow_private": allow_private}
    http = type("CheckedConnection", (_CheckedConnection,), policy)
    https = type("CheckedHTTPSConnection", (_CheckedHTTPSConnection,), policy)
    return {
        "http": type("CheckedPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
        "https": type("CheckedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
    }


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections are opened by ``checked_addresses``."""

    def __init__(self, *, allow_private: bool, **kwargs: Any) -> None:
        self.allow_private = allow_private  # before super(): it builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.allow_private)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise DestinationRefused("Outgoing requests do not go through proxies.")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        scheme = urlsplit(request.url or "").scheme.lower()
        if scheme != "https" and not (self.allow_private and scheme == "http"):
            raise DestinationRefused("Outgoing requests go to https URLs only.")
        return super().send(request, *args, **kwargs)


class GuardedSession(requests.Session):
    """A ``requests.Session`` for every outgoing request: guarded connections, no redirects
    followed (a 3xx comes back as the answer), no proxies or ``.netrc`` from the environment.

    ``retry``: the ``RetryPolicy`` its transport applies; None sends each request once (the
    outbox, whose retries are stored per event)."""

    def __init__(self, *, allow_private: bool, retry: RetryPolicy | None = None) -> None:
        super().__init__()
        self.trust_env = False
        once = Retry(0, read=False)  # requests' own default: one attempt
        adapter = GuardedAdapter(allow_private=allow_private, max_retries=retry or once)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None  # never follow, whatever ``allow_redirects`` a caller passes


# --- Retries ---------------------------------------------------------------------------------

# ``Retry-After`` as RFC 9110 writes it: a number of seconds (a fraction is tolerated) or a date.
_DELAY_SECONDS = re.compile(r"\s*(\d+(?:\.\d+)?)\s*")


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds to wait from ``now``: a number of seconds or an HTTP date
    (one in the past is 0); None when absent or unreadable. Every retry reads it here: the
    in-process policy (``RetryPolicy``) and the outbox's stored backoff alike."""
    if not value:
        return None
    seconds = _DELAY_SECONDS.fullmatch(value)
    if seconds:
        return float(seconds.group(1))
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # "-0000": UTC, origin unknown
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def sleep(seconds: float) -> None:
    """Wait between two attempts (a module function, so that tests can replace it)."""
    time.sleep(seconds)


class RetryPolicy(Retry):
    """The one retry policy of outgoing requests: urllib3's ``Retry``, mounted on the guarded
    transport (``GuardedSession(retry=...)``), so every attempt is checked like the first.

    - A connect failure (a timeout, a refused connection, an unknown name) is retried whatever
      the method: the request never left. A refused destination (``DestinationRefused``) is
      not a connect failure and is never retried.
    - A 429 is retried whatever the method: the other end refused the call without doing it.
    - A 5xx, a read timeout or a dropped connection only for ``allowed_methods`` (idempotent
      calls, by default GET, HEAD, OPTIONS, PUT, DELETE): the other end may have acted on the
      call, and a replay would act twice. Other failures (TLS) are not retried.
    - A redirect is neither followed nor retried: the 3xx is the answer (``redirect=False``).
    - The wait is the answer's ``Retry-After`` (read by ``retry_after_seconds``); an answer
      that asks for more than ``max_retry_after`` seconds is returned at once rather than
      waited for. Otherwise exponential backoff from ``backoff_factor`` seconds, capped at
      ``backoff_max``, with equal jitter (half fixed, half random) so that workers that
      failed together do not retry in step.
    - When the retries run out, the last answer is returned as it is (``raise_on_status``
      off); a connection that still fails raises.

    ``total`` is the number of retries: attempts − 1.
    """

    IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
    #: Refused without being done: safe to send again whatever the method.
    RETRY_AFTER_STATUS_CODES = frozenset({429})
    SERVER_ERRORS = frozenset(range(500, 600))

    def __init__(self, total: int = 0, *, max_retry_after: float = 300.0, **kwargs: Any) -> None:
        kwargs.setdefault("allowed_methods", self.IDEMPOTENT_METHODS)
        kwargs.setdefault("status_forcelist", self.SERVER_ERRORS)
        kwargs.setdefault("other", 0)
        kwargs.setdefault("raise_on_status", False)
        kwargs.setdefault("respect_retry_after_header", True)
        kwargs["redirect"] = False  # and so raise_on_redirect=False: a 3xx comes back
        super().__init__(total, **kwargs)
        self.max_retry_after = max_retry_after

    def new(self, **kw: Any) -> RetryPolicy:
        kw.setdefault("max_retry_after", self.max_retry_after)
        return super().new(**kw)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code in self.RETRY_AFTER_STATUS_CODES:
            return True
        return super().is_retry(method, status_code, has_retry_after)

    def retry_after(self, response: Any) -> float | None:
        """The wait an answer asks for, if this policy honours it."""
        if response is None or not self.respect_retry_after_header:
            return None
        return retry_after_seconds(response.headers.get("Retry-After"))

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> RetryPolicy:
        wait = self.retry_after(response)
        if wait is not None and wait > self.max_retry_after:
            # Longer than a caller should wait: the answer is returned as it is.
            raise MaxRetryError(
                _pool, url or "", ResponseError(f"Retry-After asks for {wait:.0f} s")
            )
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def get_backoff_time(self) -> float:
        retries = len(self.history)
        if retries == 0:
            return 0.0
        ceiling = float(min(self.backoff_max, self.backoff_factor * 2 ** min(retries - 1, 60)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def sleep(self, response: Any = None) -> None:
        wait = self.retry_after(response)
        sleep(self.get_backoff_time() if wait is None else wait)


def never_sent(exc: requests.RequestException) -> bool:
    """Whether a failed request surely never reached the other end (no connection was made,
    even after the policy's retries)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


# --- What is shown of a reply ----------------------------------------------------------------

# What an error code looks like; anything else in a code's place is dropped, not shown.
_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,40}")


def reply_error_code(response: requests.Response) -> str | None:
    """The error code in a reply, when it has one that looks like a code (Meta's
    ``error.code``, JSON:API's ``errors[0].code``, a top-level ``code``); None otherwise."""
    try:
        body = response.json()
    except ValueError:
        return None
    candidates: list[Any] = []
    if isinstance(body, dict):
        error, errors = body.get("error"), body.get("errors")
        if isinstance(error, dict):
            candidates.append(error.get("code"))
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            candidates.append(errors[0].get("code"))
        candidates.append(body.get("code"))
    for code in candidates:
        if isinstance(code, bool) or not isinstance(code, int | str):
            continue
        if _CODE.fullmatch(str(code)):
            return str(code)
    return None


def reply_summary(response: requests.Response) -> str:
    """All the merchant is shown of a failed reply (contract §5): its status and error code,
    never its text, which could be anything the other end chose to say."""
    code = reply_error_code(response)
    return f"HTTP {response.status_code}" + (f" (error code {code})" if code else "")


def url_for_logs(url: str) -> str:
    """A URL without its query string (Klaviyo filters carry customers' emails)."""
    return url.split("?", 1)[0]


def log_reply(logger: logging.Logger, url: str, response: requests.Response) -> None:
    """Keep the start of a failed reply's text for operators."""
    text = (response.text or "")[:500].replace("\n", " ")
    logger.warning("HTTP %s from %s: %s", response.status_code, url_for_logs(url), text)
