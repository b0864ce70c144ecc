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

import axe_playwright_python
import pytest
from playwright.sync_api import Error as PlaywrightError
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
    admin.follow(frame.get_by_role("link", name="Codes of the discount Browser pool"))
    expect(frame.get_by_role("heading", level=1)).to_contain_text("Browser pool")
    # Everything the tab loaded came from the served app or the host page.
    assert {url.split("/")[2] for _, url in admin.responses} <= {
        server.base.split("/")[2],
        admin.host_url.split("/")[2],
    }


def test_create_a_group_in_the_frame(admin, server):
    frame = admin.open()
    admin.follow(frame.get_by_role("link", name="Create group"))
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
    admin.follow(frame.get_by_role("link", name="Create segment"))
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


def test_pickers_and_report_pages_through_the_served_app(admin, server):
    """Issue 14 items 2 and 5: the picker searches the served /api/products with the admin
    session; Try a cart fills its line from the picked product; the reports draw charts."""
    for product_id, title, price in (("sv_lamp", "Lampe à poser", 4900), ("sv_mug", "Mug", 1800)):
        product = {"id": product_id, "title": title, "kind": "product",
                   "category_ids": ["sv_home"], "price": price, "active": True}  # fmt: skip
        ok(server.webhook("product/created", {"product": product}))
    ok(server.webhook("category/created", {"category": {"id": "sv_home", "title": "Maison"}}))
    ok(server.webhook("customer/created", {"customer": customer_payload("sv_1")}))
    paid = order_payload("sv_o1", "sv_1", total=4900, placed_at="2026-02-10T10:00:00Z")
    ok(server.webhook("order/paid", {"order": paid}))

    admin.open()
    frame = admin.nav("Rules")
    admin.follow(frame.get_by_role("link", name="New gift rule"))
    frame.get_by_label("Name").fill("Served gift")
    frame.get_by_label("Subtotal at least").fill("50")
    frame.get_by_role("combobox", name="Gift product").fill("MUG")
    frame.get_by_role("option", name="Mug sv_mug").click()  # its title and id
    frame.get_by_role("button", name="Create gift rule").click()
    expect(frame.get_by_role("status")).to_contain_text("Created the gift rule")
    expect(frame.locator("table[data-kind=gift-rules]")).to_contain_text("1 × Mug")
    rules = ok(server.api("GET", "/gift-rules"))["items"]
    assert [r["gift"]["product_id"] for r in rules if r["name"] == "Served gift"] == ["sv_mug"]

    frame = admin.nav("Try a cart")
    line = frame.get_by_role("group", name="Line 1")
    line.get_by_role("combobox", name="Product").fill("lampe a")
    frame.get_by_role("option", name="Lampe à poser").click()
    expect(line.get_by_label("Unit price (EUR)")).to_have_value("49.00")
    expect(line.locator(".picker-chip")).to_contain_text(["Lampe à poser", "Maison"])
    frame.get_by_role("button", name="Price this cart").click()
    expect(frame.locator("[data-total]")).to_have_attribute("data-total", "4900")

    frame = admin.nav("Reports")
    frame.get_by_role("textbox", name="From").fill("2026-02-01")
    frame.get_by_role("textbox", name="To (included)").fill("2026-02-28")
    admin.submit(frame.get_by_role("button", name="Show"))  # the old page has a chart too
    expect(frame.get_by_role("img", name="Revenue per group, per day")).to_be_visible()
    standard = frame.locator("table.report-groups tbody tr").filter(has_text="Standard")
    expect(standard).to_contain_text("€49.00")
    admin.follow(standard.get_by_role("link"))
    expect(frame.locator("[data-figure=orders]")).to_have_text("1")
    expect(frame.locator("svg.chart rect.bar[data-day='2026-02-10']").first).to_have_attribute(
        "data-value", "4900"
    )


def test_codes_made_by_the_server_s_job_and_imported_from_a_file(admin, server, tmp_path: Path):
    body = {"name": "Browser big pool", "type": "percent", "value": 5}
    discount = ok(server.api("POST", "/discounts", json=body), 201)
    admin.open()
    frame = admin.nav("Discounts")
    admin.follow(frame.get_by_role("link", name="Codes of the discount Browser big pool"))
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


