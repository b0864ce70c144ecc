"""Payload schema of ``app/installed``."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import ValidationError, fields, validate

from plugin.customers.schemas import Payload


def _known_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError("Not a known IANA time zone.") from None


class ShopSchema(Payload):
    domain = fields.String(required=True, validate=validate.Length(min=1, max=255))
    name = fields.String(load_default="", validate=validate.Length(max=255))
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z]{3}$"))
    timezone = fields.String(load_default="UTC", validate=_known_timezone)
    api_url = fields.Url(allow_none=True, load_default=None, require_tld=False)
    access_token = fields.String(allow_none=True, load_default=None)
    # An extension of the contract: where our events (§6) are POSTed.
    events_url = fields.Url(allow_none=True, load_default=None, require_tld=False)


class AppInstalledSchema(Payload):
    shop = fields.Nested(ShopSchema, required=True)
