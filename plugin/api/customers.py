"""``GET /api/customers/{id}``: the customer as the extension sees it; its orders,
redemptions and group and segment changes (the admin's customer page)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from plugin.api.blueprint import api_blueprint
from plugin.api.schemas import CustomerView, load_page
from plugin.apidoc import document
from plugin.intake.customer_page import (
    CustomerChangePage,
    CustomerOrderPage,
    CustomerRedemptionPage,
    customer_changes,
    customer_orders,
    customer_redemptions,
)
from plugin.intake.operations import customer_view
from plugin.paging import PageQuery
from plugin.sessions import current_shop


@api_blueprint.get("/customers/<customer_id>")
@document(
    "The customer as the extension sees it: snapshot, figures, group, segments.",
    response=CustomerView,
)
def get_customer(customer_id: str) -> ResponseReturnValue:
    return jsonify(customer_view(current_shop(), customer_id))


@api_blueprint.get("/customers/<customer_id>/orders")
@document(
    "The customer's orders as the host reported them (paid, cancelled, refunded), newest "
    "first; totals in minor units.",
    query=PageQuery,
    response=CustomerOrderPage,
)
def get_customer_orders(customer_id: str) -> ResponseReturnValue:
    return jsonify(customer_orders(current_shop(), customer_id, **load_page()))


@api_blueprint.get("/customers/<customer_id>/redemptions")
@document(
    "The uses of codes by the customer's orders, newest first: held until the order is "
    "paid, then confirmed, or released; amount as priced at the redeem hook.",
    query=PageQuery,
    response=CustomerRedemptionPage,
)
def get_customer_redemptions(customer_id: str) -> ResponseReturnValue:
    return jsonify(customer_redemptions(current_shop(), customer_id, **load_page()))


@api_blueprint.get("/customers/<customer_id>/changes")
@document(
    "The customer's group and segment changes, newest first, as published "
    "(customer/group_changed, customer/segments_changed): kind group (from_group, "
    "to_group), joined_segment or left_segment (segment); a deleted one is null.",
    query=PageQuery,
    response=CustomerChangePage,
)
def get_customer_changes(customer_id: str) -> ResponseReturnValue:
    return jsonify(customer_changes(current_shop(), customer_id, **load_page()))
