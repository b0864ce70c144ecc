"""``POST /hooks/checkout/redeem`` (contract §4a): the signed view over
:mod:`plugin.checkout.redeem`."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from hooks.signing import read_signed_request
from plugin.apidoc import SIGNED_HEADERS, document
from plugin.auth import HOOK_TOPICS, REDEEM_PATH
from plugin.checkout.redeem import redeem_for_domain
from plugin.checkout.schemas import RedeemAnswer, RedeemIn


def register_redeem_hook(blueprint: Blueprint) -> None:
    """Attach ``POST /checkout/redeem`` to the hooks blueprint (``/hooks`` prefix)."""
    blueprint.add_url_rule("/checkout/redeem", view_func=checkout_redeem, methods=["POST"])


@document(
    "Price the cart and redeem its code for the order, once (contract §4a).",
    request=RedeemIn,
    response=RedeemAnswer,
    secured=False,
    tag="hooks",
    headers=SIGNED_HEADERS,
    description="Signed like every host request: 413, 401 invalid_signature or "
    "stale_request, 403 shop_not_installed, 400 invalid_payload, in that order. Usage "
    "limits and once-per-customer hold under racing calls; a repeated call for the same "
    "order_id answers what the first answered and redeems nothing more. Each distinct "
    "unknown code counts against the cart, the customer and client_ip (an IPv6 address as "
    "its /64); past CUSTOMER_GROUPS_CODE_ATTEMPT_LIMIT of them within the window, every "
    "code typed from there is rejected as too_many_attempts for the block time, real ones "
    "included. More than 5 codes is a 400 on codes.",
)
def checkout_redeem() -> ResponseReturnValue:
    signed = read_signed_request(REDEEM_PATH, [HOOK_TOPICS[REDEEM_PATH]])
    return jsonify(redeem_for_domain(signed.shop_domain, signed.body).answer)
