"""Audience runs and the rules for outgoing requests (contract v2 §5): unsafe destinations
refused when saved and when connecting, redirects never followed, vendors' replies never shown
to the merchant beyond their status and error code."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

import pytest
from werkzeug import Response

from tests.audiences.conftest import add_customers, audience_body, create_audience, run
from tests.conftest import auth
from tests.test_admin_ui import Admin
from tests.test_outgoing import Resolver

KEY = "pk_live_0123456789abcdef"
TOKEN = "EAAG-test-access-token-7788"
USERS_PATH = "/v26.0/23851234567890/users"
# What a hostile (or chatty) vendor says: it must never reach the merchant.
SECRET_TEXT = "root:x:0:0 internal-admin-panel 10.0.0.7"


def klaviyo(base_url):
    return {
        "type": "klaviyo",
        "credentials": {"api_key": KEY},
        "list_id": "Xy12Ab",
        "base_url": base_url,
    }


def meta(base_url):
    return {
        "type": "meta",
        "credentials": {"access_token": TOKEN},
        "audience_id": "23851234567890",
        "base_url": base_url,
    }


def guard_on(app):
    """The tests' apps allow private destinations (make_app); these tests need the guard."""
    app.config["CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS"] = False


def one_member(app):
    add_customers(app, [{"external_id": "c_1", "email": "ada@example.com"}])


def shown_to_the_merchant(client, app, audience_id, answer):
    """Everything the merchant can read about the run: its answer, the runs API, the page."""
    runs = client.get(f"/api/audiences/{audience_id}/runs", headers=auth()).get_data(as_text=True)
    page = Admin(client).get(f"/admin/audiences/{audience_id}/runs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert answer["errors"][-1]["message"] in html  # the page does show the run's problems
    return json.dumps(answer) + runs + html


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost.",
        "https://LOCALHOST.",
        "https://[64:ff9b::7f00:1]",
        "https://[2002:7f00:1::]",
        "https://[::ffff:127.0.0.1]/",
        "https://127.1/",
        "https://169.254.169.254/latest/meta-data",
        "http://a.klaviyo.example/",
    ],
)
def test_unsafe_base_urls_are_refused_when_saved(app, client, shop, url):
    guard_on(app)
    answer = create_audience(client, audience_body(app, klaviyo(url)), status=422)
    assert answer["error"]["code"] == "validation_failed"
    assert "destination.base_url" in answer["error"]["details"], answer
    assert client.get("/api/audiences", headers=auth()).get_json()["total"] == 0


def test_patch_to_an_unsafe_base_url_is_refused(app, client, shop):
    guard_on(app)
    audience = create_audience(client, audience_body(app, klaviyo("https://8.8.8.8/")))
    response = client.patch(
        f"/api/audiences/{audience['id']}",
        json={"destination": klaviyo("https://[64:ff9b::a00:1]/")},
        headers=auth(),
    )
    assert response.status_code == 422
    assert "destination.base_url" in response.get_json()["error"]["details"]
    kept = client.get(f"/api/audiences/{audience['id']}", headers=auth()).get_json()
    assert kept["destination"]["base_url"] == "https://8.8.8.8/"


def test_a_private_destination_saved_earlier_is_refused_when_the_run_connects(
    app, client, shop, httpserver
):
    """Saved while private destinations were allowed, run after: nothing is sent."""
    one_member(app)
    audience = create_audience(client, audience_body(app, klaviyo(httpserver.url_for("/"))))
    guard_on(app)
    answer = run(client, audience["id"]).get_json()
    assert answer["status"] == "failed"
    assert answer["errors"][-1]["message"].startswith("Nothing was sent to klaviyo:")
    assert len(httpserver.log) == 0


def test_a_name_resolving_to_a_private_address_fails_the_run_when_connecting(
    app, client, shop, monkeypatch
):
    """The name passes when saved (no lookup then); the lookup made for the connection
    answers a private address, and the run fails at once without sending anything."""
    guard_on(app)
    add_customers(app, [{"external_id": f"c_{i}", "email": f"{i}@example.com"} for i in range(3)])
    audience = create_audience(
        client, audience_body(app, klaviyo("https://klaviyo-proxy.example/"))
    )
    resolver = Resolver(monkeypatch, {"klaviyo-proxy.example": ["10.0.0.7"]})
    answer = run(client, audience["id"]).get_json()
    assert answer["status"] == "failed" and answer["synced"] == 0
    message = answer["errors"][-1]["message"]
    assert "klaviyo-proxy.example" in message and "10.0.0.7" not in message
    assert resolver.asked == ["klaviyo-proxy.example"]  # one refusal stops the run


