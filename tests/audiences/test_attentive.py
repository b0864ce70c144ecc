"""Attentive destination: bearer key, custom attributes as strings, 404 means not a subscriber."""

from __future__ import annotations

import json

from werkzeug import Response

from tests.audiences.conftest import add_customers, audience_body, create_audience, run

KEY = "att_key_0123456789zz"


def attentive(httpserver):
    return {
        "type": "attentive",
        "credentials": {"api_key": KEY},
        "base_url": httpserver.url_for("/"),
    }


def test_custom_attributes_are_set_and_unknown_subscribers_skipped(app, client, shop, httpserver):
    add_customers(
        app,
        [
            {
                "external_id": "c_1",
                "phone": "+14155550101",
                "used_discount_code": True,
                "points": 120,
                "tags": ["vip"],
            },
            {"external_id": "c_2", "phone": "+14155550102", "city": None},
            {"external_id": "c_3", "email": "nophone@example.com"},
        ],
    )

    def attributes(request):
        body = json.loads(request.get_data())
        if body["user"]["phone"] == "+14155550102":
            return Response(json.dumps({"message": "User not found"}), status=404)
        return Response("", status=200)

    httpserver.expect_request(
        "/v1/attributes/custom",
        method="POST",
        headers={"Authorization": f"Bearer {KEY}"},
    ).respond_with_handler(attributes)
    body = audience_body(
        app,
        attentive(httpserver),
        mapping={
            "identifier": "phone",
            "properties": {
                "Used Discount Code": "used_discount_code",
                "Points": "points",
                "City": "city",
                "Tags": "tags",
            },
        },
        only_update_existing=True,
    )

    audience = create_audience(client, body)
    answer = run(client, audience["id"]).get_json()

    assert (answer["status"], answer["synced"], answer["skipped"], answer["failed"]) == (
        "succeeded",
        1,
        2,
        0,
    )
    sent = [json.loads(request.get_data()) for request, _ in httpserver.log]
    assert sent[0] == {
        "properties": {"Used Discount Code": "true", "Points": "120", "Tags": "vip"},
        "user": {"phone": "+14155550101"},
    }
    assert sent[1]["properties"] == {"Used Discount Code": "false", "Points": "0"}
    assert len(sent) == 2


def test_server_error_on_attributes_is_retried(app, client, shop, httpserver, sleeps):
    add_customers(app, [{"external_id": "c_1", "phone": "+14155550101"}])
    httpserver.expect_oneshot_request("/v1/attributes/custom").respond_with_data(
        "busy", status=503, headers={"Retry-After": "2"}
    )
    httpserver.expect_request("/v1/attributes/custom").respond_with_data("", status=200)
    body = audience_body(
        app,
        attentive(httpserver),
        mapping={"identifier": "phone", "properties": {"Points": "points"}},
    )

    audience = create_audience(client, body)
    answer = run(client, audience["id"]).get_json()

    assert (answer["synced"], answer["failed"]) == (1, 0)
    assert sleeps == [2.0]
