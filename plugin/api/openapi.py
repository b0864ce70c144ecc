"""``GET /api/openapi.json``: the OpenAPI 3.1 document of every route the app serves.

Built with apispec and its marshmallow plugin from the app's URL rules and the operation
each view declares with ``@document`` (``plugin.apidoc``): the path comes from the rule,
the schemas from marshmallow. The admin pages (HTML, no JSON schemas) are listed with
their docstring as summary; the catch-alls that answer unknown paths are left out.
Anything else of ours without an operation is listed bare too, and
``tests/test_openapi.py`` fails for it.
"""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from apispec.ext.marshmallow.common import resolve_schema_cls
from apispec.ext.marshmallow.field_converter import DEFAULT_FIELD_MAPPING
from flask import current_app, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields
from werkzeug.routing import Rule

from plugin.api.blueprint import api_blueprint
from plugin.apidoc import DOCUMENTED, Operation, SchemaLike, document, openapi_path, operation_of
from plugin.errors import UNROUTED
from plugin.fields import HostId, Timestamp

#: Documented routes, (path, method) → operation (``plugin.apidoc.DOCUMENTED``).
_operations = DOCUMENTED

#: Blueprints of ours whose routes take no operation: the embedded admin's HTML pages
#: (listed, so the served suite and the form corpus find them, but they speak forms).
UNDOCUMENTED_BLUEPRINTS = ("customer_groups_admin",)
#: Routes of ours left out of the document altogether: the catch-alls that answer an
#: unknown path or method in the error shape (``plugin.errors.answer_unrouted``).
UNLISTED_ENDPOINTS = (UNROUTED,)

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
_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


# marshmallow → JSON Schema: apispec's converter, taught our fields --------------------------


class Converter(OpenAPIConverter):
    """apispec's converter, plus: our fields' types, a field's ``json_pattern``, exclusive
    bounds of ``Range``, and a schema's docstring as its description."""

    field_mapping = {
        **DEFAULT_FIELD_MAPPING,
        HostId: ("string", None),
        Timestamp: ("string", "date-time"),
    }

    def init_attribute_functions(self) -> None:
        super().init_attribute_functions()
        self.add_attribute_function(json_pattern)
        self.add_attribute_function(exclusive_bounds)

    def schema2jsonschema(self, schema: Any) -> dict[str, Any]:
        jsonschema: dict[str, Any] = super().schema2jsonschema(schema)
        doc = (resolve_schema_cls(schema).__doc__ or "").strip()
        if doc and "description" not in jsonschema and not doc.startswith("Schema("):
            jsonschema["description"] = re.sub(r"\s+", " ", doc)
        return jsonschema


def json_pattern(self: OpenAPIConverter, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """A field that checks its own pattern says so with ``json_pattern``."""
    pattern = getattr(field, "json_pattern", None)
    return {"pattern": pattern} if pattern else {}


def exclusive_bounds(
    self: OpenAPIConverter, field: fields.Field, ret: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    """``Range(min_inclusive=False)`` is ``exclusiveMinimum`` (apispec says ``minimum``)."""
    out: dict[str, Any] = {}
    for validator in field.validators:
        for bound, inclusive, key in (
            ("min", "min_inclusive", "Minimum"),
            ("max", "max_inclusive", "Maximum"),
        ):
            value = getattr(validator, bound, None)
            if value is not None and getattr(validator, inclusive, True) is False:
                ret.pop(key.lower(), None)
                out["exclusive" + key] = value
    return out


class SchemaNames:
    """Names of the components: a schema's class name; a partial instance (a PATCH body
    made with ``partial=``) is ``…Patch`` (``PriceRuleIn`` → ``PriceRulePatch``); a second
    class of a name already taken is prefixed with its feature (``segments.ConditionIn``
    after ``rules.ConditionIn`` is ``SegmentsConditionIn``), so two schemas never share a
    component."""

    def __init__(self) -> None:
        self.names: dict[tuple[type[Schema], bool], str] = {}

    def __call__(self, schema: SchemaLike) -> str:
        cls = resolve_schema_cls(schema)
        partial = isinstance(schema, Schema) and bool(schema.partial)
        key = (cls, partial)
        if key not in self.names:
            name = cls.__name__
            if partial and not name.endswith("Patch"):
                name = name.removesuffix("In") + "Patch"
            if name in self.names.values():
                feature = cls.__module__.removeprefix("plugin.").split(".")[0]
                name = feature.title().replace("_", "") + name
            self.names[key] = name
        return self.names[key]


class Plugin(MarshmallowPlugin):
    Converter = Converter


# The document ------------------------------------------------------------------------------


def _listed_rules() -> list[tuple[Rule, str, str]]:
    """(rule, OpenAPI path, method) of every route of ours the document lists."""
    found = []
    for rule in current_app.url_map.iter_rules():
        blueprint, _, name = rule.endpoint.rpartition(".")
        if not blueprint.startswith("customer_groups_") or name == "static":
            continue
        if name.startswith(UNLISTED_ENDPOINTS):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule, openapi_path(rule.rule), method.lower()))
    return sorted(found, key=lambda item: (item[1], item[2]))


