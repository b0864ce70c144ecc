"""The admin API of price rules, bundles, gift rules and benefit programmes (contract §5)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from plugin.db import db
from plugin.groups.models import Group
from plugin.segments.models import Segment
from plugin.shops.models import Shop
from tests.conftest import SHOP
from tests.rules.helpers import Admin, error, price_rule

OTHER = "other.example"


@pytest.fixture
def admin(client, shop):
    return Admin(client)


def rules_version(app, domain=SHOP):
    with app.app_context():
        return db.session.execute(select(Shop.rules_version).where(Shop.domain == domain)).scalar()


def default_group_id(app, domain=SHOP):
    with app.app_context():
        return db.session.execute(
            select(Group.id).join(Shop, Shop.id == Group.shop_id).where(Shop.domain == domain)
        ).scalar_one()


def add_segment(app, domain=SHOP, name="Loyal"):
    with app.app_context():
        shop_id = db.session.execute(select(Shop.id).where(Shop.domain == domain)).scalar_one()
        segment = Segment(shop_id=shop_id, name=name, name_key=name.lower(), conditions=[])
        db.session.add(segment)
        db.session.commit()
        return segment.id


BUNDLE = {
    "name": "Shoe care kit",
    "items": [{"product_id": "p1", "quantity": 2}, {"product_id": "p2", "quantity": 1}],
    "price": {"type": "fixed_total", "value": 4500},
    "max_applications": 2,
    "priority": 1,
}
GIFT_RULE = {
    "name": "Free tote",
    "trigger": {"type": "subtotal", "min": 10000},
    "gift": {"product_id": "p9", "quantity": 1},
}
PROGRAMME = {
    "name": "VIP",
    "priority": 0,
    "conditions": [
        {"field": "shipping_country", "op": "is", "value": "FR"},
        {"field": "product_in_cart", "op": "any_of", "value": ["p1", "p2"]},
    ],
    "tiers": [
        {"min_subtotal": 0, "actions": [{"type": "percent_off_order", "value": 5}]},
        {
            "min_subtotal": 10000,
            "actions": [
                {"type": "percent_off_order", "value": 12.5},
                {"type": "free_shipping", "carriers": ["royal_mail"], "max_amount": None},
            ],
        },
    ],
    "earns_loyalty_points": False,
    "combinable_with_codes": False,
}


def test_price_rule_round_trip(admin, app):
    group_id = default_group_id(app)
    body = price_rule(
        "Wholesale -12.5%",
        audience={"type": "groups", "ids": [group_id]},
        scope={"type": "categories", "ids": ["shoes", "bags"]},
        action={"type": "discount_percent", "value": 12.5},
        priority=3,
        starts_at="2026-03-01T10:00:00Z",
        ends_at="2026-04-01",
    )
    created = admin.create("/price-rules", body)
    assert created["audience"] == {"type": "groups", "ids": [group_id]}
    assert created["scope"] == {"type": "categories", "ids": ["shoes", "bags"]}
    assert created["action"] == {"type": "discount_percent", "value": 12.5}
    assert (created["priority"], created["active"]) == (3, True)
    assert created["starts_at"] == "2026-03-01T10:00:00Z"
    # A date as an end means the end of that day in the shop's time zone (UTC here).
    assert created["ends_at"] == "2026-04-02T00:00:00Z"
    assert admin.get(f"/price-rules/{created['id']}").get_json() == created


def test_patch_changes_only_what_is_given(admin):
    created = admin.create("/price-rules", price_rule("Ten", priority=5))
    response = admin.patch(
        f"/price-rules/{created['id']}", {"action": {"type": "set_price", "value": 999}}
    )
    assert response.status_code == 200, response.get_json()
    changed = response.get_json()
    assert changed["action"] == {"type": "set_price", "value": 999}
    assert (changed["name"], changed["priority"]) == ("Ten", 5)
    response = admin.patch(f"/price-rules/{created['id']}", {"active": False})
    assert response.get_json()["active"] is False
    assert response.get_json()["action"] == {"type": "set_price", "value": 999}


def test_patch_validates_the_window_against_the_stored_start(admin):
    created = admin.create("/price-rules", price_rule(starts_at="2026-05-01T00:00:00Z"))
    response = admin.patch(f"/price-rules/{created['id']}", {"ends_at": "2026-04-01T00:00:00Z"})
    assert response.status_code == 422
    assert "ends_at" in error(response)["details"]


def test_bundle_gift_rule_and_programme_round_trip(admin):
    bundle = admin.create("/bundles", BUNDLE)
    assert bundle["items"] == BUNDLE["items"]
    assert bundle["price"] == {"type": "fixed_total", "value": 4500}
    assert bundle["max_applications"] == 2
    gift = admin.create("/gift-rules", GIFT_RULE)
    assert gift["trigger"] == {"type": "subtotal", "min": 10000}
    assert gift["gift"] == {"product_id": "p9", "quantity": 1}
    programme = admin.create("/benefit-programmes", PROGRAMME)
    assert programme["tiers"] == PROGRAMME["tiers"]
    assert programme["conditions"] == PROGRAMME["conditions"]
    assert (programme["earns_loyalty_points"], programme["combinable_with_codes"]) == (False, False)

    items = [{"product_id": "p3", "quantity": 3}]
    response = admin.patch(f"/bundles/{bundle['id']}", {"items": items})
    assert response.get_json()["items"] == items
    tiers = [{"min_subtotal": 5000, "actions": [{"type": "fixed_off_order", "value": 700}]}]
    response = admin.patch(f"/benefit-programmes/{programme['id']}", {"tiers": tiers})
    assert response.status_code == 200, response.get_json()
    assert admin.get(f"/benefit-programmes/{programme['id']}").get_json()["tiers"] == tiers


@pytest.mark.parametrize(
    "path, body, field",
    [
        (
            "/price-rules",
            price_rule(action={"type": "discount_percent", "value": 101}),
            "action.value",
        ),
        (
            "/price-rules",
            price_rule(action={"type": "discount_percent", "value": 0}),
            "action.value",
        ),
        (
            "/price-rules",
            price_rule(action={"type": "discount_percent", "value": -5}),
            "action.value",
        ),
        (
            "/price-rules",
            price_rule(action={"type": "increase_percent", "value": 0}),
            "action.value",
        ),
        (
            "/price-rules",
            price_rule(action={"type": "discount_fixed", "value": -1}),
            "action.value",
        ),
        ("/price-rules", price_rule(action={"type": "set_price", "value": "10"}), "action.value"),
        ("/price-rules", price_rule(action={"type": "set_price", "value": 9.5}), "action.value"),
        ("/price-rules", price_rule(action={"type": "halve", "value": 50}), "action.type"),
        (
            "/price-rules",
            price_rule(action={"type": "discount_percent", "value": 1.234}),
            "action.value",
        ),
        ("/price-rules", price_rule(scope={"type": "products", "ids": []}), "scope.ids"),
        ("/price-rules", price_rule(scope={"type": "brands", "ids": ["x"]}), "scope.type"),
        ("/price-rules", price_rule(audience={"type": "groups", "ids": []}), "audience.ids"),
        ("/price-rules", price_rule(audience={"type": "everyone"}), "audience.type"),
        ("/price-rules", price_rule(colour="#ffffff"), "colour"),
        ("/price-rules", price_rule(name=""), "name"),
        ("/price-rules", price_rule(ends_at="2026-01-01", starts_at="2026-02-01"), "ends_at"),
        ("/bundles", {**BUNDLE, "items": []}, "items"),
        ("/bundles", {**BUNDLE, "price": {"type": "percent_off", "value": 150}}, "price.value"),
        ("/bundles", {**BUNDLE, "price": {"type": "fixed_total", "value": -100}}, "price.value"),
        ("/bundles", {**BUNDLE, "price": {"type": "free", "value": 1}}, "price.type"),
        ("/bundles", {**BUNDLE, "max_applications": 0}, "max_applications"),
        (
            "/bundles",
            {**BUNDLE, "items": [{"product_id": "p1", "quantity": 0}]},
            "items.0.quantity",
        ),
        ("/gift-rules", {**GIFT_RULE, "trigger": {"type": "subtotal", "min": -1}}, "trigger.min"),
        ("/gift-rules", {**GIFT_RULE, "trigger": {"type": "products"}}, "trigger.product_ids"),
        ("/gift-rules", {**GIFT_RULE, "trigger": {"type": "weekday"}}, "trigger.type"),
        (
            "/gift-rules",
            {**GIFT_RULE, "gift": {"product_id": "p9", "quantity": 0}},
            "gift.quantity",
        ),
        (
            "/benefit-programmes",
            {**PROGRAMME, "tiers": [PROGRAMME["tiers"][1], PROGRAMME["tiers"][0]]},
            "tiers.1.min_subtotal",
        ),
        (
            "/benefit-programmes",
            {**PROGRAMME, "tiers": [PROGRAMME["tiers"][0], PROGRAMME["tiers"][0]]},
            "tiers.1.min_subtotal",
        ),
        (
            "/benefit-programmes",
            {**PROGRAMME, "tiers": [{"min_subtotal": 0, "actions": [{"type": "cashback"}]}]},
            "tiers.0.actions.0.type",
        ),
        (
            "/benefit-programmes",
            {
                **PROGRAMME,
                "tiers": [
                    {"min_subtotal": 0, "actions": [{"type": "percent_off_order", "value": 120}]}
                ],
            },
            "tiers.0.actions.0.value",
        ),
        (
            "/benefit-programmes",
            {
                **PROGRAMME,
                "tiers": [
                    {"min_subtotal": 0, "actions": [{"type": "fixed_off_order", "value": -1}]}
                ],
            },
            "tiers.0.actions.0.value",
        ),
        (
            "/benefit-programmes",
            {**PROGRAMME, "conditions": [{"field": "weather", "op": "is", "value": "sunny"}]},
            "conditions.0.field",
        ),
        (
            "/benefit-programmes",
            {**PROGRAMME, "conditions": [{"field": "carrier", "op": "all_of", "value": ["x"]}]},
            "conditions.0.op",
        ),
        (
            "/benefit-programmes",
            {**PROGRAMME, "conditions": [{"field": "channel", "op": "is", "value": ["web"]}]},
            "conditions.0.value",
        ),
        ("/benefit-programmes", {**PROGRAMME, "tiers": []}, "tiers"),
    ],
)
def test_invalid_input_is_a_422_naming_the_field(app, admin, path, body, field):
    before = rules_version(app)
    response = admin.post(path, body)
    assert response.status_code == 422, response.get_json()
    err = error(response)
    assert err["code"] == "validation_failed"
    assert field in err["details"], err["details"]
    assert rules_version(app) == before


def test_audience_ids_must_be_groups_and_segments_of_the_shop(app, host, admin):
    host.install(OTHER)
    own_group = default_group_id(app)
    other_group = default_group_id(app, OTHER)
    other_segment = add_segment(app, OTHER)
    own_segment = add_segment(app, SHOP, "Big spenders")

    response = admin.post(
        "/price-rules", price_rule(audience={"type": "groups", "ids": [other_group]})
    )
    assert response.status_code == 422
    assert str(other_group) in error(response)["details"]["audience.ids"][0]
    response = admin.post(
        "/bundles",
        {**BUNDLE, "audience": {"type": "segments", "ids": [own_segment, other_segment]}},
    )
    assert response.status_code == 422
    assert "audience.ids" in error(response)["details"]
    response = admin.post(
        "/gift-rules", {**GIFT_RULE, "audience": {"type": "groups", "ids": [own_group + 999]}}
    )
    assert response.status_code == 422

    admin.create("/price-rules", price_rule(audience={"type": "groups", "ids": [own_group]}))
    admin.create(
        "/benefit-programmes", {**PROGRAMME, "audience": {"type": "segments", "ids": [own_segment]}}
    )


def test_every_change_bumps_the_rules_version(app, admin):
    start = rules_version(app)
    created = admin.create("/price-rules", price_rule())
    assert rules_version(app) == start + 1
    admin.patch(f"/price-rules/{created['id']}", {"priority": 2})
    assert rules_version(app) == start + 2
    bundle = admin.create("/bundles", BUNDLE)
    assert rules_version(app) == start + 3
    assert admin.delete(f"/bundles/{bundle['id']}").status_code == 204
    assert rules_version(app) == start + 4
    admin.get("/price-rules")
    assert rules_version(app) == start + 4


def test_list_is_paged_and_per_page_is_capped(admin):
    for index in range(5):
        admin.create("/gift-rules", {**GIFT_RULE, "name": f"Gift {index}"})
    page = admin.get("/gift-rules", page=2, per_page=2).get_json()
    assert (page["total"], page["page"], page["per_page"]) == (5, 2, 2)
    assert [item["name"] for item in page["items"]] == ["Gift 2", "Gift 3"]
    assert admin.get("/gift-rules", per_page=1000).status_code == 200
    response = admin.get("/gift-rules", per_page=1001)
    assert response.status_code == 422
    assert "per_page" in error(response)["details"]


def test_delete_then_404_and_other_shops_rules_do_not_exist(app, client, host, admin):
    created = admin.create("/benefit-programmes", PROGRAMME)
    host.install(OTHER)
    other = Admin(client, OTHER)
    assert other.get(f"/benefit-programmes/{created['id']}").status_code == 404
    assert other.patch(f"/benefit-programmes/{created['id']}", {"name": "x"}).status_code == 404
    assert other.delete(f"/benefit-programmes/{created['id']}").status_code == 404
    assert other.get("/benefit-programmes").get_json()["total"] == 0
    assert admin.delete(f"/benefit-programmes/{created['id']}").status_code == 204
    assert admin.get(f"/benefit-programmes/{created['id']}").status_code == 404


def test_unknown_fields_and_missing_token(client, admin):
    response = admin.post("/price-rules", {**price_rule(), "discount": 5})
    assert response.status_code == 422
    assert "discount" in error(response)["details"]
    assert client.get("/api/price-rules").status_code == 401


def test_database_refuses_out_of_range_values(app, shop):
    """The CHECK constraints hold even for a row written without the schemas."""
    from sqlalchemy.exc import IntegrityError

    from plugin.rules.models import PriceRule

    with app.app_context():
        shop_id = db.session.execute(select(Shop.id)).scalar_one()
        db.session.add(
            PriceRule(
                shop_id=shop_id,
                name="Too much",
                name_key="too much",
                action_type="discount_percent",
                action_value=15000,
            )
        )
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_rules_are_in_the_openapi_document(admin):
    document = admin.get("/openapi.json").get_json()
    for path in ("/api/price-rules", "/api/bundles", "/api/gift-rules", "/api/benefit-programmes"):
        assert {"get", "post"} <= set(document["paths"][path])
        assert {"get", "patch", "delete"} <= set(document["paths"][path + "/{rule_id}"])
    assert "post" in document["paths"]["/api/price-preview"]
