"""Meta (Graph API): add joiners to a custom audience and delete leavers, 10,000 per call.

``POST /{version}/{audience_id}/users`` adds and ``DELETE /{version}/{audience_id}/users``
deletes, both with the form field ``payload`` ``{"schema": ["EMAIL"], "is_raw": true,
"data": [[sha256], ...]}``: what facebook-business's ``CustomAudience.add_users`` and
``remove_users`` send for a single-key schema (``format_params``), hashed with the SDK's own
normalisation (:func:`plugin.audiences.destination.normalise`). ``{version}`` is
``CUSTOMER_GROUPS_META_API_VERSION`` (default: the SDK's ``API_VERSION``). The access token
travels in the form body, not the URL, so that it stays out of access logs.

Only joiners are sent: a member the audience already holds (the same hash) is counted as
synced without a call. No upload ``session`` is opened: each call stands alone, so a run
killed between two calls resumes with the next one and nothing waits for a last batch.

Retries: throttling replies (error codes 4, 17, 32, 613, 80003) and 429 are refusals and are
retried with backoff. A 5xx on an add is not: the upload is a POST that may have been
recorded before the error, so the batch is counted as failed and the next run sends it
again (adding a hash twice leaves one entry). A delete is replayable.

Only the identifier is sent: a customer file audience has no custom properties, and
``only_update_existing`` has no meaning for an audience (both are refused when saving).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import requests

from plugin.audiences.destination import AudienceConfig, BatchOutcome, Leaver, Member, digest
from plugin.audiences.http import (
    CredentialsRefused,
    FatalVendorError,
    RetryingSession,
    VendorError,
    error_message,
)

log = logging.getLogger(__name__)

META_BASE_URL = "https://graph.facebook.com"
#: facebook-business 26's ``API_VERSION`` (the current SDK); the setting's default.
META_API_VERSION = "v26.0"
META_BATCH_SIZE = 10_000  # most entries one users call takes (Meta's documented maximum)
THROTTLE_CODES = frozenset({4, 17, 32, 613, 80003})
# Invalid or expired token, missing permission: no batch can succeed with these credentials.
CREDENTIAL_CODES = frozenset({10, 102, 190, 200})
SCHEMA = {"email": "EMAIL", "phone": "PHONE"}


def hashed(value: str, identifier: str) -> str | None:
    """The entry Meta is sent for an identifier (see the module docstring)."""
    return digest(value, identifier)


def graph_error(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def is_throttled(response: requests.Response) -> bool:
    if response.status_code < 400:
        return False
    return graph_error(response).get("code") in THROTTLE_CODES


class MetaDestination:
    batch_size = META_BATCH_SIZE
    removal_batch_size = META_BATCH_SIZE

    def __init__(self, config: AudienceConfig) -> None:
        self.config = config
        self.base_url = (config.base_url or META_BASE_URL).rstrip("/")
        self.http = RetryingSession(
            {"Accept": "application/json"},
            is_throttled=is_throttled,
            backoff_base=2.0,
            backoff_cap=60.0,
            allow_private=config.allow_private,
        )
        version = config.api_version or META_API_VERSION
        self.users_url = f"{self.base_url}/{version}/{config.vendor_audience_id}/users"

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, digests: list[str]) -> requests.Response:
        form = {
            "payload": json.dumps(
                {
                    "schema": [SCHEMA[self.config.identifier]],
                    "is_raw": True,
                    "data": [[entry] for entry in digests],
                }
            ),
            "access_token": self.config.credentials["access_token"],
        }
        response = self.http.request(
            method, self.users_url, data=form, idempotent=method == "DELETE"
        )
        error = graph_error(response)
        if response.status_code in (401, 403) or error.get("code") in CREDENTIAL_CODES:
            raise CredentialsRefused(error_message(response), response.status_code)
        return response

    def sync(self, members: list[Member]) -> BatchOutcome:
        outcome = BatchOutcome()
        by_hash: dict[str, list[Member]] = {}
        for member in members:
            if not member.digest:
                outcome.skipped += 1
            elif member.held:
                outcome.synced_member(member)
            else:
                by_hash.setdefault(member.digest, []).append(member)
        if not by_hash:
            return outcome
        try:
            response = self._call("POST", list(by_hash))
        except FatalVendorError:
            raise
        except VendorError as exc:
            for group in by_hash.values():
                for member in group:
                    outcome.fail(member, exc.message, exc.status)
            return outcome
        if response.status_code >= 400:
            message = error_message(response)
            for group in by_hash.values():
                for member in group:
                    outcome.fail(member, message, response.status_code)
            return outcome
        body = response.json()
        samples = body.get("invalid_entry_samples") or {}
        refused = set(samples) & set(by_hash) if isinstance(samples, dict) else set()
        for entry in refused:
            # Meta's reason is its reply's text: for operators, not for the merchant.
            log.warning(
                "Meta refused an entry of audience %s: %.300s", self.users_url, samples[entry]
            )
            for member in by_hash[entry]:
                outcome.fail(member, "Meta refused the entry.", response.status_code)
        # Refused entries Meta did not sample cannot be told apart: the counts stay Meta's.
        unsampled = max(int(body.get("num_invalid_entries") or 0) - len(refused), 0)
        for entry, group in by_hash.items():
            if entry in refused:
                continue
            for member in group:
                if unsampled:
                    unsampled -= 1
                    outcome.failed += 1
                else:
                    outcome.synced_member(member)
        return outcome

    def remove(self, leavers: list[Leaver]) -> BatchOutcome:
        outcome = BatchOutcome()
        if not leavers:
            return outcome
        try:
            response = self._call("DELETE", sorted({leaver.digest for leaver in leavers}))
        except FatalVendorError:
            raise
        except VendorError as exc:
            for leaver in leavers:
                outcome.fail(leaver, exc.message, exc.status)
            return outcome
        if response.status_code >= 400:
            message = error_message(response)
            for leaver in leavers:
                outcome.fail(leaver, message, response.status_code)
            return outcome
        for leaver in leavers:
            outcome.removed_leaver(leaver)
        return outcome
