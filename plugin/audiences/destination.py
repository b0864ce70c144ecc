"""What an audience destination (Klaviyo, Meta, Attentive) is given and gives back.

The run (:mod:`plugin.audiences.sync`) reads members and hands them to a destination in
batches; the destinations import these types from here, and the run imports the
destinations, so the imports point one way.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import current_app

from plugin.audiences.credentials import unseal
from plugin.audiences.models import Audience
from plugin.outgoing import private_destinations_allowed

#: Errors a run (and one batch's outcome) keeps at most.
MAX_ERRORS = 100

#: The setting that names each vendor's API version (contract §5: one per vendor).
VERSION_SETTINGS = {
    "klaviyo": "CUSTOMER_GROUPS_KLAVIYO_REVISION",
    "meta": "CUSTOMER_GROUPS_META_API_VERSION",
    "attentive": "CUSTOMER_GROUPS_ATTENTIVE_API_VERSION",
}

# What facebook-business strips from both ends of a value before hashing it.
_META_STRIP = " \t\r\n\0\x0b."


def normalise(value: str, identifier: str) -> str:
    """Meta's normalisation, as its SDK does it (``CustomAudienceMixin.format_params``):
    trimmed of whitespace and dots, lower-cased; a phone then reduced to its digits (E.164
    already carries the country code)."""
    value = value.strip(_META_STRIP).lower()
    if identifier == "phone":
        return re.sub(r"[^0-9]", "", value)
    return value


def digest(value: str, identifier: str) -> str | None:
    """SHA-256 (hex) of the normalised identifier: Meta's entry, and what a run compares to
    tell a changed identifier; None when nothing is left of it."""
    normal = normalise(value, identifier)
    if not normal:
        return None
    return hashlib.sha256(normal.encode()).hexdigest()


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
    # The vendor's API version (Klaviyo's revision, Meta's Graph version, Attentive's path).
    api_version: str = ""

    @classmethod
    def of(cls, audience: Audience) -> AudienceConfig:
        mapping = audience.mapping or {}
        return cls(
            destination_type=audience.destination_type,
            credentials=unseal(audience.sealed_credentials),
            list_id=audience.list_id,
            vendor_audience_id=audience.vendor_audience_id,
            base_url=audience.base_url,
            identifier=mapping.get("identifier", "email"),
            properties=dict(mapping.get("properties") or {}),
            only_update_existing=audience.only_update_existing,
            allow_private=private_destinations_allowed(current_app.config),
            api_version=current_app.config[VERSION_SETTINGS[audience.destination_type]],
        )


@dataclass(frozen=True)
class Member:
    """One customer to send: the identifier's value and the mapped vendor properties.

    ``held`` says whether the vendor holds them already (an audience member row with the same
    digest), and ``vendor_ref`` what that row keeps (Klaviyo's profile id)."""

    customer_id: int
    external_id: str
    identifier: str
    properties: dict[str, Any]
    digest: str = ""
    held: bool = False
    vendor_ref: str | None = None


@dataclass(frozen=True)
class Leaver:
    """One entry to take out of the vendor: an audience member row whose customer left the
    source, changed identifier, or was deleted (``external_id`` None: nothing of them is
    kept but what the vendor needs)."""

    row_id: int
    external_id: str | None
    digest: str
    vendor_ref: str | None


@dataclass
class BatchOutcome:
    synced: int = 0
    skipped: int = 0
    failed: int = 0
    removed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: Members the vendor now holds that it did not: customer id → vendor_ref.
    joined: dict[int, str | None] = field(default_factory=dict)
    #: Audience member rows the vendor no longer holds.
    gone: list[int] = field(default_factory=list)

    def fail(self, member: Member | Leaver, message: str, status: int | None = None) -> None:
        self.failed += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(
                {"customer_id": member.external_id, "message": message[:500], "status": status}
            )

    def synced_member(self, member: Member, vendor_ref: str | None = None) -> None:
        self.synced += 1
        if not member.held:
            self.joined[member.customer_id] = vendor_ref

    def removed_leaver(self, leaver: Leaver) -> None:
        self.removed += 1
        self.gone.append(leaver.row_id)


class Destination(Protocol):
    #: Members per step of the adding phase, and leavers per step of the removing phase:
    #: each vendor's documented maximum per request.
    batch_size: int
    removal_batch_size: int

    def sync(self, members: list[Member]) -> BatchOutcome:
        """Send one batch of the source's members (joiners added, properties updated)."""

    def remove(self, leavers: list[Leaver]) -> BatchOutcome:
        """Take one batch of leavers out of the vendor."""

    def close(self) -> None: ...
