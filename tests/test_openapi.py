"""``GET /api/openapi.json``: every route of ours is in it with the operation declared next
to its view, and the document is valid OpenAPI 3.1."""

from __future__ import annotations

import re
import warnings

from flask import Flask
from marshmallow import Schema, fields, validate
from openapi_spec_validator import validate as validate_spec

from plugin.api import openapi
from plugin.apidoc import DOCUMENTED, SIGNED_HEADERS, DocumentedBlueprint, document, operation_of
from plugin.errors import UNROUTED
from tests.conftest import auth

#: Our routes that take no operation, and why (kept in step with ``plugin.api.openapi``).
EXCUSED_BLUEPRINTS = {
    "customer_groups_admin": "the embedded admin's HTML pages: listed, but they speak forms",
}
EXCUSED_ENDPOINT_PREFIXES = {
    UNROUTED: "catch-alls answering unknown paths and methods in the error shape: not listed",
}


def _document(client):
    response = client.get("/api/openapi.json", headers=auth())
    assert response.status_code == 200
    return response.get_json()


def _our_rules(app: Flask):
    for rule in app.url_map.iter_rules():
        blueprint, _, name = rule.endpoint.rpartition(".")
        if not blueprint.startswith("customer_groups_") or name == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, blueprint, name, path, method.lower()


def test_every_url_rule_of_ours_is_documented_but_the_listed_exclusions(app, client, shop):
    assert set(EXCUSED_BLUEPRINTS) == set(openapi.UNDOCUMENTED_BLUEPRINTS)
    assert set(EXCUSED_ENDPOINT_PREFIXES) == set(openapi.UNLISTED_ENDPOINTS)
    paths = _document(client)["paths"]
    documented = excused = unlisted = 0
    for rule, blueprint, name, path, method in _our_rules(app):
        if name.startswith(tuple(EXCUSED_ENDPOINT_PREFIXES)):
            assert path not in paths or method not in paths[path], (path, method)
            unlisted += 1
            continue
        # Listed either way: the served suite and the limits corpus enumerate the document.
        item = paths[path][method]
        assert item["summary"] and item["operationId"], (path, method)
        if blueprint in EXCUSED_BLUEPRINTS:
            excused += 1
            continue
        op = operation_of(app.view_functions[rule.endpoint])
        assert op is not None, f"{rule.endpoint} ({method.upper()} {path}) has no @document"
        assert DOCUMENTED[(path, method)] is op, (path, method)
        assert item["summary"] == op.summary
        documented += 1
    assert documented > 60 and excused > 30 and unlisted >= 5
    with app.test_request_context():
        assert openapi.undocumented_rules() == []


def test_the_document_is_valid_openapi_3_1_and_builds_without_warnings(app, client, shop):
    doc = _document(client)
    assert doc["openapi"] == "3.1.0"
    validate_spec(doc)
    # A warning would be two schemas fighting over one component name, for instance.
    with app.test_request_context(), warnings.catch_warnings():
        warnings.simplefilter("error")
        assert openapi.build_document() == doc


