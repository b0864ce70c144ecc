"""Marshmallow fields shared by the payload and admin schemas."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from marshmallow import ValidationError, fields


class HostId(fields.Field):
    """An id that comes from the host: a non-empty string (integers are taken as strings)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError("Must be a string id.")
        text = str(value).strip()
        if not text or len(text) > 255:
            raise ValidationError("Must be 1 to 255 characters.")
        return text

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class Timestamp(fields.Field):
    """ISO 8601 date or date-time. A date stays a ``date`` (its day is the shop's day);
    a date-time without an offset is taken as UTC."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> date | datetime:
        if not isinstance(value, str):
            raise ValidationError("Must be an ISO 8601 date or date-time string.")
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError("Must be an ISO 8601 date or date-time.") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return iso_timestamp(value)


def iso_timestamp(value: date | datetime | None) -> str | None:
    """How every moment goes out: ISO 8601 in UTC with ``Z`` (a date as ``YYYY-MM-DD``)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


class StrictInteger(fields.Integer):
    """An integer that refuses strings and booleans (money and counts)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)
