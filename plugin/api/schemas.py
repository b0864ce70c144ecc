"""Schemas shared by admin API resources: pagination and customer summaries."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import RAISE, Schema, fields, validate

from plugin.customers.schemas import CustomerCodeOut, CustomerOut
from plugin.errors import ApiError, ErrorCode

MAX_PER_PAGE = 1000


class Strict(Schema):
    """Admin input: an unknown field is a mistake worth telling about."""

    class Meta:
        unknown = RAISE


class PageQuery(Strict):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))


class CustomerSummary(Schema):
    id = fields.String(attribute="external_id")
    email = fields.String(allow_none=True)
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    group_id = fields.Integer()


def page_of(item_schema: type[Schema]) -> type[Schema]:
    """The list envelope of contract §5 around ``item_schema``."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema)),
            "total": fields.Integer(),
            "page": fields.Integer(),
            "per_page": fields.Integer(),
        },
        name=f"{item_schema.__name__.removesuffix('Out')}Page",
    )


CustomerPage = page_of(CustomerSummary)


def load_body(schema: Schema, partial: bool = False) -> dict[str, Any]:
    """Parse the JSON body with ``schema`` (a 422 naming each bad field otherwise)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "The body must be a JSON object.",
            422,
            {"_schema": ["Send a JSON object with Content-Type: application/json."]},
        )
    loaded: dict[str, Any] = schema.load(body, partial=partial)
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
