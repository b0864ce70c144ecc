"""``/api/automations`` and ``.../{id}/runs`` (contract §5, seed 002): thin views."""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from plugin.api.blueprint import api_blueprint
from plugin.api.schemas import json_body, load_body, load_page
from plugin.apidoc import document
from plugin.automations import operations
from plugin.automations.schemas import (
    AutomationIn,
    AutomationOut,
    AutomationPage,
    AutomationRunPage,
    RunQuery,
)
from plugin.errors import ApiError, ErrorCode
from plugin.paging import PageQuery
from plugin.sessions import current_shop


@api_blueprint.get("/automations")
@document(
    "List automations, with their run counts and the latest error to look at.",
    query=PageQuery,
    response=AutomationPage,
)
def list_automations() -> ResponseReturnValue:
    page = load_page()
    return jsonify(AutomationPage().dump(operations.list_automations(current_shop(), **page)))


@api_blueprint.post("/automations")
@document(
    "Create an automation: when the trigger happens to a customer, give them a coupon.",
    request=AutomationIn,
    response=AutomationOut,
    status=201,
    description="Triggers: customer_created, customer_subscribed, order_paid, joined_group "
    "(group_id), joined_segment (segment_id) and, as an extension, coupon_given "
    "(discount_id: a code of that discount was given). Action give_coupon (discount_id, "
    "optional expires_after_days) hands out the next unassigned code of the discount's pool, "
    "at most once per customer and automation, and publishes coupon/given (customer_id, "
    "discount_id, code, expires_at, automation_id). Runs happen in the background within "
    "seconds of the trigger; an empty pool records a failed run and sets last_error, and "
    "never undoes the trigger. 422 for an unknown trigger or action type, a missing or "
    "unknown group, segment or discount, or a discount without a pool of codes.",
)
def create_automation() -> ResponseReturnValue:
    data = load_body(AutomationIn())
    automation = operations.create_automation(current_shop(), data)
    return jsonify(AutomationOut().dump(automation)), 201


@api_blueprint.get("/automations/<int:automation_id>")
@document("One automation.", response=AutomationOut)
def get_automation(automation_id: int) -> ResponseReturnValue:
    automation = operations.get_automation(current_shop(), automation_id)
    return jsonify(AutomationOut().dump(automation))


@api_blueprint.patch("/automations/<int:automation_id>")
@document(
    "Change an automation: the fields sent replace the stored ones (trigger and action as "
    "a whole), and the result is validated as on create.",
    request=AutomationIn,
    response=AutomationOut,
)
def update_automation(automation_id: int) -> ResponseReturnValue:
    changes = json_body()
    if not isinstance(changes, dict):
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "The body must be a JSON object.",
            422,
            {"_schema": ["Send a JSON object with Content-Type: application/json."]},
        )
    automation = operations.update_automation(current_shop(), automation_id, changes)
    return jsonify(AutomationOut().dump(automation))


@api_blueprint.delete("/automations/<int:automation_id>")
@document("Delete an automation and its run history (the codes it gave stay given).", status=204)
def delete_automation(automation_id: int) -> ResponseReturnValue:
    operations.delete_automation(current_shop(), automation_id)
    return "", 204


@api_blueprint.get("/automations/<int:automation_id>/runs")
@document(
    "The automation's runs, newest first: succeeded with the code given and its expiry, or "
    "failed with error_code (pool_empty, discount_missing) and error.",
    query=RunQuery,
    response=AutomationRunPage,
)
def list_automation_runs(automation_id: int) -> ResponseReturnValue:
    query = RunQuery().load(request.args.to_dict())
    runs = operations.list_runs(current_shop(), automation_id, **query)
    return jsonify(AutomationRunPage().dump(runs))
