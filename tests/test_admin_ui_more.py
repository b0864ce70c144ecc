"""The admin pages for rules, discounts and codes, audiences and Try a cart, without a browser.

Each form is posted as a browser would (admin session and CSRF token in hidden fields) and
the effect is checked through the admin API, which the pages must agree with.
"""

from __future__ import annotations

import io
import re
from html import unescape
from typing import Any

import pytest
from flask.testing import FlaskClient

from plugin.jobs import run_pending
from tests.conftest import SHOP, auth, customer_payload, session_token


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


def test_a_hand_made_form_of_the_wrong_shape_is_refused_not_a_crash(client, pages):
    response = pages.post(
        "/admin/rules/benefit-programmes/new", {**PRICE_RULE, "tiers": "x", "tiers.0.min": "1"}
    )
    assert response.status_code in (400, 422)
    crafted = pages.post("/admin/cart", {"lines": "x", "lines.a.quantity": "1"})
    assert crafted.status_code in (400, 422)
    assert api(client, "GET", "/api/benefit-programmes").get_json()["total"] == 0


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


# Discounts and codes --------------------------------------------------------------------

DISCOUNT = {
    "applies_to": "products",
    "name": "Spring sale",
    "code_mode": "shared",
    "code": "SPRING10",
    "starts_at": "",
    "window": "no_expiry",
    "ends_at": "",
    "type": "percent",
    "value_percent": "10",
    "audience.type": "all",
    "minimum.type": "none",
    "active": "on",
}


def _segment(client: FlaskClient, name: str) -> int:
    response = api(
        client,
        "POST",
        "/api/segments",
        json={
            "name": name,
            "match": "all",
            "conditions": [{"field": "total_order_count", "op": "gte", "value": 5}],
        },
    )
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def test_a_discount_with_every_option_of_the_seed_is_saved_as_the_api_would(client, pages):
    loyal = _segment(client, "Loyal")
    form = [
        *{
            **DISCOUNT,
            "starts_at": "2026-04-01",
            "window": "dates",
            "ends_at": "2026-04-30",
            "type": "fixed",
            "value_percent": "",
            "value_fixed": "5.50",
            "usage_limited": "on",
            "usage_limit": "100",
            "once_per_customer": "on",
            "audience.type": "segments",
            "audience.segment_ids": str(loyal),
            "minimum.type": "amount",
            "minimum.amount": "30",
        }.items(),
        ("payment_methods", "cash"),
        ("payment_methods", "paypal"),
        ("channels", "web"),
        ("channels", "in_store"),
    ]
    response = pages.post("/admin/discounts/new", form)
    assert response.status_code == 303, field_errors(response.get_data(as_text=True), "value_fixed")
    [discount] = api(client, "GET", "/api/discounts").get_json()["items"]
    expected = {
        "name": "Spring sale",
        "applies_to": "products",
        "code": "SPRING10",
        "type": "fixed",
        "value": 550,
        "carriers": [],
        "starts_at": "2026-04-01T00:00:00Z",
        "ends_at": "2026-05-01T00:00:00Z",  # valid all of the 30th, the last day typed
        "usage_limit": 100,
        "once_per_customer": True,
        "audience": {"type": "segments", "ids": [loyal]},
        "minimum": {"type": "amount", "value": 3000},
        "payment_methods": ["cash", "paypal"],
        "channels": ["web", "in_store"],
        "active": True,
    }
    assert {key: discount[key] for key in expected} == expected
    edit = pages.get(f"/admin/discounts/{discount['id']}").get_data(as_text=True)
    assert 'value="2026-04-30"' in edit and 'value="5.50"' in edit and 'value="30.00"' in edit


