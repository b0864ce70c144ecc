"""Try a cart inside the host's iframe: a price rule made on the Rules page moves the price."""

from __future__ import annotations

from playwright.sync_api import expect


def test_a_price_rule_created_in_the_admin_is_applied_in_try_a_cart(admin):
    vip = admin.api.post(
        "/api/groups", headers=admin.auth, json={"name": "VIP", "colour": "#8e24aa"}
    ).get_json()
    admin.customer("c_42", first_name="Grace", last_name="Hopper", email="grace@example.com")
    moved = admin.api.post(
        f"/api/groups/{vip['id']}/customers", headers=admin.auth, json={"customer_ids": ["c_42"]}
    )
    assert moved.status_code == 200, moved.get_json()
    admin.api.post(
        "/api/discounts",
        headers=admin.auth,
        json={"name": "Welcome", "code": "WELCOME5", "type": "fixed", "value": 500},
    )
    # The catalogue, as the host sends it (contract v2 §8).
    for product_id, title, category, price in (
        ("p_candle_fig", "Fig candle", "candles", 2400),
        ("p_desk_lamp", "Desk lamp", "lamps", 8000),
    ):
        product = {"id": product_id, "title": title, "kind": "product",
                   "category_ids": [category], "price": price, "active": True}  # fmt: skip
        assert admin.host.webhook("product/created", {"product": product}).status_code == 200
    for category_id, title in (("candles", "Candles"), ("lamps", "Lamps")):
        category = {"category": {"id": category_id, "title": title}}
        assert admin.host.webhook("category/created", category).status_code == 200
    admin.open()

    # A price rule for the VIP group, made on the Rules page.
    frame = admin.nav("Rules")
    admin.follow(frame.get_by_role("link", name="New price rule"))
    frame.get_by_label("Name").fill("VIP candles -25%")
    frame.get_by_label("Kind").select_option("discount_percent")
    frame.get_by_label("Value").fill("25")
    frame.get_by_label("Some categories").check()
    frame.get_by_role("combobox", name="Categories or products").fill("cand")
    frame.get_by_role("option", name="Candles").click()
    frame.get_by_label("Specific groups").check()
    frame.get_by_role("group", name="Groups").get_by_label("VIP").check()
    frame.get_by_role("button", name="Create price rule").click()
    expect(frame.get_by_role("status")).to_contain_text("Created the price rule")

    # Try a cart: find the customer, two lines (one a candle), a code.
    frame = admin.nav("Try a cart")
    frame.get_by_label("Find a customer").fill("grace")
    admin.submit(frame.get_by_label("Find a customer"), key="Enter")  # finds, does not price
    frame.get_by_label("Grace Hopper").check()
    line = frame.get_by_role("group", name="Line 1")
    # Picking a product fills its kind, categories and price from the catalogue.
    line.get_by_role("combobox", name="Product").fill("fig")
    line.get_by_role("option", name="Fig candle").click()
    expect(line.get_by_label("Unit price (EUR)")).to_have_value("24.00")
    expect(line.locator(".picker-chip")).to_contain_text(["Fig candle", "Candles"])
    line.get_by_label("Quantity").fill("2")
    frame.get_by_role("button", name="Add a line").click()
    line = frame.get_by_role("group", name="Line 2")
    expect(line.get_by_role("combobox", name="Product")).to_be_focused()
    line.get_by_role("combobox", name="Product").fill("desk")
    line.get_by_role("combobox", name="Product").press("Enter")  # the first match
    expect(line.get_by_label("Unit price (EUR)")).to_have_value("80.00")
    frame.get_by_label("Discount codes").fill("WELCOME5")
    frame.get_by_label("Carrier").fill("colissimo")
    frame.get_by_label("Shipping price (EUR)").fill("4.90")
    frame.get_by_label("Shipping price (EUR)").press("Enter")  # the default button prices

    answer = frame.get_by_role("region", name="The priced cart")
    expect(frame.get_by_role("heading", name="The priced cart")).to_be_focused()
    expect(answer).to_contain_text("Group VIP")
    candle = answer.locator("tr[data-line='1']")
    expect(candle.get_by_role("rowheader")).to_contain_text("Fig candle")  # by its title
    expect(candle).to_contain_text("Price rule: VIP candles -25%")
    expect(candle).to_contain_text("-€12.00")  # 2 × (24.00 − 18.00)
    expect(candle).to_contain_text("€18.00")
    lamp = answer.locator("tr[data-line='2']")
    expect(lamp).not_to_contain_text("Price rule")
    expect(answer.locator("[data-code-status=applied]")).to_contain_text("WELCOME5")
    expect(answer.get_by_role("cell", name="€115.90")).to_be_visible()  # 36 + 80 − 5 + 4.90
    admin.screenshot("cart")

    # The rule's link leads back to it.
    admin.follow(candle.get_by_role("link", name="VIP candles -25%"))
    expect(frame.get_by_role("heading", level=1)).to_contain_text("VIP candles -25%")
