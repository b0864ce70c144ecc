"""The admin API blueprint and its session guard."""

from __future__ import annotations

from flask import Blueprint, request

from plugin.errors import register_error_handlers
from plugin.sessions import authenticate, bearer_token

api_blueprint = Blueprint("customer_groups_api", __name__, url_prefix="/api")
register_error_handlers(api_blueprint, validation_status=422)


@api_blueprint.before_request
def _require_session() -> None:
    authenticate(bearer_token(request.headers.get("Authorization")))
