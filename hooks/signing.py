"""Checks every signed request from the host goes through, in the contract's order."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from flask import current_app, request

from plugin import limits
from plugin.auth import host_key, parse_signed_headers, verify_signature
from plugin.config import app_secrets
from plugin.customers.schemas import cleaned_by_customer_schema
from plugin.errors import ApiError, ErrorCode


@dataclass(frozen=True)
class SignedRequest:
    shop_domain: str
    topic: str
    event_id: str
    body: bytes


def read_body(limit: int) -> bytes:
    """Read at most ``limit`` bytes of body, answering 413 past it (before anything else)."""
    too_large = ApiError(
        ErrorCode.PAYLOAD_TOO_LARGE, f"The request body is larger than {limit} bytes.", 413
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise too_large
    return body


def read_signed_request(path: str, topics: Collection[str]) -> SignedRequest:
    """Contract §2, in its order: body size, signature (host key of the current or the
    previous secret, over timestamp, shop, topic, event id, ``path`` and body), timestamp;
    then the topic must be one of ``topics``, the topics of the endpoint that was reached.

    ``path`` is the endpoint as the contract names it, not ``request.path``: a proxy or an
    in-process mount may add a prefix, and the host signs the contract's path."""
    config = current_app.config
    body = read_body(config["CUSTOMER_GROUPS_MAX_BODY_BYTES"])
    secrets = app_secrets(config)
    if not secrets:
        raise ApiError(ErrorCode.INVALID_SIGNATURE, "No app secret is configured.", 401)
    signed = parse_signed_headers(request.headers)
    verify_signature(
        [host_key(secret) for secret in secrets],
        signed,
        path,
        body,
        config["CUSTOMER_GROUPS_SIGNATURE_TOLERANCE"],
    )
    if signed.topic not in topics:
        raise ApiError(
            ErrorCode.INVALID_PAYLOAD,
            f"The topic {signed.topic!r} does not belong to {path}.",
            400,
            {"X-Topic": [f"Must be one of: {', '.join(topics)}."]},
        )
    return SignedRequest(
        shop_domain=signed.shop.lower(),
        topic=signed.topic,
        event_id=signed.event_id,
        body=body,
    )


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object within the input limits, or 400 ``invalid_payload``
    naming each place past them (:func:`plugin.limits.parse_json_object`).

    A customer snapshot's own fields (``customer.*`` but its id) are left to the customer
    schema, which cleans or drops what it cannot keep instead of losing the customer
    (README, "Customer fields")."""
    return limits.parse_json_object(body, tolerate=cleaned_by_customer_schema)
