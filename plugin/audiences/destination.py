"""What an audience destination (Klaviyo, Meta, Attentive) is given and gives back.

The run (:mod:`plugin.audiences.sync`) reads members and hands them to a destination in
batches; the destinations import these types from here, and the run imports the
destinations, so the imports point one way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import current_app

from plugin.audiences.models import Audience
from plugin.outgoing import private_destinations_allowed

#: Errors a run (and one batch's outcome) keeps at most.
MAX_ERRORS = 100


@dataclass(frozen=True)
class AudienceConfig:
    """What a destination needs, detached from the session (runs commit between batches)."""

    destination_type: str
    credentials: dict[str, Any]
    list_id: str | None
    vendor_audience_id: str | None
    base_url: str | None
    identifier: str
    properties: dict[str, str]
    only_update_existing: bool
    # CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS: plain http and private hosts allowed.
    allow_private: bool = False

    @classmethod
    def of(cls, audience: Audience) -> AudienceConfig:
        mapping = audience.mapping or {}
        return cls(
            destination_type=audience.destination_type,
            credentials=dict(audience.credentials or {}),
            list_id=audience.list_id,
            vendor_audience_id=audience.vendor_audience_id,
            base_url=audience.base_url,
            identifier=mapping.get("identifier", "email"),
            properties=dict(mapping.get("properties") or {}),
            only_update_existing=audience.only_update_existing,
            allow_private=private_destinations_allowed(current_app.config),
        )


@dataclass(frozen=True)
class Member:
    """One customer to send: the identifier's value and the mapped vendor properties."""

    customer_id: int
    external_id: str
    identifier: str
    properties: dict[str, Any]


@dataclass
class BatchOutcome:
    synced: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, member: Member, message: str, status: int | None = None) -> None:
        self.failed += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(
                {"customer_id": member.external_id, "message": message[:500], "status": status}
            )


class Destination(Protocol):
    batch_size: int

    def sync(self, members: list[Member], *, is_last: bool, state: dict[str, Any]) -> BatchOutcome:
        """Send one batch; ``state`` persists across batches and restarts of the run."""

    def close(self) -> None: ...
