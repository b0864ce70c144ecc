"""Admin API schemas of discounts and codes (contract §5)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from plugin.codes.models import CODE_STATUSES, REDEMPTION_STATUSES
from plugin.fields import HostId, SerialId, StrictInteger, Timestamp
from plugin.jobs.schemas import JobOut
from plugin.limits import MAX_SERIAL
from plugin.paging import PageParams, page_of
from plugin.rules.audience import AUDIENCE_IDS

CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CODE_CHARACTERS = "A–Z a–z 0–9 _ -"
#: Codes longer than this are accepted with a warning: shoppers mistype long codes.
RECOMMENDED_CODE_LENGTH = 12
PAYMENT_METHODS = ["cash", "paypal", "bank_transfer"]
CHANNELS = ["web", "in_store"]


def code_problem(code: str) -> str | None:
    """Why ``code`` (already trimmed) cannot be a code, or None."""
    if not code:
        return "A code needs at least 1 character."
    if len(code) > 64:
        return "A code has at most 64 characters."
    if not CODE_PATTERN.fullmatch(code):
        return f"A code may only use {CODE_CHARACTERS}."
    return None


def code_warnings(code: str | None) -> list[str]:
    if code and len(code) > RECOMMENDED_CODE_LENGTH:
        return [
            f"The code has {len(code)} characters; under {RECOMMENDED_CODE_LENGTH} "
            "is easier for shoppers to type."
        ]
    return []


class CodeField(fields.String):
    """A code typed by hand: trimmed, 1–64 characters of the allowed alphabet."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        problem = code_problem(text)
        if problem:
            raise ValidationError(problem)
        return text


