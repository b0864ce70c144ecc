"""The reports' query (``from``, ``to``) and answers (contract v2 §8, "Reports")."""

from __future__ import annotations

from datetime import date
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validates_schema

from plugin.limits import day_flaw

#: The longest range one report covers, in days (two years and a leap day).
MAX_DAYS = 731


class Day(fields.Field):
    """A day ``YYYY-MM-DD`` (the shop's day), within the input limits."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        if not isinstance(value, str) or len(value.strip()) != 10:
            raise ValidationError("Must be a day YYYY-MM-DD.")
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError("Must be a day YYYY-MM-DD.") from None
        flaw = day_flaw(day)
        if flaw:
            raise ValidationError(flaw)
        return day

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else value.isoformat()


class ReportQuery(Schema):
    """``from`` and ``to``, both included, days in the shop's time zone. Without them: the
    30 days up to today; with one alone: 30 days from or up to it."""

    class Meta:
        unknown = RAISE

    from_ = Day(data_key="from", load_default=None)
    to = Day(load_default=None)

    @validates_schema
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("from_"), data.get("to")
        if start and end:
            if end < start:
                raise ValidationError("Must not be before from.", field_name="to")
            if (end - start).days + 1 > MAX_DAYS:
                raise ValidationError(f"At most {MAX_DAYS} days from from.", field_name="to")


class Ref(Schema):
    id = fields.Integer()
    name = fields.String()


class GroupRef(Ref):
    colour = fields.String()


class DiscountDay(Schema):
    day = Day()
    redemptions = fields.Integer()
    discount_total = fields.Integer()
    orders_total = fields.Integer()


class DiscountFigures(Schema):
    redemptions = fields.Integer()
    discount_total = fields.Integer()
    orders_total = fields.Integer()


class DiscountReportItem(DiscountFigures):
    discount = fields.Nested(Ref)
    series = fields.List(fields.Nested(DiscountDay))


class GroupDay(Schema):
    day = Day()
    customers = fields.Integer()
    orders = fields.Integer()
    revenue = fields.Integer()
    discount_total = fields.Integer()


class GroupFigures(Schema):
    customers = fields.Integer()
    orders = fields.Integer()
    revenue = fields.Integer()
    discount_total = fields.Integer()


class GroupReportItem(GroupFigures):
    group = fields.Nested(GroupRef)
    members = fields.Integer()
    series = fields.List(fields.Nested(GroupDay))


class _Report(Schema):
    from_ = Day(data_key="from")
    to = Day()
    timezone = fields.String()
    currency = fields.String()


class DiscountReport(_Report):
    """Per discount: paid orders that used it (net of refunds and cancellations), what its
    code took off them, and the same per day."""

    items = fields.List(fields.Nested(DiscountReportItem))
    totals = fields.Nested(DiscountFigures)


class GroupReport(_Report):
    """Per group: the paid orders (net of refunds and cancellations) of customers while in
    it, their customers, revenue and code discounts, and the same per day."""

    items = fields.List(fields.Nested(GroupReportItem))
    totals = fields.Nested(GroupFigures)
