"""Attentive: set custom attributes on each subscriber (bearer key).

``POST /v1/attributes/custom`` with ``{"properties": {...}, "user": {"phone"}}`` sets values,
so a replay after a 5xx writes the same values again: it is retried. Custom attributes only
update subscribers Attentive already knows; its 404 for an unknown subscriber counts as
skipped, which is also what ``only_update_existing`` asks for, so that option changes nothing
here. Attentive takes property values as strings: numbers are written out, booleans as
``true``/``false``, tags joined with commas, and empty values are left out.
"""

from __future__ import annotations

from typing import Any

from plugin.audiences.destination import AudienceConfig, BatchOutcome, Member
from plugin.audiences.http import (
    CredentialsRefused,
    FatalVendorError,
    RetryingSession,
    VendorError,
    error_message,
)

ATTENTIVE_BASE_URL = "https://api.attentivemobile.com"


def attribute_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or None
    return str(value)


class AttentiveDestination:
    batch_size = 1000

    def __init__(self, config: AudienceConfig) -> None:
        self.config = config
        self.base_url = (config.base_url or ATTENTIVE_BASE_URL).rstrip("/")
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

    def sync(self, members: list[Member], *, is_last: bool, state: dict[str, Any]) -> BatchOutcome:
        outcome = BatchOutcome()
        for member in members:
            try:
                response = self.http.request(
                    "POST",
                    f"{self.base_url}/v1/attributes/custom",
                    json=self.body(member),
                    idempotent=True,
                )
            except FatalVendorError:
                raise
            except VendorError as exc:
                outcome.fail(member, exc.message, exc.status)
                continue
            if response.status_code in (401, 403):
                raise CredentialsRefused(error_message(response), response.status_code)
            if response.status_code == 404:
                outcome.skipped += 1  # not a subscriber: Attentive only updates existing ones
            elif response.status_code >= 400:
                outcome.fail(member, error_message(response), response.status_code)
            else:
                outcome.synced += 1
        return outcome
