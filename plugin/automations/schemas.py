"""Admin API schemas of automations (``/api/automations``) and their runs."""

from __future__ import annotations

from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    missing,
    post_dump,
    validate,
    validates_schema,
)

from plugin.automations.models import (
    ACTION_TYPES,
    RUN_STATUSES,
    TRIGGER_REFERENCE,
    TRIGGER_TYPES,
)
from plugin.fields import SerialId, Strict, StrictInteger, Timestamp
from plugin.paging import PageQuery, page_of

REFERENCES = ("group_id", "segment_id", "discount_id")


class TriggerIn(Strict):
    """What sets the automation off. ``joined_group`` needs ``group_id``,
    ``joined_segment`` needs ``segment_id``, ``coupon_given`` (an extension: a code of
    that discount was given to the customer) needs ``discount_id``; the others take none.
    ``joined_group`` also fires when a new customer (``customer/created``) lands in that
    group, which is how the default group is joined."""

    type = fields.String(required=True, validate=validate.OneOf(TRIGGER_TYPES))
    group_id = SerialId(allow_none=True, load_default=None)
    segment_id = SerialId(allow_none=True, load_default=None)
    discount_id = SerialId(allow_none=True, load_default=None)

    @validates_schema
    def _references(self, data: dict[str, Any], **kwargs: Any) -> None:
        needed = TRIGGER_REFERENCE[data["type"]]
        errors: dict[str, list[str]] = {}
        for name in REFERENCES:
            if name == needed and data.get(name) is None:
                errors[name] = [f"Required for a {data['type']} trigger."]
            elif name != needed and data.get(name) is not None:
                errors[name] = [f"Not used by a {data['type']} trigger."]
        if errors:
            raise ValidationError(errors)


class ActionIn(Strict):
    """``give_coupon``: the next unassigned code of the discount's pool, never the same code
    twice; it expires ``expires_after_days`` after it is given (or at the discount's end,
    whichever comes first; null: at the discount's end)."""

    type = fields.String(required=True, validate=validate.OneOf(ACTION_TYPES))
    discount_id = SerialId(required=True)
    expires_after_days = StrictInteger(
        allow_none=True, load_default=None, validate=validate.Range(min=1, max=3650)
    )


class AutomationIn(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    trigger = fields.Nested(TriggerIn, required=True)
    action = fields.Nested(ActionIn, required=True)
    active = fields.Boolean(load_default=True)

    @validates_schema
    def _name_not_blank(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data["name"].strip():
            raise ValidationError({"name": ["Must not be blank."]})


class _Whole(fields.Nested):
    """Dump a nested schema from the object itself (some of its columns under one key)."""

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = missing) -> Any:
        return obj


#: What deleting a referenced group, segment or discount does (OpenAPI descriptions).
DELETED_REFERENCE = "Null once it was deleted (a foreign key): the automation never fires."


class TriggerOut(Schema):
    type = fields.String(attribute="trigger_type")
    group_id = fields.Integer(
        attribute="trigger_group_id",
        allow_none=True,
        metadata={"description": DELETED_REFERENCE},
    )
    segment_id = fields.Integer(
        attribute="trigger_segment_id",
        allow_none=True,
        metadata={"description": DELETED_REFERENCE},
    )
    discount_id = fields.Integer(
        attribute="trigger_discount_id",
        allow_none=True,
        metadata={"description": DELETED_REFERENCE},
    )

    @post_dump
    def _only_its_reference(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        needed = TRIGGER_REFERENCE.get(data["type"])
        return {k: v for k, v in data.items() if k == "type" or k == needed}


class ActionOut(Schema):
    type = fields.String(attribute="action_type")
    discount_id = fields.Integer(
        allow_none=True,
        metadata={
            "description": "Null once the discount was deleted (a foreign key): a run then "
            "fails and last_error says so."
        },
    )
    expires_after_days = fields.Integer(allow_none=True)


class AutomationOut(Schema):
    """An automation. ``last_error`` is the latest failure the merchant should hear about
    (e.g. the pool is empty), cleared by a successful run that began after it; ``runs``
    counts its runs."""

    id = fields.Integer()
    name = fields.String()
    trigger = _Whole(TriggerOut)
    action = _Whole(ActionOut)
    active = fields.Boolean()
    last_error = fields.String(allow_none=True)
    last_error_at = Timestamp(allow_none=True)
    runs = fields.Nested(
        Schema.from_dict(
            {"succeeded": fields.Integer(), "failed": fields.Integer()}, name="AutomationRunCounts"
        ),
        attribute="run_counts",
    )
    created_at = Timestamp()
    updated_at = Timestamp()


#: Fields of the answer that a PATCH may send back unchanged (they are ignored).
READ_ONLY = ("id", "last_error", "last_error_at", "runs", "created_at", "updated_at")


class RunQuery(PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(RUN_STATUSES))


class AutomationRunOut(Schema):
    """One run for one customer: ``succeeded`` with the code given and its expiry, or
    ``failed`` with ``error_code`` (``pool_empty``, ``discount_missing``) and ``error``."""

    id = fields.Integer()
    automation_id = fields.Integer()
    status = fields.String(validate=validate.OneOf(RUN_STATUSES))
    customer_id = fields.String(attribute="customer_external_id", allow_none=True)
    cause = fields.String(allow_none=True)
    code = fields.String(allow_none=True)
    expires_at = Timestamp(allow_none=True)
    error_code = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    created_at = Timestamp()


AutomationPage = page_of(AutomationOut)
AutomationRunPage = page_of(AutomationRunOut)
