"""Every route of the discounts API and of the redeem hook is in the OpenAPI document,
registered with ``document(...)`` (not the bare entry made up for undocumented routes)."""

from __future__ import annotations

import re

import hooks.redeem
import plugin.api.discounts
from plugin.api import openapi
from tests.conftest import auth

OURS = (plugin.api.discounts.__name__, hooks.redeem.__name__)

WITH_BODY = {
    ("/api/discounts", "post"): "DiscountIn",
    ("/api/discounts/{discount_id}", "patch"): "DiscountPatch",
    ("/api/discounts/{discount_id}/codes/generate", "post"): "GenerateIn",
    ("/api/discounts/{discount_id}/codes/import", "post"): "ImportIn",
    ("/api/discounts/{discount_id}/codes/assign", "post"): "AssignIn",
    ("/hooks/checkout/redeem", "post"): "RedeemIn",
}
ANSWERS = {
    ("/api/discounts", "get"): ("200", "DiscountPage"),
    ("/api/discounts", "post"): ("201", "DiscountOut"),
    ("/api/discounts/{discount_id}", "get"): ("200", "DiscountOut"),
    ("/api/discounts/{discount_id}", "patch"): ("200", "DiscountOut"),
    ("/api/discounts/{discount_id}/codes", "get"): ("200", "PoolCodePage"),
    ("/api/discounts/{discount_id}/codes/generate", "post"): ("201", "GenerateOut"),
    ("/api/discounts/{discount_id}/codes/import", "post"): ("200", "ImportOut"),
    ("/api/discounts/{discount_id}/codes/assign", "post"): ("200", "PoolCodeOut"),
    ("/api/discounts/{discount_id}/redemptions", "get"): ("200", "RedemptionPage"),
    ("/hooks/checkout/redeem", "post"): ("200", "RedeemAnswer"),
}


def _our_routes(app):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if view.__module__ not in OURS:
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield path, method.lower()


def test_every_codes_route_is_documented_with_its_schemas(app, client, shop):
    routes = set(_our_routes(app))
    assert len(routes) == 12  # 11 under /api/discounts and the redeem hook
    assert routes == {key for key in openapi._operations if key in routes}
    assert routes >= set(WITH_BODY) | set(ANSWERS)

    document = client.get("/api/openapi.json", headers=auth()).get_json()
    schemas = document["components"]["schemas"]
    for path, method in routes:
        item = document["paths"][path][method]
        assert item["summary"] and item["operationId"], (path, method)
        if (path, method) in WITH_BODY:
            content = item["requestBody"]["content"]
            ref = next(iter(content.values()))["schema"]["$ref"]
            assert ref.endswith("/" + WITH_BODY[path, method]), (path, method, ref)
        else:
            assert "requestBody" not in item, (path, method)
        if (path, method) in ANSWERS:
            status, name = ANSWERS[path, method]
            ref = item["responses"][status]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/" + name), (path, method, ref)
            assert name in schemas
        if path.startswith("/api/"):
            assert item["security"] == [{"sessionToken": []}] and "401" in item["responses"]
    redeem = document["paths"]["/hooks/checkout/redeem"]["post"]
    assert "security" not in redeem and "400" in redeem["responses"]
    headers = {p["name"] for p in redeem["parameters"] if p["in"] == "header"}
    # Contract v2 §2: the hooks carry a topic and a request id too.
    assert headers == {
        "X-Shop-Domain",
        "X-Request-Timestamp",
        "X-Topic",
        "X-Event-Id",
        "X-Signature",
    }
    assert document["paths"]["/api/discounts/{discount_id}"]["delete"]["responses"]["204"]


def test_schema_details_reach_the_document(client, shop):
    schemas = client.get("/api/openapi.json", headers=auth()).get_json()["components"]["schemas"]
    generate = schemas["GenerateIn"]
    assert generate["required"] == ["count"] and generate["additionalProperties"] is False
    assert generate["properties"]["count"]["maximum"] == 1_000_000
    assert generate["properties"]["length"]["minimum"] == 4
    assert schemas["DiscountIn"]["required"] == ["name", "type"]
    assert "required" not in schemas["DiscountPatch"]
    assert schemas["DiscountIn"]["properties"]["type"]["enum"] == [
        "percent",
        "fixed",
        "free_shipping",
    ]
    assert "order_id" in schemas["RedeemIn"]["required"]
    assert "order_id" in schemas["RedeemAnswer"]["properties"]
    # Two schemas of the same name would share one component: the pool's code and the
    # pricing answer's code are different things with different names.
    assert "status" in schemas["PoolCodeOut"]["properties"]
    assert "times_used" in schemas["PoolCodeOut"]["properties"]
    assert "flagged" in schemas["RedemptionOut"]["properties"]
    page = schemas["PoolCodePage"]["properties"]["items"]["items"]["$ref"]
    assert page.endswith("/PoolCodeOut")


def test_redemptions_list_shows_flagged_orders(app, client, host, make_discount):
    from tests.conftest import order_payload

    discount = make_discount(code="TWO", usage_limit=1)
    host.webhook("order/paid", {"order": order_payload("o_1", discount_codes=["two"])})
    host.webhook(
        "order/paid", {"order": order_payload("o_2", customer_id="c_2", discount_codes=["TWO"])}
    )
    url = f"/api/discounts/{discount['id']}/redemptions"
    listed = client.get(url, headers=auth()).get_json()
    assert listed["total"] == 2
    assert [
        (r["order_id"], r["code"], r["customer_id"], r["flagged"]) for r in listed["items"]
    ] == [
        ("o_2", "TWO", "c_2", True),
        ("o_1", "TWO", "c_1", False),
    ]
    flagged = client.get(f"{url}?flagged=true", headers=auth()).get_json()
    assert [r["order_id"] for r in flagged["items"]] == ["o_2"]
    assert flagged["items"][0]["status"] == "confirmed"
    assert client.get(f"{url}?status=held", headers=auth()).get_json()["total"] == 0
    assert client.get(f"{url}?status=lost", headers=auth()).status_code == 422
    host.install("other.example")
    assert client.get(url, headers=auth("other.example")).status_code == 404