def test_what_the_document_says_of_signed_requests_csv_and_paths(client, shop):
    doc = _document(client)
    paths = doc["paths"]
    for hook in ("/hooks/cart/price", "/hooks/checkout/redeem"):
        item = paths[hook]["post"]
        headers = {p["name"]: p["schema"] for p in item["parameters"] if p["in"] == "header"}
        assert headers == SIGNED_HEADERS
        assert "security" not in item and item["tags"] == ["hooks"]
        assert set(item["responses"]) == {"200", "400"}
    webhooks = paths["/webhooks"]["post"]
    headers = {p["name"]: p["schema"] for p in webhooks["parameters"]}
    assert set(headers) == set(SIGNED_HEADERS)
    assert (
        "order/paid" in headers["X-Topic"]["enum"] and "app/installed" in headers["X-Topic"]["enum"]
    )
    assert webhooks["tags"] == ["webhooks"]

    imported = paths["/api/discounts/{discount_id}/codes/import"]["post"]["requestBody"]["content"]
    assert list(imported) == ["multipart/form-data", "text/csv"]
    exported = paths["/api/discounts/{discount_id}/codes/export"]["get"]["responses"]["200"]
    assert list(exported["content"]) == ["text/csv"]

    one = paths["/api/groups/{group_id}"]["get"]
    assert one["parameters"] == [
        {"name": "group_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    ]
    assert one["security"] == [{"sessionToken": []}] and one["tags"] == ["groups"]
    assert set(one["responses"]) == {"200", "401", "404"}
    customer = paths["/api/customers/{customer_id}"]["get"]["parameters"][0]
    assert customer["schema"] == {"type": "string"}
    assert doc["components"]["securitySchemes"]["sessionToken"]["scheme"] == "bearer"
    assert {"name": "discounts"} in doc["tags"]


def test_schemas_of_the_same_name_and_partial_bodies_get_components_of_their_own(client, shop):
    doc = _document(client)
    schemas = doc["components"]["schemas"]
    # rules.ConditionIn and segments.ConditionIn; codes' and audiences' AudienceSchema.
    segment_condition = schemas["SegmentIn"]["properties"]["conditions"]["items"]["$ref"]
    programme = schemas["BenefitProgrammeIn"]["properties"]["conditions"]["items"]["$ref"]
    assert segment_condition != programme
    assert schemas[segment_condition.rsplit("/", 1)[1]]["properties"]["field"]["enum"]
    discount_audience = schemas["DiscountIn"]["properties"]["audience"]["$ref"]
    assert discount_audience.rsplit("/", 1)[1] != "AudienceSchema"
    # PATCH bodies of rules leave every top-level field out of ``required``.
    patch = doc["paths"]["/api/price-rules/{rule_id}"]["patch"]["requestBody"]
    ref = patch["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/PriceRulePatch") and "required" not in schemas["PriceRulePatch"]
    assert "required" in schemas["PriceRuleIn"]


class _ThingQuery(Schema):
    size = fields.Integer(validate=validate.Range(min=0, min_inclusive=False))


class _ThingOut(Schema):
    """One thing."""

    name = fields.String(required=True)


def test_a_new_route_is_in_the_document_and_caught_when_undocumented(tmp_path):
    from tests.conftest import make_app

    extra = DocumentedBlueprint("customer_groups_extra", __name__, url_prefix="/extra")

    @extra.get("/things/<int:thing_id>")
    @document("One thing.", query=_ThingQuery, response=_ThingOut)
    def get_thing(thing_id: int) -> str:
        return ""

    @extra.post("/things")
    def make_thing() -> str:
        """Make a thing."""
        return ""

    try:
        assert ("/extra/things/{thing_id}", "get") in DOCUMENTED
        app = make_app(tmp_path)
        app.register_blueprint(extra)
        with app.test_request_context():
            assert openapi.undocumented_rules() == [
                ("customer_groups_extra.make_thing", "/extra/things", "post")
            ]
            doc = openapi.build_document()
        thing = doc["paths"]["/extra/things/{thing_id}"]["get"]
        assert thing["summary"] == "One thing."
        size = next(p for p in thing["parameters"] if p["name"] == "size")
        assert size["in"] == "query" and size["schema"]["exclusiveMinimum"] == 0
        assert "minimum" not in size["schema"]
        answer = thing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert doc["components"]["schemas"]["_ThingOut"]["description"] == "One thing."
        assert answer.endswith("/_ThingOut")
        # Listed bare (its docstring as summary) so that nothing served is hidden.
        assert doc["paths"]["/extra/things"]["post"]["summary"] == "Make a thing."
    finally:
        DOCUMENTED.pop(("/extra/things/{thing_id}", "get"), None)
