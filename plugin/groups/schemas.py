"""Admin API schemas of groups and memberships."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate

from plugin.customers.schemas import CustomerSummary
from plugin.fields import HostId, SerialId, Strict, StrictInteger, Timestamp
from plugin.paging import page_of

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
#: An automatic group's priority: the lowest number takes a customer first.
PRIORITY = validate.Range(min=-1_000_000, max=1_000_000)


class Colour(fields.String):
    """``#rrggbb`` in either case, kept in lower case."""

    json_pattern = COLOUR.pattern

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not COLOUR.match(text.strip()):
            raise ValidationError("Must be a colour #rrggbb, such as #1e88e5.")
        return text.strip().lower()


class Name(fields.String):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Length(min=1, max=64), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip()


class GroupIn(Strict):
    name = Name(required=True)
    colour = Colour(load_default=None)
    is_default = fields.Boolean(load_default=False)
    # Automatic groups (contract §8): customers in this segment are placed here.
    auto_segment_id = SerialId(allow_none=True, load_default=None)
    auto_priority = StrictInteger(load_default=0, validate=PRIORITY)

    @post_load
    def _drop_missing_colour(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.get("colour") is None:
            data.pop("colour", None)
        return data


class GroupPatch(Strict):
    name = Name()
    colour = Colour()
    is_default = fields.Boolean()
    auto_segment_id = SerialId(allow_none=True)
    auto_priority = StrictInteger(validate=PRIORITY)


class GroupOut(Schema):
    id = fields.Integer()
    name = fields.String()
    colour = fields.String()
    is_default = fields.Boolean()
    auto_segment_id = fields.Integer(allow_none=True)
    auto_priority = fields.Integer()
    member_count = fields.Integer()
    created_at = Timestamp()


GroupPage = page_of(GroupOut)


class MoveCustomersIn(Strict):
    customer_ids = fields.List(HostId(), required=True, validate=validate.Length(min=1, max=10_000))


class MoveCustomersOut(Schema):
    moved = fields.Integer()
    group = fields.Nested(GroupOut)


class ReleaseLocksIn(Strict):
    customer_ids = fields.List(HostId(), required=True, validate=validate.Length(min=1, max=10_000))


class ReleaseLocksOut(Schema):
    released = fields.Integer(metadata={"description": "Customers unlocked."})
    moved = fields.Integer(metadata={"description": "Of those, customers placed elsewhere."})


__all__ = [
    "CustomerSummary",
    "GroupIn",
    "GroupOut",
    "GroupPage",
    "GroupPatch",
    "MoveCustomersIn",
    "MoveCustomersOut",
    "ReleaseLocksIn",
    "ReleaseLocksOut",
]
