"""Meta (Graph API): add hashed customers to a custom audience, in batches of 10,000.

``POST /{version}/{audience_id}/users`` with ``payload`` ``{"schema": ["EMAIL"], "data":
[[sha256], ...]}`` and ``session`` ``{"session_id", "batch_seq", "last_batch_flag",
"estimated_num_total"}``; one session per run (kept in the run's state, so a resumed run goes
on with the same session and the next batch number), ``last_batch_flag`` on the last batch only.
Emails are trimmed and lower-cased, phones reduced to their digits (E.164 already carries the
country code), then hashed with SHA-256 (hex).

Retries: throttling replies (error codes 4, 17, 32, 613, 80003) and 429 are refusals and are
retried with backoff. A 5xx is not: the upload is a POST that may have been recorded in the
session before the error, so the batch is counted as failed and the next run sends it again.

Only the identifier is sent: a customer file audience has no custom properties, and
``only_update_existing`` has no meaning for an audience (both are refused when saving).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from typing import Any

import requests

from plugin.audiences.destination import AudienceConfig, BatchOutcome, Member
from plugin.audiences.http import (
    CredentialsRefused,
    FatalVendorError,
    RetryingSession,
    VendorError,
    error_message,
)

log = logging.getLogger(__name__)

META_BASE_URL = "https://graph.facebook.com"
META_API_VERSION = "v21.0"
META_BATCH_SIZE = 10_000
THROTTLE_CODES = frozenset({4, 17, 32, 613, 80003})
# Invalid or expired token, missing permission: no batch can succeed with these credentials.
CREDENTIAL_CODES = frozenset({10, 102, 190, 200})
SCHEMA = {"email": "EMAIL", "phone": "PHONE"}


def normalise(value: str, identifier: str) -> str:
    """Meta's normalisation: emails trimmed and lower-cased, phones digits only."""
    if identifier == "email":
        return value.strip().lower()
    return re.sub(r"\D", "", value)


def hashed(value: str, identifier: str) -> str | None:
    normal = normalise(value, identifier)
    if not normal:
        return None
    return hashlib.sha256(normal.encode()).hexdigest()


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

    def close(self) -> None:
        self.http.close()

    def sync(self, members: list[Member], *, is_last: bool, state: dict[str, Any]) -> BatchOutcome:
        outcome = BatchOutcome()
        by_hash: dict[str, Member] = {}
        for member in members:
            digest = hashed(member.identifier, self.config.identifier)
            if digest is None:
                outcome.skipped += 1
            else:
                by_hash.setdefault(digest, member)
        if not by_hash:
            return outcome
        # A random 63-bit session id, kept in the run's state across restarts.
        session_id = state.setdefault("meta_session_id", secrets.randbits(63))
        batch_seq = int(state.get("meta_batch_seq", 0)) + 1
        state["meta_batch_seq"] = batch_seq
        form = {
            "payload": json.dumps(
                {"schema": [SCHEMA[self.config.identifier]], "data": [[h] for h in by_hash]}
            ),
            "session": json.dumps(
                {
                    "session_id": session_id,
                    "batch_seq": batch_seq,
                    "last_batch_flag": is_last,
                    "estimated_num_total": int(state.get("estimated_total") or len(by_hash)),
                }
            ),
            # In the body, not the URL, so that it stays out of access logs.
            "access_token": self.config.credentials["access_token"],
        }
        url = f"{self.base_url}/{META_API_VERSION}/{self.config.vendor_audience_id}/users"
        try:
            response = self.http.request("POST", url, data=form)
        except FatalVendorError:
            raise
        except VendorError as exc:
            for member in by_hash.values():
                outcome.fail(member, exc.message, exc.status)
            return outcome
        error = graph_error(response)
        if response.status_code in (401, 403) or error.get("code") in CREDENTIAL_CODES:
            raise CredentialsRefused(error_message(response), response.status_code)
        if response.status_code >= 400:
            for member in by_hash.values():
                outcome.fail(member, error_message(response), response.status_code)
            return outcome
        body = response.json()
        samples = body.get("invalid_entry_samples") or {}
        invalid = min(int(body.get("num_invalid_entries") or 0), len(by_hash))
        for digest, reason in samples.items() if isinstance(samples, dict) else ():
            if digest in by_hash:
                # Meta's reason is its reply's text: for operators, not for the merchant.
                log.warning("Meta refused an entry of audience %s: %.300s", url, reason)
                outcome.errors.append(
                    {
                        "customer_id": by_hash[digest].external_id,
                        "message": "Meta refused the entry.",
                        "status": response.status_code,
                    }
                )
        outcome.failed += invalid
        outcome.synced += len(by_hash) - invalid
        # Customers sharing one hashed identifier are one entry for Meta: count each customer.
        outcome.synced += len(members) - outcome.skipped - len(by_hash)
        return outcome
