"""One customer: figures, group, segments, codes, orders, redemptions and recent changes;
move them to a group or give them a code from there (issue 14)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import request
from flask.typing import ResponseReturnValue

from admin_ui.blueprint import admin_blueprint, render_page, run_form
from admin_ui.session import current_admin_shop, redirect_to
from plugin.codes import operations as codes
from plugin.customers.operations import find_customer
from plugin.db import db
from plugin.errors import ApiError
from plugin.groups import operations as groups
from plugin.intake.customer_page import customer_changes, customer_orders, customer_redemptions
from plugin.intake.operations import customer_view
from plugin.limits import MAX_SERIAL
from plugin.shops.models import Shop

#: Rows of each list shown on the page (the API pages through all of them).
RECENT = 20


def when(shop: Shop, value: str | None) -> str:
    """An ISO timestamp of the API as the merchant reads it: the shop's time zone and
    locale (``6 Dec 2026, 07:30``); ``—`` for none."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return str(
        format_datetime(moment, "medium", tzinfo=ZoneInfo(shop.timezone), locale=shop.locale)
    )


def _serial(text: str) -> int | None:
    if not text.isdigit() or len(text) > 16 or int(text) > MAX_SERIAL:
        return None
    return int(text)


def _page(customer_id: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    shop = current_admin_shop()
    customer = customer_view(shop, customer_id)
    row = find_customer(shop, customer_id)
    # Automatic groups (contract §8): moved by hand, a customer stays where they were put.
    customer["locked"] = bool(row is not None and row.group_locked)
    return render_page(
        "customer.html",
        status,
        customer=customer,
        orders=customer_orders(shop, customer_id, 1, RECENT),
        redemptions=customer_redemptions(shop, customer_id, 1, RECENT),
        changes=customer_changes(shop, customer_id, 1, RECENT),
        group_options=[("", "Choose a group…")]
        + [(g.id, g.name) for g in groups.list_groups(shop, 1, 1000)["items"]],
        discount_options=[("", "Choose a discount…")]
        + [(d.id, d.name) for d in codes.list_discounts(shop, 1, 1000)["items"]],
        when=lambda value: when(shop, value),
        errors=context.pop("errors", {}),
        **context,
    )


@admin_blueprint.get("/customers/<customer_id>")
def customer_detail(customer_id: str) -> ResponseReturnValue:
    return _page(customer_id)


@admin_blueprint.post("/customers/<customer_id>/move")
def customer_detail_move(customer_id: str) -> ResponseReturnValue:
    shop = current_admin_shop()
    customer_view(shop, customer_id)  # 404 for a customer the shop does not know
    target = _serial(request.form.get("group_id", ""))
    if target is None:
        return _page(customer_id, 422, errors={"group_id": ["Choose the group to move them to."]})
    result, errors = run_form(lambda: groups.move_customers(shop, target, [customer_id]))
    if result is None:
        return _page(customer_id, 422, errors=errors)
    name = result["group"].name
    message = f"Moved to “{name}”." if result["moved"] else f"Already in “{name}”."
    return redirect_to(".customer_detail", message, customer_id=customer_id)


@admin_blueprint.post("/customers/<customer_id>/give-code")
def customer_detail_give_code(customer_id: str) -> ResponseReturnValue:
    shop = current_admin_shop()
    customer_view(shop, customer_id)
    discount_id = _serial(request.form.get("discount_id", ""))
    if discount_id is None:
        return _page(customer_id, 422, errors={"discount_id": ["Choose the discount."]})
    try:
        code, errors = run_form(lambda: codes.assign_code(shop, discount_id, customer_id))
    except ApiError as error:
        if error.status != 409:
            raise
        db.session.rollback()
        return _page(customer_id, 409, errors={"discount_id": [error.message]})
    if code is None:
        return _page(customer_id, 422, errors=errors)
    return redirect_to(".customer_detail", f"Gave the code {code.code}.", customer_id=customer_id)
