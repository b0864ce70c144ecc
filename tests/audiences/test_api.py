"""``/api/audiences``: validation, masking, partial updates, shop isolation, runs history."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from plugin.audiences.credentials import unseal
from plugin.audiences.models import Audience
from plugin.db import db
from plugin.segments.models import Segment, SegmentMember
from tests.audiences.conftest import add_customers, audience_body, create_audience
from tests.conftest import auth

KEY = "pk_live_0123456789abcdef"


def klaviyo(**extra):
    return {"type": "klaviyo", "credentials": {"api_key": KEY}, "list_id": "L1", **extra}


def test_create_masks_credentials_and_lists(app, client, shop):
    created = create_audience(client, audience_body(app, klaviyo()))

    assert created["destination"] == {
        "type": "klaviyo",
        "credentials": {"api_key": "****cdef"},
        "list_id": "L1",
        "base_url": None,
    }
    assert created["mapping"] == {"identifier": "email", "properties": {}}
    assert (created["schedule"], created["active"], created["last_run_at"]) == (
        "daily",
        True,
        None,
    )
    listed = client.get("/api/audiences?per_page=1", headers=auth()).get_json()
    assert (listed["total"], listed["page"], listed["per_page"]) == (1, 1, 1)
    assert listed["items"][0]["destination"]["credentials"] == {"api_key": "****cdef"}
    assert KEY not in client.get(f"/api/audiences/{created['id']}", headers=auth()).text


@pytest.mark.parametrize(
    "change, field",
    [
        ({"source": {"type": "group", "id": 999}}, "source.id"),
        ({"source": {"type": "segment", "id": 999}}, "source.id"),
        ({"destination": {"type": "klaviyo", "list_id": "L1"}}, "destination.credentials.api_key"),
        (
            {"destination": {"type": "klaviyo", "credentials": {"api_key": KEY}}},
            "destination.list_id",
        ),
        (
            {"destination": {"type": "meta", "credentials": {"access_token": "t" * 20}}},
            "destination.audience_id",
        ),
        (
            {"destination": {"type": "meta", "credentials": {"api_key": "x"}, "audience_id": "1"}},
            "destination.credentials.access_token",
        ),
        (
            {
                "destination": {"type": "attentive", "credentials": {"api_key": KEY}},
                "mapping": {"identifier": "email", "properties": {"Points": "points"}},
            },
            "mapping.identifier",
        ),
        (
            {
                "destination": {
                    "type": "meta",
                    "credentials": {"access_token": "t"},
                    "audience_id": "1",
                },
                "only_update_existing": True,
            },
            "only_update_existing",
        ),
        (
            {"mapping": {"identifier": "email", "properties": {"Shoe": "shoe_size"}}},
            "mapping.properties.Shoe.value",
        ),
        ({"mapping": {"identifier": "fax"}}, "mapping.identifier"),
        ({"schedule": "weekly"}, "schedule"),
        ({"destination": {"type": "mailchimp"}}, "destination.type"),
    ],
)
def test_invalid_audiences_answer_422_naming_the_field(app, client, shop, change, field):
    change = dict(change)
    body = audience_body(app, change.pop("destination", klaviyo()), **change)
    response = client.post("/api/audiences", json=body, headers=auth())

    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["details"], error["details"]


def test_duplicate_name_ignoring_case_is_422(app, client, shop):
    create_audience(client, audience_body(app, klaviyo(), name="Discount Shoppers"))
    response = client.post(
        "/api/audiences",
        json=audience_body(app, klaviyo(), name="discount shoppers "),
        headers=auth(),
    )
    assert response.status_code == 422
    assert "name" in response.get_json()["error"]["details"]


def test_patch_keeps_masked_secret_and_merges(app, client, shop):
    created = create_audience(client, audience_body(app, klaviyo()))
    shown = client.get(f"/api/audiences/{created['id']}", headers=auth()).get_json()

    # The admin UI sends back what it was shown: the secret must survive.
    response = client.patch(
        f"/api/audiences/{created['id']}",
        json={"name": "Renamed", "destination": shown["destination"], "schedule": "hourly"},
        headers=auth(),
    )
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["name"], response.get_json()["schedule"]) == ("Renamed", "hourly")
    with app.app_context():
        stored = db.session.execute(select(Audience)).scalar_one()
        assert unseal(stored.sealed_credentials) == {"api_key": KEY}
        assert KEY not in stored.sealed_credentials  # encrypted at rest

    # Switching vendor needs that vendor's credentials again.
    response = client.patch(
        f"/api/audiences/{created['id']}",
        json={"destination": {"type": "attentive"}, "mapping": {"identifier": "phone"}},
        headers=auth(),
    )
    assert response.status_code == 422
    assert "destination.credentials.api_key" in response.get_json()["error"]["details"]


def test_other_shop_sees_nothing(app, client, host, shop):
    created = create_audience(client, audience_body(app, klaviyo()))
    host.install("other.example")
    other = auth("other.example")

    assert client.get(f"/api/audiences/{created['id']}", headers=other).status_code == 404
    assert client.post(f"/api/audiences/{created['id']}/run", headers=other).status_code == 404
    assert client.delete(f"/api/audiences/{created['id']}", headers=other).status_code == 404
    assert client.get("/api/audiences", headers=other).get_json()["total"] == 0


def test_segment_members_are_the_source(app, client, shop, httpserver):
    add_customers(
        app,
        [
            {"external_id": "in", "phone": "+14155550101"},
            {"external_id": "out", "phone": "+14155550102"},
        ],
    )
    with app.app_context():
        from plugin.customers.models import Customer

        shop_id, customer_id = db.session.execute(
            select(Customer.shop_id, Customer.id).where(Customer.external_id == "in")
        ).one()
        segment = Segment(
            shop_id=shop_id, name="Used a code", name_key="used a code", match="all", conditions=[]
        )
        db.session.add(segment)
        db.session.flush()
        db.session.add(
            SegmentMember(shop_id=shop_id, segment_id=segment.id, customer_id=customer_id)
        )
        db.session.commit()
        segment_id = segment.id
    httpserver.expect_request("/v1/attributes/custom").respond_with_data("", status=200)
    body = audience_body(
        app,
        {"type": "attentive", "credentials": {"api_key": KEY}, "base_url": httpserver.url_for("/")},
        source={"type": "segment", "id": segment_id},
        mapping={"identifier": "phone", "properties": {"Group": "group"}},
    )
    created = create_audience(client, body)
    answer = client.post(f"/api/audiences/{created['id']}/run", headers=auth()).get_json()

    assert answer["synced"] == 1
    ((request, _),) = httpserver.log
    assert request.get_json() == {
        "properties": {"Group": "Standard"},
        "user": {"phone": "+14155550101"},
    }


def test_runs_history_and_poll(app, client, shop, httpserver):
    httpserver.expect_request("/api/profile-import").respond_with_json({"data": {"id": "x"}})
    created = create_audience(client, audience_body(app, klaviyo(base_url=httpserver.url_for("/"))))
    first = client.post(f"/api/audiences/{created['id']}/run", headers=auth()).get_json()
    second = client.post(f"/api/audiences/{created['id']}/run", headers=auth()).get_json()

    runs = client.get(f"/api/audiences/{created['id']}/runs", headers=auth()).get_json()
    assert [r["id"] for r in runs["items"]] == [second["id"], first["id"]]
    assert runs["total"] == 2
    polled = client.get(
        f"/api/audiences/{created['id']}/runs/{first['id']}", headers=auth()
    ).get_json()
    assert (polled["status"], polled["synced"], polled["skipped"], polled["failed"]) == (
        "succeeded",
        0,
        0,
        0,
    )
    assert polled["finished_at"] is not None
    shown = client.get(f"/api/audiences/{created['id']}", headers=auth()).get_json()
    assert shown["last_run_at"] is not None
    assert client.delete(f"/api/audiences/{created['id']}", headers=auth()).status_code == 204
    assert (
        client.get(f"/api/audiences/{created['id']}/runs/{first['id']}", headers=auth()).status_code
        == 404
    )


def test_run_of_a_deleted_group_fails(app, client, shop):
    group = client.post("/api/groups", json={"name": "Gone soon"}, headers=auth()).get_json()
    source = {"type": "group", "id": group["id"]}
    created = create_audience(client, audience_body(app, klaviyo(), source=source))
    # The foreign key leaves the audience without a source (``source.id`` null).
    assert client.delete(f"/api/groups/{group['id']}", headers=auth()).status_code == 204
    answer = client.post(f"/api/audiences/{created['id']}/run", headers=auth()).get_json()
    assert answer["status"] == "failed"
    assert "no longer exists" in answer["errors"][0]["message"]
