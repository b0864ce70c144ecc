"""The report pages of the admin: figures, SVG charts drawn on the server, ranges."""

from __future__ import annotations

import re
from datetime import date

import pytest

from admin_ui.charts import Series, axis_step, bar_chart, line_chart
from tests.conftest import customer_payload
from tests.reports.test_reports import PARIS, discount, group, move, paid, redeem
from tests.test_admin_ui import Admin, text


@pytest.fixture
def admin(client, host):
    host.install(timezone=PARIS)
    return Admin(client)


@pytest.fixture
def sales(client, host, admin):
    wholesale = group(client, "Wholesale")
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    move(client, wholesale, "c_1")
    summer = discount(client, "Summer", "SUMMER10")
    redeem(host, "o_1", "SUMMER10")
    paid(host, "o_1", "2026-03-02T10:00:00Z", 1800, ["SUMMER10"])
    paid(host, "o_2", "2026-03-03T10:00:00Z", 5000)
    return {"group": wholesale, "discount": summer}


RANGE = {"from": "2026-03-01", "to": "2026-03-07"}


def bars(html):
    return {m[0]: int(m[1]) for m in re.findall(r'data-day="([\d-]+)" data-value="(\d+)"', html)}


def test_the_overview_shows_every_discount_and_group_with_charts(admin, sales):
    page = admin.get("/admin/reports", **RANGE)
    assert page.status_code == 200
    html = text(page)
    assert 'aria-current="page">Reports</a>' in html
    assert html.count('<svg class="chart" role="img"') == 2
    # The discounts chart: what codes took off, per day (the 2nd of March: €2.00).
    assert bars(html)["2026-03-02"] == 200
    assert "Summer" in html and "Wholesale" in html
    row = re.search(rf'<tr data-group-id="{sales["group"]}">.*?</tr>', html, re.S)[0]
    assert "€68.00" in row and ">2<" in row  # two paid orders, 68.00 in all


def test_a_page_per_discount_and_per_group(admin, sales):
    html = text(admin.get(f"/admin/reports/discounts/{sales['discount']}", **RANGE))
    assert 'data-figure="redemptions">1<' in html
    assert 'data-figure="discount_total">€2.00<' in html
    assert html.count('<svg class="chart"') == 3
    assert "<desc" in html and "the highest day is 2026-03-02" in html
    html = text(admin.get(f"/admin/reports/groups/{sales['group']}", **RANGE))
    assert 'data-figure="orders">2<' in html and 'data-figure="revenue">€68.00<' in html
    assert html.count('<svg class="chart"') == 4
    assert admin.get("/admin/reports/groups/999999", **RANGE).status_code == 404


def test_a_bad_range_is_shown_next_to_its_field(admin, sales):
    page = admin.get("/admin/reports", **{"from": "2026-03-07", "to": "2026-03-01"})
    assert page.status_code == 422
    assert "Must not be before from." in text(page)


def test_chart_text_is_escaped_and_axes_are_round():
    # Four whole steps reach the highest value: ticks are whole minor units or orders.
    assert [axis_step(v) for v in (0, 1, 7, 11, 240, 2600, 99999)] == [
        1, 1, 2, 5, 100, 1000, 25000
    ]  # fmt: skip
    days = [date(2026, 3, 1), date(2026, 3, 2)]
    svg = str(line_chart("Revenue", days, [Series("<b>VIP</b>", "#1e88e5", [0, 5])]))
    assert "<b>" not in svg and "&lt;b&gt;VIP&lt;/b&gt;" in svg
    svg = str(bar_chart("Orders", days, [3, 0]))
    assert 'data-value="3"' in svg and "the highest day is 2026-03-01 with 3" in svg
    assert [int(t) for t in re.findall(r'text-anchor="end"[^>]*>(\d+)<', svg)] == [0, 1, 2, 3, 4]
    assert "Nothing in these days" in str(bar_chart("Orders", days, [0, 0]))
