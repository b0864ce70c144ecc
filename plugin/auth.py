"""Request signatures (contract §2, version 2) and session tokens (contract §5).

Keys are derived from the app secret, never the secret itself:

- the host key, ``HMAC-SHA256(secret, "customer-groups/v2/host")``, signs what the host
  sends (webhooks, both hooks);
- a shop's events key, ``HMAC-SHA256(secret, "customer-groups/v2/events/{shop}")``, signs
  what the extension sends to that shop's ``events_url``.

A signature covers ``"{timestamp}\\n{shop}\\n{topic}\\n{event_id}\\n{path}\\n" + body``, so
one body signed for one shop, topic, event and endpoint is worth nothing for any other,
and nothing signed with one key verifies with another. ``X-Signature`` holds 1–8 entries
separated by single spaces; only ``v2=`` entries count.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import shlex
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import jwt

from plugin.errors import ApiError, ErrorCode

HOST_KEY_LABEL = "customer-groups/v2/host"
EVENTS_KEY_LABEL = "customer-groups/v2/events/{shop}"
SIGNATURE_VERSION = "v2"
MAX_SIGNATURE_ENTRIES = 8
#: The paths of contract §2, and the topic each hook is called with.
WEBHOOKS_PATH = "/webhooks"
PRICE_PATH = "/hooks/cart/price"
REDEEM_PATH = "/hooks/checkout/redeem"
HOOK_TOPICS = {PRICE_PATH: "hooks/cart/price", REDEEM_PATH: "hooks/checkout/redeem"}

_TIMESTAMP = re.compile(r"[1-9][0-9]{0,11}")
_HEADER_FIELD = re.compile(r"[!-~]{1,255}")
_ENTRY = re.compile(r"v2=[A-Za-z0-9+/]{43}=")


def derive_key(secret: str, label: str) -> bytes:
    """The raw 32-byte ``HMAC-SHA256(key=secret, message=label)`` (both UTF-8)."""
    return hmac.new(secret.encode(), label.encode(), hashlib.sha256).digest()


@lru_cache(maxsize=8)
def host_key(secret: str) -> bytes:
    """The key every host request is signed with (kept per secret: the app has one or two,
    and every signed request needs it)."""
    return derive_key(secret, HOST_KEY_LABEL)


def events_key(secret: str, shop_domain: str) -> bytes:
    return derive_key(secret, EVENTS_KEY_LABEL.format(shop=shop_domain))


def signed_string(
    timestamp: int | str, shop: str, topic: str, event_id: str, path: str, body: bytes
) -> bytes:
    """What a version-2 signature covers: five fields, each followed by a line feed, then
    the raw body."""
    return f"{timestamp}\n{shop}\n{topic}\n{event_id}\n{path}\n".encode() + body


def sign(
    key: bytes,
    timestamp: int | str,
    shop: str,
    topic: str,
    event_id: str,
    path: str,
    body: bytes,
) -> str:
    """One ``X-Signature`` entry: ``v2=`` + base64 HMAC-SHA256 of the signed string."""
    mac = hmac.new(key, signed_string(timestamp, shop, topic, event_id, path, body), "sha256")
    return f"{SIGNATURE_VERSION}={base64.b64encode(mac.digest()).decode()}"


def signature_header(
    keys: Iterable[bytes],
    timestamp: int | str,
    shop: str,
    topic: str,
    event_id: str,
    path: str,
    body: bytes,
) -> str:
    """``X-Signature`` with one entry per key (two during a rotation of the secret)."""
    return " ".join(sign(key, timestamp, shop, topic, event_id, path, body) for key in keys)


def signed_headers(
    secret: str,
    shop_domain: str,
    body: bytes,
    *,
    path: str = WEBHOOKS_PATH,
    topic: str | None = None,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """Every header of a request the host sends (what our tests, the demo and
    ``customer-groups sign`` use): signed with the host key of ``secret``. For a hook the
    topic defaults to the hook's own; a webhook must name its topic."""
    topic = topic or HOOK_TOPICS.get(path)
    if topic is None:
        raise ValueError("A webhook needs its topic.")
    ts = int(time.time()) if timestamp is None else timestamp
    event = event_id or str(uuid.uuid4())
    return {
        "Content-Type": "application/json",
        "X-Shop-Domain": shop_domain,
        "X-Request-Timestamp": str(ts),
        "X-Topic": topic,
        "X-Event-Id": event,
        "X-Signature": signature_header(
            [host_key(secret)], ts, shop_domain, topic, event, path, body
        ),
    }


@dataclass(frozen=True)
class SignedHeaders:
    """The signed headers of a request, as they were sent (checked for form only)."""

    shop: str
    timestamp: str
    topic: str
    event_id: str
    signatures: tuple[str, ...]


def _invalid(message: str) -> ApiError:
    return ApiError(ErrorCode.INVALID_SIGNATURE, message, 401)


def parse_signed_headers(headers: Any) -> SignedHeaders:
    """The five headers of contract §2, each in its form, or 401 ``invalid_signature``."""
    values: dict[str, str] = {}
    for name in ("X-Shop-Domain", "X-Topic", "X-Event-Id"):
        value = headers.get(name)
        if value is None or not _HEADER_FIELD.fullmatch(value):
            raise _invalid(f"The {name} header is missing or not 1 to 255 characters ! to ~.")
        values[name] = value
    timestamp = headers.get("X-Request-Timestamp")
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
        raise _invalid("The X-Request-Timestamp header must be Unix seconds (1 to 12 digits).")
    raw = headers.get("X-Signature")
    entries = raw.split(" ") if raw else []
    if not entries or len(entries) > MAX_SIGNATURE_ENTRIES or any(not e for e in entries):
        raise _invalid(
            f"The X-Signature header must hold 1 to {MAX_SIGNATURE_ENTRIES} entries separated "
            "by single spaces."
        )
    return SignedHeaders(
        shop=values["X-Shop-Domain"],
        timestamp=timestamp,
        topic=values["X-Topic"],
        event_id=values["X-Event-Id"],
        signatures=tuple(entries),
    )


