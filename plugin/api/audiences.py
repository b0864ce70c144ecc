"""``/api/audiences``, ``.../{id}/run`` and ``.../{id}/runs`` (contract §5)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from plugin.api.blueprint import api_blueprint
from plugin.api.schemas import json_body, load_body, load_page
from plugin.apidoc import document
from plugin.audiences import operations, tasks
from plugin.audiences.models import RUN_FAILED, RUN_SUCCEEDED
from plugin.audiences.schemas import (
    AudienceOut,
    AudiencePage,
    AudienceRunOut,
    AudienceRunPage,
    AudienceSchema,
)
from plugin.errors import ApiError, ErrorCode
from plugin.paging import PageQuery
from plugin.sessions import current_shop


@api_blueprint.get("/audiences")
@document("List audiences (credentials masked).", query=PageQuery, response=AudiencePage)
def list_audiences() -> ResponseReturnValue:
    page = load_page()
    return jsonify(AudiencePage().dump(operations.list_audiences(current_shop(), **page)))


@api_blueprint.post("/audiences")
@document(
    "Create an audience: a segment or group kept in sync with Klaviyo, Attentive or Meta.",
    request=AudienceSchema,
    response=AudienceOut,
    status=201,
)
def create_audience() -> ResponseReturnValue:
    data = load_body(AudienceSchema())
    audience = operations.create_audience(current_shop(), data)
    return jsonify(AudienceOut().dump(audience)), 201


@api_blueprint.get("/audiences/<int:audience_id>")
@document("One audience.", response=AudienceOut)
def get_audience(audience_id: int) -> ResponseReturnValue:
    return jsonify(AudienceOut().dump(operations.get_audience(current_shop(), audience_id)))


@api_blueprint.patch("/audiences/<int:audience_id>")
@document(
    "Change an audience. Nested objects merge by key; a credential sent back masked keeps "
    "the stored secret; a new destination type needs its credentials again.",
    request=AudienceSchema,
    response=AudienceOut,
)
def update_audience(audience_id: int) -> ResponseReturnValue:
    patch = json_body()
    if not isinstance(patch, dict):
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "The body must be a JSON object.",
            422,
            {"_schema": ["Send a JSON object with Content-Type: application/json."]},
        )
    audience = operations.update_audience(current_shop(), audience_id, patch)
    return jsonify(AudienceOut().dump(audience))


@api_blueprint.delete("/audiences/<int:audience_id>")
@document("Delete an audience and its runs.", status=204)
def delete_audience(audience_id: int) -> ResponseReturnValue:
    operations.delete_audience(current_shop(), audience_id)
    return "", 204


@api_blueprint.post("/audiences/<int:audience_id>/run")
@document(
    "Run the audience now: 201 with the finished run when it is small enough to run in the "
    "request, 202 with the queued run otherwise (poll .../runs/{run_id}); 409 "
    "audience_run_in_progress while another run is under way.",
    response=AudienceRunOut,
    status=201,
)
def run_audience(audience_id: int) -> ResponseReturnValue:
    # The run's own boundary: it commits once per step (plugin.audiences.tasks).
    run = tasks.start_run_now(current_shop(), audience_id)
    status = 201 if run.status in (RUN_SUCCEEDED, RUN_FAILED) else 202
    return jsonify(AudienceRunOut().dump(run)), status


@api_blueprint.get("/audiences/<int:audience_id>/runs")
@document("The audience's runs, newest first.", query=PageQuery, response=AudienceRunPage)
def list_runs(audience_id: int) -> ResponseReturnValue:
    page = load_page()
    found = operations.list_runs(current_shop(), audience_id, **page)
    return jsonify(AudienceRunPage().dump(found))


@api_blueprint.get("/audiences/<int:audience_id>/runs/<int:run_id>")
@document(
    "One run: status, synced, removed, skipped, failed, errors (at most 100).",
    response=AudienceRunOut,
)
def get_run(audience_id: int, run_id: int) -> ResponseReturnValue:
    return jsonify(AudienceRunOut().dump(operations.get_run(current_shop(), audience_id, run_id)))
