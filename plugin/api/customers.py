"""``GET /api/customers/{id}``: the customer as the extension sees it."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from plugin.api.blueprint import api_blueprint
from plugin.api.schemas import CustomerView
from plugin.apidoc import document
from plugin.intake.operations import customer_view
from plugin.sessions import current_shop


@api_blueprint.get("/customers/<customer_id>")
@document(
    "The customer as the extension sees it: snapshot, figures, group, segments.",
    response=CustomerView,
)
def get_customer(customer_id: str) -> ResponseReturnValue:
    return jsonify(customer_view(current_shop(), customer_id))
