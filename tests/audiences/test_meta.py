"""Meta destination: SHA-256 hashes normalised as the SDK does, 10,000-entry batches."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qs

from werkzeug import Response

from plugin.jobs.claims import run_pending
from tests.audiences.conftest import add_customers, audience_body, create_audience, run
from tests.conftest import auth

TOKEN = "EAAG-test-access-token-7788"
USERS_PATH = "/v26.0/23851234567890/users"


def meta(httpserver):
    return {
        "type": "meta",
        "credentials": {"access_token": TOKEN},
        "audience_id": "23851234567890",
        "base_url": httpserver.url_for("/"),
    }


def form(request):
    fields = {key: values[0] for key, values in parse_qs(request.get_data(as_text=True)).items()}
    assert set(fields) == {"payload", "access_token"}
    return {"payload": json.loads(fields["payload"]), "access_token": fields["access_token"]}


def accept_all(request):
    sent = form(request)
    return Response(
        json.dumps(
            {
                "audience_id": "23851234567890",
                "num_received": len(sent["payload"]["data"]),
                "num_invalid_entries": 0,
                "invalid_entry_samples": {},
            }
        ),
        content_type="application/json",
    )


def test_emails_are_trimmed_lowercased_and_hashed(app, client, shop, httpserver):
    add_customers(
        app,
        [
            {"external_id": "c_1", "email": "  Ada.Lovelace@Example.COM "},
            {"external_id": "c_2", "email": None},
        ],
    )
    httpserver.expect_request(USERS_PATH, method="POST").respond_with_handler(accept_all)

    audience = create_audience(client, audience_body(app, meta(httpserver)))
    answer = run(client, audience["id"]).get_json()

    assert (answer["status"], answer["synced"], answer["skipped"], answer["failed"]) == (
        "succeeded",
        1,
        1,
        0,
    )
    ((request, _),) = httpserver.log
    sent = form(request)
    expected = hashlib.sha256(b"ada.lovelace@example.com").hexdigest()
    assert sent["payload"] == {"schema": ["EMAIL"], "is_raw": True, "data": [[expected]]}
    assert sent["access_token"] == TOKEN


def test_phones_are_reduced_to_digits_with_country_code(app, client, shop, httpserver):
    add_customers(app, [{"external_id": "c_1", "phone": "+447700900123"}])
    httpserver.expect_request(USERS_PATH, method="POST").respond_with_handler(accept_all)
    body = audience_body(app, meta(httpserver), mapping={"identifier": "phone"})

    audience = create_audience(client, body)
    assert run(client, audience["id"]).get_json()["synced"] == 1

    sent = form(httpserver.log[0][0])
    assert sent["payload"] == {
        "schema": ["PHONE"],
        "is_raw": True,
        "data": [[hashlib.sha256(b"447700900123").hexdigest()]],
    }


def test_25000_members_go_in_three_batches(app, client, shop, httpserver):
    add_customers(
        app, [{"external_id": f"c_{i}", "email": f"m{i}@example.com"} for i in range(25_000)]
    )
    httpserver.expect_request(USERS_PATH, method="POST").respond_with_handler(accept_all)

    audience = create_audience(client, audience_body(app, meta(httpserver)))
    queued = run(client, audience["id"])
    # Too large to run inside the request: queued for the background runner.
    assert queued.status_code == 202
    assert (queued.get_json()["status"], queued.get_json()["total"]) == ("queued", None)
    assert run_pending(app) == 1  # the job the request queued
    answer = client.get(
        f"/api/audiences/{audience['id']}/runs/{queued.get_json()['id']}", headers=auth()
    ).get_json()

    assert (answer["status"], answer["synced"], answer["total"]) == ("succeeded", 25_000, 25_000)
    sent = [form(request) for request, _ in httpserver.log]
    assert [len(s["payload"]["data"]) for s in sent] == [10_000, 10_000, 5_000]
    first = sent[0]["payload"]["data"][0]
    assert first == [hashlib.sha256(b"m0@example.com").hexdigest()]
    everyone = {row[0] for s in sent for row in s["payload"]["data"]}
    assert len(everyone) == 25_000


def test_throttling_error_code_is_retried(app, client, shop, httpserver, sleeps):
    add_customers(app, [{"external_id": "c_1", "email": "ada@example.com"}])
    httpserver.expect_oneshot_request(USERS_PATH, method="POST").respond_with_json(
        {"error": {"message": "(#80003) There have been too many calls", "code": 80003}},
        status=400,
    )
    httpserver.expect_request(USERS_PATH, method="POST").respond_with_handler(accept_all)

    audience = create_audience(client, audience_body(app, meta(httpserver)))
    answer = run(client, audience["id"]).get_json()

    assert (answer["synced"], answer["failed"]) == (1, 0)
    assert len(httpserver.log) == 2 and len(sleeps) == 1
    # The replay is the same batch.
    assert form(httpserver.log[0][0]) == form(httpserver.log[1][0])


def test_server_error_on_upload_is_not_replayed(app, client, shop, httpserver, sleeps):
    add_customers(app, [{"external_id": f"c_{i}", "email": f"m{i}@example.com"} for i in range(3)])
    httpserver.expect_request(USERS_PATH, method="POST").respond_with_json(
        {"error": {"message": "An unknown error occurred", "code": 1}}, status=500
    )

    audience = create_audience(client, audience_body(app, meta(httpserver)))
    answer = run(client, audience["id"]).get_json()

    assert len(httpserver.log) == 1
    assert sleeps == []
    assert (answer["status"], answer["synced"], answer["failed"]) == ("failed", 0, 3)
    assert answer["errors"][0]["status"] == 500


def test_invalid_entries_count_as_failed(app, client, shop, httpserver):
    add_customers(app, [{"external_id": f"c_{i}", "email": f"m{i}@example.com"} for i in range(3)])
    bad = hashlib.sha256(b"m1@example.com").hexdigest()
    httpserver.expect_request(USERS_PATH, method="POST").respond_with_json(
        {
            "audience_id": "23851234567890",
            "num_received": 3,
            "num_invalid_entries": 1,
            "invalid_entry_samples": {bad: "Invalid format"},
        }
    )

    audience = create_audience(client, audience_body(app, meta(httpserver)))
    answer = run(client, audience["id"]).get_json()

    assert (answer["synced"], answer["failed"]) == (2, 1)
    assert answer["errors"][0]["customer_id"] == "c_1"


def test_expired_token_fails_the_run(app, client, shop, httpserver):
    add_customers(app, [{"external_id": "c_1", "email": "ada@example.com"}])
    httpserver.expect_request(USERS_PATH, method="POST").respond_with_json(
        {"error": {"message": "Error validating access token", "code": 190}}, status=400
    )

    audience = create_audience(client, audience_body(app, meta(httpserver)))
    answer = run(client, audience["id"]).get_json()

    assert answer["status"] == "failed"
    assert "credentials were refused" in answer["errors"][-1]["message"]
