"""Payload schema of ``app/installed``."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from marshmallow import ValidationError, fields, validate

from plugin.fields import Payload
from plugin.money import DEFAULT_LOCALE, parse_locale
from plugin.outgoing import private_destinations_allowed, url_problem


def _known_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise ValidationError("Not a known IANA time zone.") from None


def _outgoing_url(url: str | None) -> None:
    """Events are POSTed only to https on a public host (contract §5); judged as written here,
    and again when each connection is opened, which is the check that counts."""
    if url is None:
        return
    problem = url_problem(url, allow_private=private_destinations_allowed(current_app.config))
    if problem:
        raise ValidationError(problem)


def _known_locale(name: str) -> None:
    if parse_locale(name) is None:
        raise ValidationError("Not a known locale (a BCP 47 tag such as en, fr-FR, de-CH).")


class ShopSchema(Payload):
    domain = fields.String(required=True, validate=validate.Length(min=1, max=255))
    name = fields.String(load_default="", validate=validate.Length(max=255))
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z]{3}$"))
    timezone = fields.String(load_default="UTC", validate=_known_timezone)
    # An extension of the contract: how the admin writes money (``en`` when not sent).
    locale = fields.String(load_default=DEFAULT_LOCALE, validate=_known_locale)
    api_url = fields.Url(
        allow_none=True, load_default=None, require_tld=False, validate=validate.Length(max=512)
    )
    access_token = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(max=512)
    )
    # An extension of the contract: where our events (§6) are POSTed.
    events_url = fields.Url(
        allow_none=True,
        load_default=None,
        require_tld=False,
        validate=[validate.Length(max=512), _outgoing_url],
    )


class AppInstalledSchema(Payload):
    shop = fields.Nested(ShopSchema, required=True)
