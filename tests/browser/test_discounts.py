"""Discounts and codes inside the host's iframe (seed 000): create a discount, generate codes
(a 201 and a 202 job followed in a progress bar), import a CSV and read its report."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import expect

from plugin.jobs import run_pending


@contextmanager
def job_runner(app) -> Iterator[None]:
    """The background runner (tests switch the embedded one off): runs queued jobs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            run_pending(app)
            stop.wait(0.1)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def api_discounts(admin):
    return admin.api.get("/api/discounts", headers=admin.auth).get_json()["items"]


def test_create_a_discount_with_seed_options_and_generate_codes(admin):
    admin.api.post(
        "/api/segments",
        headers=admin.auth,
        json={
            "name": "Loyal",
            "match": "all",
            "conditions": [{"field": "total_order_count", "op": "gte", "value": 5}],
        },
    )
    admin.open()
    frame = admin.nav("Discounts")
    admin.follow(frame.get_by_role("link", name="New product discount code"))
    frame.get_by_label("Name").fill("Loyal customers 15%")
    frame.get_by_label("A pool of single-use codes").check()
    frame.get_by_label("Percentage").check()
    frame.get_by_label("Percent off").fill("15")
    frame.get_by_label("On a date").check()
    frame.get_by_label("Last day").fill("2030-12-31")
    frame.get_by_role("switch", name="Limit to one use per customer").check()
    frame.get_by_label("Specific segments").check()
    frame.get_by_role("group", name="Segments").get_by_label("Loyal").check()
    frame.get_by_label("Minimum purchase amount", exact=True).check()
    frame.get_by_label("Minimum purchase amount (EUR)").fill("40")
    frame.get_by_label("PayPal").check()
    frame.get_by_label("Web").check()
    # Service codes are not for in-store: choosing Services unticks and disables it.
    frame.get_by_label("In-store").check()
    frame.get_by_label("Services (service discount code)").check()
    expect(frame.get_by_label("In-store")).to_be_disabled()
    expect(frame.get_by_label("In-store")).not_to_be_checked()
    frame.get_by_label("Products (product discount code)").check()
    expect(frame.get_by_label("In-store")).to_be_enabled()
    admin.screenshot("discounts-form")
    admin.submit(frame.get_by_role("button", name="Create discount"))

    expect(frame.get_by_role("heading", level=1)).to_have_text("Codes of “Loyal customers 15%”")
    expect(frame.get_by_role("status").first).to_contain_text("Created the discount")
    [discount] = api_discounts(admin)
    assert discount["code"] is None and discount["value"] == 15
    assert discount["minimum"] == {"type": "amount", "value": 4000}
    assert discount["once_per_customer"] is True and discount["channels"] == ["web"]
    assert discount["ends_at"] == "2031-01-01T00:00:00Z"

    # 25 codes answer 201 at once: the bar is full and says so.
    frame.get_by_label("How many").fill("25")
    frame.get_by_label("Prefix").fill("LOYAL-")
    frame.get_by_role("button", name="Generate codes").click()
    progress = frame.locator("[data-job-progress]")
    expect(progress).to_contain_text("Done: 25 codes generated.")
    expect(progress.locator("progress")).to_have_attribute("value", "25")
    admin.follow(frame.get_by_role("link", name="Show the new codes"))
    expect(frame.get_by_role("link", name="Unassigned (25)")).to_be_visible()
    expect(frame.locator("table.codes tbody tr")).to_have_count(25)
    expect(frame.locator("table.codes tbody tr").first).to_contain_text("LOYAL-")

    # A bad request answers 422: the message is next to the field.
    frame.get_by_label("Prefix").fill("NO SPACE")
    frame.get_by_role("button", name="Generate codes").click()
    expect(frame.locator(".field-errors").first).to_contain_text("May only use")
    expect(frame.get_by_label("Prefix")).to_have_attribute("aria-invalid", "true")

    admin.api.post(
        "/api/discounts",
        headers=admin.auth,
        json={
            "name": "Free Colissimo",
            "code": "FREESHIP",
            "type": "free_shipping",
            "carriers": ["colissimo"],
        },
    )
    frame = admin.nav("Discounts")
    row = frame.locator("tbody tr", has=frame.get_by_role("rowheader", name="Loyal customers 15%"))
    expect(row).to_contain_text("Pool of 25 codes")
    expect(row).to_contain_text("Segments: Loyal")
    expect(row).to_contain_text("from €40.00")
    expect(row).to_contain_text("Once per customer")
    admin.screenshot("discounts")


