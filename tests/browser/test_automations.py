"""Automations inside the host's iframe (seed 002): give a coupon when a customer joins a
group, then read the run history."""

from __future__ import annotations

from playwright.sync_api import expect

from plugin.jobs import run_pending


def test_an_automation_made_in_the_admin_gives_a_coupon(admin):
    vip = admin.api.post(
        "/api/groups", headers=admin.auth, json={"name": "VIP", "colour": "#8e24aa"}
    ).get_json()
    discount = admin.api.post(
        "/api/discounts",
        headers=admin.auth,
        json={"name": "VIP welcome", "type": "percent", "value": 15},
    ).get_json()
    admin.api.post(
        f"/api/discounts/{discount['id']}/codes/generate",
        headers=admin.auth,
        json={"count": 5, "prefix": "VIP-"},
    )
    admin.customer("c_1", first_name="Ada")
    admin.open()
    frame = admin.nav("Automations")
    admin.follow(frame.get_by_role("link", name="New automation"))
    frame.get_by_label("Name").fill("Welcome to VIP")
    frame.get_by_label("Trigger").select_option("joined_group")
    admin.submit(frame.get_by_role("button", name="Create automation"))
    # The group is required for this trigger: 422 next to it.
    expect(frame.locator("#f-trigger-group_id-errors")).to_contain_text("Choose one")
    frame.get_by_label("Group", exact=True).select_option(label="VIP")
    frame.get_by_label("Give a code of").select_option(label="VIP welcome")
    frame.get_by_label("Code expires after (days)").fill("30")
    admin.screenshot("automations-form")
    frame.get_by_role("button", name="Create automation").click()
    expect(frame.get_by_role("status")).to_contain_text("Created the automation “Welcome to VIP”.")
    row = frame.locator("tbody tr", has=frame.get_by_role("rowheader", name="Welcome to VIP"))
    expect(row).to_contain_text("A customer joins the group VIP")
    expect(row).to_contain_text("Give a code of VIP welcome, valid 30 days")

    moved = admin.api.post(
        f"/api/groups/{vip['id']}/customers", headers=admin.auth, json={"customer_ids": ["c_1"]}
    )
    assert moved.status_code == 200
    run_pending(admin.app)
    admin.nav("Automations")
    row = frame.locator("tbody tr", has=frame.get_by_role("rowheader", name="Welcome to VIP"))
    expect(row.locator("td.num").first).to_have_text("1")
    admin.screenshot("automations")
    admin.follow(row.get_by_role("link", name="Run history of Welcome to VIP"))
    run = frame.locator("table.runs tbody tr")
    expect(run).to_have_count(1)
    expect(run.first).to_contain_text("Succeeded")
    expect(run.first).to_contain_text("c_1")
    expect(run.first).to_contain_text("VIP-")
