"""Reports (contract v2 §8): what discounts and groups earn, with charts drawn on the server.

The same operations as ``/api/reports/discounts`` and ``/api/reports/groups``: an overview
of every discount and group over a range of the shop's days, and a page per discount and
per group with its series as charts (``admin_ui/charts.py``: SVG, no script) and as a table.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import request
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from admin_ui.blueprint import admin_blueprint, format_money, render_page
from admin_ui.charts import Series, bar_chart, line_chart
from admin_ui.session import current_admin_shop
from plugin.errors import ApiError, ErrorCode, flatten_messages
from plugin.reports import operations
from plugin.reports.schemas import ReportQuery
from plugin.shops.models import Shop

#: The ranges offered as links, in days up to today.
PRESETS = (7, 30, 90, 365)


def _range(shop: Shop) -> tuple[date, date, dict[str, list[str]]]:
    """The days asked for in the query string, or the last 30 with the reason why not."""
    asked = {key: request.args[key] for key in ("from", "to") if request.args.get(key)}
    try:
        loaded = ReportQuery().load(asked)
    except ValidationError as error:
        start, end = operations.report_range(shop, None, None)
        return start, end, flatten_messages(error.messages)
    start, end = operations.report_range(shop, loaded["from_"], loaded["to"])
    return start, end, {}


def _context(shop: Shop, start: date, end: date, errors: dict[str, list[str]]) -> dict[str, Any]:
    today = operations.shop_today(shop)
    return {
        "start": start,
        "end": end,
        "errors": errors,
        "presets": [
            (days, (today - timedelta(days=days - 1)).isoformat(), today.isoformat())
            for days in PRESETS
        ],
        "money": format_money,
    }


def _days(report: dict[str, Any]) -> list[date]:
    items = report["items"]
    return [entry["day"] for entry in items[0]["series"]] if items else []


def _values(item: dict[str, Any], name: str) -> list[int]:
    return [entry[name] for entry in item["series"]]


def _sum_by_day(items: list[dict[str, Any]], name: str, days: list[date]) -> list[int]:
    return [sum(item["series"][n][name] for item in items) for n in range(len(days))]


def _count(value: int) -> str:
    return f"{value:,}"


@admin_blueprint.get("/reports")
def reports() -> ResponseReturnValue:
    """Every discount and every group over the range, with a chart of each."""
    shop = current_admin_shop()
    start, end, errors = _range(shop)
    discounts = operations.discounts_report(shop, start, end)
    groups = operations.groups_report(shop, start, end)
    days = _days(groups)
    charts = {
        "discounts": bar_chart(
            "What discount codes took off paid orders, per day",
            days,
            _sum_by_day(discounts["items"], "discount_total", days),
            format_money,
        ),
        "groups": line_chart(
            "Revenue per group, per day",
            days,
            [
                Series(item["group"]["name"], item["group"]["colour"], _values(item, "revenue"))
                for item in groups["items"]
            ],
            format_money,
        ),
    }
    return render_page(
        "reports.html",
        422 if errors else 200,
        discounts=discounts,
        groups=groups,
        charts=charts,
        **_context(shop, start, end, errors),
    )


def _item(report: dict[str, Any], key: str, object_id: int, what: str) -> dict[str, Any]:
    for item in report["items"]:
        if item[key]["id"] == object_id:
            found: dict[str, Any] = item
            return found
    raise ApiError(ErrorCode.NOT_FOUND, f"{what} {object_id} was not found.", 404)


@admin_blueprint.get("/reports/discounts/<int:discount_id>")
def report_discount(discount_id: int) -> ResponseReturnValue:
    """One discount: its redemptions, what it took off and its orders' totals, per day."""
    shop = current_admin_shop()
    start, end, errors = _range(shop)
    report = operations.discounts_report(shop, start, end)
    item = _item(report, "discount", discount_id, "Discount")
    days = [entry["day"] for entry in item["series"]]
    charts = [
        bar_chart("Redemptions per day", days, _values(item, "redemptions"), _count),
        bar_chart(
            "Taken off per day", days, _values(item, "discount_total"), format_money, "#b3261e"
        ),
        bar_chart(
            "Totals of the orders that used it, per day",
            days,
            _values(item, "orders_total"),
            format_money,
            "#1b6e3a",
        ),
    ]
    return render_page(
        "reports_discount.html",
        422 if errors else 200,
        item=item,
        charts=charts,
        **_context(shop, start, end, errors),
    )


@admin_blueprint.get("/reports/groups/<int:group_id>")
def report_group(group_id: int) -> ResponseReturnValue:
    """One group: its customers' paid orders, revenue and code discounts, per day."""
    shop = current_admin_shop()
    start, end, errors = _range(shop)
    report = operations.groups_report(shop, start, end)
    item = _item(report, "group", group_id, "Group")
    days = [entry["day"] for entry in item["series"]]
    colour = item["group"]["colour"]
    charts = [
        bar_chart("Revenue per day", days, _values(item, "revenue"), format_money, colour),
        bar_chart("Paid orders per day", days, _values(item, "orders"), _count, colour),
        bar_chart("Customers who ordered, per day", days, _values(item, "customers"), _count),
        bar_chart(
            "Taken off by discount codes, per day",
            days,
            _values(item, "discount_total"),
            format_money,
            "#b3261e",
        ),
    ]
    return render_page(
        "reports_group.html",
        422 if errors else 200,
        item=item,
        charts=charts,
        **_context(shop, start, end, errors),
    )
