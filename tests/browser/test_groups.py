"""The groups page (seed 003) inside the host's iframe: create, make default, refuse, delete."""

from __future__ import annotations

from playwright.sync_api import expect


def group_row(frame, name):
    return frame.locator("tbody tr", has=frame.get_by_role("rowheader", name=name, exact=True))


def api_groups(admin):
    response = admin.api.get("/api/groups", headers=admin.auth)
    return {g["name"]: g for g in response.get_json()["items"]}


def test_create_a_group_make_it_default_and_be_refused_deleting_the_default(admin):
    admin.customer("c_1", first_name="Ada")
    admin.customer("c_2", first_name="Grace")
    frame = admin.open()
    expect(frame.get_by_role("heading", level=1)).to_have_text("Customer groups")
    expect(group_row(frame, "Standard")).to_contain_text("Default group")
    expect(group_row(frame, "Standard")).to_contain_text("#9e9e9e")
    # The default group has Modify only.
    expect(
        group_row(frame, "Standard").get_by_role("button", name="Delete Standard")
    ).to_have_count(0)

    admin.follow(frame.get_by_role("link", name="Create group"))
    frame.get_by_label("Group name").fill("Wholesale")
    frame.get_by_label("Colour code (#rrggbb)").fill("#1E88E5")
    expect(frame.get_by_label("Colour picker")).to_have_value("#1e88e5")
    admin.screenshot("groups-form")
    frame.get_by_role("button", name="Save group").click()
    expect(frame.get_by_role("status")).to_contain_text("Group “Wholesale” created.")
    expect(group_row(frame, "Wholesale")).to_contain_text("#1e88e5")
    expect(group_row(frame, "Wholesale")).to_contain_text("No")

    # A name that is taken is shown next to the field, and nothing is saved.
    admin.follow(frame.get_by_role("link", name="Create group"))
    frame.get_by_label("Group name").fill("wholesale")
    frame.get_by_role("button", name="Save group").click()
    expect(frame.locator("#f-name-errors")).to_have_text("A group with this name already exists.")
    expect(frame.get_by_label("Group name")).to_have_attribute("aria-invalid", "true")
    assert len(api_groups(admin)) == 2
    admin.follow(frame.get_by_role("link", name="Cancel"))
    # Make Wholesale the default: Standard loses the flag and gains a Delete button.
    admin.follow(frame.get_by_role("link", name="Modify Wholesale"))
    frame.get_by_role("switch", name="Default group").check()
    # The list that comes back must have admin.js, which asks before a Delete posts.
    admin.submit(frame.get_by_role("button", name="Save group"))
    expect(frame.get_by_role("status")).to_contain_text("Group “Wholesale” saved.")
    expect(group_row(frame, "Wholesale")).to_contain_text("Default group")
    expect(group_row(frame, "Wholesale").get_by_role("button")).to_have_count(0)
    assert api_groups(admin)["Wholesale"]["is_default"] is True
    admin.screenshot("groups")

    # Escape in the confirmation deletes nothing.
    group_row(frame, "Standard").get_by_role("button", name="Delete Standard").click()
    dialog = frame.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete the group “Standard”?")
    frame.page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert "Standard" in api_groups(admin)

    # Someone else makes Standard the default meanwhile; deleting it from this (stale)
    # page is refused with a clear message and changes nothing.
    standard = api_groups(admin)["Standard"]
    moved = admin.api.patch(
        f"/api/groups/{standard['id']}", json={"is_default": True}, headers=admin.auth
    )
    assert moved.status_code == 200
    group_row(frame, "Standard").get_by_role("button", name="Delete Standard").click()
    admin.submit(frame.get_by_role("dialog").get_by_role("button", name="Yes, delete"))
    alert = frame.get_by_role("alert")
    expect(alert).to_contain_text("“Standard” is the default group, so it cannot be deleted")
    expect(alert).to_contain_text("Make another group the default first")
    admin.screenshot("groups-refused")
    assert api_groups(admin)["Standard"]["member_count"] == 2

    # Deleting a group that is not the default works, after confirming.
    frame.get_by_role("button", name="Delete Wholesale").click()
    frame.get_by_role("dialog").get_by_role("button", name="Yes, delete").click()
    expect(frame.get_by_role("status")).to_contain_text("Group “Wholesale” deleted")
    assert set(api_groups(admin)) == {"Standard"}


def test_keyboard_reaches_every_action_with_a_visible_focus(admin):
    frame = admin.open()
    page = admin.page
    seen = []
    frame.locator("body").focus()
    # Twelve stops reach the first group's "Modify"; a few more are allowed, since the first
    # Tab sometimes only moves the focus from the host's page into the frame (seen once).
    for _ in range(16):
        page.keyboard.press("Tab")
        focused = frame.evaluate(
            "() => [document.activeElement.textContent.trim(),"
            " getComputedStyle(document.activeElement).outlineStyle]"
        )
        seen.append(focused)
        if focused[0] == "Modify":
            break
    labels = [text for text, _ in seen]
    assert "Groups" in labels and "Create group" in labels and "Modify" in labels
    assert all(style != "none" for text, style in seen if text in {"Create group", "Modify"})
