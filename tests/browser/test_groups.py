"""The groups page (seed 003) inside the host's iframe."""

from __future__ import annotations


def test_groups_page_opens_in_the_host_frame(admin):
    frame = admin.open()
    assert frame.get_by_role("heading", level=1).inner_text() == "Customer groups"
    row = frame.locator("tr", has_text="Standard")
    assert "Default group" in row.inner_text()
    assert "#9e9e9e" in row.inner_text()
    admin.screenshot("groups-smoke")
