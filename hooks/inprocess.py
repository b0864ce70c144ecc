"""Receivers that let an in-process host drive the extension through blinker signals."""

from __future__ import annotations

from typing import Any

from flask import current_app

from hooks.webhooks import handle_event
from plugin.checkout.pricing import price_for_domain
from plugin.checkout.redeem import redeem_for_domain
from plugin.db import unit_of_work
from plugin.events import signals

_connected = False


def _receiver(topic: str) -> Any:
    def receive(
        sender: str, payload: dict[str, Any] | None = None, event_id: str | None = None, **_: Any
    ) -> dict[str, Any] | None:
        if "customer_groups" not in current_app.extensions:
            return None  # an app in this process that did not install the extension
        with unit_of_work():
            return handle_event(str(sender), topic, event_id, payload or {})

    receive.__name__ = f"customer_groups_{topic.replace('/', '_')}"
    return receive


def _price_cart(
    sender: str, payload: dict[str, Any] | None = None, **_: Any
) -> dict[str, Any] | None:
    """``cart_price``: the pricing hook's answer for ``payload``, as over HTTP."""
    if "customer_groups" not in current_app.extensions:
        return None
    with unit_of_work():
        return price_for_domain(str(sender), payload or {})


def _redeem(sender: str, payload: dict[str, Any] | None = None, **_: Any) -> dict[str, Any] | None:
    """``checkout_redeem``: the redeem hook's answer for ``payload``, as over HTTP."""
    if "customer_groups" not in current_app.extensions:
        return None
    with unit_of_work():
        return redeem_for_domain(str(sender), payload or {}).answer


def connect_receivers() -> None:
    """Connect once per process: signals are global, the app is found through current_app."""
    global _connected
    if _connected:
        return
    for topic, signal in signals.WEBHOOK_SIGNALS.items():
        signal.connect(_receiver(topic), weak=False)
    signals.cart_price.connect(_price_cart, weak=False)
    signals.checkout_redeem.connect(_redeem, weak=False)
    _connected = True