# -- Issue 14: the customer page, the codes page, inputs, and accessibility ----------------


def test_a_customer_row_opens_the_customer_page_which_moves_and_gives_codes(admin, server):
    edith = customer_payload("bc_1", first_name="Edith", last_name="Clarke")
    ok(server.webhook("customer/created", {"customer": edith}))
    ok(server.webhook("order/paid", {"order": order_payload("bc_o1", "bc_1", total=12345)}))
    ok(server.api("POST", "/groups", json={"name": "Browser page VIP"}), 201)
    discount = ok(
        server.api(
            "POST", "/discounts", json={"name": "Browser gift", "type": "percent", "value": 5}
        ),
        201,
    )
    ok(server.api("POST", f"/discounts/{discount['id']}/codes/generate", json={"count": 3}), 201)
    admin.open()
    frame = admin.nav("Customers")
    frame.get_by_label("Search by name or email").fill("Edith")
    frame.get_by_role("button", name="Search").click()
    expect(frame.get_by_role("link", name="Clear")).to_be_visible()  # the results' page
    admin.follow(frame.get_by_role("link", name="Edith Clarke", exact=True))
    expect(frame.get_by_role("heading", level=1)).to_contain_text("Edith Clarke")
    expect(frame.locator("[data-figure=total_spent]")).to_have_text("€123.45")
    orders = frame.get_by_role("table", name="The latest orders of Edith Clarke")
    expect(orders).to_contain_text("bc_o1")

    frame.get_by_label("Move to the group").select_option(label="Browser page VIP")
    admin.submit(frame.get_by_role("button", name="Move", exact=True))
    expect(frame.get_by_role("status").first).to_contain_text("Moved to “Browser page VIP”.")
    expect(frame.get_by_role("region", name="Recent changes")).to_contain_text(
        "Moved from Standard to Browser page VIP"
    )
    frame.get_by_label("Give a code of the discount").select_option(label="Browser gift")
    frame.get_by_role("button", name="Give a code").click()
    expect(frame.get_by_role("status").first).to_contain_text("Gave the code")
    held = ok(server.api("GET", "/customers/bc_1"))
    assert held["group"]["name"] == "Browser page VIP"
    [code] = held["codes"]
    codes = frame.get_by_role("table", name="Codes handed to Edith Clarke")
    expect(codes).to_contain_text(code["code"])
    admin.screenshot("customer")


def test_codes_page_counts_follow_generation_and_show_the_new_batch(admin, server):
    discount = ok(
        server.api(
            "POST", "/discounts", json={"name": "Browser batch", "type": "percent", "value": 5}
        ),
        201,
    )
    ok(server.api("POST", f"/discounts/{discount['id']}/codes/generate",
                  json={"count": 4, "prefix": "OLD-"}), 201)  # fmt: skip
    admin.open()
    frame = admin.nav("Discounts")
    admin.follow(frame.get_by_role("link", name="Codes of the discount Browser batch"))
    filters = frame.get_by_role("list", name="Show codes by status")
    expect(filters).to_contain_text("Unassigned (4)")

    # Dense codes: 30 of 4 characters among 31 are guessed more often than once in a million.
    frame.get_by_label("How many").fill("30")
    frame.get_by_label("Random characters").fill("4")
    frame.get_by_label("Prefix").fill("NEW-")
    frame.get_by_role("button", name="Generate codes").click()
    expect(frame.locator("[data-job-progress]")).to_contain_text("Done: 30 codes generated.")
    expect(frame.locator("[data-generate-warnings]")).to_contain_text("guess")
    # Without a reload, the counts have followed.
    expect(filters).to_contain_text("All (34)")
    expect(filters).to_contain_text("Unassigned (34)")
    admin.follow(frame.get_by_role("link", name="Show the new codes"))
    expect(frame.get_by_role("heading", name="The new codes")).to_be_visible()
    shown = frame.locator("table.codes tbody th code").all_inner_texts()
    assert len(shown) == 30 and all(code.startswith("NEW-") for code in shown), shown

    frame.get_by_label("Find a code").fill(shown[0].lower())
    frame.get_by_role("button", name="Search").click()
    expect(frame.locator("table.codes tbody th code")).to_have_text([shown[0]])


