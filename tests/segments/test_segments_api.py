"""``/api/segments`` validation, pagination, other shops, and the OpenAPI document."""

from __future__ import annotations

import re

import pytest

from plugin.api import openapi
from plugin.errors import UNROUTED
from plugin.segments import operations
from tests.conftest import auth, customer_payload


def post(client, body, path="/api/segments", headers=None):
    return client.post(path, json=body, headers=headers or auth())


def details(response):
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    return error["details"]


def seg(conditions, name="S", match="all"):
    return {"name": name, "match": match, "conditions": conditions}


@pytest.mark.parametrize(
    "condition, key",
    [
        ({"field": "shoe_size", "op": "is", "value": 42}, "conditions.0.field"),
        ({"field": "available_points", "op": "is", "value": 4}, "conditions.0.op"),
        ({"field": "customer_tag", "op": "gte", "value": "vip"}, "conditions.0.op"),
        ({"field": "available_points", "op": "gt", "value": "4"}, "conditions.0.value"),
        ({"field": "available_points", "op": "gt", "value": True}, "conditions.0.value"),
        ({"field": "registration_date", "op": "is", "value": "2026-02-30"}, "conditions.0.value"),
        ({"field": "registration_date", "op": "is", "value": "30d ago"}, "conditions.0.value"),
        ({"field": "used_discount_code", "op": "is", "value": "yes"}, "conditions.0.value"),
        ({"field": "purchased_product", "op": "any_of", "value": []}, "conditions.0.value"),
        ({"field": "purchased_product", "op": "all_of", "value": "p1"}, "conditions.0.value"),
        ({"field": "customer_type", "op": "is", "value": "robot"}, "conditions.0.value"),
        ({"field": "city", "op": "is", "value": "  "}, "conditions.0.value"),
        ({"field": "city", "op": "is"}, "conditions.0.value"),
        ({"field": "city", "op": "is", "value": "x", "extra": 1}, "conditions.0.extra"),
    ],
)
def test_bad_condition_is_422_naming_it(client, shop, condition, key):
    assert key in details(post(client, seg([condition])))
    preview = {"match": "all", "conditions": [condition]}
    assert key in details(post(client, preview, "/api/segments/preview"))


def test_bad_segment_bodies(client, shop):
    good = [{"field": "city", "op": "is", "value": "Paris"}]
    assert "match" in details(post(client, seg(good, match="most")))
    assert "conditions" in details(post(client, seg([])))
    assert "name" in details(post(client, {"conditions": good}))
    assert "colour" in details(post(client, {**seg(good), "colour": "#ffffff"}))
    assert post(client, seg(good, name="Paris")).status_code == 201
    assert details(post(client, seg(good, name="PARIS"))) == {
        "name": ["A segment with this name already exists."]
    }


def test_stored_conditions_are_normalised(client, shop):
    response = post(
        client,
        seg(
            [
                {"field": "purchased_product", "op": "any_of", "value": ["p1", 7, "p1"]},
                {"field": "registration_date", "op": "after", "value": " -30d "},
            ]
        ),
    )
    assert response.status_code == 201
    assert response.get_json()["conditions"] == [
        {"field": "purchased_product", "op": "any_of", "value": ["p1", "7"]},
        {"field": "registration_date", "op": "after", "value": "-30d"},
    ]


def test_pagination_and_other_shop(client, host, shop):
    for index in range(3):
        body = seg([{"field": "available_points", "op": "gt", "value": index}], name=f"S{index}")
        assert post(client, body).status_code == 201
    page = client.get("/api/segments?page=2&per_page=2", headers=auth()).get_json()
    assert (page["total"], page["page"], page["per_page"]) == (3, 2, 2)
    assert [s["name"] for s in page["items"]] == ["S2"]
    assert client.get("/api/segments?per_page=1001", headers=auth()).status_code == 422
    host.install("other.example")
    other = auth("other.example")
    first_id = client.get("/api/segments", headers=auth()).get_json()["items"][0]["id"]
    assert client.get(f"/api/segments/{first_id}", headers=other).status_code == 404
    assert client.delete(f"/api/segments/{first_id}", headers=other).status_code == 404
    assert client.get("/api/segments", headers=other).get_json()["total"] == 0


