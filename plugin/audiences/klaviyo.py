"""Klaviyo: upsert each profile, add joiners to the list, take leavers out of it (JSON:API).

Every call carries ``revision: CUSTOMER_GROUPS_KLAVIYO_REVISION`` (default: the revision the
current ``klaviyo-api`` SDK sends) and the SDK's paths (no trailing slash). Calls, and why
each may be retried after a 5xx:
- ``POST /api/profile-import`` (create or update a profile): an upsert keyed by the
  identifier, so a replay lands on the same profile with the same values; every member of
  the source is upserted on every run, so their mapped properties follow the source;
- ``POST /api/lists/{id}/relationships/profiles`` (joiners only): adding a profile that is
  already a member changes nothing;
- ``DELETE /api/lists/{id}/relationships/profiles`` (leavers, by the profile id kept when
  they were added): removing a profile that is not a member changes nothing;
- ``GET /api/profiles?filter=...`` (``only_update_existing``, joiners only): a read.
List relationship calls take at most 1,000 profiles each (Klaviyo's documented maximum).
The synchronous profile endpoint is used rather than a bulk import job so that every customer
gets their own outcome in the run (a job reports errors later, out of band).

Mapping: vendor property names that are Klaviyo profile attributes (``first_name``,
``last_name``, ``phone_number``, ``email``, ``external_id``, ``organization``, ``title``,
``locale``) are sent as attributes, ``location.<key>`` (``location.city``,
``location.country``, ...) inside ``location``, and any other name as a custom property.
"""

from __future__ import annotations

from typing import Any

import requests

from plugin.audiences.destination import AudienceConfig, BatchOutcome, Leaver, Member
from plugin.audiences.http import (
    CredentialsRefused,
    FatalVendorError,
    RetryingSession,
    VendorError,
    error_message,
)

KLAVIYO_BASE_URL = "https://a.klaviyo.com"
#: The revision klaviyo-api 25 (the current SDK) sends; the setting's default.
KLAVIYO_REVISION = "2026-10-15"
JSON_API = "application/vnd.api+json"
PROFILE_ATTRIBUTES = frozenset(
    {
        "email",
        "phone_number",
        "external_id",
        "first_name",
        "last_name",
        "organization",
        "title",
        "locale",
    }
)
LIST_CHUNK = 1000  # most profiles one list relationship call takes (Klaviyo's documented max)
IDENTIFIER_ATTRIBUTE = {"email": "email", "phone": "phone_number"}


def profile_attributes(member: Member, identifier: str) -> dict[str, Any]:
    """The ``attributes`` of a profile for this member, as the mapping says."""
    attributes: dict[str, Any] = {IDENTIFIER_ATTRIBUTE[identifier]: member.identifier}
    location: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for name, value in member.properties.items():
        if name in PROFILE_ATTRIBUTES:
            attributes[name] = value
        elif name.startswith("location."):
            location[name.removeprefix("location.")] = value
        else:
            custom[name] = value
    if location:
        attributes["location"] = location
    if custom:
        attributes["properties"] = custom
    return attributes


def check(response: requests.Response) -> requests.Response:
    if response.status_code in (401, 403):
        raise CredentialsRefused(error_message(response), response.status_code)
    if response.status_code >= 400:
        raise VendorError(error_message(response), response.status_code)
    return response


class KlaviyoDestination:
    batch_size = LIST_CHUNK
    removal_batch_size = LIST_CHUNK

    def __init__(self, config: AudienceConfig) -> None:
        self.config = config
        self.base_url = (config.base_url or KLAVIYO_BASE_URL).rstrip("/")
        self.list_url = f"{self.base_url}/api/lists/{config.list_id}/relationships/profiles"
        self.http = RetryingSession(
            {
                "Authorization": f"Klaviyo-API-Key {config.credentials['api_key']}",
                "revision": config.api_version or KLAVIYO_REVISION,
                "Accept": JSON_API,
                "Content-Type": JSON_API,
            },
            allow_private=config.allow_private,
        )

    def close(self) -> None:
        self.http.close()

    def profile_exists(self, member: Member) -> bool:
        attribute = IDENTIFIER_ATTRIBUTE[self.config.identifier]
        value = member.identifier.replace("\\", "\\\\").replace('"', '\\"')
        response = check(
            self.http.request(
                "GET",
                f"{self.base_url}/api/profiles",
                params={"filter": f'equals({attribute},"{value}")', "fields[profile]": attribute},
            )
        )
        return bool(response.json().get("data"))

    def upsert_profile(self, member: Member) -> str:
        body = {
            "data": {
                "type": "profile",
                "attributes": profile_attributes(member, self.config.identifier),
            }
        }
        response = check(
            self.http.request(
                "POST", f"{self.base_url}/api/profile-import", json=body, idempotent=True
            )
        )
        profile_id: str = response.json()["data"]["id"]
        return profile_id

    def list_relationship(self, method: str, profile_ids: list[str]) -> None:
        """Add (POST) or remove (DELETE) up to 1,000 profiles of the list."""
        body = {"data": [{"type": "profile", "id": profile_id} for profile_id in profile_ids]}
        check(self.http.request(method, self.list_url, json=body, idempotent=True))

    def add_to_list(self, profile_ids: list[str]) -> None:
        self.list_relationship("POST", profile_ids)

    def sync(self, members: list[Member]) -> BatchOutcome:
        outcome = BatchOutcome()
        upserted: list[tuple[Member, str]] = []
        for member in members:
            try:
                if (
                    self.config.only_update_existing
                    and not member.held
                    and not self.profile_exists(member)
                ):
                    outcome.skipped += 1
                    continue
                upserted.append((member, self.upsert_profile(member)))
            except FatalVendorError:
                raise
            except (VendorError, ValueError, KeyError) as exc:
                outcome.fail(member, _describe(exc), getattr(exc, "status", None))
        for member, profile_id in upserted:
            if member.held:
                outcome.synced_member(member, profile_id)
        joiners = [(member, profile_id) for member, profile_id in upserted if not member.held]
        for start in range(0, len(joiners), LIST_CHUNK):
            chunk = joiners[start : start + LIST_CHUNK]
            try:
                self.add_to_list([profile_id for _, profile_id in chunk])
            except FatalVendorError:
                raise
            except VendorError as exc:
                for member, _ in chunk:
                    outcome.fail(member, f"Adding to the list failed: {exc.message}", exc.status)
                continue
            for member, profile_id in chunk:
                outcome.synced_member(member, profile_id)
        return outcome

    def remove(self, leavers: list[Leaver]) -> BatchOutcome:
        outcome = BatchOutcome()
        known = [leaver for leaver in leavers if leaver.vendor_ref]
        for leaver in leavers:
            if not leaver.vendor_ref:
                outcome.removed_leaver(leaver)  # never added to the list: nothing to take out
        for start in range(0, len(known), LIST_CHUNK):
            chunk = known[start : start + LIST_CHUNK]
            try:
                self.list_relationship("DELETE", [str(leaver.vendor_ref) for leaver in chunk])
            except FatalVendorError:
                raise
            except VendorError as exc:
                for leaver in chunk:
                    outcome.fail(
                        leaver, f"Removing from the list failed: {exc.message}", exc.status
                    )
                continue
            for leaver in chunk:
                outcome.removed_leaver(leaver)
        return outcome


def _describe(exc: Exception) -> str:
    if isinstance(exc, VendorError):
        return exc.message
    return f"Unexpected reply from Klaviyo ({type(exc).__name__})."
