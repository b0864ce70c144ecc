"""Checks every signed request from the host goes through, in the contract's order."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import current_app, request

from plugin.auth import verify_signature
from plugin.errors import ApiError, ErrorCode


@dataclass(frozen=True)
class SignedRequest:
    shop_domain: str
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


def read_signed_request() -> SignedRequest:
    """Body size, then signature, then timestamp (contract §2)."""
    config = current_app.config
    body = read_body(config["CUSTOMER_GROUPS_MAX_BODY_BYTES"])
    secret = config["CUSTOMER_GROUPS_APP_SECRET"]
    if not secret:
        raise ApiError(ErrorCode.INVALID_SIGNATURE, "No app secret is configured.", 401)
    verify_signature(
        secret,
        request.headers.get("X-Request-Timestamp"),
        request.headers.get("X-Signature"),
        body,
        config["CUSTOMER_GROUPS_SIGNATURE_TOLERANCE"],
    )
    domain = (request.headers.get("X-Shop-Domain") or "").strip().lower()
    if not domain:
        raise ApiError(
            ErrorCode.INVALID_PAYLOAD,
            "The X-Shop-Domain header is missing.",
            400,
            {"X-Shop-Domain": ["Missing header."]},
        )
    return SignedRequest(shop_domain=domain, body=body)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or 400 ``invalid_payload``."""
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            ErrorCode.INVALID_PAYLOAD, "The body is not JSON.", 400, {"_body": ["Not JSON."]}
        ) from None
    if not isinstance(data, dict):
        raise ApiError(
            ErrorCode.INVALID_PAYLOAD,
            "The body must be a JSON object.",
            400,
            {"_body": ["Must be an object."]},
        )
    return data
