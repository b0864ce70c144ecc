"""Runs mirror their source (contract §5, version 2): leavers out, joiners in, returners back,
at fake Klaviyo, Meta and Attentive that judge every request by the vendors' SDKs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from plugin.audiences import tasks
from plugin.audiences.klaviyo import KlaviyoDestination
from plugin.audiences.models import AudienceMember
from plugin.customers.models import Customer
from plugin.db import db
from plugin.jobs import run_pending
from plugin.shops.models import Shop
from tests.audiences.conftest import add_customers, audience_body, create_audience, run
from tests.audiences.vendors import (
    KLAVIYO_SDK_REVISION,
    META_SDK_VERSION,
    FakeAttentive,
    FakeKlaviyo,
    FakeMeta,
    meta_entry,
)
from tests.conftest import auth, customer_payload, order_payload

KLAVIYO_KEY = "pk_live_mirror_0123456789"
META_TOKEN = "EAAG-mirror-token-0123456789"
ATTENTIVE_KEY = "att_mirror_key_0123456789"
PEOPLE = {
    f"c_{i}": {"email": f"Member{i}@Example.com ", "phone": f"+33 6 12 34 56 {i:02d}"}
    for i in range(1, 7)
}


def phone(external_id: str) -> str:
    return PEOPLE[external_id]["phone"]


def email(external_id: str) -> str:
    return PEOPLE[external_id]["email"].strip()


def test_the_defaults_are_the_current_sdks_versions(app):
    assert app.config["CUSTOMER_GROUPS_KLAVIYO_REVISION"] == KLAVIYO_SDK_REVISION
    assert app.config["CUSTOMER_GROUPS_META_API_VERSION"] == META_SDK_VERSION


@pytest.fixture
def mirrored(app, client, shop, httpserver):
    """Six customers in the default group, and an audience of it at each vendor."""
    add_customers(
        app,
        [
            {"external_id": key, "email": value["email"], "phone": value["phone"]}
            for key, value in PEOPLE.items()
        ],
    )
    base = httpserver.url_for("/")
    klaviyo = FakeKlaviyo(httpserver, "LIST1", KLAVIYO_KEY)
    meta = FakeMeta(httpserver, "2385000", META_TOKEN)
    # c_6 never subscribed at Attentive: skipped there, never held.
    attentive = FakeAttentive(httpserver, [phone(k) for k in PEOPLE if k != "c_6"], ATTENTIVE_KEY)
    audiences = {
        "klaviyo": create_audience(
            client,
            audience_body(
                app,
                {
                    "type": "klaviyo",
                    "credentials": {"api_key": KLAVIYO_KEY},
                    "list_id": "LIST1",
                    "base_url": base,
                },
                name="K",
                mapping={"identifier": "email", "properties": {"Spent": "total_spent"}},
            ),
        ),
        "meta": create_audience(
            client,
            audience_body(
                app,
                {
                    "type": "meta",
                    "credentials": {"access_token": META_TOKEN},
                    "audience_id": "2385000",
                    "base_url": base,
                },
                name="M",
            ),
        ),
        "attentive": create_audience(
            client,
            audience_body(
                app,
                {
                    "type": "attentive",
                    "credentials": {"api_key": ATTENTIVE_KEY},
                    "base_url": base,
                },
                name="A",
                mapping={"identifier": "phone", "properties": {"vip": "group"}},
            ),
        ),
    }
    other = client.post("/api/groups", json={"name": "Elsewhere"}, headers=auth()).get_json()
    return klaviyo, meta, attentive, audiences, other["id"]


def run_all(client, audiences):
    answers = {}
    for kind, audience in audiences.items():
        answer = run(client, audience["id"])
        assert answer.status_code == 201, answer.get_json()
        body = answer.get_json()
        answers[kind] = (body["status"], body["synced"], body["removed"], body["skipped"])
    return answers


def move(client, group_id, *external_ids):
    response = client.post(
        f"/api/groups/{group_id}/customers",
        json={"customer_ids": list(external_ids)},
        headers=auth(),
    )
    assert response.status_code < 300, response.get_json()


def test_leavers_are_removed_and_returners_added_back_at_every_vendor(app, client, mirrored):
    klaviyo, meta, attentive, audiences, elsewhere = mirrored
    default = audiences["klaviyo"]["source"]["id"]
    everyone = set(PEOPLE)

    def check(members):
        assert klaviyo.emails() == {email(k) for k in members}
        assert meta.entries == {meta_entry(PEOPLE[k]["email"]) for k in members}
        for key in everyone - {"c_6"}:
            expected = "Standard" if key in members else ""
            assert attentive.attributes[phone(key)].get("vip", "") == expected, key
        assert klaviyo.problems == meta.problems == attentive.problems == []

    assert run_all(client, audiences) == {
        "klaviyo": ("succeeded", 6, 0, 0),
        "meta": ("succeeded", 6, 0, 0),
        "attentive": ("succeeded", 5, 0, 1),
    }
    check(everyone)

    # A run with nothing changed removes nobody and adds nobody new (Meta: no call at all).
    meta_calls = len(meta.calls)
    assert run_all(client, audiences)["meta"] == ("succeeded", 6, 0, 0)
    assert len(meta.calls) == meta_calls

    # Two leave the group, one changes email: all three leave, the new address joins.
    move(client, elsewhere, "c_2", "c_3")
    with app.app_context():
        db.session.execute(
            update(Customer)
            .where(Customer.external_id == "c_4")
            .values(email="renamed4@example.com")
        )
        db.session.commit()
    PEOPLE["c_4"] = {**PEOPLE["c_4"], "email": "renamed4@example.com"}
    try:
        assert run_all(client, audiences) == {
            "klaviyo": ("succeeded", 4, 3, 0),
            "meta": ("succeeded", 4, 3, 0),
            "attentive": ("succeeded", 3, 2, 1),
        }
        check(everyone - {"c_2", "c_3"})
        # Klaviyo's removals name the profiles by the ids it gave them.
        removed = [ids for kind, method, ids in klaviyo.calls if method == "DELETE"]
        assert len(removed) == 1 and len(removed[0]) == 3

        # One comes back: added again.
        move(client, default, "c_2")
        assert run_all(client, audiences) == {
            "klaviyo": ("succeeded", 5, 0, 0),
            "meta": ("succeeded", 5, 0, 0),
            "attentive": ("succeeded", 4, 0, 1),
        }
        check(everyone - {"c_3"})
    finally:
        PEOPLE["c_4"] = {"email": "Member4@Example.com ", "phone": "+33 6 12 34 56 04"}


def test_a_run_killed_while_removing_resumes_without_losing_or_repeating_one(
    app, client, mirrored, monkeypatch
):
    klaviyo, meta, attentive, audiences, elsewhere = mirrored
    audience = audiences["klaviyo"]
    assert run(client, audience["id"]).get_json()["synced"] == 6
    move(client, elsewhere, "c_1", "c_3", "c_5")

    monkeypatch.setattr(KlaviyoDestination, "removal_batch_size", 1)
    real_remove = KlaviyoDestination.remove
    calls = []

    def dying_remove(self, leavers):
        calls.append(len(leavers))
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real_remove(self, leavers)

    monkeypatch.setattr(KlaviyoDestination, "remove", dying_remove)
    first = run(client, audience["id"]).get_json()
    assert (first["status"], first["removed"]) == ("running", 1)
    assert len(klaviyo.emails()) == 5

    monkeypatch.setattr(KlaviyoDestination, "remove", real_remove)
    with app.app_context():
        shop_id = db.session.execute(select(Shop.id)).scalars().first()
        done = tasks.drive(
            shop_id,
            audience["id"],
            first["id"],
            lambda _: db.session.commit(),
            stale_after=timedelta(0),
        )
        assert (done.status, done.removed, done.synced) == ("succeeded", 3, 3)
        held = db.session.execute(
            select(AudienceMember.customer_id).where(AudienceMember.audience_id == audience["id"])
        ).all()
        assert len(held) == 3
    assert klaviyo.emails() == {email(k) for k in ("c_2", "c_4", "c_6")}
    deletes = [ids[0] for _, method, ids in klaviyo.calls if method == "DELETE"]
    assert len(deletes) == len(set(deletes)) == 3  # each leaver removed once
    assert klaviyo.problems == []


def compact(external_id: str) -> str:
    """The phone as the host sends it (E.164, no spaces)."""
    return phone(external_id).replace(" ", "")


def test_a_refund_takes_them_out_of_the_ever_used_a_code_segment_and_the_vendors(
    app, client, host, shop, httpserver
):
    """The issue's story: a refund took a customer out of "ever used a discount code"; the
    next run removes them at Meta and says so at Attentive."""
    segment = client.post(
        "/api/segments",
        json={
            "name": "Ever used a discount code",
            "match": "all",
            "conditions": [{"field": "used_discount_code", "op": "is", "value": True}],
        },
        headers=auth(),
    )
    assert segment.status_code == 201, segment.get_json()
    for key in ("c_1", "c_2"):
        customer = {"id": key, "email": email(key), "phone": compact(key)}
        host.webhook("customer/created", {"customer": {**customer_payload(key), **customer}})
        order = order_payload(f"o_{key}", key, discount_codes=["SAVE10"])
        assert host.webhook("order/paid", {"order": order}).status_code == 200
    run_pending(app)  # the segment's first computation
    shown = client.get(f"/api/segments/{segment.get_json()['id']}", headers=auth()).get_json()
    assert shown["member_count"] == 2
    base = httpserver.url_for("/")
    meta = FakeMeta(httpserver, "2385000", META_TOKEN)
    attentive = FakeAttentive(httpserver, [compact("c_1"), compact("c_2")], ATTENTIVE_KEY)
    source = {"type": "segment", "id": segment.get_json()["id"]}
    meta_audience = create_audience(
        client,
        audience_body(
            app,
            {
                "type": "meta",
                "credentials": {"access_token": META_TOKEN},
                "audience_id": "2385000",
                "base_url": base,
            },
            name="M",
            source=source,
        ),
    )
    attentive_audience = create_audience(
        client,
        audience_body(
            app,
            {"type": "attentive", "credentials": {"api_key": ATTENTIVE_KEY}, "base_url": base},
            name="A",
            source=source,
            mapping={
                "identifier": "phone",
                "properties": {"ever_used_discount_code": "used_discount_code"},
            },
        ),
    )
    for audience in (meta_audience, attentive_audience):
        first = run(client, audience["id"]).get_json()
        assert first["synced"] == 2, (first["status"], first["skipped"], first["total"])
    assert attentive.attributes[compact("c_2")] == {"ever_used_discount_code": "true"}

    assert host.webhook("order/refunded", {"order": {"id": "o_c_2"}}).status_code == 200
    run_pending(app)
    for audience in (meta_audience, attentive_audience):
        answer = run(client, audience["id"]).get_json()
        assert (answer["status"], answer["synced"], answer["removed"]) == ("succeeded", 1, 1)
    assert meta.entries == {meta_entry(email("c_1"))}
    assert attentive.attributes[compact("c_2")] == {"ever_used_discount_code": ""}
    assert attentive.attributes[compact("c_1")] == {"ever_used_discount_code": "true"}
    assert meta.problems == attentive.problems == []


def test_only_update_existing_adds_no_one_new_and_still_removes_leavers(
    app, client, shop, httpserver
):
    add_customers(
        app,
        [{"external_id": key, "email": email(key)} for key in ("c_1", "c_2", "c_3")],
    )
    klaviyo = FakeKlaviyo(httpserver, "LIST1", KLAVIYO_KEY)
    # c_1 and c_2 are Klaviyo profiles already; c_3 is not.
    klaviyo.profiles.update({email("c_1"): "01EXIST1", email("c_2"): "01EXIST2"})
    audience = create_audience(
        client,
        audience_body(
            app,
            {
                "type": "klaviyo",
                "credentials": {"api_key": KLAVIYO_KEY},
                "list_id": "LIST1",
                "base_url": httpserver.url_for("/"),
            },
            only_update_existing=True,
        ),
    )
    first = run(client, audience["id"]).get_json()
    assert (first["synced"], first["skipped"]) == (2, 1)
    assert klaviyo.emails() == {email("c_1"), email("c_2")}

    other = client.post("/api/groups", json={"name": "Elsewhere"}, headers=auth()).get_json()
    move(client, other["id"], "c_2")
    second = run(client, audience["id"]).get_json()
    assert (second["synced"], second["removed"], second["skipped"]) == (1, 1, 1)
    assert klaviyo.emails() == {email("c_1")}
    assert klaviyo.problems == []