def test_free_shipping_for_chosen_carriers_with_a_pool_goes_to_its_codes_page(client, pages):
    form = {
        **DISCOUNT,
        "code_mode": "pool",
        "type": "free_shipping",
        "carriers": "colissimo, royal_mail",
        "value_free_shipping": "8",
    }
    response = pages.post("/admin/discounts/new", form)
    assert response.status_code == 303
    [discount] = api(client, "GET", "/api/discounts").get_json()["items"]
    assert discount["code"] is None
    assert discount["type"] == "free_shipping" and discount["value"] == 800
    assert discount["carriers"] == ["colissimo", "royal_mail"]
    assert f"/admin/discounts/{discount['id']}/codes" in response.headers["Location"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"value_percent": "0"}, "value_percent", "above 0"),
        ({"value_percent": "101"}, "value_percent", "at most 100"),
        ({"type": "fixed", "value_fixed": "abc"}, "value_fixed", "amount in EUR"),
        ({"minimum.type": "amount", "minimum.amount": "0"}, "minimum.amount", "above 0"),
        ({"minimum.type": "quantity", "minimum.quantity": "two"}, "minimum.quantity", "whole"),
        ({"code": "NO SPACES"}, "code", "may only use"),
        ({"applies_to": "services", "channels": "in_store"}, "channels", "product codes only"),
        (
            {"window": "dates", "starts_at": "2026-05-02", "ends_at": "2026-04-30"},
            "ends_at",
            "after",
        ),
        ({"usage_limited": "on", "usage_limit": "0"}, "usage_limit", "greater than or equal to 1"),
    ],
)
def test_a_bad_discount_shows_the_message_next_to_its_field(client, pages, changes, field, message):
    response = pages.post("/admin/discounts/new", {**DISCOUNT, **changes})
    assert response.status_code == 422
    shown = " ".join(field_errors(response.get_data(as_text=True), field))
    assert message.lower() in shown.lower(), (field, shown)
    assert api(client, "GET", "/api/discounts").get_json()["total"] == 0


def test_a_code_taken_by_another_discount_is_refused(client, pages):
    assert pages.post("/admin/discounts/new", DISCOUNT).status_code == 303
    response = pages.post("/admin/discounts/new", {**DISCOUNT, "name": "Again", "code": "spring10"})
    assert response.status_code == 422
    assert "already has this code" in " ".join(
        field_errors(response.get_data(as_text=True), "code")
    )


def test_editing_a_discount_keeps_its_window_and_can_drop_the_shared_code(client, pages):
    created = api(
        client,
        "POST",
        "/api/discounts",
        json={
            "name": "Flash",
            "code": "FLASH",
            "type": "percent",
            "value": 20,
            "starts_at": "2026-04-01T09:30:00Z",
            "ends_at": "2026-04-01T21:00:00Z",
        },
    ).get_json()
    form = discount_form_of(pages, created["id"])
    form.update({"name": "Flash sale", "code_mode": "pool"})
    assert pages.post(f"/admin/discounts/{created['id']}", form).status_code == 303
    after = api(client, "GET", f"/api/discounts/{created['id']}").get_json()
    assert after["name"] == "Flash sale" and after["code"] is None
    assert (
        after["starts_at"] == "2026-04-01T09:30:00Z" and after["ends_at"] == "2026-04-01T21:00:00Z"
    )


