"""The segment builder inside the host's iframe: conditions, All/Any, the live count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect


def seed(admin):
    recent = (datetime.now(UTC) - timedelta(days=5)).strftime("%Y-%m-%dT10:00:00Z")
    admin.customer("c_1", first_name="Ada", last_name="Lovelace")
    admin.customer("c_2", first_name="Grace", last_name="Hopper")
    admin.customer("c_3", first_name="Alan", last_name="Turing", registered_at=recent)
    admin.order("o_1", "c_1", total=12000)
    admin.order("o_2", "c_1", total=5000)
    admin.order("o_3", "c_2", total=3000)


def condition(frame, number):
    return frame.get_by_role("group", name=f"Condition {number}", exact=True)


def segments(admin):
    return admin.api.get("/api/segments", headers=admin.auth).get_json()["items"]


def test_build_a_segment_and_watch_the_count_change(admin):
    seed(admin)
    admin.open()
    frame = admin.nav("Segments")
    expect(frame.get_by_role("heading", level=1)).to_have_text("Segments")
    admin.follow(frame.get_by_role("link", name="Create segment"))
    live = frame.locator("#live-count")
    expect(live).to_have_text("Fill in a condition to see how many customers match.")

    frame.get_by_label("Segment name").fill("Loyal <b>buyers</b>")
    first = condition(frame, 1)
    expect(first.get_by_label("Field")).to_have_value("total_order_count")
    first.get_by_label("Operator").select_option(label="at least")
    first.get_by_label("Number").fill("1")
    expect(live).to_contain_text("2 customers match right now")
    expect(live).to_contain_text("Ada Lovelace")
    first.get_by_label("Number").fill("2")
    expect(live).to_contain_text("1 customer matches right now (for example Ada Lovelace)")
    first.get_by_label("Number").fill("1")
    expect(live).to_contain_text("2 customers match")

    # A second condition: money in euros, sent in cents; the operators follow the field.
    frame.get_by_role("button", name="Add condition").click()
    second = condition(frame, 2)
    expect(second.get_by_label("Field")).to_be_focused()
    second.get_by_label("Field").select_option(label="Total spent")
    expect(second.get_by_label("Amount (EUR)")).to_be_visible()
    expect(second.get_by_label("Number")).to_be_hidden()
    second.get_by_label("Operator").select_option(label="at least")
    second.get_by_label("Amount (EUR)").fill("100")
    expect(live).to_contain_text("1 customer matches")  # All: Ada spent 170.00
    frame.get_by_label("Any condition").check()
    expect(live).to_contain_text("2 customers match")

    # A date condition with a relative day, and a value that cannot be read.
    second.get_by_label("Field").select_option(label="Registration date")
    expect(second.get_by_label("Operator")).to_have_value("is")
    second.get_by_label("Operator").select_option(label="after")
    second.get_by_label("Compare with").select_option(label="Days ago")
    second.get_by_label("Days ago").fill("1.5")
    expect(live).to_contain_text("Cannot count yet. condition 2")
    second.get_by_label("Days ago").fill("30")
    expect(live).to_contain_text("3 customers match")
    admin.screenshot("segments-builder")

    frame.get_by_role("button", name="Save segment").last.click()
    expect(frame.get_by_role("status").first).to_contain_text(
        "Segment “Loyal <b>buyers</b>” created: 3 customers match."
    )
    row = frame.locator("tbody tr").first
    expect(row.get_by_role("rowheader")).to_have_text("Loyal <b>buyers</b>")
    expect(row).to_contain_text("Any of:")
    expect(row).to_contain_text("Number of orders at least 1")
    expect(row).to_contain_text("Registration date after 30 days ago")
    saved = segments(admin)[0]
    assert saved["match"] == "any"
    assert saved["conditions"] == [
        {"field": "total_order_count", "op": "gte", "value": 1},
        {"field": "registration_date", "op": "after", "value": "-30d"},
    ]
    assert saved["member_count"] == 3
    admin.screenshot("segments")


def test_edit_shows_the_stored_values_and_errors_next_to_the_condition(admin):
    seed(admin)
    made = admin.api.post(
        "/api/segments",
        json={
            "name": "Big spenders",
            "match": "all",
            "conditions": [
                {"field": "total_purchase_amount", "op": "gte", "value": 15000},
                {"field": "purchased_product", "op": "any_of", "value": ["p1", "p2"]},
            ],
        },
        headers=admin.auth,
    )
    assert made.status_code == 201, made.get_json()
    admin.open()
    frame = admin.nav("Segments")
    admin.follow(frame.get_by_role("link", name="Modify Big spenders"))
    expect(condition(frame, 1).get_by_label("Amount (EUR)")).to_have_value("150.00")
    # The products' picker keeps the ids; the catalogue knows neither, so they show as ids.
    expect(condition(frame, 2).locator('[data-input="ids"]')).to_have_value("p1, p2")
    expect(condition(frame, 2).locator(".picker-chip")).to_have_text(["p1×", "p2×"])
    live = frame.locator("#live-count")
    expect(live).to_contain_text("1 customer matches")

    # Sub-cent amount: refused next to the condition, nothing saved.
    condition(frame, 1).get_by_label("Amount (EUR)").fill("12.345")
    admin.submit(frame.get_by_role("button", name="Save segment").last)
    expect(frame.get_by_role("alert")).to_contain_text("Nothing was saved")
    expect(condition(frame, 1)).to_contain_text("Enter an amount in EUR, such as 99.55.")
    assert segments(admin)[0]["conditions"][0]["value"] == 15000

    # Remove the product condition, fix the amount, save.
    condition(frame, 2).get_by_role("button", name="Remove condition 2").click()
    expect(frame.get_by_role("group", name="Condition 2", exact=True)).to_have_count(0)
    expect(frame.get_by_role("button", name="Add condition")).to_be_focused()
    condition(frame, 1).get_by_label("Amount (EUR)").fill("29.99")
    expect(live).to_contain_text("2 customers match")
    admin.submit(frame.get_by_role("button", name="Save segment").last)
    expect(frame.get_by_role("status").first).to_contain_text(
        "Segment “Big spenders” saved: 2 customers match."
    )
    assert segments(admin)[0]["conditions"] == [
        {"field": "total_purchase_amount", "op": "gte", "value": 2999}
    ]

    frame.get_by_role("button", name="Delete Big spenders").click()
    frame.get_by_role("dialog").get_by_role("button", name="Yes, delete").click()
    expect(frame.get_by_role("status").first).to_contain_text("Segment “Big spenders” deleted.")
    assert segments(admin) == []