def undocumented_rules() -> list[tuple[str, str, str]]:
    """(endpoint, path, method) of the routes listed without an operation that are not
    excused by :data:`UNDOCUMENTED_BLUEPRINTS`: empty when every route is documented."""
    return [
        (rule.endpoint, path, method)
        for rule, path, method in _listed_rules()
        if operation_of(current_app.view_functions[rule.endpoint]) is None
        and rule.endpoint.rpartition(".")[0] not in UNDOCUMENTED_BLUEPRINTS
    ]


def _bare(rule: Rule, path: str) -> Operation:
    """The entry of a route without an operation: its view's docstring as summary."""
    view = current_app.view_functions[rule.endpoint]
    summary = (view.__doc__ or rule.endpoint.rpartition(".")[2].replace("_", " ")).strip()
    return Operation(summary.splitlines()[0], secured=path.startswith("/api"))


def _path_parameters(rule: Rule) -> list[dict[str, Any]]:
    """Each ``<converter:name>`` of the rule: an integer for ``int``, else a string."""
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer" if converter == "int" else "string"},
        }
        for converter, name in re.findall(r"<(?:([^:>]+):)?([^>]+)>", rule.rule)
    ]


def _json(schema: SchemaLike) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(rule: Rule, path: str, method: str, op: Operation) -> dict[str, Any]:
    """The OpenAPI operation object (schemas left for apispec's plugin to resolve)."""
    words = re.sub(r"[^a-zA-Z0-9]+", "_", path.strip("/")).strip("_")
    item: dict[str, Any] = {"summary": op.summary, "operationId": f"{method}_{words}"}
    if op.description:
        item["description"] = op.description
    if op.tag or path.startswith("/api/"):
        item["tags"] = [op.tag or path.split("/")[2]]
    parameters: list[dict[str, Any]] = _path_parameters(rule)
    if op.query is not None:
        parameters.append({"in": "query", "schema": op.query})
    parameters += [
        {"name": name, "in": "header", "required": True, "schema": schema}
        for name, schema in op.headers.items()
    ]
    if parameters:
        item["parameters"] = parameters
    if op.request is not None:
        first, *others = op.request_content
        content = {first: {"schema": op.request}}
        content.update({media: {"schema": {"type": "string"}} for media in others})
        item["requestBody"] = {"required": True, "content": content}
    ok: dict[str, Any] = {"description": "Success."}
    if op.response is not None:
        ok["content"] = _json(op.response)
    elif op.response_content != "application/json":
        ok["content"] = {op.response_content: {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(op.status): ok}
    for status, schema in op.responses.items():
        responses[str(status)] = {"description": "Success.", "content": _json(schema)}
    if op.secured:
        responses["401"] = {"description": "Missing or invalid session token.", **_ERROR}
        item["security"] = [{"sessionToken": []}]
    if "{" in path:
        responses["404"] = {"description": "Not found (or another shop's).", **_ERROR}
    if op.request is not None or op.query is not None:
        responses["422" if op.secured else "400"] = {"description": "Invalid input.", **_ERROR}
    item["responses"] = responses
    return item


def build_document() -> dict[str, Any]:
    """The whole OpenAPI document of what the app serves now."""
    spec = APISpec(
        title="Customer Groups",
        version="1",
        openapi_version="3.1.0",
        plugins=[Plugin(schema_name_resolver=SchemaNames())],
        info={
            "description": "Admin API and host-facing endpoints of the Customer Groups extension."
        },
    )
    spec.components.schema("Error", ERROR_SCHEMA)
    spec.components.security_scheme(
        "sessionToken", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    paths: dict[str, dict[str, Any]] = {}
    for rule, path, method in _listed_rules():
        op = operation_of(current_app.view_functions[rule.endpoint]) or _bare(rule, path)
        paths.setdefault(path, {})[method] = _operation(rule, path, method, op)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    tags = sorted(
        {tag for ops in paths.values() for op in ops.values() for tag in op.get("tags", [])}
    )
    for tag in tags:
        spec.tag({"name": tag})
    return spec.to_dict()


@api_blueprint.get("/openapi.json")
@document("This OpenAPI document.")
def openapi_document() -> ResponseReturnValue:
    return jsonify(build_document())
