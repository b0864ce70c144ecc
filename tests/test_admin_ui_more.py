"""The admin pages for rules, discounts and codes, audiences and Try a cart, without a browser.

Each form is posted as a browser would (admin session and CSRF token in hidden fields) and
the effect is checked through the admin API, which the pages must agree with.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import SHOP, auth, session_token


class AdminPages:
    """A merchant's browser tab on the embedded admin: carries the session and CSRF token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        opened = client.get(f"/admin?shop={SHOP}&id_token={session_token()}")
        assert opened.status_code == 200, opened.get_data(as_text=True)[:500]
        html = opened.get_data(as_text=True)
        self.session = _meta(html, "cg-session")
        self.csrf = _meta(html, "cg-csrf")

    def get(self, path: str, **query: Any) -> Any:
        return self.client.get(path, query_string={"s": self.session, **query})

    def post(self, path: str, data: dict[str, Any] | list[tuple[str, Any]], **kwargs: Any) -> Any:
        fields = list(data.items()) if isinstance(data, dict) else list(data)
        fields += [("s", self.session), ("csrf_token", self.csrf)]
        body: dict[str, Any] = {}
        for name, value in fields:
            body.setdefault(name, []).append(value)
        return self.client.post(path, data=body, **kwargs)


def _meta(html: str, name: str) -> str:
    found = re.search(rf'<meta name="{name}" content="([^"]+)"', html)
    assert found, f"no {name} meta"
    return unescape(found.group(1))


def field_errors(html: str, name: str) -> list[str]:
    """The messages shown next to the field ``name`` (dotted path)."""
    fid = "f-" + name.replace(".", "-")
    block = re.search(
        rf'<ul class="field-errors" id="{re.escape(fid)}-errors">(.*?)</ul>', html, re.S
    )
    return [unescape(m) for m in re.findall(r"<li>(.*?)</li>", block.group(1))] if block else []


def api(client: FlaskClient, method: str, path: str, **kwargs: Any) -> Any:
    response = client.open(path, method=method, headers=auth(), **kwargs)
    return response


@pytest.fixture
def pages(client: FlaskClient, shop: str) -> AdminPages:
    return AdminPages(client)


def _group(client: FlaskClient, name: str) -> int:
    response = api(client, "POST", "/api/groups", json={"name": name, "colour": "#1e88e5"})
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


# Rules ----------------------------------------------------------------------------------

PRICE_RULE = {
    "name": "Wholesale -10%",
    "audience.type": "all",
    "action.type": "discount_percent",
    "action.value": "12.5",
    "scope.type": "categories",
    "scope.ids": "candles, lamps",
    "priority": "5",
    "active": "on",
    "starts_at": "2026-03-01",
    "ends_at": "",
}


def test_a_price_rule_is_created_from_the_form_as_the_api_would(client, pages):
    wholesale = _group(client, "Wholesale")
    form = {**PRICE_RULE, "audience.type": "groups", "audience.group_ids": str(wholesale)}
    response = pages.post("/admin/rules/price-rules/new", form)
    assert response.status_code == 303
    rules = api(client, "GET", "/api/price-rules").get_json()["items"]
    assert len(rules) == 1
    rule = rules[0]
    assert rule["name"] == "Wholesale -10%"
    assert rule["audience"] == {"type": "groups", "ids": [wholesale]}
    assert rule["scope"] == {"type": "categories", "ids": ["candles", "lamps"]}
    assert rule["action"] == {"type": "discount_percent", "value": 12.5}
    assert rule["priority"] == 5 and rule["active"] is True
    assert rule["starts_at"] == "2026-03-01T00:00:00Z" and rule["ends_at"] is None
    listed = pages.get(response.headers["Location"].split("?")[0]).get_data(as_text=True)
    assert "Wholesale -10%" in listed and "12.5 %" in listed


