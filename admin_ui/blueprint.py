"""The admin blueprint: session guard, security headers, HTML errors, navigation, form helpers."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from flask import current_app, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.security import safe_join
from werkzeug.wrappers import Response

from admin_ui.session import (
    CSRF_FIELD,
    SESSION_PARAM,
    admin_url,
    csrf_token,
    open_session,
    read_flash,
)
from plugin.config import admin_origins
from plugin.db import BoundaryBlueprint, db
from plugin.errors import ApiError, ErrorCode, error_body, flatten_messages
from plugin.money import exponent
from plugin.money import format_money as money_for_people
from plugin.request_limits import check_form, check_path_and_query, limit_body

log = logging.getLogger(__name__)
T = TypeVar("T")

admin_blueprint = BoundaryBlueprint(
    "customer_groups_admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
)
STATIC_ENDPOINT = "customer_groups_admin.static"
#: The query parameter that carries a static file's version in the pages' links to it.
ASSET_VERSION_PARAM = "v"
#: How long a browser keeps a static file asked for at its current version: a year, since
#: its URL changes whenever the file does.
ASSET_MAX_AGE = 365 * 24 * 3600
_asset_versions: dict[tuple[str, int, int], str] = {}


def asset_version(filename: str) -> str | None:
    """A digest of the admin's static file ``filename`` (None when there is no such file):
    the pages link to ``admin.css?v=<digest>``, so a browser keeps each file until it
    changes instead of asking again on every page of the frame. Read once per version of
    the file (its path, size and modification time)."""
    folder = admin_blueprint.static_folder
    path = safe_join(folder, filename) if folder and filename else None
    if path is None:
        return None
    try:
        found = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(found.st_mode):
        return None
    key = (path, found.st_mtime_ns, found.st_size)
    version = _asset_versions.get(key)
    if version is None:
        with open(path, "rb") as handle:
            version = hashlib.sha256(handle.read()).hexdigest()[:16]
        if len(_asset_versions) >= 256:  # files edited again and again (a developer's)
            _asset_versions.clear()
        _asset_versions[key] = version
    return version


@admin_blueprint.url_defaults
def _versioned_asset(endpoint: str, values: dict[str, Any]) -> None:
    """Every link to a static file carries the file's version (see :func:`asset_version`)."""
    if endpoint == STATIC_ENDPOINT and ASSET_VERSION_PARAM not in values:
        version = asset_version(values.get("filename") or "")
        if version is not None:
            values[ASSET_VERSION_PARAM] = version


@dataclass(frozen=True)
class NavEntry:
    endpoint: str  # the page's list view, e.g. "customer_groups_admin.rules"
    label: str
    prefix: str  # every endpoint of the page starts with it ("rule" → rules, rule_new, …)


#: The navigation, in order; an entry shows once its endpoint is registered.
NAV: tuple[NavEntry, ...] = (
    NavEntry("customer_groups_admin.groups", "Groups", "group"),
    NavEntry("customer_groups_admin.customers", "Customers", "customer"),
    NavEntry("customer_groups_admin.segments", "Segments", "segment"),
    NavEntry("customer_groups_admin.rules", "Rules", "rule"),
    NavEntry("customer_groups_admin.discounts", "Discounts", "discount"),
    NavEntry("customer_groups_admin.automations", "Automations", "automation"),
    NavEntry("customer_groups_admin.audiences", "Audiences", "audience"),
    NavEntry("customer_groups_admin.try_cart", "Try a cart", "try_cart"),
    NavEntry("customer_groups_admin.reports", "Reports", "report"),
)


def nav_entries() -> list[dict[str, Any]]:
    """The registered pages, with ``current`` set on the one being shown."""
    shown = (request.endpoint or "").rpartition(".")[2]
    return [
        {
            "url": admin_url(entry.endpoint),
            "label": entry.label,
            "current": shown.startswith(entry.prefix),
        }
        for entry in NAV
        if entry.endpoint in current_app.view_functions
    ]


@admin_blueprint.before_request
def _body_limit() -> None:
    """Contract v2 §2: 1 MiB (a CSV import 100 MiB), set before the session reads the form."""
    limit_body(current_app.view_functions.get(request.endpoint or ""))


@admin_blueprint.before_request
def _require_admin_session() -> None:
    if request.endpoint != STATIC_ENDPOINT:
        open_session()


@admin_blueprint.before_request
def _input_limits() -> None:
    """The other input limits (``plugin.request_limits``): ids in the path, page numbers,
    and no NUL or lone surrogate in a query parameter or a form field (a 422 page naming
    them, never a 500)."""
    if request.endpoint != STATIC_ENDPOINT:
        check_path_and_query(pages=True)
        check_form()


