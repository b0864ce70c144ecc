"""Products and categories by title, picked from searchable lists (issue 14 item 2), and
the report pages with their charts (item 5), in Chromium inside the host's iframe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

PRODUCTS = (
    ("p_lamp", "Lampe à poser", ["lighting"], 4900),
    ("p_torch", "Crème brûlée torch", ["kitchen"], 2500),
    ("p_tote", "Tote bag", [], 0),
)
CATEGORIES = (("lighting", "Éclairage"), ("kitchen", "Kitchen"))


def catalogue(admin):
    for product_id, title, categories, price in PRODUCTS:
        product = {"id": product_id, "title": title, "kind": "product",
                   "category_ids": categories, "price": price, "active": True}  # fmt: skip
        assert admin.host.webhook("product/created", {"product": product}).status_code == 200
    for category_id, title in CATEGORIES:
        category = {"category": {"id": category_id, "title": title, "parent_id": None}}
        assert admin.host.webhook("category/created", category).status_code == 200


def items(admin, path):
    return admin.api.get(path, headers=admin.auth).get_json()["items"]


def test_gift_rules_and_price_rules_pick_products_and_categories_by_title(admin):
    catalogue(admin)
    admin.open()
    frame = admin.nav("Rules")
    admin.follow(frame.get_by_role("link", name="New gift rule"))
    frame.get_by_label("Name").fill("Torch and lamp: a tote")
    frame.get_by_label("Some products are bought").check()

    bought = frame.get_by_role("combobox", name="Products bought")
    bought.fill("creme")  # accents and case ignored
    frame.get_by_role("option", name="Crème brûlée torch").click()
    # With the keyboard: type, arrow down to the option, Enter (the form is not sent).
    bought.fill("LAMPE")
    expect(frame.get_by_role("option", name="Lampe à poser")).to_be_visible()
    bought.press("ArrowDown")
    expect(bought).to_have_attribute("aria-expanded", "true")
    bought.press("Enter")
    chosen = frame.locator('.picker[data-picker-for="trigger.product_ids"] .picker-chip')
    expect(chosen).to_contain_text(["Crème brûlée torch", "Lampe à poser"])
    frame.get_by_label("Units at least").fill("2")
    gift = frame.get_by_role("combobox", name="Gift product")
    gift.fill("tote")
    frame.get_by_role("option", name="Tote bag").click()
    admin.screenshot("picker")
    frame.get_by_role("button", name="Create gift rule").click()

    expect(frame.get_by_role("status")).to_contain_text("Created the gift rule")
    row = frame.locator("table[data-kind=gift-rules] tbody tr").first
    expect(row).to_contain_text("2 or more of Crème brûlée torch")
    expect(row).to_contain_text("Lampe à poser")
    expect(row).to_contain_text("1 × Tote bag")
    [rule] = items(admin, "/api/gift-rules")
    assert rule["trigger"]["product_ids"] == ["p_torch", "p_lamp"]
    assert rule["gift"]["product_id"] == "p_tote"

    # Editing shows the chosen ones by title; one is removed with its button.
    admin.follow(row.get_by_role("link", name="Edit the gift rule Torch and lamp: a tote"))
    expect(chosen).to_contain_text(["Crème brûlée torch", "Lampe à poser"])
    frame.get_by_role("button", name="Remove Lampe à poser").click()
    expect(chosen).to_have_count(1)
    frame.get_by_role("button", name="Save gift rule").click()
    expect(frame.get_by_role("status")).to_contain_text("Saved the gift rule")
    assert items(admin, "/api/gift-rules")[0]["trigger"]["product_ids"] == ["p_torch"]

    # A price rule on a category: the picker searches categories once they are chosen.
    admin.follow(frame.get_by_role("link", name="New price rule"))
    frame.get_by_label("Name").fill("Lights -10%")
    frame.get_by_label("Kind").select_option("discount_percent")
    frame.get_by_label("Value").fill("10")
    frame.get_by_label("Some categories").check()
    scope = frame.get_by_role("combobox", name="Categories or products")
    scope.fill("eclairage")
    frame.get_by_role("option", name="Éclairage").click()
    frame.get_by_role("button", name="Create price rule").click()
    expect(frame.get_by_role("status")).to_contain_text("Created the price rule")
    expect(frame.locator("table[data-kind=price-rules] tbody tr").first).to_contain_text(
        "Categories: Éclairage"
    )
    assert items(admin, "/api/price-rules")[0]["scope"] == {
        "type": "categories",
        "ids": ["lighting"],
    }


def test_a_product_unknown_to_the_catalogue_is_shown_and_chosen_by_its_id(admin):
    catalogue(admin)
    made = admin.api.post(
        "/api/bundles",
        headers=admin.auth,
        json={"name": "Pair", "price": {"type": "percent_off", "value": 10},
              "items": [{"product_id": "p_lamp"}, {"product_id": "p_gone"}]},
    )  # fmt: skip
    assert made.status_code == 201, made.get_json()
    admin.open()
    frame = admin.nav("Rules")
    row = frame.locator("table[data-kind=bundles] tbody tr").first
    expect(row).to_contain_text("1 × Lampe à poser, 1 × p_gone")
    admin.follow(row.get_by_role("link", name="Edit the bundle Pair"))
    second = frame.get_by_role("group", name="Item 2")
    expect(second.locator(".picker-chip")).to_have_text(["p_gone×"])
    second.get_by_role("combobox", name="Product (item 2)").fill("p_new")
    frame.get_by_role("option", name="Use “p_new” as an id").click()
    frame.get_by_role("button", name="Save bundle").click()
    expect(frame.get_by_role("status")).to_contain_text("Saved the bundle")
    bundle = items(admin, "/api/bundles")[0]
    assert [item["product_id"] for item in bundle["items"]] == ["p_lamp", "p_new"]


def test_a_programme_condition_on_products_in_the_cart_becomes_a_picker(admin):
    catalogue(admin)
    admin.open()
    frame = admin.nav("Rules")
    admin.follow(frame.get_by_role("link", name="New benefit programme"))
    frame.get_by_label("Name").fill("Torch owners")
    # The new page's picker.js must have run: before it, there is no picker to be hidden.
    admin.submit(frame.get_by_role("button", name="Add a condition"))
    condition = frame.get_by_role("group", name="Condition 1")
    # A text field while the condition is on a city, a picker once it is on products.
    expect(condition.get_by_role("textbox", name="Value")).to_be_visible()
    expect(condition.locator(".picker-search")).to_be_hidden()
    condition.get_by_label("Field").select_option("product_in_cart")
    condition.get_by_label("Operator").select_option("any_of")
    condition.get_by_role("combobox", name="Value").fill("torch")
    frame.get_by_role("option", name="Crème brûlée torch").click()
    expect(condition.locator(".picker-chip")).to_contain_text(["Crème brûlée torch"])
    condition.get_by_label("Field").select_option("shipping_city")
    expect(condition.get_by_role("textbox", name="Value")).to_have_value("p_torch")
    condition.get_by_label("Field").select_option("product_in_cart")
    expect(condition.locator(".picker-chip")).to_contain_text(["Crème brûlée torch"])
    frame.get_by_label("Tier 1: cart subtotal from (EUR)").fill("10")
    frame.get_by_label("Percent or amount").fill("5")
    frame.get_by_role("button", name="Create benefit programme").click()
    expect(frame.get_by_role("status")).to_contain_text("Created the benefit programme")
    row = frame.locator("table[data-kind=benefit-programmes] tbody tr").first
    expect(row).to_contain_text("Crème brûlée torch")
    [programme] = items(admin, "/api/benefit-programmes")
    assert programme["conditions"] == [
        {"field": "product_in_cart", "op": "any_of", "value": ["p_torch"]}
    ]


def test_the_segment_builder_picks_bought_products(admin):
    catalogue(admin)
    admin.customer("c_1")
    admin.order("o_1", "c_1", lines=[{"product_id": "p_torch", "kind": "product",
                                      "quantity": 1, "unit_price": 2500}])  # fmt: skip
    admin.open()
    frame = admin.nav("Segments")
    admin.follow(frame.get_by_role("link", name="Create segment"))
    frame.get_by_label("Segment name").fill("Torch buyers")
    condition = frame.locator("[data-row='0']")
    condition.get_by_label("Field").select_option("purchased_product")
    condition.get_by_role("combobox", name="Products").fill("torch")
    frame.get_by_role("option", name="Crème brûlée torch").click()
    expect(frame.locator("#live-count")).to_contain_text("1 customer matches")
    frame.get_by_role("button", name="Save segment").last.click()
    expect(frame.locator(".flash-area")).to_contain_text("Torch buyers")
    expect(frame.get_by_role("listitem").filter(has_text="Bought product")).to_contain_text(
        "Crème brûlée torch"
    )
    [segment] = items(admin, "/api/segments")
    assert segment["conditions"][0]["value"] == ["p_torch"]


def test_reports_pages_draw_their_charts(admin):
    group = admin.api.post(
        "/api/groups", headers=admin.auth, json={"name": "Wholesale", "colour": "#1e88e5"}
    ).get_json()
    admin.customer("c_1", first_name="Grace")
    moved = admin.api.post(
        f"/api/groups/{group['id']}/customers", headers=admin.auth, json={"customer_ids": ["c_1"]}
    )
    assert moved.status_code == 200
    admin.api.post(
        "/api/discounts",
        headers=admin.auth,
        json={"name": "Summer", "code": "SUMMER", "type": "percent", "value": 10},
    )
    yesterday = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    admin.order("o_1", "c_1", total=4500, discount_codes=["SUMMER"],
                placed_at=yesterday.isoformat().replace("+00:00", "Z"))  # fmt: skip
    admin.open()
    frame = admin.nav("Reports")
    expect(frame.get_by_role("heading", level=1)).to_have_text("Reports")
    expect(frame.get_by_role("img", name="Revenue per group, per day")).to_be_visible()
    expect(frame.locator("svg.chart")).to_have_count(2)
    expect(frame.locator(f"tr[data-group-id='{group['id']}']")).to_contain_text("€45.00")
    admin.screenshot("reports")

    admin.follow(frame.get_by_role("link", name="Last 7 days"))
    expect(frame.get_by_role("textbox", name="From")).to_have_value(
        (datetime.now(UTC).date() - timedelta(days=6)).isoformat()
    )
    admin.follow(frame.get_by_role("link", name="Summer"))
    expect(frame.get_by_role("heading", level=1)).to_contain_text("Summer")
    expect(frame.locator("[data-figure=redemptions]")).to_have_text("1")
    expect(frame.locator("svg.chart")).to_have_count(3)
    frame.get_by_text("Summer: the figures per day").click()
    expect(frame.get_by_role("table").filter(has_text="Redemptions")).to_be_visible()

    admin.follow(frame.get_by_role("link", name="← All reports"))
    admin.follow(frame.locator(f"tr[data-group-id='{group['id']}']").get_by_role("link"))
    expect(frame.get_by_role("heading", level=1)).to_contain_text("Wholesale")
    expect(frame.locator("[data-figure=revenue]")).to_have_text("€45.00")
    expect(frame.get_by_role("img", name="Revenue per day")).to_be_visible()
    admin.screenshot("report-group")