def discount_form_of(pages: AdminPages, discount_id: int) -> dict[str, str]:
    """The values an edit page shows, as its form would post them."""
    html = pages.get(f"/admin/discounts/{discount_id}").get_data(as_text=True)
    form: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or name.group(1) in ("s", "csrf_token"):
            continue
        kind = re.search(r'type="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if kind and kind.group(1) in ("radio", "checkbox"):
            if " checked" in tag:
                form[name.group(1)] = unescape(value.group(1)) if value else "on"
        else:
            form[name.group(1)] = unescape(value.group(1)) if value else ""
    return form


@pytest.fixture
def pool(client: FlaskClient, pages: AdminPages) -> int:
    response = api(
        client, "POST", "/api/discounts", json={"name": "Birthday", "type": "percent", "value": 15}
    )
    return int(response.get_json()["id"])


def test_codes_are_generated_without_javascript_and_listed_by_status(client, pages, pool):
    response = pages.post(
        f"/admin/discounts/{pool}/codes/generate",
        {"count": "60", "length": "6", "prefix": "BDAY-", "suffix": "", "charset": ""},
    )
    assert response.status_code == 303
    page = pages.get(response.headers["Location"].split("?")[0]).get_data(as_text=True)
    assert "Unassigned (60)" in page and "Assigned (0)" in page
    assert "Page 1 of 2 (60 in all)" in page
    api(client, "POST", "/api/customers/c_1", json={})  # not needed: assign creates the customer
    assigned = api(
        client, "POST", f"/api/discounts/{pool}/codes/assign", json={"customer_id": "c_7"}
    ).get_json()
    filtered = pages.get(f"/admin/discounts/{pool}/codes", status="assigned").get_data(as_text=True)
    assert assigned["code"] in filtered and "c_7" in filtered
    assert "Assigned (1)" in filtered and "Unassigned (59)" in filtered
    codes = re.findall(r"<code>(BDAY-[A-Z0-9]{6})</code>", filtered)
    assert codes == [assigned["code"]]


def test_a_large_generation_without_javascript_starts_the_job_and_shows_its_progress(
    app, client, pages, pool
):
    response = pages.post(
        f"/admin/discounts/{pool}/codes/generate", {"count": "10001", "length": "10"}
    )
    assert response.status_code == 303
    job_id = int(re.search(r"job=(\d+)", response.headers["Location"]).group(1))
    queued = pages.get(f"/admin/discounts/{pool}/codes", job=job_id).get_data(as_text=True)
    assert '<progress id="job-progress" max="10001" value="0"' in queued
    assert "0 of 10,001 codes (queued)." in queued
    assert run_pending(app) == 1
    done = pages.get(f"/admin/discounts/{pool}/codes", job=job_id).get_data(as_text=True)
    assert 'value="10001"' in done and "Done: 10,001 codes generated." in done
    assert "Unassigned (10,001)" in done


def test_a_bad_generation_request_is_shown_next_to_its_field(client, pages, pool):
    response = pages.post(
        f"/admin/discounts/{pool}/codes/generate",
        {"count": "10", "length": "4", "prefix": "bad prefix", "charset": "AB"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_errors(html, "prefix")
    too_many = pages.post(
        f"/admin/discounts/{pool}/codes/generate", {"count": "100", "length": "4", "charset": "AB"}
    )
    assert too_many.status_code == 422
    assert "more than half" in " ".join(field_errors(too_many.get_data(as_text=True), "count"))
    assert api(client, "GET", f"/api/discounts/{pool}/codes").get_json()["total"] == 0


def test_importing_a_csv_shows_the_report_with_line_numbers(client, pages, pool):
    csv_text = "code,note\nVIP-001,first\nVIP-002,\nvip-001,again\nnot a code!,x\n\nVIP-003,\n"
    response = pages.post(
        f"/admin/discounts/{pool}/codes/import",
        {"file": (io.BytesIO(csv_text.encode()), "codes.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert re.search(r'data-count="imported">3<', html)
    assert re.search(r'data-count="duplicates">1<', html)
    assert re.search(r'data-count="invalid">1<', html)
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td><code>(.*?)</code></td>', html)
    assert rows == [("5", "not a code!"), ("4", "vip-001")] or sorted(rows) == [
        ("4", "vip-001"),
        ("5", "not a code!"),
    ]
    assert api(client, "GET", f"/api/discounts/{pool}/codes").get_json()["total"] == 3


def test_a_csv_without_a_code_column_is_refused_next_to_the_file_field(client, pages, pool):
    response = pages.post(
        f"/admin/discounts/{pool}/codes/import",
        {"file": (io.BytesIO(b"coupon\nA1\n"), "codes.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "code" in " ".join(field_errors(response.get_data(as_text=True), "file"))
    assert api(client, "GET", f"/api/discounts/{pool}/codes").get_json()["total"] == 0


def test_the_export_link_downloads_the_pool_as_csv(client, pages, pool):
    api(
        client,
        "POST",
        f"/api/discounts/{pool}/codes/import",
        data=b"code\n-SUM1\nOK-1\n",
        content_type="text/csv",
    )
    page = pages.get(f"/admin/discounts/{pool}/codes").get_data(as_text=True)
    link = unescape(re.search(r'href="([^"]*/codes/export[^"]*)"', page).group(1))
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0].startswith("code,status")
    assert [line.split(",")[0] for line in lines[1:]] == ["'-SUM1", "OK-1"]


def test_deleting_a_discount_from_the_list(client, pages, pool):
    listed = pages.get("/admin/discounts").get_data(as_text=True)
    assert "Birthday" in listed and "Pool of 0 codes" in listed
    assert pages.post(f"/admin/discounts/{pool}/delete", {}).status_code == 303
    assert api(client, "GET", f"/api/discounts/{pool}").status_code == 404


# Try a cart -----------------------------------------------------------------------------

CART = {
    "customer_id": "",
    "lines.0.product_id": "p_lamp",
    "lines.0.kind": "product",
    "lines.0.category_ids": "lamps",
    "lines.0.quantity": "2",
    "lines.0.unit_price": "19.99",
    "channel": "web",
    "payment_method": "",
    "shipping.carrier": "colissimo",
    "shipping.price": "5",
    "codes": "",
    "_action": "price",
}


def _customer(host, customer_id: str, **fields: Any) -> None:
    response = host.webhook(
        "customer/created", {"customer": customer_payload(customer_id, **fields)}
    )
    assert response.status_code == 200


def test_a_guest_cart_is_priced_with_totals_in_the_shop_currency(client, pages):
    response = pages.post("/admin/cart", CART)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "The priced cart" in html and "A guest: no group" in html
    assert "€19.99" in html and "€39.98" in html  # unit price and subtotal
    assert 'data-total="4498"' in html and "€44.98" in html  # 39.98 + 5.00 shipping


def test_a_customer_cart_shows_the_price_rule_and_the_code_that_moved_each_price(
    client, host, pages
):
    wholesale = _group(client, "Wholesale")
    _customer(host, "c_9", first_name="Wanda", email="wanda@example.com")
    api(client, "POST", f"/api/groups/{wholesale}/customers", json={"customer_ids": ["c_9"]})
    rule = api(
        client,
        "POST",
        "/api/price-rules",
        json={
            "name": "Wholesale <10%>",
            "audience": {"type": "groups", "ids": [wholesale]},
            "action": {"type": "discount_percent", "value": 10},
        },
    ).get_json()
    discount = api(
        client,
        "POST",
        "/api/discounts",
        json={"name": "Five off", "code": "FIVE", "type": "fixed", "value": 500},
    ).get_json()
    form = {**CART, "customer_id": "c_9", "codes": "NOPE, FIVE"}
    html = pages.post("/admin/cart", form).get_data(as_text=True)
    assert "Wholesale" in html and "Wanda" in html
    # 2 × 19.99 → 17.99 each after the rule: -4.00 on the line, explained by the rule.
    assert "€17.99" in html and "Wholesale &lt;10%&gt;" in html and "-€4.00" in html
    assert f"/admin/rules/price-rules/{rule['id']}" in html
    assert f"/admin/discounts/{discount['id']}/codes" in html
    assert re.search(r'data-code-status="applied">.*?FIVE', html, re.S)
    assert re.search(r'data-code-status="rejected">.*?NOPE.*?unknown_code', html, re.S)
    assert 'data-total="3598"' in html  # 35.98 - 5.00 + 5.00 shipping


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"lines.0.quantity": "0"}, "lines.0.quantity", "greater than or equal to 1"),
        ({"lines.0.unit_price": "12,345.6.7"}, "lines.0.unit_price", "amount in EUR"),
        ({"lines.0.product_id": ""}, "lines.0.product_id", "1 to 255"),
        ({"shipping.price": "-1"}, "shipping.price", "0 or more"),
    ],
)
def test_a_bad_cart_shows_the_message_next_to_its_field(client, pages, changes, field, message):
    response = pages.post("/admin/cart", {**CART, **changes})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message.lower() in " ".join(field_errors(html, field)).lower(), field_errors(html, field)
    assert "The priced cart" not in html


def test_lines_are_added_and_customers_found_without_pricing(client, host, pages):
    _customer(host, "c_1", first_name="Ada", email="ada@example.com")
    _customer(host, "c_2", first_name="<b>Bold</b>", email="bold@example.com")
    added = pages.post("/admin/cart", {**CART, "_action": "", "_add": "lines"}).get_data(
        as_text=True
    )
    assert 'name="lines.1.product_id"' in added and "The priced cart" not in added
    found = pages.post("/admin/cart", {**CART, "customer_q": "example.com", "_action": "find"})
    html = found.get_data(as_text=True)
    assert 'value="c_1"' in html and 'value="c_2"' in html
    assert "&lt;b&gt;Bold&lt;/b&gt;" in html and "<b>Bold</b>" not in html


# Audiences ------------------------------------------------------------------------------


def _default_group(client: FlaskClient) -> int:
    groups = api(client, "GET", "/api/groups").get_json()["items"]
    return next(g["id"] for g in groups if g["is_default"])


def test_an_audience_is_created_run_and_its_history_shown(client, host, pages, httpserver):
    httpserver.expect_request("/api/profile-import").respond_with_json({"data": {"id": "p1"}})
    httpserver.expect_request("/api/lists/LIST1/relationships/profiles").respond_with_data("", 204)
    _customer(host, "c_1", email="ada@example.com")
    group = _default_group(client)
    form = {
        "name": "Newsletter <VIP>",
        "source.type": "group",
        "source.group": str(group),
        "destination.type": "klaviyo",
        "destination.credentials.api_key": "pk_live_0123456789abcdef",
        "destination.list_id": "LIST1",
        "destination.base_url": httpserver.url_for("/"),
        "mapping.identifier": "email",
        "mapping.properties.0.name": "Group",
        "mapping.properties.0.field": "group",
        "schedule": "daily",
        "active": "on",
    }
    assert pages.post("/admin/audiences/new", form).status_code == 303
    [audience] = api(client, "GET", "/api/audiences").get_json()["items"]
    assert audience["source"] == {"type": "group", "id": group}
    assert audience["destination"]["list_id"] == "LIST1"
    assert audience["destination"]["credentials"] == {"api_key": "****cdef"}
    assert audience["mapping"] == {"identifier": "email", "properties": {"Group": "group"}}
    assert audience["schedule"] == "daily"

    listed = pages.get("/admin/audiences").get_data(as_text=True)
    assert "Newsletter &lt;VIP&gt;" in listed and "Never run" in listed
    ran = pages.post(f"/admin/audiences/{audience['id']}/run", {})
    assert ran.status_code == 303
    runs = pages.get(ran.headers["Location"].split("?")[0]).get_data(as_text=True)
    row = re.search(r'<tr data-run-id="\d+">(.*?)</tr>', runs, re.S).group(1)
    assert "Succeeded" in row
    assert re.findall(r'<td class="num">(\d+)</td>', row)[:3] == ["1", "0", "0"]
    edit = pages.get(f"/admin/audiences/{audience['id']}").get_data(as_text=True)
    assert "pk_live_0123456789abcdef" not in edit and "****cdef" in edit


def test_editing_an_audience_keeps_its_secret_when_left_blank(client, host, pages):
    group = _default_group(client)
    created = api(
        client,
        "POST",
        "/api/audiences",
        json={
            "name": "Meta buyers",
            "source": {"type": "group", "id": group},
            "destination": {
                "type": "meta",
                "credentials": {"access_token": "EAAB-secret-token-1234"},
                "audience_id": "A1",
            },
        },
    ).get_json()
    form = {
        "name": "Meta buyers",
        "source.type": "group",
        "source.group": str(group),
        "destination.type": "meta",
        "destination.credentials.access_token": "",
        "destination.audience_id": "A2",
        "mapping.identifier": "email",
        "schedule": "manual",
    }
    assert pages.post(f"/admin/audiences/{created['id']}", form).status_code == 303
    after = api(client, "GET", f"/api/audiences/{created['id']}").get_json()
    assert after["destination"]["audience_id"] == "A2"
    assert after["destination"]["credentials"] == {"access_token": "****1234"}
    assert after["active"] is False


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"destination.credentials.api_key": ""},
            "destination.credentials.api_key",
            "needs an api_key",
        ),
        ({"destination.list_id": ""}, "destination.list_id", "list"),
        ({"source.group": ""}, "source.group", "Choose a group"),
        ({"source.group": "999999"}, "source.group", "no group"),
        ({"mapping.properties.0.field": "password"}, "mapping.properties.0.field", "one of"),
    ],
)
def test_a_bad_audience_shows_the_message_next_to_its_field(client, pages, changes, field, message):
    form = {
        "name": "Klaviyo list",
        "source.type": "group",
        "source.group": str(_default_group(client)),
        "destination.type": "klaviyo",
        "destination.credentials.api_key": "pk_0123456789abcdef",
        "destination.list_id": "L1",
        "mapping.identifier": "email",
        "mapping.properties.0.name": "First",
        "mapping.properties.0.field": "first_name",
        "schedule": "manual",
        **changes,
    }
    response = pages.post("/admin/audiences/new", form)
    assert response.status_code == 422
    shown = " ".join(field_errors(response.get_data(as_text=True), field))
    assert message.lower() in shown.lower(), (field, shown)
    assert api(client, "GET", "/api/audiences").get_json()["total"] == 0


