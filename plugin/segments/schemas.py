"""Admin API schemas of segments and their conditions."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from plugin.customers.schemas import CustomerSummary
from plugin.fields import Strict, Timestamp
from plugin.groups.schemas import Name
from plugin.paging import page_of
from plugin.segments.conditions import FIELDS, ConditionError, normalise
from plugin.segments.models import MATCH_ALL, MATCH_ANY

MAX_CONDITIONS = 50


class ConditionIn(Strict):
    """``{"field", "op", "value"}``: the operator must suit the field and the value parse."""

    field = fields.String(required=True, validate=validate.OneOf(list(FIELDS)))
    op = fields.String(required=True)
    value = fields.Raw(required=True, allow_none=True)

    @validates_schema
    def _fits(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("field") not in FIELDS:
            return  # already refused by the field's own validator
        try:
            normalise(data)
        except ConditionError as error:
            raise ValidationError({error.part: [error.message]}) from None

    @post_load
    def _stored_form(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return normalise(data)


_conditions = {
    "validate": validate.Length(min=1, max=MAX_CONDITIONS),
}


class SegmentRulesIn(Strict):
    match = fields.String(load_default=MATCH_ALL, validate=validate.OneOf([MATCH_ALL, MATCH_ANY]))
    conditions = fields.List(fields.Nested(ConditionIn), required=True, **_conditions)


class SegmentIn(SegmentRulesIn):
    name = Name(required=True)


class SegmentPatch(Strict):
    name = Name()
    match = fields.String(validate=validate.OneOf([MATCH_ALL, MATCH_ANY]))
    conditions = fields.List(fields.Nested(ConditionIn), **_conditions)


class ConditionOut(Schema):
    field = fields.String()
    op = fields.String()
    value = fields.Raw()


class SegmentOut(Schema):
    id = fields.Integer()
    name = fields.String()
    match = fields.String()
    conditions = fields.List(fields.Nested(ConditionOut))
    member_count = fields.Integer()
    # Extension: true while a background job recomputes the members (shops with more
    # customers than CUSTOMER_GROUPS_SEGMENT_SYNC_LIMIT); member_count is then the count
    # before the change.
    recomputing = fields.Boolean()
    created_at = Timestamp()
    updated_at = Timestamp()


SegmentPage = page_of(SegmentOut)


class PreviewOut(Schema):
    count = fields.Integer()
    sample = fields.List(fields.Nested(CustomerSummary))


class SegmentRef(Schema):
    id = fields.Integer()
    name = fields.String()
