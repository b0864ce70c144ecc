"""Error codes, the one error shape, and handlers registered on our blueprints only."""

from __future__ import annotations

import logging
import weakref
from enum import StrEnum
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

log = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    """Stable snake_case codes: hosts program against these strings."""

    INVALID_SIGNATURE = "invalid_signature"
    STALE_REQUEST = "stale_request"
    SHOP_NOT_INSTALLED = "shop_not_installed"
    INVALID_PAYLOAD = "invalid_payload"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNKNOWN_TOPIC = "unknown_topic"
    INVALID_TOKEN = "invalid_token"
    VALIDATION_FAILED = "validation_failed"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    DEFAULT_GROUP_PROTECTED = "default_group_protected"
    POOL_EMPTY = "pool_empty"
    AUDIENCE_RUN_IN_PROGRESS = "audience_run_in_progress"
    CSRF_FAILED = "csrf_failed"
    INTERNAL_ERROR = "internal_error"
    UNAVAILABLE = "unavailable"
    TOO_MANY_RENDERS = "too_many_renders"


class ApiError(Exception):
    """An error answered in the contract's shape."""

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        status: int = 400,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = message
        self.status = status
        self.details = details or {}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(error: ApiError) -> tuple[Response, int]:
    return jsonify(error_body(error.code, error.message, error.details)), error.status


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into ``{"dotted.field": [messages]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = str(key) if key != "_schema" else ""
            path = f"{prefix}.{name}" if prefix and name else (name or prefix or "_schema")
            flat.update(flatten_messages(value, path))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat[prefix or "_schema"] = list(messages)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            flat.update(flatten_messages(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "_schema"] = [str(messages)]
    return flat


def validation_error(
    err: ValidationError, code: ErrorCode, status: int, prefix: str = ""
) -> ApiError:
    details = flatten_messages(err.messages, prefix)
    fields = ", ".join(sorted(details))
    return ApiError(code, f"Some fields are not valid: {fields}.", status, details)


def register_error_handlers(blueprint: Blueprint, validation_status: int = 422) -> None:
    """Answer every error raised under ``blueprint`` in the contract's shape."""

    @blueprint.errorhandler(ApiError)
    def _api_error(error: ApiError) -> tuple[Response, int]:
        return error_response(error)

    @blueprint.errorhandler(ValidationError)
    def _validation(error: ValidationError) -> tuple[Response, int]:
        code = (
            ErrorCode.VALIDATION_FAILED if validation_status == 422 else ErrorCode.INVALID_PAYLOAD
        )
        return error_response(validation_error(error, code, validation_status))

    @blueprint.errorhandler(HTTPException)
    def _http(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        code = {
            404: ErrorCode.NOT_FOUND,
            405: ErrorCode.METHOD_NOT_ALLOWED,
            413: ErrorCode.PAYLOAD_TOO_LARGE,
        }.get(status, (error.name or "error").lower().replace(" ", "_"))
        response, status = error_response(ApiError(code, error.description or error.name, status))
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response, status

    @blueprint.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[Response, int]:
        log.exception("Unhandled error under %s", blueprint.name)
        return error_response(
            ApiError(ErrorCode.INTERNAL_ERROR, "Something went wrong on our side.", 500)
        )


#: The endpoint name (under each blueprint) of the routes that catch what nothing else does.
UNROUTED = "unrouted"
_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def answer_unrouted(blueprint: Blueprint, *rules: str, methods: list[str] | None = None) -> None:
    """Answer an unknown path or a wrong method under ``blueprint`` in the error shape (404
    ``not_found``, 405 ``method_not_allowed`` with ``Allow``) instead of Flask's HTML page.

    Routing errors happen before any blueprint is chosen, so its error handlers never see
    them; catch-all ``rules`` (relative to the blueprint, e.g. ``"/<path:rest>"``) take
    whatever no other route of the app takes, and tell 404 from 405 by asking the other
    routes (``methods``: for a rule that shares its path with a real route, the methods
    that route does not take). The host app's own routes and errors are untouched.
    """
    for rule in rules:
        endpoint = f"{UNROUTED} {rule}"  # one per rule, all recognisable by the prefix
        blueprint.add_url_rule(
            rule, endpoint=endpoint, view_func=_unrouted, methods=methods or _EVERY_METHOD
        )


def _unrouted(**_: object) -> Response:
    allowed = _routed_methods(request.path)
    if allowed:
        raise MethodNotAllowed(
            valid_methods=sorted(allowed),
            description=f"{request.method} is not allowed here; use {', '.join(sorted(allowed))}.",
        )
    raise NotFound(f"There is no {request.path}.")


#: Per app's URL map: how many rules it had, and the map of its real routes built then.
_real_maps: weakref.WeakKeyDictionary[Map, tuple[int, Map]] = weakref.WeakKeyDictionary()


def _routed_methods(path: str) -> set[str]:
    """The methods that the app's real routes (not the catch-alls) take at ``path``."""
    return set(_real_routes(current_app.url_map).bind("localhost").allowed_methods(path))


def _real_routes(url_map: Map) -> Map:
    """A map of ``url_map``'s rules but the catch-alls: built once per app (its rules are
    all added before it serves), again only if its rules changed since."""
    rules = list(url_map.iter_rules())
    kept = _real_maps.get(url_map)
    if kept is not None and kept[0] == len(rules):
        return kept[1]
    real = Map(
        [
            Rule(rule.rule, endpoint=rule.endpoint, methods=rule.methods)
            for rule in rules
            if not rule.endpoint.rsplit(".", 1)[-1].startswith(UNROUTED)
        ],
        converters=dict(url_map.converters),
        strict_slashes=url_map.strict_slashes,
    )
    _real_maps[url_map] = (len(rules), real)
    return real
