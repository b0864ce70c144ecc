"""``/api/automations``: create, read, change, delete, and the 422s of contract §5."""

from __future__ import annotations

import pytest

from tests.automations.conftest import add_codes, buyers_segment
from tests.conftest import Host, auth


def _post(client, body):
    return client.post("/api/automations", json=body, headers=auth())


def _body(discount_id, trigger=None, **fields):
    return {
        "name": "Welcome",
        "trigger": trigger or {"type": "customer_created"},
        "action": {"type": "give_coupon", "discount_id": discount_id},
        **fields,
    }


def _group(client, name="VIP"):
    return client.post("/api/groups", json={"name": name}, headers=auth()).get_json()["id"]


def test_create_read_list_change_delete(client, make_pool):
    pool = make_pool()
    answer = _post(
        client,
        {
            "name": " Welcome ",
            "trigger": {"type": "customer_created"},
            "action": {"type": "give_coupon", "discount_id": pool["id"], "expires_after_days": 30},
        },
    )
    assert answer.status_code == 201, answer.get_json()
    created = answer.get_json()
    assert created == {
        "id": created["id"],
        "name": "Welcome",
        "trigger": {"type": "customer_created"},
        "action": {"type": "give_coupon", "discount_id": pool["id"], "expires_after_days": 30},
        "active": True,
        "last_error": None,
        "last_error_at": None,
        "runs": {"succeeded": 0, "failed": 0},
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
    }
    url = f"/api/automations/{created['id']}"
    assert client.get(url, headers=auth()).get_json() == created
    listing = client.get("/api/automations", headers=auth()).get_json()
    assert listing == {"items": [created], "total": 1, "page": 1, "per_page": 50}

    group = _group(client)
    patched = client.patch(
        url,
        json={"active": False, "trigger": {"type": "joined_group", "group_id": group}},
        headers=auth(),
    )
    assert patched.status_code == 200, patched.get_json()
    body = patched.get_json()
    assert body["active"] is False and body["trigger"] == {
        "type": "joined_group",
        "group_id": group,
    }
    assert body["action"]["expires_after_days"] == 30 and body["name"] == "Welcome"
    # Sending the whole answer back changes nothing (read-only fields are ignored).
    same = client.patch(url, json=body, headers=auth()).get_json()
    assert {k: v for k, v in same.items() if k != "updated_at"} == {
        k: v for k, v in body.items() if k != "updated_at"
    }

    assert client.delete(url, headers=auth()).status_code == 204
    assert client.get(url, headers=auth()).status_code == 404
    assert client.delete(url, headers=auth()).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"trigger": {"type": "birthday"}}, "trigger.type"),
        ({"trigger": {"type": "joined_group"}}, "trigger.group_id"),
        ({"trigger": {"type": "joined_segment"}}, "trigger.segment_id"),
        ({"trigger": {"type": "coupon_given"}}, "trigger.discount_id"),
        ({"trigger": {"type": "joined_group", "group_id": 99999}}, "trigger.group_id"),
        ({"trigger": {"type": "joined_segment", "segment_id": 99999}}, "trigger.segment_id"),
        ({"trigger": {"type": "order_paid", "group_id": 1}}, "trigger.group_id"),
        ({"trigger": {"type": "customer_created", "colour": "red"}}, "trigger.colour"),
        ({"trigger": None}, "trigger"),
        ({"action": {"type": "send_email", "discount_id": 1}}, "action.type"),
        ({"action": {"type": "give_coupon"}}, "action.discount_id"),
        ({"action": {"type": "give_coupon", "discount_id": 99999}}, "action.discount_id"),
        ({"action": {"type": "give_coupon", "discount_id": "1"}}, "action.discount_id"),
        (
            {"action": {"type": "give_coupon", "discount_id": 1, "expires_after_days": 0}},
            "action.expires_after_days",
        ),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"active": "maybe"}, "active"),
        ({"colour": "#ffffff"}, "colour"),
    ],
)
def test_invalid_automations_are_422_with_details(client, make_pool, change, field):
    pool = make_pool()
    body = _body(pool["id"])
    if "action" in change and change["action"].get("discount_id") == 1:
        change = {"action": {**change["action"], "discount_id": pool["id"]}}
    body.update(change)
    answer = _post(client, body)
    assert answer.status_code == 422, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "validation_failed" and field in error["details"], error
    assert client.get("/api/automations", headers=auth()).get_json()["total"] == 0