def test_a_large_generation_runs_as_a_job_followed_in_a_progress_bar(admin):
    discount = admin.api.post(
        "/api/discounts",
        headers=admin.auth,
        json={"name": "Big pool", "type": "percent", "value": 5},
    ).get_json()
    admin.open()
    frame = admin.nav("Discounts")
    admin.follow(frame.get_by_role("link", name="Codes of the discount Big pool"))
    frame.get_by_label("How many").fill("12000")
    frame.get_by_label("Random characters").fill("10")
    answers = []
    admin.page.on(
        "response",
        lambda r: answers.append(r.status) if r.url.endswith("/codes/generate") else None,
    )
    frame.get_by_role("button", name="Generate codes").click()
    progress = frame.locator("[data-job-progress] progress")
    expect(frame.locator("[data-job-progress]")).to_be_visible()
    expect(frame.locator("[data-job-progress]")).to_contain_text("of 12,000 codes")
    assert answers == [202]
    assert progress.get_attribute("max") == "12000"
    with job_runner(admin.app):
        expect(frame.locator("[data-job-progress]")).to_contain_text(
            "Done: 12,000 codes generated.", timeout=60_000
        )
    expect(progress).to_have_attribute("value", "12000")
    admin.screenshot("codes-job")
    codes = admin.api.get(
        f"/api/discounts/{discount['id']}/codes?per_page=1", headers=admin.auth
    ).get_json()
    assert codes["total"] == 12000


def test_import_a_csv_and_see_the_report(admin, tmp_path: Path):
    discount = admin.api.post(
        "/api/discounts",
        headers=admin.auth,
        json={"name": "Imported <pool>", "type": "fixed", "value": 500},
    ).get_json()
    admin.api.post(
        f"/api/discounts/{discount['id']}/codes/import",
        headers={**admin.auth, "Content-Type": "text/csv"},
        data=b"code\nGIFT-0001\n",
    )
    upload = tmp_path / "codes.csv"
    upload.write_text("code\nGIFT-0001\nGIFT-0002\nbad code!\nGIFT-0003\ngift-0002\n")
    admin.open()
    frame = admin.nav("Discounts")
    expect(frame.get_by_role("rowheader", name="Imported <pool>")).to_be_visible()
    admin.follow(frame.get_by_role("link", name="Codes of the discount Imported <pool>"))
    frame.get_by_label("CSV file").set_input_files(str(upload))
    admin.submit(frame.get_by_role("button", name="Import codes"))

    report = frame.locator(".report")
    expect(report).to_contain_text("Import report for codes.csv")
    expect(report.locator("[data-count=imported]")).to_have_text("2")
    expect(report.locator("[data-count=duplicates]")).to_have_text("2")
    expect(report.locator("[data-count=invalid]")).to_have_text("1")
    lines = report.get_by_role("table", name="Lines not imported")
    expect(lines.locator("tbody tr")).to_have_count(3)
    expect(lines.get_by_role("row", name="2 GIFT-0001")).to_contain_text("Duplicate")
    expect(lines.get_by_role("row", name="4 bad code!")).to_contain_text("Invalid")
    expect(lines.get_by_role("row", name="6 gift-0002")).to_contain_text("Duplicate")
    expect(frame.get_by_role("link", name="Unassigned (3)")).to_be_visible()
    admin.screenshot("codes")

    # The export link downloads the pool.
    with admin.page.expect_download() as download:
        frame.get_by_role("link", name="Export CSV").click()
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[0].startswith("code,status")
    assert sorted(line.split(",")[0] for line in text.splitlines()[1:]) == [
        "GIFT-0001",
        "GIFT-0002",
        "GIFT-0003",
    ]


def test_codes_easy_to_guess_are_warned_about_in_the_generate_panel(admin):
    admin.api.post(
        "/api/discounts",
        headers=admin.auth,
        json={"name": "Short codes", "type": "percent", "value": 5},
    )
    admin.open()
    frame = admin.nav("Discounts")
    admin.follow(frame.get_by_role("link", name="Codes of the discount Short codes"))
    warnings = frame.locator("[data-generate-warnings]")
    expect(warnings).to_be_hidden()
    # 40 codes of 4 characters out of 31: a guess finds one once in 23,088 tries.
    frame.get_by_label("How many").fill("40")
    frame.get_by_label("Random characters").fill("4")
    frame.get_by_role("button", name="Generate codes").click()
    expect(frame.locator("[data-job-progress]")).to_contain_text("Done: 40 codes generated.")
    expect(warnings).to_be_visible()
    expect(warnings).to_contain_text("These codes are easy to guess")
    expect(warnings).to_contain_text("once in 23,088 tries")
    admin.screenshot("codes-easy-to-guess")
    # A sparse generation clears it (the button is disabled until its answer is shown).
    frame.get_by_label("Random characters").fill("10")
    button = frame.get_by_role("button", name="Generate codes")
    button.click()
    expect(button).to_be_enabled()
    expect(warnings).to_be_hidden()
    [discount] = api_discounts(admin)
    codes = admin.api.get(f"/api/discounts/{discount['id']}/codes", headers=admin.auth)
    assert codes.get_json()["total"] == 80
