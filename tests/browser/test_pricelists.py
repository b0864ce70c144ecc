"""Price lists and offers (contract v2 §8) inside the host's iframe: a list for a group, its
entries set by hand and imported from CSV, an offer, and the cart they price together."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.test_rules import rule_row

CATALOGUE = (
    ("p_fig", "Fig candle", "candles", 2400),
    ("p_taper", "Taper candle", "candles", 900),
)


def setup_shop(admin):
    vip = admin.api.post(
        "/api/groups", headers=admin.auth, json={"name": "VIP", "colour": "#8e24aa"}
    ).get_json()
    admin.customer("c_7", first_name="Ada", last_name="Lovelace", email="ada@example.com")
    moved = admin.api.post(
        f"/api/groups/{vip['id']}/customers", headers=admin.auth, json={"customer_ids": ["c_7"]}
    )
    assert moved.status_code == 200, moved.get_json()
    for product_id, title, category, price in CATALOGUE:
        product = {"id": product_id, "title": title, "kind": "product",
                   "category_ids": [category], "price": price, "active": True}  # fmt: skip
        assert admin.host.webhook("product/created", {"product": product}).status_code == 200
    return vip


def entries(admin, list_id):
    answer = admin.api.get(f"/api/price-lists/{list_id}/entries", headers=admin.auth)
    assert answer.status_code == 200, answer.get_json()
    return {(e["product_id"], e["min_quantity"]): e["price"] for e in answer.get_json()["items"]}


def test_a_price_list_and_an_offer_made_in_the_admin_price_a_cart(admin):
    vip = setup_shop(admin)
    admin.open()

    # The list, for the VIP group.
    frame = admin.nav("Rules")
    admin.follow(frame.get_by_role("link", name="New price list"))
    frame.get_by_label("Name").fill("VIP prices")
    frame.get_by_label("Specific groups").check()
    frame.get_by_role("group", name="Groups").get_by_label("VIP").check()
    frame.get_by_role("button", name="Create price list").click()
    expect(frame.get_by_role("status")).to_contain_text("Created the price list “VIP prices”.")
    [made] = admin.api.get("/api/price-lists", headers=admin.auth).get_json()["items"]
    assert made["audience"] == {"type": "groups", "ids": [vip["id"]]}

    # Its entries: one by hand (the picker finds the product by its title), a bad price
    # refused next to its field, then a CSV that replaces them all, one line refused.
    row = rule_row(frame, "price-lists", "VIP prices")
    admin.follow(row.get_by_role("link", name="Entries, import, export"))
    expect(frame.get_by_role("heading", level=1)).to_have_text(
        "Entries of the price list “VIP prices”"
    )
    frame.get_by_role("combobox", name="Product").fill("fig")
    frame.get_by_role("option", name="Fig candle").click()
    frame.get_by_label("From quantity").fill("3")
    frame.get_by_label("Price (EUR)").fill("abc")
    admin.submit(frame.get_by_role("button", name="Set the price"))
    expect(frame.get_by_label("Price (EUR)")).to_have_attribute("aria-invalid", "true")
    assert entries(admin, made["id"]) == {}
    frame.get_by_label("Price (EUR)").fill("18.50")
    admin.submit(frame.get_by_role("button", name="Set the price"))
    expect(frame.get_by_role("status")).to_contain_text("Fig candle from 3: €18.50.")
    assert entries(admin, made["id"]) == {("p_fig", 3): 1850}

    csv = b"product_id,min_quantity,price\np_fig,1,2000\np_fig,3,1800\np_taper,1,700\np_x,0,5\n"
    frame.get_by_label("CSV file").set_input_files(
        {"name": "vip.csv", "mimeType": "text/csv", "buffer": csv}
    )
    frame.get_by_role("button", name="Import and replace").click()
    report = frame.get_by_role("status").filter(has_text="Import report")
    expect(report.locator("[data-count=imported]")).to_have_text("3")
    expect(report.locator("[data-count=invalid]")).to_have_text("1")
    expect(report.get_by_role("table", name="Lines not imported")).to_contain_text("5")
    replaced = {("p_fig", 1): 2000, ("p_fig", 3): 1800, ("p_taper", 1): 700}
    assert entries(admin, made["id"]) == replaced
    expect(frame.get_by_role("heading", name="Entries (3)")).to_be_visible()
    table = frame.get_by_role("table", name="Entries")
    expect(table.get_by_role("rowheader")).to_contain_text(
        ["Fig candle p_fig", "Fig candle p_fig", "Taper candle p_taper"]
    )
    expect(table.get_by_role("button", name="Delete Taper candle from 1")).to_be_visible()
    admin.screenshot("price-list-entries")

    # An offer: buy two taper candles, the third is free.
    frame = admin.nav("Rules")
    admin.follow(frame.get_by_role("link", name="New offer"))
    frame.get_by_label("Name").fill("Tapers 3 for 2")
    buy = frame.get_by_role("group", name="Buy")
    buy.get_by_role("combobox", name="Products or categories").fill("taper")
    buy.get_by_role("option", name="Taper candle").click()
    buy.get_by_label("Quantity").fill("2")
    get = frame.get_by_role("group", name="Get")
    get.get_by_role("combobox", name="Products or categories").fill("taper")
    get.get_by_role("option", name="Taper candle").click()
    get.get_by_label("Quantity").fill("1")
    get.get_by_label("Discount").select_option("free")
    frame.get_by_role("button", name="Create offer").click()
    expect(frame.get_by_role("status")).to_contain_text("Created the offer “Tapers 3 for 2”.")
    [offer] = admin.api.get("/api/offers", headers=admin.auth).get_json()["items"]
    assert offer["buy"] == {"product_ids": ["p_taper"], "quantity": 2}
    assert offer["get"]["product_ids"] == ["p_taper"]
    assert offer["get"]["discount"] == {"type": "free"}

    # Try a cart for Ada (VIP): three figs at the 3-unit price, three tapers, one free.
    frame = admin.nav("Try a cart")
    frame.get_by_label("Find a customer").fill("ada")
    admin.submit(frame.get_by_label("Find a customer"), key="Enter")
    frame.get_by_label("Ada Lovelace").check()
    for number, (search, title, quantity) in enumerate(
        (("fig", "Fig candle", "3"), ("taper", "Taper candle", "3")), start=1
    ):
        if number > 1:
            frame.get_by_role("button", name="Add a line").click()
        line = frame.get_by_role("group", name=f"Line {number}")
        line.get_by_role("combobox", name="Product").fill(search)
        line.get_by_role("option", name=title).click()
        line.get_by_label("Quantity").fill(quantity)
    frame.get_by_role("button", name="Price this cart").click()

    answer = frame.get_by_role("region", name="The priced cart")
    fig = answer.locator("tr[data-line='1']")
    expect(fig).to_contain_text("Price list: VIP prices")
    expect(fig).to_contain_text("-€18.00")  # 3 × (24.00 − 18.00)
    taper = answer.locator("tr[data-line='2']")
    expect(taper).to_contain_text("Price list: VIP prices")
    expect(taper).to_contain_text("-€6.00")  # 3 × (9.00 − 7.00)
    expect(taper).to_contain_text("Offer: Tapers 3 for 2")
    expect(taper).to_contain_text("-€7.00")  # the third unit, at its list price
    expect(answer.get_by_role("cell", name="€68.00")).to_be_visible()  # 54 + 21 − 7
    admin.screenshot("cart-price-list-offer")

    # The offer's link leads back to it.
    admin.follow(taper.get_by_role("link", name="Tapers 3 for 2"))
    expect(frame.get_by_role("heading", level=1)).to_contain_text("Tapers 3 for 2")
    assert admin.errors == []
