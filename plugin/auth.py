"""Request signatures (contract §2) and session tokens (contract §5)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt

from plugin.errors import ApiError, ErrorCode


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """Base64 HMAC-SHA256 over ``"{timestamp}." + body``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def signed_headers(
    secret: str,
    shop_domain: str,
    body: bytes,
    topic: str | None = None,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """Headers of a signed request, as a host (or our outbox) sends them."""
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "X-Shop-Domain": shop_domain,
        "X-Request-Timestamp": str(ts),
        "X-Signature": sign(secret, ts, body),
    }
    if topic is not None:
        headers["X-Topic"] = topic
        headers["X-Event-Id"] = event_id or str(uuid.uuid4())
    return headers


def verify_signature(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    tolerance: int,
    now: float | None = None,
) -> None:
    """Raise 401 unless the signature matches, then 401 unless the timestamp is fresh."""
    if not signature or timestamp is None:
        raise ApiError(ErrorCode.INVALID_SIGNATURE, "The request is not signed.", 401)
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise ApiError(ErrorCode.INVALID_SIGNATURE, "The request signature does not match.", 401)
    try:
        ts = int(timestamp)
    except ValueError:
        raise ApiError(
            ErrorCode.STALE_REQUEST, "The request timestamp is not a Unix time.", 401
        ) from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
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
    token: str | None, secret: str, app_id: str, leeway: int, max_age: int
) -> Session:
    """Check a session token and name the shop it is for, or raise 401 ``invalid_token``."""
    if not token:
        raise ApiError(ErrorCode.INVALID_TOKEN, "A session token is required.", 401)
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],  # pinned: never trust the token's own alg header
            audience=app_id,
            leeway=leeway,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.PyJWTError as exc:
        raise ApiError(
            ErrorCode.INVALID_TOKEN, f"The session token is not valid: {exc}.", 401
        ) from None
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
