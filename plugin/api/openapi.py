"""``GET /api/openapi.json``: the OpenAPI 3.1 document, built from the marshmallow schemas.

Routes are documented next to their views with :func:`document`; a small converter turns
marshmallow fields into JSON Schema (type, bounds from ``Range``/``Length``, ``enum`` from
``OneOf``, ``pattern`` from ``Regexp``, nesting as ``$ref`` to ``components.schemas``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields, validate

from plugin.api.blueprint import api_blueprint
from plugin.errors import UNROUTED
from plugin.fields import HostId, StrictInteger, Timestamp

SchemaLike = type[Schema] | Schema


@dataclass
class Operation:
    path: str
    method: str
    summary: str
    request: SchemaLike | None = None
    response: SchemaLike | None = None
    status: int = 200
    query: SchemaLike | None = None
    description: str | None = None
    tag: str | None = None
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    secured: bool = True
    request_content: str = "application/json"
    #: Other successful answers: status → schema (e.g. a 202 with a job).
    responses: dict[int, SchemaLike] = field(default_factory=dict)


_operations: dict[tuple[str, str], Operation] = {}

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


def document(
    path: str,
    method: str,
    summary: str,
    request: SchemaLike | None = None,
    response: SchemaLike | None = None,
    status: int = 200,
    **extra: Any,
) -> None:
    """Register one endpoint in the OpenAPI document (``path`` in OpenAPI form:
    ``/api/groups/{id}``). ``extra``: ``query`` (a schema of query parameters),
    ``description``, ``tag``, ``headers`` (name → JSON Schema), ``secured`` (False for
    routes signed by the host rather than a session token), ``request_content``,
    ``responses`` (other successful answers, status → schema)."""
    op = Operation(path, method.lower(), summary, request, response, status, **extra)
    _operations[(path, op.method)] = op


# marshmallow → JSON Schema ------------------------------------------------------------


def _schema_class(schema: SchemaLike) -> type[Schema]:
    return schema if isinstance(schema, type) else type(schema)


def _name(schema: SchemaLike) -> str:
    return _schema_class(schema).__name__


def field_schema(f: fields.Field, components: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema of one marshmallow field."""
    out: dict[str, Any]
    if isinstance(f, fields.Nested):
        nested = f.nested
        if callable(nested) and not isinstance(nested, type):
            nested = nested()
        out = {"$ref": register_schema(nested, components)}  # type: ignore[arg-type]
        if f.many:
            out = {"type": "array", "items": out}
    elif isinstance(f, fields.List):
        out = {"type": "array", "items": field_schema(f.inner, components)}
    elif isinstance(f, fields.Dict):
        out = {"type": "object"}
    elif isinstance(f, fields.Boolean):
        out = {"type": "boolean"}
    elif isinstance(f, fields.Integer | StrictInteger):
        out = {"type": "integer"}
    elif isinstance(f, fields.Number):
        out = {"type": "number"}
    elif isinstance(f, Timestamp | fields.DateTime):
        out = {"type": "string", "format": "date-time"}
    elif isinstance(f, fields.Date):
        out = {"type": "string", "format": "date"}
    elif isinstance(f, fields.Email):
        out = {"type": "string", "format": "email"}
    elif isinstance(f, fields.String | HostId):
        out = {"type": "string"}
    else:  # Raw, Function, Method: any JSON value
        out = {}
    pattern = getattr(f, "json_pattern", None)
    if pattern:
        out["pattern"] = pattern
    for validator in f.validators:
        _apply_validator(out, validator)
    if f.allow_none and "type" in out:
        out["type"] = [out["type"], "null"]
    if f.metadata.get("description"):
        out["description"] = f.metadata["description"]
    return out


def _apply_validator(out: dict[str, Any], validator: Any) -> None:
    array = out.get("type") == "array"
    if isinstance(validator, validate.Range):
        if validator.min is not None:
            out["minimum" if validator.min_inclusive else "exclusiveMinimum"] = validator.min
        if validator.max is not None:
            out["maximum" if validator.max_inclusive else "exclusiveMaximum"] = validator.max
    elif isinstance(validator, validate.Length):
        if validator.min is not None:
            out["minItems" if array else "minLength"] = validator.min
        if validator.max is not None:
            out["maxItems" if array else "maxLength"] = validator.max
        if validator.equal is not None:
            out["minLength"] = out["maxLength"] = validator.equal
    elif isinstance(validator, validate.OneOf):
        out["enum"] = list(validator.choices)
    elif isinstance(validator, validate.Regexp):
        out["pattern"] = validator.regex.pattern


