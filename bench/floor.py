"""The pricing hook's floor: the thinnest endpoint that does the unavoidable work, with
none of our code (issue #13).

A plain Flask app whose ``POST /hooks/cart/price`` reads the body, verifies the contract's
version-2 signature with ``hmac`` and ``hashlib`` directly (the host key derived from the
secret, the five signed fields and the body, the timestamp within its tolerance),
``json.loads`` the cart and answers a body of the same size and shape as the hook's: one
priced line per cart line, totals, the customer's group. No database, no validation, no
pricing. ``bench/pricing.py`` calls it through the WSGI test client; ``bench/serve.py``
serves it with gunicorn (``gunicorn --pythonpath bench floor:app``).

The secret comes from ``CUSTOMER_GROUPS_APP_SECRET`` (the bench's, by default).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from typing import Any

from flask import Flask, Response, request

PATH = "/hooks/cart/price"
TOPIC = "hooks/cart/price"
MAX_BODY = 1024 * 1024
TOLERANCE = 300
BENCH_SECRET = "bench-secret-0123456789-abcdefghijklmnop"


def _refuse(status: int, message: str) -> Response:
    body = json.dumps({"error": {"code": "refused", "message": message}})
    return Response(body, status=status, mimetype="application/json")


def answer_for(cart: dict[str, Any]) -> dict[str, Any]:
    """An answer of the hook's size and shape for ``cart`` (nothing computed)."""
    lines = [
        {
            "id": line["id"],
            "quantity": line["quantity"],
            "unit_price": line["unit_price"],
            "rule_unit_price": line["unit_price"],
            "subtotal": line["unit_price"] * line["quantity"],
            "discount": 0,
            "total": line["unit_price"] * line["quantity"],
            "adjustments": [{"source": "price_rule", "rule_id": 1, "label": "Rule 1", "amount": 0}],
        }
        for line in cart["lines"]
    ]
    subtotal = sum(line["subtotal"] for line in lines)
    return {
        "currency": cart["currency"],
        "customer": {
            "group": {"id": 1, "name": "Standard", "colour": "#9e9e9e"},
            "segments": [],
        },
        "lines": lines,
        "gifts": [],
        "shipping": {"price": 500, "discount": 0, "total": 500, "adjustments": []},
        "codes": [],
        "earns_loyalty_points": True,
        "subtotal": subtotal,
        "discount_total": 0,
        "shipping_total": 500,
        "total": subtotal + 500,
        "programme": None,
    }


def make_floor_app(secret: str | None = None) -> Flask:
    secret = secret or os.environ.get("CUSTOMER_GROUPS_APP_SECRET") or BENCH_SECRET
    key = hmac.new(secret.encode(), b"customer-groups/v2/host", hashlib.sha256).digest()
    app = Flask("floor")

    @app.post(PATH)
    def price() -> Response:
        if (request.content_length or 0) > MAX_BODY:
            return _refuse(413, "too large")
        body = request.stream.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return _refuse(413, "too large")
        headers = request.headers
        shop = headers.get("X-Shop-Domain", "")
        timestamp = headers.get("X-Request-Timestamp", "")
        topic = headers.get("X-Topic", "")
        event_id = headers.get("X-Event-Id", "")
        signed = f"{timestamp}\n{shop}\n{topic}\n{event_id}\n{PATH}\n".encode() + body
        mac = hmac.new(key, signed, hashlib.sha256).digest()
        expected = ("v2=" + base64.b64encode(mac).decode()).encode()
        entries = (headers.get("X-Signature") or "").split(" ")
        if not any(hmac.compare_digest(expected, entry.encode()) for entry in entries):
            return _refuse(401, "invalid signature")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE:
            return _refuse(401, "stale request")
        if topic != TOPIC:
            return _refuse(400, "wrong topic")
        cart = json.loads(body)
        return Response(json.dumps(answer_for(cart)), mimetype="application/json")

    return app


app = make_floor_app()
