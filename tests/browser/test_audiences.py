"""Audiences inside the host's iframe: a segment sent to a Klaviyo list, run, and its history."""

from __future__ import annotations

import json

from playwright.sync_api import expect


def test_create_an_audience_run_it_and_read_its_history(admin, httpserver):
    httpserver.expect_request("/api/profile-import").respond_with_json({"data": {"id": "p1"}})
    httpserver.expect_request("/api/lists/NEWS/relationships/profiles").respond_with_data("", 204)
    admin.customer("c_1", first_name="Ada", email="ada@example.com", accepts_marketing=True)
    admin.customer("c_2", first_name="Alan", email="alan@example.com", accepts_marketing=False)
    admin.api.post(
        "/api/segments",
        headers=admin.auth,
        json={
            "name": "Opted in",
            "match": "all",
            "conditions": [{"field": "accepts_marketing", "op": "is", "value": True}],
        },
    )
    admin.open()
    frame = admin.nav("Audiences")
    admin.follow(frame.get_by_role("link", name="New audience"))
    frame.get_by_label("Name").fill("Newsletter")
    frame.get_by_label("Segment", exact=True).select_option(label="Opted in")
    frame.get_by_label("Klaviyo list", exact=True).check()
    frame.get_by_label("Klaviyo list id").fill("NEWS")
    frame.get_by_label("API address").fill(httpserver.url_for("/"))
    frame.get_by_role("button", name="Add a property").click()
    row = frame.get_by_role("group", name="Property 1")
    expect(row.get_by_label("Property name in the destination")).to_be_focused()
    row.get_by_label("Property name in the destination").fill("first_name")
    row.get_by_label("Our field").select_option("first_name")
    admin.submit(frame.get_by_role("button", name="Create audience"))

    # The key is required: 422 next to its field, nothing saved.
    expect(frame.locator("#f-destination-credentials-api_key-errors")).to_contain_text("api_key")
    frame.get_by_label("API key").fill("pk_test_0123456789abcdef")
    admin.submit(frame.get_by_role("button", name="Create audience"))
    expect(frame.get_by_role("status")).to_contain_text("Created the audience “Newsletter”.")
    row = frame.locator("tbody tr", has=frame.get_by_role("rowheader", name="Newsletter"))
    expect(row).to_contain_text("Segment Opted in")
    expect(row).to_contain_text("Never run")

    row.get_by_role("button", name="Run the audience Newsletter now").click()
    expect(frame.get_by_role("heading", level=1)).to_have_text("Runs of “Newsletter”")
    expect(frame.get_by_role("status")).to_contain_text(
        "succeeded: 1 synced, 0 removed, 0 skipped, 0 failed"
    )
    history = frame.locator("table.runs tbody tr")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("Succeeded")
    admin.screenshot("audience-runs")
    frame = admin.nav("Audiences")
    row = frame.locator("tbody tr", has=frame.get_by_role("rowheader", name="Newsletter"))
    expect(row).to_contain_text("Succeeded 1 synced, 0 removed, 0 skipped, 0 failed")
    admin.screenshot("audiences")
    imported = json.loads(httpserver.log[0][0].get_data())["data"]["attributes"]
    assert (imported["email"], imported["first_name"]) == ("ada@example.com", "Ada")