def test_openapi_documents_every_route(app, client, shop):
    assert client.get("/api/openapi.json").status_code == 401
    document = client.get("/api/openapi.json", headers=auth()).get_json()
    assert document["openapi"].startswith("3.")
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("customer_groups_") or rule.endpoint.endswith("static"):
            continue
        if rule.endpoint.split(".")[-1].startswith(UNROUTED):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, (path, method)
            if not rule.endpoint.startswith("customer_groups_admin."):
                # Documented next to the view, with its schemas: not only listed.
                assert (path, method.lower()) in openapi._operations, (path, method)
    # Ours carry their schemas.
    paths = document["paths"]
    for path, method in [
        ("/api/groups", "post"),
        ("/api/groups/{group_id}/customers", "post"),
        ("/api/segments", "post"),
        ("/api/segments/preview", "post"),
        ("/api/segments/{segment_id}", "patch"),
    ]:
        assert "requestBody" in paths[path][method], (path, method)
    ok = paths["/api/customers/{customer_id}"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/CustomerView")
    schemas = document["components"]["schemas"]
    group_in = schemas["GroupIn"]
    assert group_in["required"] == ["name"] and group_in["additionalProperties"] is False
    assert group_in["properties"]["colour"]["pattern"] == "^#[0-9a-fA-F]{6}$"
    parameters = document["paths"]["/api/groups"]["get"]["parameters"]
    per_page = next(p for p in parameters if p["name"] == "per_page")
    assert (per_page["in"], per_page["schema"]["maximum"]) == ("query", 1000)
    webhooks = document["paths"]["/webhooks"]["post"]
    topic = next(p for p in webhooks["parameters"] if p["name"] == "X-Topic")
    assert "order/paid" in topic["schema"]["enum"]


def test_a_large_shops_segment_is_recomputed_in_the_background(app, client, paris):
    """Past CUSTOMER_GROUPS_SEGMENT_SYNC_LIMIT customers, creating or changing a segment
    answers at once, "recomputing", and a job brings the members (and their events)."""
    from sqlalchemy import func, select

    from plugin.db import db
    from plugin.events.models import OutboxEvent
    from plugin.jobs import run_pending

    def segment(segment_id):
        answer = client.get(f"/api/segments/{segment_id}", headers=auth())
        assert answer.status_code == 200
        body = answer.get_json()
        return body["member_count"], body["recomputing"]

    def events():
        with app.app_context():
            return db.session.execute(select(func.count()).select_from(OutboxEvent)).scalar_one()

    app.config["CUSTOMER_GROUPS_SEGMENT_SYNC_LIMIT"] = 4  # the shop has five customers
    paid_twice = [{"field": "total_order_count", "op": "gte", "value": 2}]
    created = post(client, seg(paid_twice, name="Repeat"))
    assert created.status_code == 201
    body = created.get_json()
    assert (body["member_count"], body["recomputing"]) == (0, True)
    before = events()
    listed = client.get("/api/segments", headers=auth()).get_json()["items"]
    assert [(s["name"], s["recomputing"]) for s in listed] == [("Repeat", True)]

    assert run_pending(app) == 1
    assert segment(body["id"]) == (2, False)  # a and e paid twice
    assert events() == before + 2  # customer/segments_changed for each newcomer

    changed = client.patch(
        f"/api/segments/{body['id']}",
        json={"conditions": [{"field": "total_order_count", "op": "gte", "value": 1}]},
        headers=auth(),
    )
    assert changed.status_code == 200 and changed.get_json()["recomputing"] is True
    assert changed.get_json()["member_count"] == 2  # the count before the change, meanwhile
    assert run_pending(app) == 1
    assert segment(body["id"]) == (4, False)  # everyone but d

    # At or under the limit, the request recomputes at once, as before.
    app.config["CUSTOMER_GROUPS_SEGMENT_SYNC_LIMIT"] = 5
    now = post(client, seg(paid_twice, name="Repeat now")).get_json()
    assert (now["member_count"], now["recomputing"]) == (2, False)
    assert run_pending(app) == 0


@pytest.mark.skipif(
    not __import__("tests.conftest").conftest.PG_URL, reason="PostgreSQL's advisory locks"
)
def test_a_running_recompute_never_holds_up_the_admin(app, client, paris):
    """The job serialises recomputes of a segment with an advisory lock, not the segment's
    row: renaming (or changing) the segment meanwhile answers at once."""
    import threading

    from plugin.db import db
    from plugin.segments import tasks

    created = post(client, seg([{"field": "total_order_count", "op": "gte", "value": 2}]))
    segment_id = created.get_json()["id"]
    holding, release, ended = threading.Event(), threading.Event(), threading.Event()

    def recompute_running():
        with app.app_context():
            tasks._recomputing_alone(segment_id)
            holding.set()
            release.wait(10)
            ended.set()  # a PATCH held up by this transaction would answer only after this
            db.session.rollback()
            db.session.remove()

    worker = threading.Thread(target=recompute_running)
    worker.start()
    try:
        assert holding.wait(5)
        renamed = client.patch(
            f"/api/segments/{segment_id}", json={"name": "Renamed"}, headers=auth()
        )
        assert renamed.status_code == 200 and not ended.is_set()
    finally:
        release.set()
        worker.join(10)


@pytest.mark.parametrize("sparse_below", [2000, 1], ids=["sorted-from-matches", "id-walk"])
def test_a_preview_counts_every_match_and_samples_the_first_ten(
    client, host, shop, monkeypatch, sparse_below
):
    """The count and the sample are two statements; the sample is found either way (few
    matches: sorted from them; many: a walk in id order), the same ten, of this shop."""
    monkeypatch.setattr(operations, "SPARSE_MATCHES", sparse_below)
    host.install(shop="other.example")
    for number in range(14):
        points = 0 if number in (3, 8) else 5
        payload = customer_payload(f"c_{number:02}", points=points)
        assert host.webhook("customer/created", {"customer": payload}).status_code == 200
        assert (
            host.webhook(
                "customer/created", {"customer": payload}, shop="other.example"
            ).status_code
            == 200
        )
    answer = client.post(
        "/api/segments/preview",
        json={
            "match": "all",
            "conditions": [{"field": "available_points", "op": "gte", "value": 5}],
        },
        headers=auth(),
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["count"] == 12
    expected = [f"c_{n:02}" for n in range(14) if n not in (3, 8)][:10]
    assert [customer["id"] for customer in body["sample"]] == expected
