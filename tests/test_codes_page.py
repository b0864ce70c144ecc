"""The codes page (issue 14): search, the new batch after generating, counts, and the
density warning (contract v2 §2), without a browser; the API's ``q`` and ``after``."""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from plugin.jobs import run_pending
from tests.test_admin_ui_more import AdminPages, api


@pytest.fixture
def pages(client, shop):
    return AdminPages(client)


@pytest.fixture
def pool(client, pages):
    made = api(client, "POST", "/api/discounts", json={"name": "Spring", "type": "percent",
                                                       "value": 10})
    return int(made.get_json()["id"])


def _codes(html):
    return re.findall(r'<th scope="row"><code>([^<]+)</code></th>', html)


def _import(pages, pool, text):
    return pages.post(
        f"/admin/discounts/{pool}/codes/import",
        {"file": (io.BytesIO(text.encode()), "codes.csv")},
        content_type="multipart/form-data",
    )


def test_search_finds_codes_containing_the_text_ignoring_case(client, pages, pool):
    assert _import(pages, pool, "code\nSPRING-AB12\nSPRING-CD34\nSUMMER-AB99\n").status_code == 200
    found = pages.get(f"/admin/discounts/{pool}/codes", q="ab").get_data(as_text=True)
    assert _codes(found) == ["SPRING-AB12", "SUMMER-AB99"]
    assert "2 codes containing “ab”" in found
    none = pages.get(f"/admin/discounts/{pool}/codes", q="x%_").get_data(as_text=True)
    assert _codes(none) == [] and "No code contains “x%_”." in none
    # The API searches the same way; % and _ are text, not wildcards.
    listed = api(client, "GET", f"/api/discounts/{pool}/codes?q=Cd3").get_json()
    assert [c["code"] for c in listed["items"]] == ["SPRING-CD34"]
    assert api(client, "GET", f"/api/discounts/{pool}/codes?q=_").get_json()["total"] == 0


def test_after_generating_the_page_lists_the_new_batch_and_its_counts(client, pages, pool):
    _import(pages, pool, "code\nOLD-1\nOLD-2\n")
    made = pages.post(
        f"/admin/discounts/{pool}/codes/generate",
        {"count": "5", "length": "8", "prefix": "NEW-", "suffix": "", "charset": ""},
    )
    assert made.status_code == 303
    location = made.headers["Location"]
    after = parse_qs(urlsplit(location).query)["after"][0]
    page = client.get(location).get_data(as_text=True)
    assert "Generated 5 codes." in page
    assert "The new codes" in page
    new = _codes(page)
    assert len(new) == 5 and all(code.startswith("NEW-") for code in new)
    assert "All (7)" in page and "Unassigned (7)" in page
    # The API lists the same batch, in the order it was made.
    batch = api(client, "GET", f"/api/discounts/{pool}/codes?after={after}").get_json()
    assert [c["code"] for c in batch["items"]] == new
    # The page says where the next batch starts (the script links to it).
    everything = pages.get(f"/admin/discounts/{pool}/codes").get_data(as_text=True)
    newest = re.search(r'data-newest="(\d+)"', everything)[1]
    assert newest == str(max(c["id"] for c in batch["items"]))


def test_a_dense_generation_warns_that_codes_are_easy_to_guess(client, pages, pool):
    made = pages.post(
        f"/admin/discounts/{pool}/codes/generate",
        {"count": "100", "length": "4", "prefix": "", "suffix": "", "charset": "ABCDEFGH"},
    )
    assert made.status_code == 303
    page = client.get(made.headers["Location"]).get_data(as_text=True)
    assert "flash-warning" in page
    assert "guess" in page.lower()


def test_importing_updates_the_counts_on_the_page_it_answers(client, pages, pool):
    answered = _import(pages, pool, "code\nIMP-1\nIMP-2\nIMP-3\n").get_data(as_text=True)
    assert "All (3)" in answered and "Unassigned (3)" in answered


def test_a_generation_left_to_a_job_lists_its_batch_as_it_is_made(app, client, pages, pool):
    _import(pages, pool, "code\nOLD-1\n")
    started = pages.post(
        f"/admin/discounts/{pool}/codes/generate", {"count": "10001", "length": "10"}
    )
    assert started.status_code == 303
    location = started.headers["Location"]
    assert "job=" in location and "after=" in location
    assert run_pending(app) == 1
    page = client.get(location).get_data(as_text=True)
    assert "Done: 10,001 codes generated." in page
    assert "The new codes" in page and "10,001 codes added since" in page
    assert "OLD-1" not in _codes(page)