def verify_signature(
    keys: Sequence[bytes],
    signed: SignedHeaders,
    path: str,
    body: bytes,
    tolerance: int,
    now: float | None = None,
) -> None:
    """Raise 401 ``invalid_signature`` unless one ``v2=`` entry equals the one computed with
    one of ``keys`` (constant-time), then 401 ``stale_request`` unless the timestamp is
    within ``tolerance`` seconds of now."""
    expected = [
        sign(key, signed.timestamp, signed.shop, signed.topic, signed.event_id, path, body)
        for key in keys
    ]
    matched = False
    for entry in signed.signatures:
        if not entry.startswith(f"{SIGNATURE_VERSION}="):
            continue  # an entry of another version: ignored
        if not _ENTRY.fullmatch(entry):
            raise _invalid("An X-Signature entry v2= is not 44 characters of base64.")
        for candidate in expected:
            # No early exit: every entry is compared with every key in constant time.
            matched |= hmac.compare_digest(candidate.encode(), entry.encode())
    if not matched:
        raise _invalid("The request signature does not match.")
    current = time.time() if now is None else now
    if abs(current - int(signed.timestamp)) > tolerance:
        raise ApiError(
            ErrorCode.STALE_REQUEST,
            f"The request was signed more than {tolerance} seconds away from now.",
            401,
        )


@dataclass(frozen=True)
class Session:
    """Who is calling the admin side: a staff user of one shop."""

    shop_domain: str
    user: str
    claims: dict[str, Any]


REQUIRED_CLAIMS = ["iss", "dest", "aud", "sub", "exp", "nbf", "iat", "jti"]


def issue_session_token(
    secret: str, app_id: str, shop_domain: str, user: str = "staff", lifetime: int = 60
) -> str:
    """Make a session token as the marketplace does (used by the demo and the tests)."""
    now = int(time.time())
    claims = {
        "iss": f"https://{shop_domain}/admin",
        "dest": f"https://{shop_domain}",
        "aud": app_id,
        "sub": user,
        "exp": now + lifetime,
        "nbf": now,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_session_token(
    token: str | None,
    secret: str | Sequence[str],
    app_id: str,
    leeway: int,
    max_age: int,
) -> Session:
    """Check a session token and name the shop it is for, or raise 401 ``invalid_token``.

    ``secret`` may be several secrets (the current one first, then the previous one during a
    rotation): a token signed with any of them is accepted."""
    if not token:
        raise ApiError(ErrorCode.INVALID_TOKEN, "A session token is required.", 401)
    secrets = [secret] if isinstance(secret, str) else [s for s in secret if s]
    claims: dict[str, Any] | None = None
    for index, candidate in enumerate(secrets):
        try:
            claims = jwt.decode(
                token,
                candidate,
                algorithms=["HS256"],  # pinned: never trust the token's own alg header
                audience=app_id,
                leeway=leeway,
                options={"require": REQUIRED_CLAIMS},
            )
            break
        except jwt.InvalidSignatureError:
            if index + 1 < len(secrets):
                continue  # perhaps signed with the previous secret
            raise ApiError(
                ErrorCode.INVALID_TOKEN,
                "The session token is not valid: Signature verification failed.",
                401,
            ) from None
        except jwt.PyJWTError as exc:
            raise ApiError(
                ErrorCode.INVALID_TOKEN, f"The session token is not valid: {exc}.", 401
            ) from None
    if claims is None:
        raise ApiError(ErrorCode.INVALID_TOKEN, "No app secret is configured.", 401)
    if int(claims["exp"]) - int(claims["iat"]) > max_age:
        raise ApiError(
            ErrorCode.INVALID_TOKEN, f"The session token lives longer than {max_age} s.", 401
        )
    # Exactly as contract §5 writes them: dest https://{shop}, iss https://{shop}/admin.
    dest = urlsplit(str(claims["dest"]))
    shop = (dest.hostname or "").lower()
    well_formed = (
        dest.scheme == "https"
        and shop
        and dest.netloc.lower() == shop
        and dest.path in ("", "/")
        and not dest.query
        and str(claims["iss"]).rstrip("/").lower() == f"https://{shop}/admin"
    )
    if not well_formed:
        raise ApiError(
            ErrorCode.INVALID_TOKEN,
            "The session token's dest must be https://{shop} and its iss https://{shop}/admin.",
            401,
        )
    return Session(shop_domain=shop, user=str(claims["sub"]), claims=claims)


def curl_command(url: str, headers: dict[str, str], body: bytes, body_file: str | None) -> str:
    """One pasteable curl line that sends exactly ``body`` with ``headers``."""
    parts = ["curl", "-sS", "-X", "POST", shlex.quote(url)]
    for name, value in headers.items():
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    if body_file is not None:
        parts += ["--data-binary", shlex.quote("@" + body_file)]
    else:
        parts += ["--data-binary", shlex.quote(body.decode())]
    return " ".join(parts)
