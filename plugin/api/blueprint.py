"""The admin API blueprint, its session guard and its input limits."""

from __future__ import annotations

from flask import current_app, request

from plugin.apidoc import DocumentedBlueprint
from plugin.errors import answer_unrouted, register_error_handlers
from plugin.request_limits import check_path_and_query, limit_body
from plugin.sessions import (
    ADMIN_SESSION_HEADER,
    authenticate,
    authenticate_admin_session,
    bearer_token,
)

api_blueprint = DocumentedBlueprint("customer_groups_api", __name__, url_prefix="/api")
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


@api_blueprint.before_request
def _input_limits() -> None:
    """After the session: the body size (413 past it, before anything is read) and the
    query string (no NUL or lone surrogate in a name or value: 422 naming the parameter).
    JSON bodies are checked where they are parsed (``plugin.api.schemas.json_body``)."""
    limit_body(current_app.view_functions.get(request.endpoint or ""))
    check_path_and_query()
