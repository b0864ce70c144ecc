"""Session-token guard for ``/api`` and ``/admin``: who is calling, for which shop."""

from __future__ import annotations

import secrets

from flask import current_app, g
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from plugin.auth import Session, verify_session_token
from plugin.config import app_secrets
from plugin.db import enter_shop
from plugin.errors import ApiError, ErrorCode
from plugin.shops.models import Shop
from plugin.shops.operations import find_shop


def authenticate(token: str | None) -> tuple[Session, Shop]:
    """Verify the token and load its shop; store both on ``g`` for the request."""
    config = current_app.config
    if not config["CUSTOMER_GROUPS_APP_SECRET"]:
        raise ApiError(ErrorCode.INVALID_TOKEN, "No app secret is configured.", 401)
    session = verify_session_token(
        token,
        app_secrets(config),
        config["CUSTOMER_GROUPS_APP_ID"],
        config["CUSTOMER_GROUPS_TOKEN_LEEWAY"],
        config["CUSTOMER_GROUPS_TOKEN_MAX_AGE"],
    )
    return session, _load_shop(session)


def _load_shop(session: Session) -> Shop:
    shop = find_shop(session.shop_domain)
    if shop is None or not shop.installed:
        raise ApiError(
            ErrorCode.INVALID_TOKEN,
            f"The shop {session.shop_domain} has not installed the app.",
            401,
        )
    g.customer_groups_session = session
    g.customer_groups_shop = shop
    enter_shop(shop.id)
    return shop


# The embedded admin's own session (admin_ui): after the host's session token opened the
# page, a signed, timed value carried in links, forms and the X-Admin-Session header (never
# a cookie: browsers block third-party cookies in iframes). ``sid`` is random per opening;
# the admin UI binds its CSRF tokens to it.
ADMIN_SESSION_HEADER = "X-Admin-Session"
ADMIN_SESSION_SALT = "customer-groups.admin-session"


def _admin_serializer() -> URLSafeTimedSerializer:
    secret = current_app.config["CUSTOMER_GROUPS_APP_SECRET"]
    if not secret:
        raise ApiError(ErrorCode.INVALID_TOKEN, "No app secret is configured.", 401)
    # itsdangerous signs with the last key and accepts every one: the previous secret's
    # admin sessions stay valid during a rotation.
    keys = list(reversed(app_secrets(current_app.config)))
    return URLSafeTimedSerializer(keys, salt=ADMIN_SESSION_SALT)


def issue_admin_session(session: Session) -> str:
    """A signed admin session for ``session`` (a new ``sid`` unless it already has one)."""
    sid = session.claims.get("sid") or secrets.token_urlsafe(16)
    payload = {"shop": session.shop_domain, "user": session.user, "sid": sid}
    return str(_admin_serializer().dumps(payload))


def authenticate_admin_session(value: str | None) -> tuple[Session, Shop]:
    """Verify an admin session and load its shop, or raise 401 ``invalid_token``."""
    if not value:
        raise ApiError(ErrorCode.INVALID_TOKEN, "An admin session is required.", 401)
    # Seconds without a page view; each page hands out a fresh one.
    max_age = current_app.config["CUSTOMER_GROUPS_ADMIN_SESSION_MAX_AGE"]
    try:
        payload = _admin_serializer().loads(value, max_age=max_age)
    except SignatureExpired:
        raise ApiError(
            ErrorCode.INVALID_TOKEN,
            "The admin session has expired: open Customer Groups again from the shop admin.",
            401,
        ) from None
    except BadSignature:
        raise ApiError(ErrorCode.INVALID_TOKEN, "The admin session is not valid.", 401) from None
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(key), str) for key in ("shop", "user", "sid")
    ):
        raise ApiError(ErrorCode.INVALID_TOKEN, "The admin session is not valid.", 401)
    session = Session(
        shop_domain=payload["shop"], user=payload["user"], claims={"sid": payload["sid"]}
    )
    return session, _load_shop(session)


def current_shop() -> Shop:
    shop: Shop = g.customer_groups_shop
    return shop


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
