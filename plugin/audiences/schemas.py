"""Admin API schemas of audiences and their runs (contract §5, ``/api/audiences``)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from plugin.audiences.credentials import MASK, mask, masked
from plugin.audiences.models import DESTINATION_TYPES, IDENTIFIERS, SCHEDULES, SOURCE_TYPES
from plugin.audiences.sync import FIELDS
from plugin.fields import SerialId, Strict, Timestamp
from plugin.outgoing import private_destinations_allowed, url_problem
from plugin.paging import page_of

# The credential each destination needs.
REQUIRED_CREDENTIAL = {"klaviyo": "api_key", "attentive": "api_key", "meta": "access_token"}
__all__ = ["MASK", "mask"]  # where callers have always found them


class SourceSchema(Strict):
    """The group or segment to send, of this shop. Deleting it later leaves the audience
    without a source (``id`` null): not scheduled, its runs fail, until a PATCH names one."""

    type = fields.String(required=True, validate=validate.OneOf(SOURCE_TYPES))
    id = SerialId(required=True)


def outgoing_url(url: str | None) -> bool:
    """A destination's ``base_url`` (for proxies) is https on a public host, so a merchant
    cannot point our requests at our own network (contract §5). Judged as written, without a
    DNS lookup: every connection of a run is checked again when it is opened, which is the
    check that counts. ``CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS`` lifts this for tests and
    private proxies.
    """
    if url is None:
        return True
    problem = url_problem(url, allow_private=private_destinations_allowed(current_app.config))
    if problem:
        raise ValidationError(problem)
    return True


class DestinationSchema(Strict):
    type = fields.String(required=True, validate=validate.OneOf(DESTINATION_TYPES))
    credentials = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=64)),
        values=fields.String(validate=validate.Length(min=1, max=2048)),
        load_default=dict,
    )
    list_id = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, 255))
    audience_id = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(1, 255)
    )
    base_url = fields.Url(
        allow_none=True,
        load_default=None,
        require_tld=False,
        schemes={"http", "https"},
        validate=[validate.Length(max=512), outgoing_url],
    )


class MappingSchema(Strict):
    identifier = fields.String(load_default="email", validate=validate.OneOf(IDENTIFIERS))
    properties = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=255)),
        values=fields.String(validate=validate.OneOf(FIELDS, error="Must be one of: {choices}.")),
        load_default=dict,
    )


class AudienceSchema(Strict):
    """Input of POST (whole) and PATCH (partial, merged with the audience before this runs)."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    source = fields.Nested(SourceSchema, required=True)
    destination = fields.Nested(DestinationSchema, required=True)
    mapping = fields.Nested(MappingSchema, load_default=lambda: {"identifier": "email"})
    only_update_existing = fields.Boolean(load_default=False)
    schedule = fields.String(load_default="manual", validate=validate.OneOf(SCHEDULES))
    active = fields.Boolean(load_default=True)

    @validates_schema
    def _destination_rules(self, data: dict[str, Any], partial: Any = None, **kwargs: Any) -> None:
        destination = data.get("destination")
        if not destination:
            return
        kind = destination["type"]
        mapping = data.get("mapping") or {"identifier": "email", "properties": {}}
        errors: dict[str, Any] = {}

        def add(path: str, message: str) -> None:
            node = errors
            *parents, leaf = path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node.setdefault(leaf, []).append(message)

        credential = REQUIRED_CREDENTIAL[kind]
        if not (destination.get("credentials") or {}).get(credential):
            add(f"destination.credentials.{credential}", f"{kind.title()} needs an {credential}.")
        if kind == "klaviyo" and not destination.get("list_id"):
            add("destination.list_id", "Klaviyo needs the id of the list to keep in sync.")
        if kind == "meta" and not destination.get("audience_id"):
            add("destination.audience_id", "Meta needs the id of the custom audience.")
        identifier = mapping.get("identifier", "email")
        if kind == "attentive" and identifier != "phone":
            add("mapping.identifier", "Attentive subscribers are identified by phone.")
        if kind == "attentive" and not mapping.get("properties"):
            add("mapping.properties", "Attentive needs at least one property to set.")
        if kind == "meta" and mapping.get("properties"):
            add("mapping.properties", "Meta audiences take the identifier only, no properties.")
        if kind == "meta" and data.get("only_update_existing"):
            add(
                "only_update_existing",
                "Meta audiences hold hashed identifiers; there are no profiles to update.",
            )
        if errors:
            raise ValidationError(errors)


class AudienceOut(Schema):
    id = fields.Integer()
    name = fields.String()
    source = fields.Method(
        "_source",
        metadata={
            "description": "{type, id}: the group or segment sent; id is null once it was "
            "deleted (a foreign key): the audience is then not scheduled and its runs fail "
            "until a PATCH names another source."
        },
    )
    destination = fields.Method("_destination")
    mapping = fields.Method("_mapping")
    only_update_existing = fields.Boolean()
    schedule = fields.String()
    active = fields.Boolean()
    last_run_at = Timestamp()
    created_at = Timestamp()
    updated_at = Timestamp()

    def _source(self, audience: Any) -> dict[str, Any]:
        return {"type": audience.source_type, "id": audience.source_id}

    def _destination(self, audience: Any) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "type": audience.destination_type,
            # Write-only: a masked hint (the last 4 characters at most), never the secret.
            "credentials": masked(audience.sealed_credentials),
            "base_url": audience.base_url,
        }
        if audience.destination_type == "klaviyo":
            shown["list_id"] = audience.list_id
        if audience.destination_type == "meta":
            shown["audience_id"] = audience.vendor_audience_id
        return shown

    def _mapping(self, audience: Any) -> dict[str, Any]:
        mapping = audience.mapping or {}
        return {
            "identifier": mapping.get("identifier", "email"),
            "properties": dict(mapping.get("properties") or {}),
        }


class AudienceRunOut(Schema):
    id = fields.Integer()
    audience_id = fields.Integer()
    status = fields.String()
    synced = fields.Integer()
    skipped = fields.Integer()
    failed = fields.Integer()
    removed = fields.Integer(
        metadata={"description": "Leavers taken out of the destination (contract §5, v2)."}
    )
    # Members when the run started (progress = synced + skipped + failed of total).
    total = fields.Method("_total")
    errors = fields.List(fields.Dict())
    created_at = Timestamp()
    started_at = Timestamp()
    finished_at = Timestamp()

    def _total(self, run: Any) -> int | None:
        return (run.state or {}).get("estimated_total")


AudiencePage = page_of(AudienceOut)
AudienceRunPage = page_of(AudienceRunOut)