def test_a_fixed_amount_is_typed_in_major_units_of_the_shop_currency(client, pages):
    form = {**PRICE_RULE, "action.type": "set_price", "action.value": "19.99", "scope.type": "all"}
    assert pages.post("/admin/rules/price-rules/new", form).status_code == 303
    rule = api(client, "GET", "/api/price-rules").get_json()["items"][0]
    assert rule["action"] == {"type": "set_price", "value": 1999}
    assert rule["scope"] == {"type": "all", "ids": []}
    edit = pages.get(f"/admin/rules/price-rules/{rule['id']}").get_data(as_text=True)
    assert 'value="19.99"' in edit


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"action.value": "150"}, "action.value", "at most 100"),
        ({"action.type": "discount_fixed", "action.value": "1.999"}, "action.value", "2 decimals"),
        ({"action.value": "ten"}, "action.value", "percent"),
        ({"name": ""}, "name", "between 1 and 255"),
        ({"scope.ids": ""}, "scope.ids", "Name at least one"),
        ({"audience.type": "groups"}, "audience.ids", "Name at least one"),
        ({"starts_at": "2026-03-05", "ends_at": "2026-03-01"}, "ends_at", "after starts_at"),
        ({"priority": "first"}, "priority", "whole number"),
    ],
)
def test_a_bad_rule_shows_422_next_to_the_field_and_saves_nothing(
    client, pages, changes, field, message
):
    response = pages.post("/admin/rules/price-rules/new", {**PRICE_RULE, **changes})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    shown = " ".join(field_errors(html, field))
    assert message.lower() in shown.lower(), (field, field_errors(html, field))
    assert 'class="notice notice-error error-summary"' in html
    assert api(client, "GET", "/api/price-rules").get_json()["total"] == 0


def test_a_form_without_its_csrf_token_changes_nothing(client, pages):
    response = client.post("/admin/rules/price-rules/new", data={**PRICE_RULE, "s": pages.session})
    assert response.status_code == 400
    assert api(client, "GET", "/api/price-rules").get_json()["total"] == 0


PROGRAMME = {
    "name": "VIP tiers",
    "audience.type": "all",
    "priority": "10",
    "tiers.0.min_subtotal": "100",
    "tiers.0.actions.0.type": "percent_off_order",
    "tiers.0.actions.0.value": "5",
    "earns_loyalty_points": "on",
    "active": "on",
}


def test_programme_tiers_and_benefits_are_added_and_removed_without_saving(client, pages):
    added = pages.post("/admin/rules/benefit-programmes/new", {**PROGRAMME, "_add": "tiers"})
    assert added.status_code == 200
    html = added.get_data(as_text=True)
    assert 'name="tiers.1.min_subtotal"' in html and 'name="tiers.0.min_subtotal"' in html
    assert 'value="100"' in html  # what was typed stays
    more = pages.post(
        "/admin/rules/benefit-programmes/new", {**PROGRAMME, "_add": "tiers.0.actions"}
    ).get_data(as_text=True)
    assert 'name="tiers.0.actions.1.type"' in more
    fewer = pages.post(
        "/admin/rules/benefit-programmes/new",
        {**PROGRAMME, "tiers.1.min_subtotal": "250", "tiers.1.actions.0.type": "free_shipping",
         "_remove": "tiers.0"},
    ).get_data(as_text=True)  # fmt: skip
    assert 'name="tiers.1.min_subtotal"' not in fewer and 'value="250"' in fewer
    assert api(client, "GET", "/api/benefit-programmes").get_json()["total"] == 0


def test_a_programme_with_tiers_conditions_and_switches_is_saved(client, pages):
    form = {
        **PROGRAMME,
        "tiers.1.min_subtotal": "250.00",
        "tiers.1.actions.0.type": "percent_off_order",
        "tiers.1.actions.0.value": "10",
        "tiers.1.actions.1.type": "free_shipping",
        "tiers.1.actions.1.carriers": "colissimo, royal_mail",
        "tiers.1.actions.1.max_amount": "",
        "conditions.0.field": "shipping_city",
        "conditions.0.op": "is",
        "conditions.0.value": "Paris",
        "conditions.1.field": "product_in_cart",
        "conditions.1.op": "any_of",
        "conditions.1.value": "p1, p2",
    }
    assert pages.post("/admin/rules/benefit-programmes/new", form).status_code == 303
    programme = api(client, "GET", "/api/benefit-programmes").get_json()["items"][0]
    assert programme["tiers"] == [
        {"min_subtotal": 10000, "actions": [{"type": "percent_off_order", "value": 5}]},
        {
            "min_subtotal": 25000,
            "actions": [
                {"type": "percent_off_order", "value": 10},
                {
                    "type": "free_shipping",
                    "carriers": ["colissimo", "royal_mail"],
                    "max_amount": None,
                },
            ],
        },
    ]
    assert programme["conditions"] == [
        {"field": "shipping_city", "op": "is", "value": "Paris"},
        {"field": "product_in_cart", "op": "any_of", "value": ["p1", "p2"]},
    ]
    assert programme["earns_loyalty_points"] is True
    assert programme["combinable_with_codes"] is False  # left unticked