def test_a_redirect_is_a_failed_call_and_is_not_followed(app, client, shop, httpserver):
    """Private destinations allowed (the tests' setting): redirects are refused all the same."""
    one_member(app)
    httpserver.expect_request("/api/profile-import").respond_with_handler(
        lambda request: Response("", status=307, headers={"Location": "/elsewhere"})
    )
    httpserver.expect_request("/elsewhere").respond_with_json({"data": {"id": "01X"}})
    audience = create_audience(client, audience_body(app, klaviyo(httpserver.url_for("/"))))
    answer = run(client, audience["id"]).get_json()
    assert (answer["status"], answer["synced"], answer["failed"]) == ("failed", 0, 1)
    assert answer["errors"][0]["status"] == 307
    assert "redirect" in answer["errors"][0]["message"]
    assert [request.path for request, _ in httpserver.log] == ["/api/profile-import"]


def test_a_refused_profile_shows_the_status_and_error_code_only(
    app, client, shop, httpserver, caplog
):
    one_member(app)
    httpserver.expect_request("/api/profile-import").respond_with_json(
        {"errors": [{"code": "invalid", "detail": SECRET_TEXT}]}, status=400
    )
    audience = create_audience(client, audience_body(app, klaviyo(httpserver.url_for("/"))))
    with caplog.at_level(logging.WARNING):
        answer = run(client, audience["id"]).get_json()
    assert answer["errors"][0]["message"] == "HTTP 400 (error code invalid)"
    assert SECRET_TEXT not in shown_to_the_merchant(client, app, audience["id"], answer)
    assert SECRET_TEXT in caplog.text  # kept for operators


@pytest.mark.parametrize(
    "reply, status, expected",
    [
        ("plain text " + SECRET_TEXT, 500, "HTTP 500"),
        (
            json.dumps({"error": {"code": 1, "message": SECRET_TEXT}}),
            500,
            "HTTP 500 (error code 1)",
        ),
        (json.dumps({"code": SECRET_TEXT}), 502, "HTTP 502"),  # not a code: dropped
    ],
    ids=["text", "error-code", "not-a-code"],
)
def test_a_failed_batch_shows_no_reply_text(app, client, shop, httpserver, reply, status, expected):
    one_member(app)
    httpserver.expect_request(USERS_PATH, method="POST").respond_with_data(
        reply, status=status, content_type="application/json"
    )
    audience = create_audience(client, audience_body(app, meta(httpserver.url_for("/"))))
    answer = run(client, audience["id"]).get_json()
    assert answer["errors"][0]["message"] == expected
    assert SECRET_TEXT not in shown_to_the_merchant(client, app, audience["id"], answer)


def test_refused_credentials_show_no_reply_text(app, client, shop, httpserver):
    one_member(app)
    httpserver.expect_request(USERS_PATH, method="POST").respond_with_json(
        {"error": {"message": SECRET_TEXT, "code": 190}}, status=400
    )
    audience = create_audience(client, audience_body(app, meta(httpserver.url_for("/"))))
    answer = run(client, audience["id"]).get_json()
    assert answer["status"] == "failed"
    assert answer["errors"][-1]["message"] == (
        "The meta credentials were refused: HTTP 400 (error code 190)"
    )
    assert SECRET_TEXT not in shown_to_the_merchant(client, app, audience["id"], answer)


def test_meta_s_reasons_for_refused_entries_are_not_shown(app, client, shop, httpserver):
    one_member(app)

    def refuse_all(request):
        payload = json.loads(parse_qs(request.get_data(as_text=True))["payload"][0])
        digest = payload["data"][0][0]
        return Response(
            json.dumps(
                {
                    "num_received": 1,
                    "num_invalid_entries": 1,
                    "invalid_entry_samples": {digest: SECRET_TEXT},
                }
            ),
            content_type="application/json",
        )

    httpserver.expect_request(USERS_PATH, method="POST").respond_with_handler(refuse_all)
    audience = create_audience(client, audience_body(app, meta(httpserver.url_for("/"))))
    answer = run(client, audience["id"]).get_json()
    assert answer["failed"] == 1
    assert answer["errors"][0] == {
        "customer_id": "c_1",
        "message": "Meta refused the entry.",
        "status": 200,
    }
    assert SECRET_TEXT not in shown_to_the_merchant(client, app, audience["id"], answer)
