"""The customers page inside the host's iframe: search, page, move the selected to a group."""

from __future__ import annotations

from playwright.sync_api import expect

PEOPLE = [
    ("c_1", "Ada", "Lovelace"),
    ("c_2", "Grace", "Hopper"),
    ("c_3", "Alan", "Turing"),
    ("c_4", "Bobby <b>", "Tables</b>"),
]


def seed(admin):
    for customer_id, first, last in PEOPLE:
        admin.customer(customer_id, first_name=first, last_name=last)
    admin.order("o_1", "c_1", total=12000)
    made = admin.api.post(
        "/api/groups", json={"name": "Wholesale", "colour": "#1e88e5"}, headers=admin.auth
    )
    segment = admin.api.post(
        "/api/segments",
        json={
            "name": "Buyers",
            "conditions": [{"field": "total_order_count", "op": "gte", "value": 1}],
        },
        headers=admin.auth,
    )
    assert made.status_code == 201 and segment.status_code == 201
    return made.get_json()["id"]


def row(frame, customer_id):
    return frame.locator(f'tr[data-customer-id="{customer_id}"]')


def group_of(admin, customer_id):
    return admin.api.get(f"/api/customers/{customer_id}", headers=admin.auth).get_json()["group"]


def test_search_and_move_selected_customers_to_a_group(admin):
    wholesale = seed(admin)
    admin.open()
    frame = admin.nav("Customers")
    expect(frame.get_by_role("heading", level=1)).to_have_text("Customers")
    expect(frame.locator("tbody tr")).to_have_count(4)
    # Group badge (colour sample and name), segments, figures.
    expect(row(frame, "c_1")).to_contain_text("Standard")
    expect(row(frame, "c_1")).to_contain_text("Buyers")
    expect(row(frame, "c_1")).to_contain_text("€120.00")
    expect(row(frame, "c_2")).to_contain_text("None")
    # A name with HTML in it is text, not markup.
    expect(row(frame, "c_4").get_by_role("rowheader")).to_contain_text("Bobby <b> Tables</b>")
    assert row(frame, "c_4").locator("b").count() == 0

    frame.get_by_label("Search by name or email").fill("GRACE")
    frame.get_by_role("button", name="Search").click()
    expect(frame.locator("tbody tr")).to_have_count(1)
    expect(row(frame, "c_2")).to_be_visible()
    admin.follow(frame.get_by_role("link", name="Clear"))
    expect(frame.locator("tbody tr")).to_have_count(4)

    # Nothing selected: told so, nothing moves.
    frame.get_by_label("Move selected customers to").select_option(label="Wholesale")
    admin.submit(frame.get_by_role("button", name="Move selected"))
    expect(frame.get_by_role("alert")).to_contain_text("Select at least one customer to move.")
    assert group_of(admin, "c_1")["name"] == "Standard"

    frame.get_by_label("Select Ada Lovelace").check()
    frame.get_by_label("Select Alan Turing").check()
    expect(frame.get_by_text("2 selected")).to_be_visible()
    frame.get_by_label("Move selected customers to").select_option(label="Wholesale")
    admin.submit(frame.get_by_role("button", name="Move selected"))
    expect(frame.get_by_role("status")).to_contain_text("Moved 2 customers to “Wholesale”.")
    expect(row(frame, "c_1")).to_contain_text("Wholesale")
    expect(row(frame, "c_3")).to_contain_text("Wholesale")
    expect(row(frame, "c_2")).to_contain_text("Standard")
    admin.screenshot("customers")
    assert group_of(admin, "c_1")["id"] == wholesale
    assert group_of(admin, "c_3")["id"] == wholesale
    assert group_of(admin, "c_2")["name"] == "Standard"

    # Filter by group; select all on the page and move them back.
    frame.get_by_label("Group", exact=True).select_option(label="Wholesale")
    # The new page's admin.js must have bound "Select every…" before it is ticked.
    admin.submit(frame.get_by_role("button", name="Search"))
    expect(frame.locator("tbody tr")).to_have_count(2)
    frame.get_by_label("Select every customer on this page").check()
    expect(frame.get_by_text("2 selected")).to_be_visible()
    frame.get_by_label("Move selected customers to").select_option(label="Standard")
    frame.get_by_role("button", name="Move selected").click()
    expect(frame.get_by_role("status")).to_contain_text("Moved 2 customers to “Standard”.")
    expect(frame.get_by_text("0 customers")).to_be_visible()
    assert group_of(admin, "c_1")["name"] == "Standard"


def test_customers_are_paged(admin):
    for index in range(30):
        admin.customer(f"c_{index:02d}", first_name=f"Person{index:02d}")
    admin.open()
    frame = admin.nav("Customers")
    expect(frame.locator("tbody tr")).to_have_count(25)
    expect(frame.get_by_text("Page 1 of 2 (30 in all)")).to_be_visible()
    admin.follow(frame.get_by_role("link", name="Next →"))
    expect(frame.locator("tbody tr")).to_have_count(5)
    expect(row(frame, "c_29")).to_be_visible()