def register_schema(schema: SchemaLike, components: dict[str, Any]) -> str:
    """Put ``schema`` (and what it nests) in ``components``; give its ``$ref``."""
    name = _name(schema)
    ref = f"#/components/schemas/{name}"
    if name in components:
        return ref
    components[name] = {}  # reserve first: schemas may nest themselves
    instance = schema() if isinstance(schema, type) else schema
    properties: dict[str, Any] = {}
    required: list[str] = []
    for key, f in instance.fields.items():
        wire = f.data_key or key
        properties[wire] = field_schema(f, components)
        if f.required:
            required.append(wire)
    body: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        body["required"] = required
    if instance.unknown == "raise":
        body["additionalProperties"] = False
    doc = (_schema_class(schema).__doc__ or "").strip()
    if doc and not doc.startswith(("Schema(", "Base schema")):
        body["description"] = re.sub(r"\s+", " ", doc)
    components[name] = body
    return ref


# The document --------------------------------------------------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", path)
    ]


def _query_parameters(schema: SchemaLike, components: dict[str, Any]) -> list[dict[str, Any]]:
    instance = schema() if isinstance(schema, type) else schema
    return [
        {
            "name": f.data_key or key,
            "in": "query",
            "required": bool(f.required),
            "schema": field_schema(f, components),
        }
        for key, f in instance.fields.items()
    ]


def _served_operations() -> dict[tuple[str, str], Operation]:
    """Documented routes, plus a bare entry for any route of ours nobody documented yet
    (its summary is the view's docstring), so the document lists everything served."""
    operations = dict(_operations)
    for rule in current_app.url_map.iter_rules():
        if not rule.endpoint.startswith("customer_groups_") or rule.endpoint.endswith(".static"):
            continue
        if rule.endpoint.split(".")[-1].startswith(UNROUTED):
            continue  # the catch-alls that answer unknown paths in the error shape
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        view = current_app.view_functions[rule.endpoint]
        summary = (view.__doc__ or rule.endpoint.split(".")[-1].replace("_", " ")).strip()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            key = (path, method.lower())
            if key not in operations:
                operations[key] = Operation(
                    path,
                    method.lower(),
                    summary.splitlines()[0],
                    secured=path.startswith("/api"),
                )
    return operations


def build_document() -> dict[str, Any]:
    """The whole OpenAPI document of what the app serves now."""
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for (path, method), op in sorted(_served_operations().items()):
        item: dict[str, Any] = {"summary": op.summary, "operationId": _operation_id(op)}
        if op.description:
            item["description"] = op.description
        if op.tag or path.startswith("/api/"):
            item["tags"] = [op.tag or path.split("/")[2]]
        parameters = _path_parameters(path)
        if op.query is not None:
            parameters += _query_parameters(op.query, components)
        parameters += [
            {"name": name, "in": "header", "required": True, "schema": schema}
            for name, schema in op.headers.items()
        ]
        if parameters:
            item["parameters"] = parameters
        if op.request is not None:
            item["requestBody"] = {
                "required": True,
                "content": {
                    op.request_content: {
                        "schema": {"$ref": register_schema(op.request, components)}
                    }
                },
            }
        ok: dict[str, Any] = {"description": "Success."}
        if op.response is not None:
            ok["content"] = {
                "application/json": {"schema": {"$ref": register_schema(op.response, components)}}
            }
        responses: dict[str, Any] = {str(op.status): ok}
        for status, schema in op.responses.items():
            responses[str(status)] = {
                "description": "Success.",
                "content": {
                    "application/json": {"schema": {"$ref": register_schema(schema, components)}}
                },
            }
        if op.secured:
            responses["401"] = {"description": "Missing or invalid session token.", **error}
            item["security"] = [{"sessionToken": []}]
        if "{" in path:
            responses["404"] = {"description": "Not found (or another shop's).", **error}
        if op.request is not None or op.query is not None:
            responses["422" if op.secured else "400"] = {"description": "Invalid input.", **error}
        item["responses"] = responses
        paths.setdefault(path, {})[method] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Customer Groups",
            "version": "1",
            "description": "Admin API and host-facing endpoints of the Customer Groups extension.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "sessionToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _operation_id(op: Operation) -> str:
    words = re.sub(r"[^a-zA-Z0-9]+", "_", op.path.strip("/")).strip("_")
    return f"{op.method}_{words}"


@api_blueprint.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    return jsonify(build_document())


document("/api/openapi.json", "get", "This OpenAPI document.")


def _document_host_endpoints() -> None:
    """Endpoints outside ``/api`` that this module documents on their owners' behalf."""
    from hooks.webhooks import ALL_TOPICS
    from plugin.api.schemas import CustomerView

    document(
        "/webhooks",
        "post",
        "Receive a webhook from the host (contract §3).",
        status=200,
        secured=False,
        tag="webhooks",
        headers={
            **SIGNED_HEADERS,
            "X-Topic": {"type": "string", "enum": ALL_TOPICS},
        },
        description="Topics: " + ", ".join(ALL_TOPICS) + '. Answers {"status": "ok"} or '
        '{"status": "duplicate"}; customers/data_request answers the data held.',
    )
    document(
        "/api/customers/{customer_id}",
        "get",
        "The customer as the extension sees it: snapshot, figures, group, segments.",
        response=CustomerView,
    )


_document_host_endpoints()
