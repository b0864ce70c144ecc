"""Configuration: defaults and the ``CUSTOMER_GROUPS_`` prefix (contract §1)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

PREFIX = "CUSTOMER_GROUPS_"

DEFAULTS: dict[str, Any] = {
    "CUSTOMER_GROUPS_APP_ID": "customer-groups",
    "CUSTOMER_GROUPS_APP_SECRET": None,
    # During a rotation of the secret: the old one, still accepted on requests from the
    # host and on session tokens, never used to sign (contract §1, §2).
    "CUSTOMER_GROUPS_APP_SECRET_PREVIOUS": None,
    "CUSTOMER_GROUPS_DATABASE_URL": None,  # None: a SQLite file in the instance folder
    "CUSTOMER_GROUPS_ADMIN_ORIGINS": "",
    "CUSTOMER_GROUPS_REDEMPTION_HOLD_DAYS": 7,
    # Signed requests: how far the timestamp may drift, and the largest body accepted.
    "CUSTOMER_GROUPS_SIGNATURE_TOLERANCE": 300,
    "CUSTOMER_GROUPS_MAX_BODY_BYTES": 1024 * 1024,
    # Session tokens: allowed clock skew and the longest lifetime accepted.
    "CUSTOMER_GROUPS_TOKEN_LEEWAY": 10,
    "CUSTOMER_GROUPS_TOKEN_MAX_AGE": 60,
    # The standalone app refuses to start without a secret unless this is set (demo, tests).
    "CUSTOMER_GROUPS_ALLOW_MISSING_SECRET": False,
    # Background jobs (plugin/jobs): where they run and how runners hold them.
    "CUSTOMER_GROUPS_RUN_JOBS": None,  # None: `serve` runs them, except under TESTING
    "CUSTOMER_GROUPS_JOB_QUEUE": "embedded",  # or "rq" (needs CUSTOMER_GROUPS_REDIS_URL)
    "CUSTOMER_GROUPS_REDIS_URL": None,
    "CUSTOMER_GROUPS_JOB_THREADS": 2,
    "CUSTOMER_GROUPS_JOB_POLL_SECONDS": 1.0,
    "CUSTOMER_GROUPS_JOB_LEASE_SECONDS": 60,
    "CUSTOMER_GROUPS_JOB_MAX_ATTEMPTS": 5,
    # Shops with more customers than this recompute a new or changed segment in a
    # background job (segments.recompute): the request answers at once, "recomputing".
    "CUSTOMER_GROUPS_SEGMENT_SYNC_LIMIT": 50_000,
    # Finished jobs are kept this long for GET /api/jobs, then pruned (jobs.prune).
    "CUSTOMER_GROUPS_JOB_RETENTION_DAYS": 30,
    # Audience destinations may use a base_url on a private or plain-http host (tests, a
    # proxy inside the operator's network); off: https on public hosts only.
    "CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS": False,
    # The embedded admin page's own session, renewed on every page (admin_ui/session.py).
    "CUSTOMER_GROUPS_ADMIN_SESSION_MAX_AGE": 3600,
}

#: Settings whose default is None but whose value is a switch.
_BOOL_KEYS = {"CUSTOMER_GROUPS_RUN_JOBS"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _convert(key: str, value: str) -> Any:
    """An environment string as the type of the setting's default (a bad one is refused)."""
    default = DEFAULTS.get(key)
    try:
        if isinstance(default, bool) or key in _BOOL_KEYS:
            word = value.strip().lower()
            if word not in _TRUE | _FALSE:
                raise ValueError
            return word in _TRUE
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        kind = "true or false" if isinstance(default, bool) or key in _BOOL_KEYS else "a number"
        raise ValueError(f"{key} must be {kind}, not {value!r}.") from None
    return value


def from_environ(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read every ``CUSTOMER_GROUPS_*`` variable as the type of its default."""
    environ = os.environ if environ is None else environ
    return {
        key: _convert(key, value)
        for key, value in environ.items()
        if key.startswith(PREFIX) and not key.startswith(PREFIX + "TEST_")
    }


def app_secrets(config: Mapping[str, Any]) -> list[str]:
    """The secrets whose keys are accepted: the current one, then the previous one (during a
    rotation). Only the first ever signs."""
    found = [
        config.get("CUSTOMER_GROUPS_APP_SECRET"),
        config.get("CUSTOMER_GROUPS_APP_SECRET_PREVIOUS"),
    ]
    return [s for s in found if s]


def admin_origins(value: str | list[str] | None) -> list[str]:
    """Split the allowed framing origins (comma or space separated)."""
    if not value:
        return []
    if isinstance(value, list):
        return value
    return [part for part in value.replace(",", " ").split() if part]
