"""Schemas shared by admin API resources: customer summaries; reading bodies and pages."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema, fields

from plugin.customers.schemas import CustomerCodeOut, CustomerOut, CustomerSummary
from plugin.errors import ApiError, ErrorCode
from plugin.limits import NOT_JSON, InputRejected, parse_json
from plugin.paging import PageQuery, page_of
from plugin.request_limits import read_body

CustomerPage = page_of(CustomerSummary)


def json_body(force: bool = False) -> Any:
    """The request's JSON body within the input limits (``plugin.limits``: depth, text,
    numbers), or a 422 naming each place past them. None when there is no JSON body: not
    sent as ``application/json`` (unless ``force``), empty, or not JSON at all.

    Every view of ``/api`` reads its JSON here, never with ``request.get_json``."""
    if not (force or request.is_json):
        return None
    try:
        return parse_json(read_body())
    except InputRejected as err:
        if err.details == {"_body": [NOT_JSON]}:
            return None
        raise ApiError(ErrorCode.VALIDATION_FAILED, err.message, 422, err.details) from None


def json_object(force: bool = False) -> dict[str, Any]:
    """The JSON body (:func:`json_body`), which must be an object (a 422 otherwise)."""
    body = json_body(force)
    if not isinstance(body, dict):
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "The body must be a JSON object.",
            422,
            {"_schema": ["Send a JSON object with Content-Type: application/json."]},
        )
    return body


def load_body(schema: Schema, partial: bool = False) -> dict[str, Any]:
    """Parse the JSON body with ``schema`` (a 422 naming each bad field otherwise)."""
    loaded: dict[str, Any] = schema.load(json_object(), partial=partial)
    return loaded


def load_page() -> dict[str, Any]:
    """``page`` and ``per_page`` from the query string."""
    loaded: dict[str, Any] = PageQuery().load(request.args.to_dict())
    return loaded


class GroupRef(Schema):
    id = fields.Integer()
    name = fields.String()
    colour = fields.String()


class SegmentRef(Schema):
    id = fields.Integer()
    name = fields.String()


class CustomerView(CustomerOut):
    """The admin's view of one customer (``GET /api/customers/{id}``)."""

    group = fields.Nested(GroupRef, allow_none=True)
    segments = fields.List(fields.Nested(SegmentRef))
    codes = fields.List(fields.Nested(CustomerCodeOut))
