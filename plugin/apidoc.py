"""Each route's OpenAPI operation, declared next to its view.

``@document(...)`` under the route decorator attaches an :class:`Operation` (summary,
request and response schemas, query parameters, headers, ...) to the view; a
:class:`DocumentedBlueprint` records, for every rule added to it, the operation of its
view under the rule's path and method (:data:`DOCUMENTED`). The path is the rule's own:
nothing types it a second time. The admin API builds ``GET /api/openapi.json`` from
these with apispec (``plugin.api.openapi``), and a test fails for any rule of ours without
an operation.

Core: imports only the database's :class:`~plugin.db.BoundaryBlueprint` (each view one
unit of work in its shop's scope), so features, hooks and the API can all document with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from marshmallow import Schema

from plugin.db import BoundaryBlueprint

SchemaLike = type[Schema] | Schema
View = TypeVar("View", bound=Callable[..., Any])

#: The view attribute that holds its :class:`Operation`.
ATTRIBUTE = "openapi_operation"


@dataclass(frozen=True)
class Operation:
    summary: str
    request: SchemaLike | None = None
    response: SchemaLike | None = None
    status: int = 200
    #: A schema of query parameters.
    query: SchemaLike | None = None
    description: str | None = None
    #: The tag; by default the segment after ``/api/`` (none outside ``/api``).
    tag: str | None = None
    #: Header parameters: name → JSON Schema.
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: False for routes the host signs rather than a session token.
    secured: bool = True
    #: Media types of the request body (the first carries ``request``; the others are
    #: bodies of their own, e.g. ``text/csv``).
    request_content: tuple[str, ...] = ("application/json",)
    #: Media type of the answer when it is not JSON (``text/csv``): no schema then.
    response_content: str = "application/json"
    #: Other successful answers: status → schema (e.g. a 202 with a job).
    responses: dict[int, SchemaLike] = field(default_factory=dict)


#: Documented routes: (OpenAPI path, lower-case method) → operation.
DOCUMENTED: dict[tuple[str, str], Operation] = {}


def document(
    summary: str,
    request: SchemaLike | None = None,
    response: SchemaLike | None = None,
    status: int = 200,
    **extra: Any,
) -> Callable[[View], View]:
    """Describe the view below (put it right under the route decorator). ``extra``: the
    other fields of :class:`Operation`."""
    if isinstance(extra.get("request_content"), str):
        extra["request_content"] = (extra["request_content"],)
    op = Operation(summary, request, response, status, **extra)

    def attach(view: View) -> View:
        setattr(view, ATTRIBUTE, op)
        return view

    return attach


def operation_of(view: Callable[..., Any] | None) -> Operation | None:
    """The operation ``@document`` attached to ``view``, if any."""
    found: Operation | None = getattr(view, ATTRIBUTE, None)
    return found


def openapi_path(rule: str) -> str:
    """``/api/groups/<int:group_id>`` → ``/api/groups/{group_id}``."""
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def _methods(options: dict[str, Any], view: Callable[..., Any] | None) -> Iterable[str]:
    methods = options.get("methods") or getattr(view, "methods", None) or ("GET",)
    return sorted({m.lower() for m in methods} - {"head", "options"})


class DocumentedBlueprint(BoundaryBlueprint):
    """A blueprint that records the operation of each view it routes in
    :data:`DOCUMENTED` (views without one are left out, for the test to find)."""

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Callable[..., Any] | None = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)
        op = operation_of(view_func)
        if op is None:
            return
        prefix = (self.url_prefix or "").rstrip("/")
        path = openapi_path(prefix + "/" + rule.lstrip("/") if prefix else rule)
        for method in _methods(options, view_func):
            DOCUMENTED[(path, method)] = op


#: The headers of a request the host signs (contract §2), for the hook and webhook entries.
SIGNED_HEADERS: dict[str, dict[str, Any]] = {
    "X-Shop-Domain": {"type": "string", "pattern": "^[!-~]{1,255}$"},
    "X-Request-Timestamp": {
        "type": "string",
        "pattern": "^[1-9][0-9]{0,11}$",
        "description": "Unix seconds when it was signed; at most 300 s away from now",
    },
    "X-Topic": {
        "type": "string",
        "pattern": "^[!-~]{1,255}$",
        "description": "the webhook topic, or hooks/cart/price, hooks/checkout/redeem",
    },
    "X-Event-Id": {
        "type": "string",
        "pattern": "^[!-~]{1,255}$",
        "description": "webhooks: the idempotency key; hooks: a request id",
    },
    "X-Signature": {
        "type": "string",
        "description": "1-8 entries separated by single spaces; an entry v2= + base64 "
        "HMAC-SHA256, keyed with the host key HMAC-SHA256(secret, "
        '"customer-groups/v2/host"), of "{timestamp}\\n{shop}\\n{topic}\\n{event_id}\\n'
        '{path}\\n" + body (contract v2 §2)',
    },
}
