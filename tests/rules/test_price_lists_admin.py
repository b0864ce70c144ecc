"""The admin pages of price lists (with their entries, import and export) and offers."""

from __future__ import annotations

import io
import re

import pytest

from tests.conftest import auth, customer_payload
from tests.test_admin_ui import Admin, text


@pytest.fixture
def admin(client, shop):
    return Admin(client)


def api(client, path):
    return client.get(f"/api{path}", headers=auth()).get_json()


def test_a_price_list_is_made_from_its_form_and_its_entries_are_edited(client, admin, host):
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    form = admin.get("/admin/rules/price-lists/new")
    assert form.status_code == 200 and "Specific customers" in text(form)
    made = admin.post(
        "/admin/rules/price-lists/new",
        {
            "name": "Trade",
            "audience.type": "customers",
            "audience.customer_ids": "c_1",
            "priority": "1",
            "active": "1",
            "starts_at": "",
            "ends_at": "",
        },
    )
    assert made.status_code == 303, text(made)
    [price_list] = api(client, "/price-lists")["items"]
    assert price_list["audience"] == {"type": "customers", "ids": ["c_1"]}
    refused = admin.post(
        "/admin/rules/price-lists/new",
        {"name": "Other", "audience.type": "customers", "audience.customer_ids": "c_404"},
    )
    assert refused.status_code == 422 and "c_404" in text(refused)

    rules = text(admin.get("/admin/rules"))
    assert "Trade" in rules and f"/admin/rules/price-lists/{price_list['id']}/entries" in rules
    base = f"/admin/rules/price-lists/{price_list['id']}/entries"
    assert (
        admin.post(base, {"product_id": "p1", "min_quantity": "5", "price": "7.50"}).status_code
        == 303
    )
    bad = admin.post(base, {"product_id": "p1", "min_quantity": "0", "price": "1"})
    assert bad.status_code == 422
    page = text(admin.get(base))
    assert "p1" in page and "7.50" in page
    assert api(client, f"/price-lists/{price_list['id']}/entries")["items"] == [
        {"product_id": "p1", "min_quantity": 5, "price": 750}
    ]
    csv_file = (io.BytesIO(b"product_id,min_quantity,price\np2,1,100\np3,x,1\n"), "e.csv")
    imported = admin.post(f"{base}/import", {"file": csv_file}, content_type="multipart/form-data")
    assert imported.status_code == 200
    report = text(imported)
    assert re.search(r'data-count="imported">1<', report)
    assert re.search(r'data-count="invalid">1<', report)
    exported = admin.get(f"{base}/export")
    assert exported.get_data(as_text=True).splitlines() == [
        "product_id,min_quantity,price",
        "p2,1,100",
    ]
    deleted = admin.post(f"{base}/delete", {"product_id": "p2", "min_quantity": "1"})
    assert deleted.status_code == 303
    assert api(client, f"/price-lists/{price_list['id']}/entries")["total"] == 0


def test_an_offer_is_made_from_its_form(client, admin):
    made = admin.post(
        "/admin/rules/offers/new",
        {
            "name": "Second half price",
            "audience.type": "all",
            "buy.type": "products",
            "buy.ids": "p1",
            "buy.quantity": "1",
            "get.type": "categories",
            "get.ids": "socks",
            "get.quantity": "1",
            "get.discount.type": "percent",
            "get.discount.value": "50",
            "max_applications": "",
            "priority": "0",
            "active": "1",
            "starts_at": "",
            "ends_at": "",
        },
    )
    assert made.status_code == 303, text(made)
    [offer] = api(client, "/offers")["items"]
    assert offer["buy"] == {"product_ids": ["p1"], "quantity": 1}
    assert offer["get"] == {
        "category_ids": ["socks"],
        "quantity": 1,
        "discount": {"type": "percent", "value": 50},
    }
    edit = admin.get(f"/admin/rules/offers/{offer['id']}")
    assert edit.status_code == 200 and "socks" in text(edit)
    assert "Second half price" in text(admin.get("/admin/rules"))
    refused = admin.post(
        "/admin/rules/offers/new",
        {
            "name": "Bad",
            "audience.type": "all",
            "buy.type": "products",
            "buy.ids": "",
            "buy.quantity": "1",
            "get.type": "products",
            "get.ids": "p2",
            "get.quantity": "1",
            "get.discount.type": "free",
        },
    )
    assert refused.status_code == 422
    assert "Name either product_ids or category_ids" in text(refused)


def test_bundles_gift_rules_and_programmes_take_a_window_in_their_forms(client, admin):
    made = admin.post(
        "/admin/rules/gift-rules/new",
        {
            "name": "Tote in June",
            "audience.type": "all",
            "trigger.type": "subtotal",
            "trigger.min": "50.00",
            "gift.product_id": "g1",
            "gift.quantity": "1",
            "active": "1",
            "starts_at": "2026-06-01",
            "ends_at": "2026-06-30",
        },
    )
    assert made.status_code == 303, text(made)
    [rule] = api(client, "/gift-rules")["items"]
    assert rule["starts_at"].startswith("2026-06-01")
    assert rule["ends_at"].startswith("2026-07-01")  # the end of the last day
    edit = text(admin.get(f"/admin/rules/gift-rules/{rule['id']}"))
    assert 'value="2026-06-01"' in edit and 'value="2026-06-30"' in edit
    for path in ("bundles", "benefit-programmes"):
        page = text(admin.get(f"/admin/rules/{path}/new"))
        assert 'name="starts_at"' in page and 'name="ends_at"' in page