def test_a_discount_without_a_pool_is_refused(client, make_pool):
    shared_only = make_pool(codes=(), code="SHARED10")
    answer = _post(client, _body(shared_only["id"]))
    assert answer.status_code == 422
    [message] = answer.get_json()["error"]["details"]["action.discount_id"]
    assert "no pool of codes" in message
    add_codes(client, shared_only["id"], ["P1"])
    assert _post(client, _body(shared_only["id"])).status_code == 201


def test_references_must_belong_to_the_shop(client, host, make_pool):
    pool = make_pool()
    segment = buyers_segment(client)
    ok = _post(client, _body(pool["id"], {"type": "joined_segment", "segment_id": segment}))
    assert ok.status_code == 201 and ok.get_json()["trigger"]["segment_id"] == segment
    Host(client).install(shop="other.example")
    other = {"Authorization": auth("other.example")["Authorization"]}
    theirs = client.post("/api/automations", json=_body(pool["id"]), headers=other)
    assert (
        theirs.status_code == 422 and "action.discount_id" in theirs.get_json()["error"]["details"]
    )
    automation_id = ok.get_json()["id"]
    assert client.get(f"/api/automations/{automation_id}", headers=other).status_code == 404
    assert client.get(f"/api/automations/{automation_id}/runs", headers=other).status_code == 404
    assert client.get("/api/automations", headers=other).get_json()["total"] == 0


def test_a_bad_patch_changes_nothing(client, make_pool):
    pool = make_pool()
    created = _post(client, _body(pool["id"])).get_json()
    url = f"/api/automations/{created['id']}"
    bad = client.patch(url, json={"trigger": {"type": "joined_group"}}, headers=auth())
    assert bad.status_code == 422 and "trigger.group_id" in bad.get_json()["error"]["details"]
    not_json = client.patch(url, data="x", headers=auth())
    assert not_json.status_code == 422
    assert client.get(url, headers=auth()).get_json() == created


def test_deleting_the_trigger_group_disarms_the_automation(client, make_pool):
    pool = make_pool()
    group = _group(client)
    created = _post(client, _body(pool["id"], {"type": "joined_group", "group_id": group}))
    assert client.delete(f"/api/groups/{group}", headers=auth()).status_code == 204
    after = client.get(f"/api/automations/{created.get_json()['id']}", headers=auth()).get_json()
    assert after["trigger"] == {"type": "joined_group", "group_id": None}


def test_openapi_documents_every_route(client, shop):
    paths = client.get("/api/openapi.json", headers=auth()).get_json()["paths"]
    assert set(paths["/api/automations"]) == {"get", "post"}
    assert set(paths["/api/automations/{automation_id}"]) == {"get", "patch", "delete"}
    runs = paths["/api/automations/{automation_id}/runs"]["get"]
    assert "AutomationRunPage" in str(runs["responses"]["200"])
    assert set(paths["/api/events"]) == {"get"}
    assert set(paths["/api/events/{event_pk}/retry"]) == {"post"}
    render = paths["/api/render"]["post"]
    assert "rendered" in render["description"] and "RenderIn" in str(render["requestBody"])
    trigger = client.get("/api/openapi.json", headers=auth()).get_json()["components"]["schemas"][
        "TriggerIn"
    ]
    assert "coupon_given" in trigger["properties"]["type"]["enum"]
