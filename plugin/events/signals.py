"""Every blinker signal of the extension, in one namespace (contract §7 and §6).

Inbound signals (one per webhook topic) are how an in-process host talks to the extension
instead of HTTP:

- sender: the shop's domain (``str``), exactly what ``X-Shop-Domain`` carries over HTTP;
- kwargs: ``payload`` (the webhook body as a ``dict``) and ``event_id`` (``str`` or ``None``,
  the idempotency key of ``X-Event-Id``; ``None`` skips the duplicate check);
- return: the extension's receiver returns the JSON body the webhook would answer
  (``{"status": "ok"}``, ``{"status": "duplicate"}``, or the data of
  ``customers/data_request``) and raises :class:`plugin.errors.ApiError` where HTTP would
  answer an error. Call within the host app's context; ``send`` gives ``[(receiver, body)]``.

Outbound signals (§6) are sent by the extension with the shop's domain as sender and the
event's ``payload`` and ``event_id`` as kwargs; receivers' return values are ignored.
"""

from __future__ import annotations

from blinker import Namespace

__all__ = [
    "customer_groups_signals",
    "app_installed",
    "app_uninstalled",
    "shop_redact",
    "customers_redact",
    "customers_data_request",
    "customer_created",
    "customer_updated",
    "customer_deleted",
    "customer_subscribed",
    "order_paid",
    "order_cancelled",
    "order_refunded",
    "WEBHOOK_SIGNALS",
    "cart_price",
    "checkout_redeem",
    "coupon_given",
    "customer_group_changed",
    "customer_segments_changed",
]

customer_groups_signals = Namespace()

app_installed = customer_groups_signals.signal(
    "app/installed", doc="Install or re-activate a shop. payload: {'shop': {...}}."
)
app_uninstalled = customer_groups_signals.signal(
    "app/uninstalled", doc="Stop all work for the shop; data is kept. payload: {}."
)
shop_redact = customer_groups_signals.signal(
    "shop/redact", doc="Delete everything held for the shop. payload: {}."
)
customers_redact = customer_groups_signals.signal(
    "customers/redact", doc="Delete a customer's personal data. payload: {'customer_id'}."
)
customers_data_request = customer_groups_signals.signal(
    "customers/data_request",
    doc="Return all data held about a customer. payload: {'customer_id'}; returns the data.",
)
customer_created = customer_groups_signals.signal(
    "customer/created", doc="Upsert a customer snapshot. payload: {'customer': Customer}."
)
customer_updated = customer_groups_signals.signal(
    "customer/updated", doc="Upsert a customer snapshot. payload: {'customer': Customer}."
)
customer_deleted = customer_groups_signals.signal(
    "customer/deleted", doc="Remove a customer. payload: {'customer': {'id'}}."
)
customer_subscribed = customer_groups_signals.signal(
    "customer/subscribed",
    doc="Marketing consent confirmed. payload: {'customer_id', 'channel': 'email'|'sms'}.",
)
order_paid = customer_groups_signals.signal(
    "order/paid", doc="Count a paid order (idempotent per order id). payload: {'order': Order}."
)
order_cancelled = customer_groups_signals.signal(
    "order/cancelled", doc="Reverse an order's effects. payload: {'order': {'id'}}."
)
order_refunded = customer_groups_signals.signal(
    "order/refunded", doc="Reverse an order's effects. payload: {'order': {'id'}}."
)

#: Topic name → inbound signal.
WEBHOOK_SIGNALS = {
    signal.name: signal
    for signal in (
        app_installed,
        app_uninstalled,
        shop_redact,
        customers_redact,
        customers_data_request,
        customer_created,
        customer_updated,
        customer_deleted,
        customer_subscribed,
        order_paid,
        order_cancelled,
        order_refunded,
    )
}

cart_price = customer_groups_signals.signal(
    "cart/price",
    doc="Price a cart in-process. sender: shop domain; kwargs: payload (the pricing-hook "
    "body); returns the pricing-hook answer.",
)
checkout_redeem = customer_groups_signals.signal(
    "checkout/redeem",
    doc="Price a cart and redeem its code in-process. sender: shop domain; kwargs: payload "
    "(the redeem-hook body); returns the redeem-hook answer.",
)

coupon_given = customer_groups_signals.signal(
    "coupon/given", doc="Sent when a code is handed to a customer. kwargs: payload, event_id."
)
customer_group_changed = customer_groups_signals.signal(
    "customer/group_changed",
    doc="Sent when a customer moves to another group. kwargs: payload, event_id.",
)
customer_segments_changed = customer_groups_signals.signal(
    "customer/segments_changed",
    doc="Sent when a customer joins or leaves segments. kwargs: payload, event_id.",
)
