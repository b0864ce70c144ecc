"""Customers: search, page through, see group and segments, move the selected to a group."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.typing import ResponseReturnValue

from admin_ui.blueprint import admin_blueprint, render_page, run_form
from admin_ui.session import current_admin_shop, redirect_to
from plugin.groups import operations as groups
from plugin.groups.schemas import MoveCustomersIn
from plugin.intake.search import search_customers
from plugin.limits import MAX_SERIAL
from plugin.paging import PageQuery

PER_PAGE = 25
MAX_QUERY = 200


def _filters(source: Any) -> dict[str, Any]:
    """The search, group filter and page of a request (query string or the move form)."""
    group = source.get("group", "")
    return {
        "q": source.get("q", "")[:MAX_QUERY],
        "group": _group_id(group),
        "page": source.get("page", "1"),
    }


def _page(filters: dict[str, Any], status: int = 200, **context: Any) -> ResponseReturnValue:
    shop = current_admin_shop()
    paging = PageQuery().load({"page": filters["page"], "per_page": PER_PAGE})
    found = search_customers(shop, filters["q"], filters["group"], **paging)
    all_groups = groups.list_groups(shop, 1, 1000)["items"]
    params = {key: filters[key] for key in ("q", "group") if filters[key]}
    return render_page(
        "customers.html",
        status,
        found=found,
        groups=all_groups,
        filters=filters,
        params=params,
        **context,
    )


def _group_id(text: str) -> int | None:
    """A group id as typed, or None when it cannot be one (past the input limits too)."""
    if not text.isdigit() or len(text) > 16 or int(text) > MAX_SERIAL:
        return None
    return int(text)


@admin_blueprint.get("/customers")
def customers() -> ResponseReturnValue:
    return _page(_filters(request.args), errors={}, selected=set())


@admin_blueprint.post("/customers/move")
def customer_move() -> ResponseReturnValue:
    shop = current_admin_shop()
    filters = _filters(request.form)
    ids = request.form.getlist("customer_ids")
    target = request.form.get("group_id", "")
    errors: dict[str, list[str]] = {}
    if not ids:
        errors["customer_ids"] = ["Select at least one customer to move."]
    if _group_id(target) is None:
        errors["group_id"] = ["Choose the group to move them to."]
    if not errors:
        result, errors = run_form(
            lambda: groups.move_customers(
                shop, int(target), MoveCustomersIn().load({"customer_ids": ids})["customer_ids"]
            )
        )
        if result is not None:
            name = result["group"].name
            chosen = len(set(ids))
            already = chosen - result["moved"]
            message = (
                f"Moved {result['moved']} customer{'s' if result['moved'] != 1 else ''} "
                f"to “{name}”."
            )
            if already:
                message += f" {already} {'was' if already == 1 else 'were'} already in it."
            params = {key: filters[key] for key in ("q", "group", "page") if filters[key]}
            return redirect_to(".customers", message, **params)
    return _page(filters, 422, errors=errors, selected=set(ids), target=target)
