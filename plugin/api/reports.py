"""``/api/reports/discounts`` and ``/api/reports/groups`` (contract v2 §8, "Reports")."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from plugin.api.blueprint import api_blueprint
from plugin.apidoc import document
from plugin.reports import operations
from plugin.reports.schemas import DiscountReport, GroupReport, ReportQuery
from plugin.sessions import current_shop


def _range() -> tuple[Any, Any]:
    loaded = ReportQuery().load(request.args.to_dict())
    return operations.report_range(current_shop(), loaded["from_"], loaded["to"])


@api_blueprint.get("/reports/discounts")
@document(
    "What each discount earned from `from` to `to` (days in the shop's time zone, both "
    "included; at most 731 days; without them the last 30): redemptions of paid orders, "
    "what the code took off them as priced at the redeem hook (0 for orders the hook never "
    "saw), the totals of those orders, net of refunds and cancellations, and a per-day series.",
    query=ReportQuery,
    response=DiscountReport,
)
def discounts_report() -> ResponseReturnValue:
    start, end = _range()
    return jsonify(DiscountReport().dump(operations.discounts_report(current_shop(), start, end)))


@api_blueprint.get("/reports/groups")
@document(
    "What each group earned from `from` to `to` (as the discounts report): customers who "
    "placed paid orders while in it, those orders, their revenue and code discounts, net of "
    "refunds and cancellations, a per-day series, and the group's members today.",
    query=ReportQuery,
    response=GroupReport,
)
def groups_report() -> ResponseReturnValue:
    start, end = _range()
    return jsonify(GroupReport().dump(operations.groups_report(current_shop(), start, end)))