# Automations ----------------------------------------------------------------------------


def _pool_discount(client: FlaskClient, name: str = "Welcome pool", codes: int = 3) -> int:
    discount = api(
        client, "POST", "/api/discounts", json={"name": name, "type": "percent", "value": 10}
    )
    discount_id = int(discount.get_json()["id"])
    made = api(
        client, "POST", f"/api/discounts/{discount_id}/codes/generate", json={"count": codes}
    )
    assert made.status_code == 201
    return discount_id


def test_an_automation_gives_a_coupon_and_its_runs_are_listed(app, client, host, pages):
    discount_id = _pool_discount(client)
    form = {
        "name": "Welcome <new> customers",
        "trigger.type": "customer_created",
        "action.type": "give_coupon",
        "action.discount_id": str(discount_id),
        "action.expires_after_days": "30",
        "active": "on",
    }
    assert pages.post("/admin/automations/new", form).status_code == 303
    [automation] = api(client, "GET", "/api/automations").get_json()["items"]
    assert automation["trigger"] == {"type": "customer_created"}
    assert automation["action"] == {
        "type": "give_coupon",
        "discount_id": discount_id,
        "expires_after_days": 30,
    }

    _customer(host, "c_5", email="eve@example.com")
    run_pending(app)
    listed = pages.get("/admin/automations").get_data(as_text=True)
    assert "Welcome &lt;new&gt; customers" in listed and "A customer registers" in listed
    runs = pages.get(f"/admin/automations/{automation['id']}/runs").get_data(as_text=True)
    given = api(client, "GET", f"/api/automations/{automation['id']}/runs").get_json()["items"]
    assert [run["status"] for run in given] == ["succeeded"]
    assert given[0]["code"] in runs and "c_5" in runs and "Succeeded (1)" in runs


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"trigger.type": "joined_group"}, "trigger.group_id", "Choose one"),
        ({"trigger.type": "joined_segment", "trigger.segment_id": "999"}, "trigger.segment_id", ""),
        ({"action.discount_id": ""}, "action.discount_id", "Choose the discount"),
        (
            {"action.expires_after_days": "0"},
            "action.expires_after_days",
            "greater than or equal to 1",
        ),
        ({"name": " "}, "name", "between 1 and 255"),
    ],
)
def test_a_bad_automation_shows_the_message_next_to_its_field(
    client, pages, changes, field, message
):
    discount_id = _pool_discount(client)
    form = {
        "name": "Welcome",
        "trigger.type": "customer_created",
        "action.type": "give_coupon",
        "action.discount_id": str(discount_id),
        **changes,
    }
    response = pages.post("/admin/automations/new", form)
    assert response.status_code == 422
    shown = " ".join(field_errors(response.get_data(as_text=True), field))
    assert shown and message.lower() in shown.lower(), (field, shown)
    assert api(client, "GET", "/api/automations").get_json()["total"] == 0


