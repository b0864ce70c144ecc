"""Marshmallow fields shared by the payload and admin schemas, holding the input limits of
contract v2 §2 (``plugin.limits``) for what reaches them without going through a JSON
parser: forms, query strings, dicts from in-process hosts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate

from plugin.limits import (
    INTEGER_MESSAGE,
    MAX_INTEGER,
    MAX_SERIAL,
    day_flaw,
    moment_flaw,
    scan,
    text_flaw,
)


class Payload(Schema):
    """Host input: hosts may send fields we do not know yet; they are ignored, not refused.

    Held to the input limits here too (``plugin.limits.scan``), for what an in-process host
    sends as a dict, never parsed from JSON: a 400 naming each place past them."""

    class Meta:
        unknown = EXCLUDE

    def tolerates(self, path: str) -> bool:
        """Whether this schema cleans the text or number at ``path`` itself (none do here)."""
        return False

    @pre_load
    def _within_limits(self, data: Any, **kwargs: Any) -> Any:
        problems = scan(data, tolerate=self.tolerates)
        if problems:
            raise ValidationError(problems)
        return data


class Strict(Schema):
    """Admin input: an unknown field is a mistake worth telling about."""

    class Meta:
        unknown = RAISE


class HostId(fields.Field):
    """An id that comes from the host: a non-empty string (integers are taken as strings)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError("Must be a string id.")
        if isinstance(value, int) and not -MAX_INTEGER <= value <= MAX_INTEGER:
            raise ValidationError(INTEGER_MESSAGE)
        text = str(value).strip()
        if not text or len(text) > 255:
            raise ValidationError("Must be 1 to 255 characters.")
        flaw = text_flaw(text)
        if flaw:
            raise ValidationError(flaw)
        return text

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class Timestamp(fields.Field):
    """ISO 8601 date or date-time. A date stays a ``date`` (its day is the shop's day);
    a date-time without an offset is taken as UTC. Both lie within the limits
    (``plugin.limits``: a day inside years 1900–9999, so any shop's time zone keeps them
    there, and the day after a date is still a date)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> date | datetime:
        return parse_timestamp(value)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return iso_timestamp(value)


def parse_timestamp(value: Any) -> date | datetime:
    """What :class:`Timestamp` reads (a ``ValidationError`` saying why not)."""
    if not isinstance(value, str):
        raise ValidationError("Must be an ISO 8601 date or date-time string.")
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            flaw = day_flaw(day)
            if flaw:
                raise ValidationError(flaw)
            return day
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError("Must be an ISO 8601 date or date-time.") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    flaw = moment_flaw(moment)
    if flaw:
        raise ValidationError(flaw)
    return moment


def iso_timestamp(value: date | datetime | None) -> str | None:
    """How every moment goes out: ISO 8601 in UTC with ``Z`` (a date as ``YYYY-MM-DD``)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


class StrictInteger(fields.Integer):
    """An integer that refuses strings and booleans (money and counts), and anything
    beyond ±(2^53 − 1) whatever its own range says."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ValidationError("Not a valid integer.")
        number = super()._deserialize(value, attr, data, **kwargs)
        if not -MAX_INTEGER <= number <= MAX_INTEGER:
            raise ValidationError(INTEGER_MESSAGE)
        return number


class SerialId(StrictInteger):
    """An id the extension created (a group, a discount …): 1 to 2^31 − 1."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Range(min=1, max=MAX_SERIAL), **kwargs)
