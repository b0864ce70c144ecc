"""The admin pages in Chromium, inside a host's iframe, served by ``customer-groups serve``.

Where ``tests/browser/`` runs the app in a thread of the test process, here the frame loads
it from gunicorn (2 workers), the pages' scripts call the served ``/api`` with the admin
session, and background work (a large code generation) is run by the server's own workers.
Outcomes are checked through the served API.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.harness import EmbeddedAdmin, HostPage, chromium
from tests.conftest import customer_payload, order_payload
from tests.served.server import Server

pytestmark = [pytest.mark.served, pytest.mark.browser]

NAV = ("Groups", "Customers", "Segments", "Rules", "Discounts", "Automations", "Audiences")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def host_page() -> Iterator[HostPage]:
    page = HostPage()
    yield page
    page.stop()


@pytest.fixture(scope="module")
def server(serve, host_page: HostPage) -> Server:
    started = serve(CUSTOMER_GROUPS_ADMIN_ORIGINS=host_page.url)
    started.install()
    host_page.app_url = started.base
    return started


@pytest.fixture
def admin(browser: Any, server: Server, host_page: HostPage) -> Iterator[EmbeddedAdmin]:
    driver = EmbeddedAdmin(browser, server.base, host_page.url)
    try:
        yield driver
        assert not driver.errors, f"the page reported errors: {driver.errors}"
        failed = [(status, url) for status, url in driver.responses if status >= 400]
        assert not failed, f"requests of the page failed: {failed}"
    finally:
        driver.close()


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.url, response.text, response.served_by.log())
    return response.json() if response.content else None


def test_every_admin_page_opens_in_the_frame(admin, server):
    body = {"name": "Browser pool", "type": "percent", "value": 5}
    ok(server.api("POST", "/discounts", json=body), 201)
    frame = admin.open()
    assert frame.url.startswith(server.base + "/admin?")
    nav = frame.get_by_role("navigation", name="Customer Groups")
    labels = nav.get_by_role("link").all_inner_texts()
    assert set(NAV) <= set(labels), labels
    for label in labels:
        frame = admin.nav(label)
        expect(frame.get_by_role("heading", level=1)).to_be_visible()
        current = nav.get_by_role("link", name=label, exact=True)
        expect(current).to_have_attribute("aria-current", "page")
    frame = admin.nav("Discounts")
    frame.get_by_role("link", name="Codes of the discount Browser pool").click()
    expect(frame.get_by_role("heading", level=1)).to_contain_text("Browser pool")
    # Everything the tab loaded came from the served app or the host page.
    assert {url.split("/")[2] for _, url in admin.responses} <= {
        server.base.split("/")[2],
        admin.host_url.split("/")[2],
    }


def test_create_a_group_in_the_frame(admin, server):
    frame = admin.open()
    frame.get_by_role("link", name="Create group").click()
    frame.get_by_label("Group name").fill("Browser VIP")
    frame.get_by_label("Colour code (#rrggbb)").fill("#1E88E5")
    frame.get_by_role("button", name="Save group").click()
    expect(frame.get_by_role("status")).to_contain_text("Group “Browser VIP” created.")
    groups = {g["name"]: g for g in ok(server.api("GET", "/groups"))["items"]}
    assert groups["Browser VIP"]["colour"] == "#1e88e5"


def test_the_segment_builder_counts_through_the_served_api(admin, server):
    for customer_id, first in (("sb_1", "Ada"), ("sb_2", "Grace")):
        payload = {"customer": customer_payload(customer_id, first_name=first)}
        ok(server.webhook("customer/created", payload))
    ok(server.webhook("order/paid", {"order": order_payload("o_sb1", "sb_1", total=12000)}))
    admin.open()
    frame = admin.nav("Segments")
    frame.get_by_role("link", name="Create segment").click()
    frame.get_by_label("Segment name").fill("Browser buyers")
    first = frame.get_by_role("group", name="Condition 1", exact=True)
    first.get_by_label("Operator").select_option(label="at least")
    first.get_by_label("Number").fill("1")
    expect(frame.locator("#live-count")).to_contain_text("1 customer matches right now")
    frame.get_by_role("button", name="Save segment").first.click()
    expect(frame.get_by_role("heading", level=1)).to_have_text("Segments")
    segments = ok(server.api("GET", "/segments"))["items"]
    [segment] = [s for s in segments if s["name"] == "Browser buyers"]
    assert segment["member_count"] == 1
    assert segment["conditions"] == [{"field": "total_order_count", "op": "gte", "value": 1}]


def test_codes_made_by_the_server_s_job_and_imported_from_a_file(admin, server, tmp_path: Path):
    body = {"name": "Browser big pool", "type": "percent", "value": 5}
    discount = ok(server.api("POST", "/discounts", json=body), 201)
    admin.open()
    frame = admin.nav("Discounts")
    frame.get_by_role("link", name="Codes of the discount Browser big pool").click()
    frame.get_by_label("How many").fill("12000")
    frame.get_by_label("Random characters").fill("10")
    frame.get_by_role("button", name="Generate codes").click()
    # No runner in this process: the served app's workers make the codes.
    expect(frame.locator("[data-job-progress]")).to_contain_text(
        "Done: 12,000 codes generated.", timeout=90_000
    )
    listed = ok(server.api("GET", f"/discounts/{discount['id']}/codes?per_page=1"))
    assert listed["total"] == 12_000

    upload = tmp_path / "codes.csv"
    upload.write_text("code\nBROWSER-1\nBROWSER-2\nbad code!\n")
    frame.get_by_label("CSV file").set_input_files(str(upload))
    frame.get_by_role("button", name="Import codes").click()
    report = frame.locator(".report")
    expect(report.locator("[data-count=imported]")).to_have_text("2")
    expect(report.locator("[data-count=invalid]")).to_have_text("1")
    listed = ok(server.api("GET", f"/discounts/{discount['id']}/codes?per_page=1"))
    assert listed["total"] == 12_002
