"""Session-token guard for ``/api`` and ``/admin``: who is calling, for which shop."""

from __future__ import annotations

from flask import current_app, g

from plugin.auth import Session, verify_session_token
from plugin.errors import ApiError, ErrorCode
from plugin.shops.models import Shop
from plugin.shops.operations import find_shop


def authenticate(token: str | None) -> tuple[Session, Shop]:
    """Verify the token and load its shop; store both on ``g`` for the request."""
    config = current_app.config
    secret = config["CUSTOMER_GROUPS_APP_SECRET"]
    if not secret:
        raise ApiError(ErrorCode.INVALID_TOKEN, "No app secret is configured.", 401)
    session = verify_session_token(
        token,
        secret,
        config["CUSTOMER_GROUPS_APP_ID"],
        config["CUSTOMER_GROUPS_TOKEN_LEEWAY"],
        config["CUSTOMER_GROUPS_TOKEN_MAX_AGE"],
    )
    shop = find_shop(session.shop_domain)
    if shop is None or not shop.installed:
        raise ApiError(
            ErrorCode.INVALID_TOKEN,
            f"The shop {session.shop_domain} has not installed the app.",
            401,
        )
    g.customer_groups_session = session
    g.customer_groups_shop = shop
    return session, shop


def current_shop() -> Shop:
    shop: Shop = g.customer_groups_shop
    return shop


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
