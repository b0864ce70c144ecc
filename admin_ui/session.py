"""The admin page's session inside the host's iframe, CSRF tokens, links and redirects.

The host opens ``/admin?shop=…&id_token=…`` with its short session token (contract §5).
That request is checked once (token valid, ``dest`` is the shop asked for) and becomes a
signed admin session (``plugin.sessions.issue_admin_session``) that every page carries
in its links (``?s=…``), its forms (a hidden ``s`` field) and its ``fetch`` calls (the
``X-Admin-Session`` header). No cookie is involved, so blocked third-party cookies do
not matter. Each response hands out a freshly timed value, so the session lasts as long
as the merchant keeps working.

CSRF: every unsafe request (POST …) must carry ``csrf_token`` (form field or
``X-CSRF-Token`` header) equal to an HMAC of the session's random ``sid``: a token from
another session or none at all is refused with 400 before the view runs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from flask import current_app, g, redirect, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

from plugin.auth import Session
from plugin.errors import ApiError, ErrorCode
from plugin.sessions import (
    ADMIN_SESSION_HEADER,
    authenticate,
    authenticate_admin_session,
    issue_admin_session,
)
from plugin.shops.models import Shop

SESSION_PARAM = "s"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
FLASH_PARAM = "flash"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfError(ApiError):
    def __init__(self) -> None:
        super().__init__(
            ErrorCode.CSRF_FAILED,
            "This form was not sent from your admin page (its security token is missing or "
            "out of date), so nothing was changed. Reload the page and try again.",
            400,
        )


def open_session() -> None:
    """Authenticate the request (``before_request`` of the admin blueprint)."""
    id_token = request.args.get("id_token")
    if id_token is not None:
        asked = (request.args.get("shop") or "").strip().lower()
        token_session, shop = authenticate(id_token)
        if token_session.shop_domain != asked:
            raise ApiError(ErrorCode.INVALID_TOKEN, "The session token is for another shop.", 401)
        # A new admin session: its random sid binds the CSRF tokens of this opening.
        session = Session(
            token_session.shop_domain, token_session.user, {"sid": secrets.token_urlsafe(16)}
        )
    else:
        value = (
            request.headers.get(ADMIN_SESSION_HEADER)
            or request.form.get(SESSION_PARAM)
            or request.args.get(SESSION_PARAM)
        )
        session, shop = authenticate_admin_session(value)
        asked = request.args.get("shop")
        if asked is not None and asked.strip().lower() != session.shop_domain:
            raise ApiError(ErrorCode.INVALID_TOKEN, "The admin session is for another shop.", 401)
    g.admin_session = issue_admin_session(session)
    g.admin_sid = session.claims["sid"]
    g.admin_shop = shop
    if request.method not in SAFE_METHODS:
        check_csrf()


def current_admin_shop() -> Shop:
    shop: Shop = g.admin_shop
    return shop


def csrf_token() -> str:
    """The CSRF token of this admin session (the same on every page of the session)."""
    secret = current_app.config["CUSTOMER_GROUPS_APP_SECRET"].encode()
    return hmac.new(secret, b"csrf:" + g.admin_sid.encode(), hashlib.sha256).hexdigest()


def check_csrf() -> None:
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not hmac.compare_digest(sent.encode(), csrf_token().encode()):
        raise CsrfError()


def admin_url(endpoint: str, **values: Any) -> str:
    """``url_for`` that carries the admin session; use it for every link inside the admin."""
    if endpoint.startswith("."):
        endpoint = "customer_groups_admin" + endpoint
    return url_for(endpoint, **{SESSION_PARAM: g.admin_session}, **values)


def _flash_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["CUSTOMER_GROUPS_APP_SECRET"], salt="admin-flash")


def redirect_to(
    endpoint: str, message: str | None = None, level: str = "success", **values: Any
) -> Response:
    """303 to another admin page, with a message shown there once (no cookie needed)."""
    if message:
        values[FLASH_PARAM] = _flash_serializer().dumps([level, message])
    return redirect(admin_url(endpoint, **values), code=303)


def read_flash() -> dict[str, str] | None:
    """The message a redirect carried (signed, so no one can put words in our mouth)."""
    value = request.args.get(FLASH_PARAM)
    if not value:
        return None
    try:
        level, message = _flash_serializer().loads(value)
    except (BadSignature, ValueError, TypeError):
        return None
    return {"level": str(level), "message": str(message)}
