"""``POST /hooks/cart/price`` and ``POST /hooks/checkout/redeem`` (contract §4, §4a)."""

from __future__ import annotations

import orjson
from flask import Response, current_app
from flask.typing import ResponseReturnValue

from hooks.redeem import register_redeem_hook
from hooks.signing import read_signed_request
from plugin.apidoc import SIGNED_HEADERS, DocumentedBlueprint, document
from plugin.auth import HOOK_TOPICS, PRICE_PATH
from plugin.checkout.pricing import price_for_domain
from plugin.checkout.schemas import CartIn, PricingAnswer
from plugin.errors import answer_unrouted, register_error_handlers

hooks_blueprint = DocumentedBlueprint("customer_groups_hooks", __name__, url_prefix="/hooks")
register_error_handlers(hooks_blueprint, validation_status=400)
answer_unrouted(hooks_blueprint, "", "/<path:rest>")
register_redeem_hook(hooks_blueprint)


@hooks_blueprint.post("/cart/price")
@document(
    "Price a cart for the customer: group prices, bundles, gifts, the tiered benefit and "
    "codes, every amount explained (contract §4).",
    request=CartIn,
    response=PricingAnswer,
    secured=False,
    tag="hooks",
    headers=SIGNED_HEADERS,
    description="Signed like every host request: 413, 401 invalid_signature or "
    "stale_request, 403 shop_not_installed, 400 invalid_payload naming each field, in that "
    "order. It changes nothing but the attempt counters of the brute-force guard: each "
    "distinct unknown code counts against the cart, the customer and client_ip (an IPv6 "
    "address as its /64), and past CUSTOMER_GROUPS_CODE_ATTEMPT_LIMIT of them within the "
    "window every code typed from there is rejected as too_many_attempts for the block "
    "time, real ones included; a cart without unknown codes writes nothing. More than 5 "
    "codes is a 400 on codes. 503 unavailable when the database cannot answer.",
)
def price_cart_hook() -> ResponseReturnValue:
    """Price a cart for the host (contract §4): size, signature, timestamp, shop installed,
    payload, in that order; it changes nothing but the attempt counters of unknown codes."""
    signed = read_signed_request(PRICE_PATH, [HOOK_TOPICS[PRICE_PATH]])
    answer = price_for_domain(signed.shop_domain, signed.body)
    # Keys sorted as jsonify sorts them; what orjson cannot write itself (a Decimal) is
    # written as the app's JSON provider writes it.
    body = orjson.dumps(
        answer, default=getattr(current_app.json, "default", None), option=orjson.OPT_SORT_KEYS
    )
    return Response(body, mimetype="application/json")
