"""Klaviyo destination against a local server that checks the JSON:API requests."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from sqlalchemy import select
from werkzeug import Response

from plugin.audiences import sync, tasks
from plugin.audiences.klaviyo import KlaviyoDestination
from plugin.db import db
from plugin.shops.models import Shop
from tests.audiences.conftest import add_customers, audience_body, create_audience, run
from tests.conftest import auth

API_KEY = "pk_live_0123456789abcdef"
HEADERS = {"Authorization": f"Klaviyo-API-Key {API_KEY}", "revision": "2026-10-15"}


def klaviyo(httpserver, **fields):
    destination = {
        "type": "klaviyo",
        "credentials": {"api_key": API_KEY},
        "list_id": "Xy12Ab",
        "base_url": httpserver.url_for("/"),
    }
    return destination


def json_body(request):
    return json.loads(request.get_data())


def test_profiles_are_upserted_and_added_to_the_list(app, client, shop, httpserver):
    add_customers(
        app,
        [
            {
                "external_id": "c_1",
                "email": "ada@example.com",
                "first_name": "Ada",
                "city": "Paris",
                "used_discount_code": True,
                "total_spent": 4599,
                "tags": ["vip", "Wholesale"],
            },
            {"external_id": "c_2", "email": "bob@example.com", "first_name": "Bob"},
            {"external_id": "c_3", "email": None, "phone": "+33612345678"},
        ],
    )
    profile_ids = {"ada@example.com": "01ADA", "bob@example.com": "01BOB"}

    def profile_import(request):
        body = json_body(request)
        email = body["data"]["attributes"]["email"]
        return Response(
            json.dumps({"data": {"type": "profile", "id": profile_ids[email]}}),
            status=201,
            content_type="application/vnd.api+json",
        )

    httpserver.expect_request(
        "/api/profile-import", method="POST", headers=HEADERS
    ).respond_with_handler(profile_import)
    httpserver.expect_request(
        "/api/lists/Xy12Ab/relationships/profiles", method="POST", headers=HEADERS
    ).respond_with_data("", status=204)

    audience = create_audience(
        client,
        audience_body(
            app,
            klaviyo(httpserver),
            mapping={
                "identifier": "email",
                "properties": {
                    "first_name": "first_name",
                    "location.city": "city",
                    "Used Discount Code": "used_discount_code",
                    "Total Spent (cents)": "total_spent",
                    "Tags": "tags",
                },
            },
        ),
    )
    response = run(client, audience["id"])

    assert response.status_code == 201
    answer = response.get_json()
    assert (answer["status"], answer["synced"], answer["skipped"], answer["failed"]) == (
        "succeeded",
        2,
        1,
        0,
    )
    calls = [(r.path, json_body(r)) for r, _ in httpserver.log]
    assert calls[0] == (
        "/api/profile-import",
        {
            "data": {
                "type": "profile",
                "attributes": {
                    "email": "ada@example.com",
                    "first_name": "Ada",
                    "location": {"city": "Paris"},
                    "properties": {
                        "Used Discount Code": True,
                        "Total Spent (cents)": 4599,
                        "Tags": ["vip", "Wholesale"],
                    },
                },
            }
        },
    )
    assert calls[1][1]["data"]["attributes"]["properties"]["Used Discount Code"] is False
    assert calls[2] == (
        "/api/lists/Xy12Ab/relationships/profiles",
        {"data": [{"type": "profile", "id": "01ADA"}, {"type": "profile", "id": "01BOB"}]},
    )
    assert len(calls) == 3
    assert httpserver.log[0][0].headers["Content-Type"] == "application/vnd.api+json"


def test_only_update_existing_looks_profiles_up_and_skips_absent_ones(
    app, client, shop, httpserver
):
    add_customers(
        app,
        [
            {"external_id": "c_1", "email": "known@example.com"},
            {"external_id": "c_2", "email": "new@example.com"},
        ],
    )
    httpserver.expect_request(
        "/api/profiles",
        method="GET",
        headers=HEADERS,
        query_string={"filter": 'equals(email,"known@example.com")', "fields[profile]": "email"},
    ).respond_with_json({"data": [{"type": "profile", "id": "01KNOWN"}]})
    httpserver.expect_request(
        "/api/profiles",
        method="GET",
        query_string={"filter": 'equals(email,"new@example.com")', "fields[profile]": "email"},
    ).respond_with_json({"data": []})
    httpserver.expect_request("/api/profile-import", method="POST").respond_with_json(
        {"data": {"type": "profile", "id": "01KNOWN"}}
    )
    httpserver.expect_request(
        "/api/lists/Xy12Ab/relationships/profiles", method="POST"
    ).respond_with_data("", status=204)

    audience = create_audience(
        client, audience_body(app, klaviyo(httpserver), only_update_existing=True)
    )
    answer = run(client, audience["id"]).get_json()

    assert (answer["synced"], answer["skipped"], answer["failed"]) == (1, 1, 0)
    imported = [json_body(r) for r, _ in httpserver.log if r.path == "/api/profile-import"]
    assert [body["data"]["attributes"]["email"] for body in imported] == ["known@example.com"]


def test_rate_limited_call_waits_retry_after_and_succeeds(app, client, shop, httpserver, sleeps):
    add_customers(app, [{"external_id": "c_1", "email": "ada@example.com"}])
    httpserver.expect_oneshot_request("/api/profile-import", method="POST").respond_with_json(
        {"errors": [{"code": "throttled"}]}, status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_request("/api/profile-import", method="POST").respond_with_json(
        {"data": {"type": "profile", "id": "01ADA"}}, status=201
    )
    httpserver.expect_request(
        "/api/lists/Xy12Ab/relationships/profiles", method="POST"
    ).respond_with_data("", status=204)

    audience = create_audience(client, audience_body(app, klaviyo(httpserver)))
    answer = run(client, audience["id"]).get_json()

    assert (answer["status"], answer["synced"], answer["failed"]) == ("succeeded", 1, 0)
    assert sleeps == [1.0]
    assert [r.path for r, _ in httpserver.log].count("/api/profile-import") == 2


def test_server_error_on_upsert_is_retried(app, client, shop, httpserver, sleeps):
    add_customers(app, [{"external_id": "c_1", "email": "ada@example.com"}])
    for _ in range(2):
        httpserver.expect_oneshot_request("/api/profile-import", method="POST").respond_with_data(
            "upstream", status=502
        )
    httpserver.expect_request("/api/profile-import", method="POST").respond_with_json(
        {"data": {"type": "profile", "id": "01ADA"}}
    )
    httpserver.expect_request(
        "/api/lists/Xy12Ab/relationships/profiles", method="POST"
    ).respond_with_data("", status=204)

    audience = create_audience(client, audience_body(app, klaviyo(httpserver)))
    answer = run(client, audience["id"]).get_json()

    assert (answer["synced"], answer["failed"]) == (1, 0)
    assert len(sleeps) == 2 and all(0 < wait <= 30 for wait in sleeps)


def test_refused_customer_is_recorded_and_the_run_goes_on(app, client, shop, httpserver):
    add_customers(
        app,
        [
            {"external_id": "c_1", "email": "bad@example.com"},
            {"external_id": "c_2", "email": "ok@example.com"},
        ],
    )

    def profile_import(request):
        if json_body(request)["data"]["attributes"]["email"] == "bad@example.com":
            return Response(json.dumps({"errors": [{"detail": "Invalid email"}]}), status=400)
        return Response(json.dumps({"data": {"type": "profile", "id": "01OK"}}), status=200)

    httpserver.expect_request("/api/profile-import").respond_with_handler(profile_import)
    httpserver.expect_request(
        "/api/lists/Xy12Ab/relationships/profiles", method="POST"
    ).respond_with_data("", status=204)

    audience = create_audience(client, audience_body(app, klaviyo(httpserver)))
    answer = run(client, audience["id"]).get_json()

    assert (answer["status"], answer["synced"], answer["failed"]) == ("succeeded", 1, 1)
    assert answer["errors"][0]["customer_id"] == "c_1"
    assert answer["errors"][0]["status"] == 400
    # The vendor's reply text is never shown to the merchant (contract §5).
    assert answer["errors"][0]["message"] == "HTTP 400"
    assert "Invalid email" not in json.dumps(answer)


def test_refused_api_key_fails_the_run_at_once(app, client, shop, httpserver):
    add_customers(app, [{"external_id": f"c_{i}", "email": f"{i}@example.com"} for i in range(5)])
    httpserver.expect_request("/api/profile-import").respond_with_json(
        {"errors": [{"detail": "Incorrect authentication credentials."}]}, status=401
    )

    audience = create_audience(client, audience_body(app, klaviyo(httpserver)))
    answer = run(client, audience["id"]).get_json()

    assert answer["status"] == "failed"
    assert "credentials were refused" in answer["errors"][-1]["message"]
    assert len(httpserver.log) == 1


def test_run_killed_halfway_resumes_from_its_cursor(app, client, shop, httpserver, monkeypatch):
    emails = [f"member{i}@example.com" for i in range(7)]
    add_customers(app, [{"external_id": f"c_{i}", "email": e} for i, e in enumerate(emails)])
    received: Counter[str] = Counter()

    def profile_import(request):
        email = json_body(request)["data"]["attributes"]["email"]
        received[email] += 1
        return Response(json.dumps({"data": {"type": "profile", "id": email}}), status=200)

    httpserver.expect_request("/api/profile-import").respond_with_handler(profile_import)
    httpserver.expect_request(
        "/api/lists/Xy12Ab/relationships/profiles", method="POST"
    ).respond_with_data("", status=204)
    monkeypatch.setattr(sync, "PAGE_SIZE", 2)
    monkeypatch.setattr(KlaviyoDestination, "batch_size", 2)
    real_sync = KlaviyoDestination.sync
    batches_sent = []

    def dying_sync(self, members):
        if len(batches_sent) == 2:
            raise RuntimeError("worker killed")
        batches_sent.append(len(members))
        return real_sync(self, members)

    monkeypatch.setattr(KlaviyoDestination, "sync", dying_sync)
    audience = create_audience(client, audience_body(app, klaviyo(httpserver)))

    first = run(client, audience["id"])
    assert first.status_code == 202
    assert (first.get_json()["status"], first.get_json()["synced"]) == ("running", 4)

    # The run is under way (fresh heartbeat): a second request does not start another one.
    again = client.post(f"/api/audiences/{audience['id']}/run", headers=auth())
    assert again.status_code == 409
    assert again.get_json()["error"]["details"] == {"run_id": first.get_json()["id"]}

    # The worker restarts the job; the kill is over.
    monkeypatch.setattr(KlaviyoDestination, "sync", real_sync)
    with app.app_context():
        shop_id = db.session.execute(select(Shop.id).where(Shop.domain == shop)).scalar_one()
        done = tasks.drive(
            shop_id,
            audience["id"],
            first.get_json()["id"],
            lambda _: db.session.commit(),
            stale_after=timedelta(0),
        )
        summary = (done.status, done.synced, done.skipped, done.failed)
    assert summary == ("succeeded", 7, 0, 0)
    assert received == Counter({email: 1 for email in emails})
    runs = client.get(f"/api/audiences/{audience['id']}/runs", headers=auth()).get_json()
    assert runs["total"] == 1 and runs["items"][0]["synced"] == 7
