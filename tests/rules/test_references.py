"""References to our own rows are kept by the database (issue 12, "Integrity by the
database"): deleting a group or segment takes it out of every audience aimed at it in the
same transaction, an audience left empty matches nobody, and ids are never handed out twice.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from plugin.audiences.sync import due_audiences
from plugin.codes.models import DiscountGroup, DiscountSegment
from plugin.db import db, utcnow
from plugin.groups.models import Group
from plugin.rules import models
from plugin.shops.models import Shop
from tests.automations.conftest import add_codes
from tests.conftest import SHOP, customer_payload
from tests.rules.helpers import Admin, cart, line, price_rule

HOOK = "/hooks/cart/price"


def rules_version(app):
    with app.app_context():
        return db.session.execute(select(Shop.rules_version).where(Shop.domain == SHOP)).scalar()


def test_a_deleted_groups_rule_does_not_pass_to_the_next_group(app, host, shop):
    """The defect of issue 12: give group 2 a -50 % rule, delete group 2, create a group;
    on SQLite it got id 2 back, and with it the -50 %."""
    admin = Admin(host.client)
    wholesale = admin.create("/groups", {"name": "Wholesale"})
    rule = admin.create(
        "/price-rules",
        price_rule(
            "Wholesale -50%",
            audience={"type": "groups", "ids": [wholesale["id"]]},
            action={"type": "discount_percent", "value": 50},
        ),
    )
    assert admin.delete(f"/groups/{wholesale['id']}").status_code == 204
    fresh = admin.create("/groups", {"name": "Fresh"})
    assert host.webhook("customer/created", {"customer": customer_payload("c_new")}).status_code
    moved = admin.post(f"/groups/{fresh['id']}/customers", {"customer_ids": ["c_new"]})
    assert moved.status_code == 200, moved.get_json()

    answer = host.post(HOOK, cart([line(unit_price=2000)], customer_id="c_new")).get_json()
    assert answer["lines"][0]["rule_unit_price"] == 2000
    assert answer["subtotal"] == 2000
    assert fresh["id"] != wholesale["id"]
    shown = admin.get(f"/price-rules/{rule['id']}").get_json()
    assert shown["audience"] == {"type": "groups", "ids": []}


def test_a_deleted_groups_discount_does_not_pass_to_the_next_group(app, host, shop):
    admin = Admin(host.client)
    wholesale = admin.create("/groups", {"name": "Wholesale"})
    admin.create(
        "/discounts",
        {
            "name": "Trade",
            "code": "TRADE50",
            "type": "percent",
            "value": 50,
            "audience": {"type": "groups", "ids": [wholesale["id"]]},
        },
    )
    assert admin.delete(f"/groups/{wholesale['id']}").status_code == 204
    fresh = admin.create("/groups", {"name": "Fresh"})
    host.webhook("customer/created", {"customer": customer_payload("c_new")})
    admin.post(f"/groups/{fresh['id']}/customers", {"customer_ids": ["c_new"]})

    body = cart([line(unit_price=2000)], customer_id="c_new", codes=["TRADE50"])
    code = host.post(HOOK, body).get_json()["codes"][0]
    assert (code["status"], code["reason"]) == ("rejected", "customer_not_eligible")


# Every kind of audience, and what deleting its groups or segments does to it ---------------

AIMED = {
    "/price-rules": price_rule("Members -10%"),
    "/bundles": {
        "name": "Pair",
        "items": [{"product_id": "p1", "quantity": 2}],
        "price": {"type": "fixed_total", "value": 1500},
    },
    "/gift-rules": {
        "name": "Tote",
        "trigger": {"type": "subtotal", "min": 0},
        "gift": {"product_id": "tote", "quantity": 1},
    },
    "/benefit-programmes": {
        "name": "Club",
        "tiers": [{"min_subtotal": 0, "actions": [{"type": "fixed_off_order", "value": 100}]}],
    },
    "/discounts": {"name": "Members", "type": "percent", "value": 10},
}
LINKS = (
    models.PriceRuleGroup,
    models.PriceRuleSegment,
    models.BundleGroup,
    models.BundleSegment,
    models.GiftRuleGroup,
    models.GiftRuleSegment,
    models.BenefitProgrammeGroup,
    models.BenefitProgrammeSegment,
    DiscountGroup,
    DiscountSegment,
)


def link_rows(app):
    """Every link row of every audience: (table, owner id, group or segment id)."""
    with app.app_context():
        rows = []
        for link in LINKS:
            table = link.__table__
            owner, target = (c.name for c in table.primary_key.columns)
            for owner_id, target_id in db.session.execute(
                select(table.c[owner], table.c[target])
            ):
                rows.append((table.name, owner_id, target_id))
        return sorted(rows)


def segment(admin, name, tag):
    condition = {"field": "customer_tag", "op": "has", "value": tag}
    return admin.create("/segments", {"name": name, "match": "all", "conditions": [condition]})


@pytest.mark.parametrize("kind", ["groups", "segments"])
def test_deleting_a_group_or_segment_takes_it_out_of_every_audience(app, host, shop, kind):
    admin = Admin(host.client)
    if kind == "groups":
        gone, kept = (admin.create("/groups", {"name": n})["id"] for n in ("Gone", "Kept"))
    else:
        gone, kept = (segment(admin, n, n.lower())["id"] for n in ("Gone", "Kept"))
    made = {}
    for path, body in AIMED.items():
        # The price rules and the discount are aimed at both, the others at the one to go.
        ids = [gone, kept] if path in ("/price-rules", "/discounts") else [gone]
        made[path] = admin.create(path, {**body, "audience": {"type": kind, "ids": ids}})
    before = rules_version(app)

    path = f"/{kind}/{gone}"
    assert admin.delete(path).status_code == 204

    for resource, created in made.items():
        shown = admin.get(f"{resource}/{created['id']}").get_json()
        expected = [kept] if resource in ("/price-rules", "/discounts") else []
        assert shown["audience"] == {"type": kind, "ids": expected}, resource
    assert gone not in {target for _, _, target in link_rows(app)}
    assert kept in {target for _, _, target in link_rows(app)}
    # Every process rebuilds its pricing snapshot.
    assert rules_version(app) > before


def test_an_audience_left_empty_matches_nobody(app, host, shop):
    admin = Admin(host.client)
    vip = admin.create("/groups", {"name": "VIP"})
    admin.create(
        "/price-rules",
        price_rule(
            "VIP price",
            audience={"type": "groups", "ids": [vip["id"]]},
            action={"type": "set_price", "value": 1},
        ),
    )
    host.webhook("customer/created", {"customer": customer_payload("c_vip")})
    admin.post(f"/groups/{vip['id']}/customers", {"customer_ids": ["c_vip"]})
    body = cart([line(unit_price=2000)], customer_id="c_vip")
    assert host.post(HOOK, body).get_json()["lines"][0]["rule_unit_price"] == 1
    assert admin.delete(f"/groups/{vip['id']}").status_code == 204
    # Moved to the default group, the customer no longer gets it, and nobody else does.
    for customer_id in ("c_vip", None):
        answer = host.post(HOOK, cart([line(unit_price=2000)], customer_id=customer_id))
        assert answer.get_json()["lines"][0]["rule_unit_price"] == 2000


def test_a_discount_left_without_its_audience_is_aimed_again_before_it_changes(host, shop):
    """A discount is validated whole at each PATCH (contract §5): one whose groups were all
    deleted takes a new audience with the change."""
    admin = Admin(host.client)
    gone = admin.create("/groups", {"name": "Gone"})
    discount = admin.create(
        "/discounts", {**AIMED["/discounts"], "audience": {"type": "groups", "ids": [gone["id"]]}}
    )
    admin.delete(f"/groups/{gone['id']}")
    refused = admin.patch(f"/discounts/{discount['id']}", {"active": False})
    assert refused.status_code == 422
    assert "audience.ids" in refused.get_json()["error"]["details"]
    changed = admin.patch(
        f"/discounts/{discount['id']}", {"active": False, "audience": {"type": "all"}}
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["audience"] == {"type": "all", "ids": []}


def test_deleting_a_rule_or_discount_deletes_its_links(app, host, shop):
    admin = Admin(host.client)
    group = admin.create("/groups", {"name": "G"})["id"]
    loyal = segment(admin, "Loyal", "loyal")["id"]
    made = []
    for number, (path, body) in enumerate(AIMED.items()):
        if number % 2:
            audience = {"type": "groups", "ids": [group]}
        else:
            audience = {"type": "segments", "ids": [loyal]}
        made.append((path, admin.create(path, {**body, "audience": audience})["id"]))
    assert len(link_rows(app)) == len(AIMED)
    # Changing an audience replaces its links.
    path, first = made[0]
    admin.patch(f"{path}/{first}", {"audience": {"type": "groups", "ids": [group]}})
    assert ("price_rule_groups", first, group) in link_rows(app)
    assert len(link_rows(app)) == len(AIMED)
    for path, object_id in made:
        assert admin.delete(f"{path}/{object_id}").status_code == 204
    assert link_rows(app) == []


def test_a_rule_cannot_be_aimed_at_another_shops_group_even_bypassing_the_api(app, host, shop):
    host.install("other.example")
    admin = Admin(host.client)
    rule = admin.create("/price-rules", price_rule())
    with app.app_context():
        theirs = db.session.execute(
            select(Group.id)
            .join(Shop, Shop.id == Group.shop_id)
            .where(Shop.domain == "other.example")
        ).scalar_one()
        row = db.session.get(models.PriceRule, rule["id"])
        with pytest.raises(IntegrityError):
            row.aim("groups", [theirs])
            db.session.flush()
        db.session.rollback()
    assert admin.get(f"/price-rules/{rule['id']}").get_json()["audience"] == {
        "type": "all",
        "ids": [],
    }


def test_redacting_a_shop_deletes_its_links(app, host, shop):
    admin = Admin(host.client)
    group = admin.create("/groups", {"name": "G"})["id"]
    for path, body in AIMED.items():
        admin.create(path, {**body, "audience": {"type": "groups", "ids": [group]}})
    assert len(link_rows(app)) == len(AIMED)
    assert host.webhook("shop/redact", {}).status_code == 200
    assert link_rows(app) == []


# Audiences (sync) and automations: the reference becomes NULL -----------------------------


@pytest.mark.parametrize("kind", ["group", "segment"])
def test_deleting_an_audiences_source_leaves_it_without_one(app, host, shop, kind):
    admin = Admin(host.client)
    if kind == "group":
        source = admin.create("/groups", {"name": "Sent"})["id"]
    else:
        source = segment(admin, "Sent", "sent")["id"]
    audience = admin.create(
        "/audiences",
        {
            "name": "To Klaviyo",
            "source": {"type": kind, "id": source},
            "destination": {"type": "klaviyo", "credentials": {"api_key": "k"}, "list_id": "L"},
            "schedule": "hourly",
        },
    )
    with app.app_context():
        assert [a.id for a in due_audiences(utcnow())] == [audience["id"]]
    assert admin.delete(f"/{kind}s/{source}").status_code == 204

    shown = admin.get(f"/audiences/{audience['id']}").get_json()
    assert shown["source"] == {"type": kind, "id": None}
    with app.app_context():
        assert due_audiences(utcnow()) == []  # never scheduled: a run could only fail
    ran = admin.post(f"/audiences/{audience['id']}/run", {}).get_json()
    assert ran["status"] == "failed"
    assert "no longer exists" in ran["errors"][0]["message"]
    # Given another source, it runs again.
    other = admin.create("/groups", {"name": "Other"})["id"]
    changed = admin.patch(
        f"/audiences/{audience['id']}", {"source": {"type": "group", "id": other}}
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["source"] == {"type": "group", "id": other}


def test_deleting_a_trigger_segment_or_discount_disarms_the_automation(host, shop):
    admin = Admin(host.client)
    pool = admin.create("/discounts", {"name": "Pool", "type": "percent", "value": 10})
    add_codes(host.client, pool["id"], ["POOL1"])
    given = admin.create("/discounts", {"name": "Given", "type": "percent", "value": 5})
    loyal = segment(admin, "Loyal", "loyal")["id"]
    on_segment = admin.create(
        "/automations",
        {
            "name": "Joined",
            "trigger": {"type": "joined_segment", "segment_id": loyal},
            "action": {"type": "give_coupon", "discount_id": pool["id"]},
        },
    )
    on_coupon = admin.create(
        "/automations",
        {
            "name": "Chained",
            "trigger": {"type": "coupon_given", "discount_id": given["id"]},
            "action": {"type": "give_coupon", "discount_id": pool["id"]},
        },
    )
    assert admin.delete(f"/segments/{loyal}").status_code == 204
    assert admin.delete(f"/discounts/{given['id']}").status_code == 204
    trigger = admin.get(f"/automations/{on_segment['id']}").get_json()["trigger"]
    assert trigger == {"type": "joined_segment", "segment_id": None}
    trigger = admin.get(f"/automations/{on_coupon['id']}").get_json()["trigger"]
    assert trigger == {"type": "coupon_given", "discount_id": None}


# Ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, body",
    [("/groups", {"name": "G"}), ("/segments", None), *AIMED.items()],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_the_id_of_a_deleted_row_is_never_handed_out_again(host, shop, path, body):
    admin = Admin(host.client)
    body = body or {
        "name": "S",
        "match": "all",
        "conditions": [{"field": "customer_tag", "op": "has", "value": "t"}],
    }
    first = admin.create(path, {**body, "name": "First"})
    assert admin.delete(f"{path}/{first['id']}").status_code == 204
    second = admin.create(path, {**body, "name": "Second"})
    assert second["id"] > first["id"]