def test_an_automation_is_edited_and_deleted(client, pages):
    discount_id = _pool_discount(client)
    group = _default_group(client)
    created = api(
        client,
        "POST",
        "/api/automations",
        json={
            "name": "Joiners",
            "trigger": {"type": "customer_created"},
            "action": {"type": "give_coupon", "discount_id": discount_id},
        },
    ).get_json()
    form = {
        "name": "Joiners",
        "trigger.type": "joined_group",
        "trigger.group_id": str(group),
        "trigger.segment_id": "",
        "action.type": "give_coupon",
        "action.discount_id": str(discount_id),
    }
    assert pages.post(f"/admin/automations/{created['id']}", form).status_code == 303
    after = api(client, "GET", f"/api/automations/{created['id']}").get_json()
    assert after["trigger"] == {"type": "joined_group", "group_id": group}
    assert after["active"] is False
    assert pages.post(f"/admin/automations/{created['id']}/delete", {}).status_code == 303
    assert api(client, "GET", f"/api/automations/{created['id']}").status_code == 404


# Round trips: an edit page saved unchanged changes nothing ------------------------------


def form_of(pages: AdminPages, path: str) -> list[tuple[str, str]]:
    """The fields an edit page would post as shown: inputs, ticked boxes, selected options,
    textareas (without the row buttons, which are not pressed)."""
    html = pages.get(path).get_data(as_text=True)
    form = html[html.index('<form method="post" class="form') :]
    form = form[: form.index("</form>")]
    fields: list[tuple[str, str]] = []
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or name.group(1) in ("s", "csrf_token"):
            continue
        kind = re.search(r'type="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if kind and kind.group(1) in ("radio", "checkbox"):
            if " checked" in tag:
                fields.append((name.group(1), unescape(value.group(1)) if value else "on"))
        elif kind and kind.group(1) == "password":
            fields.append((name.group(1), ""))
        else:
            fields.append((name.group(1), unescape(value.group(1)) if value else ""))
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        first = re.search(r'<option value="([^"]*)"', body)
        fields.append((name, unescape((chosen or first).group(1))))
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        fields.append((name, unescape(body)))
    return fields


def _without_times(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("updated_at", "created_at")}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "price-rules",
            {
                "name": "Trade",
                "scope": {"type": "products", "ids": ["p1", "p2"]},
                "action": {"type": "increase_percent", "value": 12.5},
                "priority": 3,
                "starts_at": "2026-03-01",
                "ends_at": "2026-03-31",
            },
        ),
        (
            "bundles",
            {
                "name": "Trio",
                "items": [{"product_id": "a", "quantity": 2}, {"product_id": "b"}],
                "price": {"type": "percent_off", "value": 15},
                "max_applications": 3,
                "active": False,
            },
        ),
        (
            "gift-rules",
            {
                "name": "Trimmer",
                "audience": {"type": "guests"},
                "trigger": {"type": "products", "product_ids": ["c1", "c2"], "min_quantity": 2},
                "gift": {"product_id": "trim", "quantity": 1},
            },
        ),
        (
            "benefit-programmes",
            {
                "name": "Tiers",
                "priority": 2,
                "conditions": [
                    {"field": "carrier", "op": "any_of", "value": ["colissimo", "dhl"]},
                    {"field": "channel", "op": "is_not", "value": "in_store"},
                ],
                "tiers": [
                    {"min_subtotal": 5000, "actions": [{"type": "fixed_off_order", "value": 500}]},
                    {
                        "min_subtotal": 15000,
                        "actions": [
                            {"type": "percent_off_order", "value": 7.5},
                            {"type": "free_shipping", "carriers": ["ups"], "max_amount": 900},
                        ],
                    },
                ],
                "earns_loyalty_points": False,
                "combinable_with_codes": False,
            },
        ),
    ],
)
def test_a_rule_saved_unchanged_from_its_edit_page_stays_the_same(client, pages, path, body):
    created = api(client, "POST", f"/api/{path}", json=body)
    assert created.status_code == 201, created.get_json()
    before = created.get_json()
    response = pages.post(
        f"/admin/rules/{path}/{before['id']}", form_of(pages, f"/admin/rules/{path}/{before['id']}")
    )
    assert response.status_code == 303, field_errors(response.get_data(as_text=True), "name")
    after = api(client, "GET", f"/api/{path}/{before['id']}").get_json()
    assert _without_times(after) == _without_times(before)


