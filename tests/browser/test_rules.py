"""The rules page inside the host's iframe: a price rule and a tiered benefit programme."""

from __future__ import annotations

from playwright.sync_api import expect


def rule_row(frame, section, name):
    table = frame.locator(f"table[data-kind={section}]")
    return table.locator("tbody tr", has=frame.get_by_role("rowheader", name=name, exact=True))


def api_items(admin, path):
    return admin.api.get(path, headers=admin.auth).get_json()["items"]


def test_create_edit_and_delete_a_price_rule(admin):
    wholesale = admin.api.post(
        "/api/groups", headers=admin.auth, json={"name": "Wholesale", "colour": "#1e88e5"}
    ).get_json()
    admin.open()
    frame = admin.nav("Rules")
    expect(frame.get_by_role("heading", level=1)).to_have_text("Rules")
    admin.follow(frame.get_by_role("link", name="New price rule"))
    frame.get_by_label("Name").fill("Wholesale candles")
    frame.get_by_label("Kind").select_option("discount_percent")
    frame.get_by_label("Value").fill("150")
    frame.get_by_label("Some categories").check()
    # The picker: "candles" is not in the catalogue, so it is used as an id as typed.
    frame.get_by_role("combobox", name="Categories or products").fill("candles")
    frame.get_by_role("option", name="Use “candles” as an id").click()
    frame.get_by_label("Specific groups").check()
    frame.get_by_role("group", name="Groups").get_by_label("Wholesale").check()
    admin.submit(frame.get_by_role("button", name="Create price rule"))

    # 422: the message is next to the field, and the summary links to it.
    expect(frame.locator("#f-action-value-errors")).to_contain_text("at most 100")
    expect(frame.get_by_label("Value")).to_have_attribute("aria-invalid", "true")
    assert api_items(admin, "/api/price-rules") == []
    frame.get_by_label("Value").fill("20")
    admin.screenshot("rules-form")
    frame.get_by_role("button", name="Create price rule").click()

    expect(frame.get_by_role("status")).to_contain_text(
        "Created the price rule “Wholesale candles”."
    )
    row = rule_row(frame, "price-rules", "Wholesale candles")
    expect(row).to_contain_text("Groups: Wholesale")
    expect(row).to_contain_text("Discount, percent: 20 %")
    expect(row).to_contain_text("Active")
    [rule] = api_items(admin, "/api/price-rules")
    assert rule["audience"] == {"type": "groups", "ids": [wholesale["id"]]}
    assert rule["scope"] == {"type": "categories", "ids": ["candles"]}

    admin.follow(row.get_by_role("link", name="Edit the price rule Wholesale candles"))
    frame.get_by_role("switch", name="Active").uncheck()
    admin.submit(frame.get_by_role("button", name="Save price rule"))
    expect(rule_row(frame, "price-rules", "Wholesale candles")).to_contain_text("Inactive")

    rule_row(frame, "price-rules", "Wholesale candles").get_by_role(
        "button", name="Delete the price rule Wholesale candles"
    ).click()
    frame.get_by_role("dialog").get_by_role("button", name="Yes, delete").click()
    expect(frame.get_by_role("status")).to_contain_text("Deleted the price rule")
    assert api_items(admin, "/api/price-rules") == []


def test_a_benefit_programme_with_tiers_built_with_the_keyboard(admin):
    for path, body in (
        (
            "/api/price-rules",
            {"name": "Staff -30%", "action": {"type": "discount_percent", "value": 30}},
        ),
        (
            "/api/bundles",
            {
                "name": "Candle trio",
                "items": [
                    {"product_id": "p_fig"},
                    {"product_id": "p_cedar"},
                    {"product_id": "p_amber"},
                ],
                "price": {"type": "fixed_total", "value": 4500},
                "max_applications": 2,
            },
        ),
        (
            "/api/gift-rules",
            {
                "name": "Free tote from 120 EUR",
                "trigger": {"type": "subtotal", "min": 12000},
                "gift": {"product_id": "p_tote"},
            },
        ),
    ):
        assert admin.api.post(path, headers=admin.auth, json=body).status_code == 201
    admin.open()
    frame = admin.nav("Rules")
    admin.follow(frame.get_by_role("link", name="New benefit programme"))
    frame.get_by_label("Name").fill("VIP <b>tiers</b>")
    frame.get_by_label("Tier 1: cart subtotal from (EUR)").fill("100")
    frame.get_by_label("Percent or amount").fill("5")

    # Add a second tier with the keyboard: the new tier's first field gets the focus.
    frame.get_by_role("button", name="Add a tier").focus()
    frame.page.keyboard.press("Enter")
    tier_two = frame.get_by_label("Tier 2: cart subtotal from (EUR)")
    expect(tier_two).to_be_focused()
    frame.page.keyboard.type("250")
    expect(frame.get_by_label("Tier 1: cart subtotal from (EUR)")).to_have_value("100")
    frame.get_by_role("group", name="Tier 2, benefit 1").get_by_label("Benefit 1").select_option(
        "free_shipping"
    )
    frame.get_by_role("group", name="Tier 2, benefit 1").get_by_label("Carriers").fill("colissimo")
    admin.submit(frame.get_by_role("button", name="Add a benefit to tier 2"))
    benefit = frame.get_by_role("group", name="Tier 2, benefit 2")
    benefit.get_by_label("Benefit 2").select_option("percent_off_order")
    benefit.get_by_label("Percent or amount").fill("10")
    admin.submit(frame.get_by_role("button", name="Add a condition"))
    frame.get_by_role("group", name="Condition 1").get_by_label("Field").select_option(
        "shipping_country"
    )
    frame.get_by_role("group", name="Condition 1").get_by_label("Value").fill("FR")
    frame.get_by_role("switch", name="Combinable with discount codes").uncheck()
    admin.screenshot("rules-programme-form")
    # Enter in a field saves: it does not press the first "Remove …" button of the form.
    frame.get_by_label("Name").press("Enter")

    expect(frame.get_by_role("status")).to_contain_text("Created the benefit programme")
    row = rule_row(frame, "benefit-programmes", "VIP <b>tiers</b>")
    expect(row).to_contain_text("From €100.00: 5 % off")
    expect(row).to_contain_text("From €250.00: free shipping (colissimo) + 10 % off")
    expect(row).to_contain_text("Not combinable")
    expect(rule_row(frame, "bundles", "Candle trio")).to_contain_text("€45.00 a set")
    expect(rule_row(frame, "gift-rules", "Free tote from 120 EUR")).to_contain_text(
        "Subtotal from €120.00"
    )
    admin.screenshot("rules")
    [programme] = api_items(admin, "/api/benefit-programmes")
    assert programme["name"] == "VIP <b>tiers</b>"
    assert [tier["min_subtotal"] for tier in programme["tiers"]] == [10000, 25000]
    assert programme["conditions"] == [{"field": "shipping_country", "op": "is", "value": "FR"}]
