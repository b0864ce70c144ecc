"""``/api/jobs``: background jobs of the shop, to follow long operations (contract §5)."""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import fields, validate

from plugin.api.blueprint import api_blueprint
from plugin.apidoc import document
from plugin.jobs import operations
from plugin.jobs.models import JOB_STATUSES
from plugin.jobs.schemas import JobOut
from plugin.paging import PageQuery, page_of
from plugin.sessions import current_shop


class JobQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(JOB_STATUSES))
    kind = fields.String(validate=validate.Length(min=1, max=64))


JobPage = page_of(JobOut)


@api_blueprint.get("/jobs")
@document(
    "The shop's background jobs, newest first (filter by status or kind).",
    query=JobQuery,
    response=JobPage,
)
def list_jobs() -> ResponseReturnValue:
    args = JobQuery().load(request.args.to_dict())
    return jsonify(JobPage().dump(operations.list_jobs(current_shop(), **args)))


@api_blueprint.get("/jobs/<int:job_id>")
@document(
    "One job: kind, status (queued, running, succeeded, failed), progress of total, "
    "attempts, result or error, and its timestamps.",
    response=JobOut,
)
def get_job(job_id: int) -> ResponseReturnValue:
    return jsonify(JobOut().dump(operations.get_job(current_shop(), job_id)))
