"""Attentive: set custom attributes on each subscriber, and say so when they leave (bearer key).

``POST /{version}/attributes/custom`` (``CUSTOMER_GROUPS_ATTENTIVE_API_VERSION``, ``v1``)
with ``{"properties": {...}, "user": {"phone"}}`` sets values,
so a replay after a 5xx writes the same values again: it is retried. Custom attributes only
update subscribers Attentive already knows; its 404 for an unknown subscriber counts as
skipped, which is also what ``only_update_existing`` asks for, so that option changes nothing
here. Attentive takes property values as strings: numbers are written out, booleans as
``true``/``false``, tags joined with commas, and empty values are left out.

A leaver (contract §5) gets the same call with every mapped property set to the empty
string: the attributes that said they belong to the source are cleared, which is what says
they left (Attentive has no list to take them out of). Their phone, needed for that call, is
kept sealed (:mod:`plugin.audiences.credentials`) in their audience member row, never in clear.
"""

from __future__ import annotations

from typing import Any

import requests

from plugin.audiences.credentials import seal, unseal
from plugin.audiences.destination import AudienceConfig, BatchOutcome, Leaver, Member
from plugin.audiences.http import (
    CredentialsRefused,
    FatalVendorError,
    RetryingSession,
    VendorError,
    error_message,
)

ATTENTIVE_BASE_URL = "https://api.attentivemobile.com"
ATTENTIVE_API_VERSION = "v1"


def attribute_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or None
    return str(value)


class AttentiveDestination:
    # One subscriber per call: a step records this many calls' outcomes at once.
    batch_size = 1000
    removal_batch_size = 1000

    def __init__(self, config: AudienceConfig) -> None:
        self.config = config
        base_url = (config.base_url or ATTENTIVE_BASE_URL).rstrip("/")
        version = config.api_version or ATTENTIVE_API_VERSION
        self.url = f"{base_url}/{version}/attributes/custom"
        self.http = RetryingSession(
            {
                "Authorization": f"Bearer {config.credentials['api_key']}",
                "Accept": "application/json",
            },
            allow_private=config.allow_private,
        )

    def close(self) -> None:
        self.http.close()

    def body(self, member: Member) -> dict[str, Any]:
        properties = {}
        for name, value in member.properties.items():
            text = attribute_value(value)
            if text is not None:
                properties[name] = text
        return {"properties": properties, "user": {self.config.identifier: member.identifier}}

    def _send(self, body: dict[str, Any]) -> requests.Response:
        response = self.http.request("POST", self.url, json=body, idempotent=True)
        if response.status_code in (401, 403):
            raise CredentialsRefused(error_message(response), response.status_code)
        return response

    def sync(self, members: list[Member]) -> BatchOutcome:
        outcome = BatchOutcome()
        for member in members:
            try:
                response = self._send(self.body(member))
            except FatalVendorError:
                raise
            except VendorError as exc:
                outcome.fail(member, exc.message, exc.status)
                continue
            if response.status_code == 404:
                outcome.skipped += 1  # not a subscriber: Attentive only updates existing ones
            elif response.status_code >= 400:
                outcome.fail(member, error_message(response), response.status_code)
            else:
                ref = member.vendor_ref if member.held else seal({"user": member.identifier})
                outcome.synced_member(member, ref)
        return outcome

    def remove(self, leavers: list[Leaver]) -> BatchOutcome:
        outcome = BatchOutcome()
        cleared = {name: "" for name in self.config.properties}
        for leaver in leavers:
            user = unseal(leaver.vendor_ref).get("user")
            if not user:
                outcome.removed_leaver(leaver)  # nothing was ever set for them
                continue
            try:
                response = self._send(
                    {"properties": cleared, "user": {self.config.identifier: user}}
                )
            except FatalVendorError:
                raise
            except VendorError as exc:
                outcome.fail(leaver, exc.message, exc.status)
                continue
            if response.status_code >= 400 and response.status_code != 404:
                outcome.fail(leaver, error_message(response), response.status_code)
            else:
                outcome.removed_leaver(leaver)  # 404: no longer a subscriber, nothing left
        return outcome
