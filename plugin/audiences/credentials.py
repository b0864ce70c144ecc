"""Destination credentials, encrypted at rest (contract §5: write-only secrets).

An audience's credentials are stored as one Fernet token (AES-128-CBC with an HMAC-SHA256,
from the ``cryptography`` package) of their JSON. The key is derived from the app secret with
HKDF-SHA256 under a label of its own, so it is never the key that signs requests or tokens.
While ``CUSTOMER_GROUPS_APP_SECRET_PREVIOUS`` is set (a rotation), tokens sealed under the
previous secret still open, and :func:`reseal_all` (the ``audiences.reseal`` task, hourly,
and on every save) re-encrypts them under the current one, so the old secret can be dropped
once a pass has run. Without an app secret nothing can be sealed or opened: saving
credentials is refused by name rather than stored in clear.

Answers and pages show a credential as :func:`mask` does: its last 4 characters at most.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import select, update

from plugin.audiences.models import Audience
from plugin.config import app_secrets
from plugin.db import db

#: The HKDF label: a key of its own, derived from the app secret.
KEY_LABEL = b"customer-groups/audience-credentials/v1"
MASK = "****"


class CredentialsUnavailable(RuntimeError):
    """No app secret to derive the key from, or a token no configured secret opens."""


def derive_key(secret: str) -> bytes:
    """The Fernet key of an app secret (url-safe base64 of 32 bytes of HKDF-SHA256)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_LABEL).derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(raw)


def _keys(config: Mapping[str, Any] | None = None) -> MultiFernet:
    secrets = app_secrets(config if config is not None else current_app.config)
    if not secrets:
        raise CredentialsUnavailable(
            "Destination credentials are stored encrypted with a key derived from "
            "CUSTOMER_GROUPS_APP_SECRET; set it to save or use them."
        )
    return MultiFernet([Fernet(derive_key(secret)) for secret in secrets])


def seal(credentials: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> str:
    """The token stored for these credentials (empty credentials: an empty token)."""
    if not credentials:
        return ""
    data = json.dumps(dict(credentials), sort_keys=True).encode()
    return _keys(config).encrypt(data).decode()


def unseal(token: str | None, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The credentials a token holds; ``CredentialsUnavailable`` when no secret opens it."""
    if not token:
        return {}
    try:
        opened: dict[str, Any] = json.loads(_keys(config).decrypt(token.encode()))
    except InvalidToken:
        raise CredentialsUnavailable(
            "The destination credentials were sealed under an app secret that is no longer "
            "configured; enter them again."
        ) from None
    return opened


def mask(secret: Any) -> str:
    """Show only enough of a secret to recognise it: its last 4 characters, when it is long."""
    text = str(secret or "")
    return MASK + text[-4:] if len(text) >= 12 else MASK


def masked(token: str | None) -> dict[str, str]:
    """The credentials of a token as answers show them (masked hints, never the secret)."""
    try:
        return {key: mask(value) for key, value in unseal(token).items()}
    except CredentialsUnavailable:
        return {}


def reseal_all(config: Mapping[str, Any] | None = None) -> int:
    """Re-encrypt, under the current secret, every token sealed under the previous one; how
    many changed. Does not commit (the task that calls it does)."""
    keys = _keys(config)
    current = Fernet(derive_key(app_secrets(config or current_app.config)[0]))
    changed = 0
    rows = db.session.execute(
        select(Audience.id, Audience.sealed_credentials).where(Audience.sealed_credentials != "")
    ).all()
    for audience_id, token in rows:
        try:
            current.decrypt(token.encode())
            continue  # already under the current secret
        except InvalidToken:
            pass
        try:
            fresh = keys.rotate(token.encode()).decode()
        except InvalidToken:
            continue  # under no configured secret: left for the merchant to enter again
        db.session.execute(
            update(Audience)
            .where(Audience.id == audience_id, Audience.sealed_credentials == token)
            .values(sealed_credentials=fresh)
        )
        changed += 1
    return changed