def test_every_input_has_the_height_of_the_others(admin, server):
    admin.open()
    frame = admin.nav("Audiences")
    admin.follow(frame.get_by_role("link", name="New audience"))
    fields = {"Name": "#f-name", "API address": "#f-destination-base_url"}
    heights = {
        label: frame.locator(selector).bounding_box()["height"]
        for label, selector in fields.items()
    }
    assert abs(heights["Name"] - heights["API address"]) < 1, heights
    assert heights["API address"] >= 34, heights
    secret = frame.locator("input[type=password]").first
    assert abs(secret.bounding_box()["height"] - heights["Name"]) < 1


AXE = Path(axe_playwright_python.__file__).with_name("axe.min.js")


def _axe_problems(frame: Any) -> list[str]:
    """axe-core's serious and critical violations on the frame's page (the engine is
    shipped by the axe-playwright-python package: no CDN)."""
    for attempt in range(3):  # a page still navigating destroys the context: wait, retry
        frame.wait_for_load_state("load")
        try:
            frame.evaluate(AXE.read_text())
            result = frame.evaluate(
                "async () => await axe.run(document, {resultTypes: ['violations']})"
            )
            break
        except PlaywrightError:
            if attempt == 2:
                raise
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(" ".join(node["target"]) for node in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_every_admin_page_passes_axe(admin, server):
    axel = customer_payload("ax_1", first_name="Axel", last_name="Essen")
    ok(server.webhook("customer/created", {"customer": axel}))
    ok(server.webhook("order/paid", {"order": order_payload("ax_o1", "ax_1")}))
    discount = ok(
        server.api("POST", "/discounts", json={"name": "Axe pool", "type": "percent", "value": 5}),
        201,
    )
    ok(server.api("POST", f"/discounts/{discount['id']}/codes/generate", json={"count": 2}), 201)
    trade = ok(server.api("POST", "/price-lists", json={"name": "Axe trade"}), 201)
    entry = {"product_id": "p_axe", "min_quantity": 2, "price": 900}
    ok(server.api("POST", f"/price-lists/{trade['id']}/entries", json=entry))
    frame = admin.open()
    problems: dict[str, list[str]] = {}
    nav = frame.get_by_role("navigation", name="Customer Groups")
    for label in nav.get_by_role("link").all_inner_texts():
        frame = admin.nav(label)
        problems[label] = _axe_problems(frame)
        # Each page's "create" form and the first item it links to, where it has them.
        for name in ("Create group", "Create segment", "New product discount code",
                     "New automation", "New audience"):  # fmt: skip
            create = frame.get_by_role("link", name=name)
            if create.count():
                admin.follow(create.first)
                problems[f"{label} → {name}"] = _axe_problems(frame)
                frame = admin.nav(label)
    frame = admin.nav("Customers")
    admin.follow(frame.get_by_role("link", name="Axel Essen", exact=True))
    problems["Customer page"] = _axe_problems(frame)
    frame = admin.nav("Discounts")
    admin.follow(frame.get_by_role("link", name="Codes of the discount Axe pool"))
    problems["Codes page"] = _axe_problems(frame)
    # Every kind of rule's form, and a price list's entries page.
    frame = admin.nav("Rules")
    links = frame.get_by_role("link").all_inner_texts()
    forms = [text for text in links if text.startswith("New ")]
    assert len(forms) == 6, forms
    for name in forms:
        admin.follow(frame.get_by_role("link", name=name, exact=True))
        problems[f"Rules → {name}"] = _axe_problems(frame)
        frame = admin.nav("Rules")
    admin.follow(frame.get_by_role("link", name="Entries, import, export"))
    problems["Price list entries"] = _axe_problems(frame)
    failing = {page: found for page, found in problems.items() if found}
    assert failing == {}, failing
    assert len(problems) >= 20, sorted(problems)