class AudienceSchema(Schema):
    """``{"type": "all" | "guests"}`` or ``{"type": "groups" | "segments", "ids": [...]}``:
    ids of groups or segments of this shop. Deleting one later takes it out of the audience;
    one left with none matches nobody, and a PATCH of the discount then names a new one."""

    class Meta:
        unknown = RAISE

    type = fields.String(
        required=True, validate=validate.OneOf(["all", "guests", "groups", "segments"])
    )
    ids = fields.List(SerialId(), load_default=list)

    @validates_schema
    def _ids(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["type"] in ("groups", "segments") and not data["ids"]:
            raise ValidationError(f"Name at least one of the {data['type']}.", "ids")
        if data["type"] in ("all", "guests") and data["ids"]:
            raise ValidationError(f"An audience of {data['type']} takes no ids.", "ids")


class MinimumSchema(Schema):
    class Meta:
        unknown = RAISE

    type = fields.String(required=True, validate=validate.OneOf(["none", "amount", "quantity"]))
    value = StrictInteger(load_default=0, allow_none=True, validate=validate.Range(min=0))


class DiscountIn(Schema):
    """A whole discount; PATCH loads the stored discount overlaid with the changes."""

    class Meta:
        unknown = RAISE

    name = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=255),
            validate.Regexp(r"(?s).*\S", error="Must not be blank."),
        ],
    )
    applies_to = fields.String(
        load_default="products", validate=validate.OneOf(["products", "services"])
    )
    code = CodeField(allow_none=True, load_default=None)
    type = fields.String(
        required=True, validate=validate.OneOf(["percent", "fixed", "free_shipping"])
    )
    value = fields.Raw(allow_none=True, load_default=None)
    carriers = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)), load_default=list
    )
    starts_at = Timestamp(allow_none=True, load_default=None)
    ends_at = Timestamp(allow_none=True, load_default=None)
    usage_limit = StrictInteger(
        allow_none=True, load_default=None, validate=validate.Range(min=1, max=MAX_SERIAL)
    )
    # How often one customer may use the discount (null: no limit); ``once_per_customer:
    # true`` is its alias for 1 (contract §8). Neither has a load default: both given and
    # disagreeing is a 422, and _together settles the two.
    uses_per_customer = StrictInteger(
        allow_none=True, validate=validate.Range(min=1, max=MAX_SERIAL)
    )
    once_per_customer = fields.Boolean()
    combinable_with_other_codes = fields.Boolean(load_default=False)
    audience = fields.Nested(AudienceSchema, load_default=lambda: {"type": "all", "ids": []})
    minimum = fields.Nested(MinimumSchema, load_default=lambda: {"type": "none", "value": 0})
    payment_methods = fields.List(
        fields.String(validate=validate.OneOf(PAYMENT_METHODS)), load_default=list
    )
    channels = fields.List(fields.String(validate=validate.OneOf(CHANNELS)), load_default=list)
    active = fields.Boolean(load_default=True)

    @validates_schema
    def _together(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        try:
            data["value"] = stored_value(data["type"], data.get("value"))
        except ValidationError as err:
            errors["value"] = list(err.messages) if isinstance(err.messages, list) else [str(err)]
        if "in_store" in data.get("channels", []) and data.get("applies_to") == "services":
            errors["channels"] = ["In-store applies to product codes only."]
        starts, ends = data.get("starts_at"), data.get("ends_at")
        comparable = starts is not None and ends is not None and type(starts) is type(ends)
        # Two dates are whole days (a one-day window is fine); two date-times are moments.
        if comparable and (ends < starts if type(ends) is date else ends <= starts):
            errors["ends_at"] = ["Must be after starts_at."]
        minimum = data.get("minimum") or {}
        if minimum.get("type") in ("amount", "quantity") and not minimum.get("value"):
            errors["minimum.value"] = ["A minimum amount or quantity needs a value above 0."]
        once = data.get("once_per_customer")
        if "uses_per_customer" in data:
            uses = data["uses_per_customer"]
            if once is not None and once != (uses == 1):
                errors["uses_per_customer"] = [
                    "Disagrees with once_per_customer (true means uses_per_customer 1)."
                ]
        else:
            uses = 1 if once else None
        data["uses_per_customer"] = uses
        data["once_per_customer"] = uses == 1
        if errors:
            raise ValidationError(errors)


def stored_value(kind: str, value: Any) -> int | None:
    """The integer we store: basis points of a percent, minor units otherwise."""
    if isinstance(value, bool):
        raise ValidationError("Must be a number.")
    if kind == "percent":
        if value is None:
            raise ValidationError("A percent discount needs a value.")
        try:
            percent = Decimal(str(value)) if isinstance(value, int | float | str) else None
        except InvalidOperation:
            percent = None
        if percent is None or not percent.is_finite():
            raise ValidationError("Must be a number of percent.")
        if not Decimal(0) < percent <= Decimal(100):
            raise ValidationError("A percent must be above 0 and at most 100.")
        basis_points = percent * 100
        if basis_points != basis_points.to_integral_value():
            raise ValidationError("At most two decimals of a percent.")
        return int(basis_points)
    if value is None:
        if kind == "fixed":
            raise ValidationError("A fixed discount needs a value in minor units.")
        return None
    if not isinstance(value, int):
        raise ValidationError("Must be whole minor units (an integer).")
    if value < 0:
        raise ValidationError("Must be at least 0.")
    return value


def shown_value(kind: str, value: int | None) -> int | float | None:
    if value is None or kind != "percent":
        return value
    percent = Decimal(value) / 100
    return int(percent) if percent == percent.to_integral_value() else float(percent)


class DiscountOut(Schema):
    id = fields.Integer()
    name = fields.String()
    applies_to = fields.String()
    code = fields.String(allow_none=True)
    type = fields.String()
    value = fields.Function(lambda d: shown_value(d.type, d.value))
    carriers = fields.List(fields.String())
    starts_at = Timestamp()
    ends_at = Timestamp()
    usage_limit = fields.Integer(allow_none=True)
    uses_per_customer = fields.Integer(allow_none=True)
    once_per_customer = fields.Boolean()
    combinable_with_other_codes = fields.Boolean()
    audience = fields.Function(
        lambda d: {"type": d.audience_type, "ids": d.audience_ids or []},
        metadata={"description": "Who it is for: {type, ids}. " + AUDIENCE_IDS},
    )
    minimum = fields.Function(lambda d: {"type": d.minimum_type, "value": d.minimum_value})
    payment_methods = fields.List(fields.String())
    channels = fields.List(fields.String())
    active = fields.Boolean()
    warnings = fields.Function(lambda d: code_warnings(d.code))
    created_at = Timestamp()
    updated_at = Timestamp()


#: Fields the client sends back unchanged from an answer; PATCH ignores them.
READ_ONLY = ("id", "warnings", "created_at", "updated_at")


class PageArgs(PageParams):
    class Meta:
        unknown = EXCLUDE


class CodeListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(CODE_STATUSES))
    # Codes containing this text, ignoring case (a code is at most 64 characters).
    q = fields.String(load_default=None, validate=validate.Length(max=64))
    # Only the codes added after the code with this id (a batch just generated or
    # imported: ids only grow), then listed in the order they were added.
    after = fields.Integer(load_default=None, validate=validate.Range(min=0, max=MAX_SERIAL))


class RedemptionListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(REDEMPTION_STATUSES))
    flagged = fields.Boolean(load_default=None, allow_none=True)


class RedemptionOut(Schema):
    """One use of a code by an order. ``flagged``: the order was paid past a limit (usage
    limit or once per customer) without the redeem hook; it is counted, for the merchant
    to look at."""

    id = fields.Integer()
    order_id = fields.String(attribute="order_external_id")
    code = fields.String()
    customer_id = fields.String(attribute="customer_external_id", allow_none=True)
    status = fields.String()
    flagged = fields.Boolean()
    created_at = Timestamp()
    expires_at = Timestamp()
    confirmed_at = Timestamp()
    released_at = Timestamp()


RedemptionPage = page_of(RedemptionOut)


class PoolCodeOut(Schema):
    """One code of a discount's pool. (Not ``CodeOut``: the pricing answer has one.)"""

    id = fields.Integer()
    discount_id = fields.Integer()
    code = fields.String()
    status = fields.String()
    assigned_customer_id = fields.String(attribute="assigned_customer_external_id")
    assigned_at = Timestamp()
    times_used = fields.Integer()
    expires_at = Timestamp()


CodeOut = PoolCodeOut


class GenerateIn(Schema):
    class Meta:
        unknown = RAISE

    count = StrictInteger(required=True, validate=validate.Range(min=1, max=1_000_000))
    length = StrictInteger(load_default=8, validate=validate.Range(min=4, max=64))
    prefix = fields.String(load_default="", allow_none=True)
    suffix = fields.String(load_default="", allow_none=True)
    charset = fields.String(load_default=None, allow_none=True)

    @validates_schema
    def _pattern(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        for name in ("prefix", "suffix"):
            text = data.get(name) or ""
            if text and not CODE_PATTERN.fullmatch(text):
                errors[name] = [f"May only use {CODE_CHARACTERS}."]
        charset = data.get("charset")
        if charset is not None:
            letters = {c.upper() for c in charset}
            if not charset or not CODE_PATTERN.fullmatch(charset):
                errors["charset"] = [f"May only use {CODE_CHARACTERS}."]
            elif len(letters) < 2:
                errors["charset"] = ["Needs at least 2 different characters (ignoring case)."]
        total = len(data.get("prefix") or "") + len(data.get("suffix") or "") + data["length"]
        if total > 64:
            errors["length"] = [f"prefix + length + suffix is {total}; a code has at most 64."]
        if errors:
            raise ValidationError(errors)


class AssignIn(Schema):
    class Meta:
        unknown = RAISE

    customer_id = HostId(required=True)


class ImportOut(Schema):
    """What an import did: codes added, duplicates (held already, or repeated in the
    file) and invalid lines, with the first 1000 problems by line number."""

    imported = fields.Integer()
    duplicates = fields.Integer()
    invalid = fields.Integer()
    errors = fields.List(fields.Dict())
    errors_truncated = fields.Boolean()


# Only for the OpenAPI document ------------------------------------------------------------


class DiscountPatch(DiscountIn):
    """Any fields of a discount; the others keep their stored values (the whole is
    validated again, so a change can still be a 422 because of a field kept)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, partial=True, **kwargs)
        for field_ in self.fields.values():
            field_.required = False


#: What ``warnings`` of a generation say (contract §2, "Guessing codes").
GUESS_WARNING = (
    "Sentences for the merchant; one when a random guess would find a code of this shape "
    "more often than once in a million tries (the codes of this shape the shop holds once "
    "these are made, over the size of the code space with the characters folded to one "
    "case). Empty otherwise; the codes are made all the same."
)


class GenerateOut(Schema):
    """Codes generated at once (up to 10,000; more answer 202 with a job)."""

    generated = fields.Integer()
    warnings = fields.List(fields.String(), metadata={"description": GUESS_WARNING})


class GenerationJobOut(JobOut):
    """The job that generates more than 10,000 codes (202), with the warnings of the
    generation asked for; its ``result`` ends as ``{"generated", "warnings"}``."""

    warnings = fields.List(fields.String(), metadata={"description": GUESS_WARNING})


class ImportIn(Schema):
    """A CSV whose first line names a ``code`` column: the request body itself
    (``text/csv``) or the ``file`` part of a ``multipart/form-data`` upload."""

    file = fields.String(required=True, metadata={"description": "the CSV file"})


DiscountPage = page_of(DiscountOut)


PoolCodePage = page_of(PoolCodeOut)