def test_a_discount_saved_unchanged_from_its_edit_page_stays_the_same(client, pages):
    segment = _segment(client, "Regulars")
    before = api(
        client,
        "POST",
        "/api/discounts",
        json={
            "name": "Everything",
            "applies_to": "products",
            "code": "ALL-IN",
            "type": "free_shipping",
            "value": 700,
            "carriers": ["colissimo"],
            "starts_at": "2026-05-01",
            "ends_at": "2026-06-01",
            "usage_limit": 20,
            "once_per_customer": True,
            "audience": {"type": "segments", "ids": [segment]},
            "minimum": {"type": "quantity", "value": 3},
            "payment_methods": ["bank_transfer"],
            "channels": ["in_store"],
            "active": False,
        },
    ).get_json()
    response = pages.post(
        f"/admin/discounts/{before['id']}", form_of(pages, f"/admin/discounts/{before['id']}")
    )
    assert response.status_code == 303
    after = api(client, "GET", f"/api/discounts/{before['id']}").get_json()
    assert _without_times(after) == _without_times(before)


def test_an_audience_and_an_automation_saved_unchanged_stay_the_same(client, pages):
    group = _default_group(client)
    audience = api(
        client,
        "POST",
        "/api/audiences",
        json={
            "name": "SMS",
            "source": {"type": "group", "id": group},
            "destination": {
                "type": "attentive",
                "credentials": {"api_key": "att_0123456789abcdef"},
                "base_url": "https://proxy.example/attentive",
            },
            "mapping": {
                "identifier": "phone",
                "properties": {"Group": "group", "Points": "points"},
            },
            "only_update_existing": True,
            "schedule": "hourly",
        },
    ).get_json()
    path = f"/admin/audiences/{audience['id']}"
    assert pages.post(path, form_of(pages, path)).status_code == 303
    after = api(client, "GET", f"/api/audiences/{audience['id']}").get_json()
    assert _without_times(after) == _without_times(audience)

    discount_id = _pool_discount(client)
    automation = api(
        client,
        "POST",
        "/api/automations",
        json={
            "name": "Group joiners",
            "trigger": {"type": "joined_group", "group_id": group},
            "action": {"type": "give_coupon", "discount_id": discount_id, "expires_after_days": 14},
            "active": False,
        },
    ).get_json()
    path = f"/admin/automations/{automation['id']}"
    assert pages.post(path, form_of(pages, path)).status_code == 303
    after = api(client, "GET", f"/api/automations/{automation['id']}").get_json()
    assert _without_times(after) == _without_times(automation)