@admin_blueprint.after_request
def _security_headers(response: Response) -> Response:
    origins = admin_origins(current_app.config["CUSTOMER_GROUPS_ADMIN_ORIGINS"])
    ancestors = " ".join(["'self'", *origins])
    response.headers["Content-Security-Policy"] = (
        f"frame-ancestors {ancestors}; default-src 'none'; script-src 'self'; "
        "style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; "
        "base-uri 'none'"
    )
    # Links carry the admin session: never send it on to another site.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.endpoint != STATIC_ENDPOINT:
        response.headers["Cache-Control"] = "no-store"
    elif response.status_code in (200, 304) and _current_version_asked():
        # The URL names this very content: kept without asking again (an older or missing
        # version keeps Flask's no-cache: revalidated on each use).
        response.headers["Cache-Control"] = f"public, max-age={ASSET_MAX_AGE}, immutable"
    return response


def _current_version_asked() -> bool:
    asked = request.args.get(ASSET_VERSION_PARAM)
    filename = (request.view_args or {}).get("filename")
    return bool(asked) and isinstance(filename, str) and asked == asset_version(filename)


@admin_blueprint.context_processor
def _template_helpers() -> dict[str, Any]:
    has_session = "admin_session" in g
    return {
        "admin_url": admin_url,
        "csrf_token": csrf_token if has_session else (lambda: ""),
        "admin_session": g.get("admin_session"),
        "session_param": SESSION_PARAM,
        "csrf_field": CSRF_FIELD,
        "shop": g.get("admin_shop"),
        "nav": nav_entries() if has_session else [],
        "flash": read_flash() if has_session else None,
        "money": format_money,
    }


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point of ``currency`` (2 for EUR: 1999 is 19.99), per Babel."""
    return exponent(currency)


def format_money(amount: int | None, currency: str | None = None) -> str:
    """Minor units as a merchant reads them, the one way of ``plugin.money``: Babel in the
    shop's currency and locale (``format_money(-123456)`` → ``-€1,234.56`` for an ``en``
    shop in EUR)."""
    shop = g.get("admin_shop")
    locale = shop.locale if shop is not None else None
    if currency is None:
        currency = shop.currency if shop is not None else "EUR"
    return money_for_people(amount, currency, locale)


def to_minor_units(text: str, currency: str) -> int | None:
    """``"19.99"`` EUR → 1999; None when it is not an amount with at most the currency's digits."""
    digits = currency_exponent(currency)
    try:
        value = Decimal(text.strip().replace(",", "."))
    except ArithmeticError:
        return None
    minor = value.scaleb(digits)
    if not value.is_finite() or minor != minor.to_integral_value():
        return None
    return int(minor)


def render_page(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    """Render ``customer_groups/{template}`` with ``status`` (422 when a form has errors)."""
    return render_template(f"customer_groups/{template}", **context), status


def form_values(*names: str) -> dict[str, Any]:
    """The named fields of the posted form that are present (an unticked checkbox is absent)."""
    return {name: request.form[name] for name in names if name in request.form}


def run_form(action: Callable[[], T]) -> tuple[T | None, dict[str, list[str]]]:
    """Run a form's parse-and-operation; a 422 becomes ``{"field": [messages]}``, rolled back.

    Other errors (404, 409 …) propagate to the caller or to the HTML error page.
    """
    try:
        return action(), {}
    except ValidationError as error:
        db.session.rollback()
        return None, flatten_messages(error.messages)
    except ApiError as error:
        if error.status != 422:
            raise
        db.session.rollback()
        return None, error.details or {"_schema": [error.message]}


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _error_page(error: ApiError) -> ResponseReturnValue:
    db.session.rollback()
    if _wants_json():
        return jsonify(error_body(error.code, error.message, error.details)), error.status
    return render_page("error.html", status=error.status, error=error)


@admin_blueprint.errorhandler(ApiError)
def _api_error(error: ApiError) -> ResponseReturnValue:
    return _error_page(error)


@admin_blueprint.errorhandler(ValidationError)
def _validation(error: ValidationError) -> ResponseReturnValue:
    details = flatten_messages(error.messages)
    message = f"Some fields are not valid: {', '.join(sorted(details))}."
    return _error_page(ApiError(ErrorCode.VALIDATION_FAILED, message, 422, details))


@admin_blueprint.errorhandler(HTTPException)
def _http(error: HTTPException) -> ResponseReturnValue:
    status = error.code or 500
    code = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}.get(
        status, (error.name or "error").lower().replace(" ", "_")
    )
    return _error_page(ApiError(code, error.description or error.name, status))


@admin_blueprint.errorhandler(Exception)
def _unexpected(error: Exception) -> ResponseReturnValue:
    log.exception("Unhandled error in the admin UI")
    return _error_page(ApiError(ErrorCode.INTERNAL_ERROR, "Something went wrong on our side.", 500))
