"""The admin API blueprint and its session guard."""

from __future__ import annotations

from flask import Blueprint, request

from plugin.errors import answer_unrouted, register_error_handlers
from plugin.sessions import (
    ADMIN_SESSION_HEADER,
    authenticate,
    authenticate_admin_session,
    bearer_token,
)

api_blueprint = Blueprint("customer_groups_api", __name__, url_prefix="/api")
register_error_handlers(api_blueprint, validation_status=422)
answer_unrouted(api_blueprint, "", "/<path:rest>")


@api_blueprint.before_request
def _require_session() -> None:
    token = bearer_token(request.headers.get("Authorization"))
    admin_session = request.headers.get(ADMIN_SESSION_HEADER)
    if token is None and admin_session:
        # The embedded admin page's own session (a header, never a cookie, so no CSRF risk).
        authenticate_admin_session(admin_session)
    else:
        authenticate(token)