def test_tiers_out_of_order_are_refused_at_the_second_tier(client, pages):
    form = {
        **PROGRAMME,
        "tiers.1.min_subtotal": "50",
        "tiers.1.actions.0.type": "fixed_off_order",
        "tiers.1.actions.0.value": "5",
    }
    response = pages.post("/admin/rules/benefit-programmes/new", form)
    assert response.status_code == 422
    assert "increasing" in " ".join(
        field_errors(response.get_data(as_text=True), "tiers.1.min_subtotal")
    )


def test_bundles_and_gift_rules_round_trip_through_their_forms(client, pages):
    bundle = {
        "name": "Candle trio",
        "audience.type": "all",
        "items.0.product_id": "p_fig",
        "items.0.quantity": "1",
        "items.1.product_id": "p_cedar",
        "items.1.quantity": "2",
        "price.type": "fixed_total",
        "price.value": "49.90",
        "max_applications": "",
        "priority": "1",
        "active": "on",
    }
    assert pages.post("/admin/rules/bundles/new", bundle).status_code == 303
    saved = api(client, "GET", "/api/bundles").get_json()["items"][0]
    assert saved["items"] == [
        {"product_id": "p_fig", "quantity": 1},
        {"product_id": "p_cedar", "quantity": 2},
    ]
    assert saved["price"] == {"type": "fixed_total", "value": 4990}
    assert saved["max_applications"] is None
    gift = {
        "name": "Free tote",
        "audience.type": "guests",
        "trigger.type": "subtotal",
        "trigger.min": "120",
        "trigger.product_ids": "ignored-when-subtotal",
        "gift.product_id": "p_tote",
        "gift.quantity": "1",
    }
    assert pages.post("/admin/rules/gift-rules/new", gift).status_code == 303
    rule = api(client, "GET", "/api/gift-rules").get_json()["items"][0]
    assert rule["trigger"] == {"type": "subtotal", "min": 12000}
    assert rule["audience"] == {"type": "guests", "ids": []}
    assert rule["active"] is False  # the switch was not ticked


def test_editing_keeps_what_was_not_changed_and_delete_removes(client, pages):
    created = api(
        client,
        "POST",
        "/api/price-rules",
        json={
            "name": "Night",
            "action": {"type": "increase_fixed", "value": 250},
            "starts_at": "2026-03-01T18:30:00Z",
            "ends_at": "2026-03-02T06:00:00Z",
        },
    ).get_json()
    page = pages.get(f"/admin/rules/price-rules/{created['id']}").get_data(as_text=True)
    assert 'value="2.50"' in page and 'value="2026-03-01"' in page
    form = {
        "name": "Night owls",
        "audience.type": "all",
        "action.type": "increase_fixed",
        "action.value": "2.50",
        "scope.type": "all",
        "priority": "0",
        "active": "on",
        "starts_at": "2026-03-01",
        "ends_at": "2026-03-02",
    }
    assert pages.post(f"/admin/rules/price-rules/{created['id']}", form).status_code == 303
    rule = api(client, "GET", f"/api/price-rules/{created['id']}").get_json()
    assert rule["name"] == "Night owls"
    assert rule["starts_at"] == "2026-03-01T18:30:00Z"  # shown as a day, kept as stored
    assert rule["ends_at"] == "2026-03-02T06:00:00Z"
    assert pages.post(f"/admin/rules/price-rules/{created['id']}/delete", {}).status_code == 303
    assert api(client, "GET", f"/api/price-rules/{created['id']}").status_code == 404


def test_names_with_html_are_shown_escaped_on_the_rules_page(client, pages):
    api(
        client,
        "POST",
        "/api/price-rules",
        json={
            "name": "<script>alert(1)</script>",
            "action": {"type": "discount_percent", "value": 5},
        },
    )
    html = pages.get("/admin/rules").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_rule_of_another_shop_is_not_found(client, pages, host):
    host.install(shop="other.example")
    other = client.post(
        "/api/price-rules",
        headers={"Authorization": f"Bearer {session_token('other.example')}"},
        json={"name": "Theirs", "action": {"type": "discount_percent", "value": 5}},
    ).get_json()
    assert pages.get(f"/admin/rules/price-rules/{other['id']}").status_code == 404
    assert pages.post(f"/admin/rules/price-rules/{other['id']}/delete", {}).status_code == 404
