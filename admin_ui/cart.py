"""Try a cart: price a made-up cart exactly as the pricing hook would, with every adjustment.

The form builds the pricing hook's body (contract §4) and hands it to the same operation as
``POST /api/price-preview`` (``plugin.checkout.pricing.price``): nothing is saved, and a bad
cart's 400 ``invalid_payload`` details (``lines.1.quantity``) are shown next to their
fields. The customer is found with the Customers page's search; prices are typed and shown
in major units of the shop's currency.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.typing import ResponseReturnValue

from admin_ui.blueprint import admin_blueprint, currency_exponent, render_page
from admin_ui.catalogue_names import names_for
from admin_ui.nested_forms import (
    Converter,
    copy_form,
    edit_rows,
    money,
    nested_form,
    shaped,
    split_ids,
)
from admin_ui.session import current_admin_shop
from plugin.checkout.pricing import price
from plugin.checkout.schemas import CHANNELS, LINE_KINDS, PAYMENT_METHODS
from plugin.db import utcnow
from plugin.errors import ApiError
from plugin.intake.search import search_customers
from plugin.shops.models import Shop

MATCHES = 10
CART_ID = "admin-try-a-cart"
BLANK_LINE = {
    "product_id": "",
    "kind": "product",
    "category_ids": "",
    "quantity": "1",
    "unit_price": "",
}
NEW_CART = {
    "customer_id": "",
    "customer_q": "",
    "lines": [dict(BLANK_LINE)],
    "channel": "web",
    "payment_method": "",
    "shipping": {"carrier": "", "price": "", "address": {"city": "", "country": ""}},
    "codes": "",
}
SOURCE_LABELS = {
    "price_rule": "Price rule",
    "price_list": "Price list",
    "bundle": "Bundle",
    "offer": "Offer",
    "benefit_programme": "Benefit programme",
    "code": "Discount code",
}
#: For each adjustment source, the rules page's section of what moved the price and the
#: adjustment's key of its id (contract §4 and §8: price lists and offers name their own).
RULE_LINKS = {
    "price_rule": ("price-rules", "rule_id"),
    "price_list": ("price-lists", "price_list_id"),
    "bundle": ("bundles", "rule_id"),
    "offer": ("offers", "offer_id"),
    "benefit_programme": ("benefit-programmes", "rule_id"),
}
CHANNEL_LABELS = {"web": "Web", "in_store": "In-store"}
PAYMENT_LABELS = {
    "": "Not chosen",
    "cash": "Cash",
    "paypal": "PayPal",
    "bank_transfer": "Bank transfer",
}


def cart_payload(conv: Converter, raw: dict[str, Any], currency: str) -> dict[str, Any]:
    """The form as the pricing hook's body. Line ids are their row numbers, so every
    answer line and its adjustments are matched back to the row typed."""
    lines = []
    for index, line in enumerate(raw.get("lines") or []):
        lines.append(
            {
                "id": str(index + 1),
                "product_id": (line.get("product_id") or "").strip(),
                "kind": line.get("kind") or "product",
                "category_ids": split_ids(line.get("category_ids")),
                "quantity": conv.integer(f"lines.{index}.quantity", line.get("quantity")),
                "unit_price": conv.money(f"lines.{index}.unit_price", line.get("unit_price")),
            }
        )
    shipping_raw = raw.get("shipping") if isinstance(raw.get("shipping"), dict) else {}
    address = shipping_raw.get("address") if isinstance(shipping_raw.get("address"), dict) else {}
    shipping = None
    if any((shipping_raw.get(k) or "").strip() for k in ("carrier", "price")):
        shipping = {
            "carrier": (shipping_raw.get("carrier") or "").strip() or None,
            "price": conv.money("shipping.price", shipping_raw.get("price") or "0"),
            "address": {
                "city": (address.get("city") or "").strip() or None,
                "country": (address.get("country") or "").strip() or None,
            },
        }
    return {
        "cart_id": CART_ID,
        "currency": currency,
        "customer_id": (raw.get("customer_id") or "").strip() or None,
        "channel": raw.get("channel") or "web",
        "payment_method": raw.get("payment_method") or None,
        "shipping": shipping,
        "lines": lines,
        "codes": split_ids(raw.get("codes")),
    }


def _customers(shop: Shop, raw: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The customers matching the search box, and how many match in all."""
    term = (raw.get("customer_q") or "").strip()
    if not term:
        return [], 0
    found = search_customers(shop, term, None, 1, MATCHES)
    return found["items"], found["total"]


def _chosen(shop: Shop, raw: dict[str, Any]) -> dict[str, Any] | None:
    """The chosen customer as the search shows them (None: a guest, or not found)."""
    chosen = (raw.get("customer_id") or "").strip()
    if not chosen:
        return None
    for item in search_customers(shop, chosen, None, 1, MATCHES)["items"]:
        if item["customer"].external_id == chosen:
            return item
    return {"customer": None, "external_id": chosen, "group": None, "segments": []}


def _render(
    shop: Shop,
    raw: dict[str, Any],
    status: int = 200,
    **context: Any,
) -> ResponseReturnValue:
    matches, match_total = _customers(shop, raw)
    answer = context.get("answer") or {}
    product_ids = [line.get("product_id") for line in raw.get("lines") or []]
    product_ids += [gift.get("product_id") for gift in answer.get("gifts") or []]
    return render_page(
        "cart.html",
        status,
        form=raw,
        currency=shop.currency,
        matches=matches,
        match_total=match_total,
        chosen=_chosen(shop, raw),
        kinds=[(kind, kind.title()) for kind in LINE_KINDS],
        channels=[(c, CHANNEL_LABELS[c]) for c in CHANNELS],
        payments=[(m, PAYMENT_LABELS[m]) for m in ("", *PAYMENT_METHODS)],
        source_labels=SOURCE_LABELS,
        rule_links=RULE_LINKS,
        money=lambda amount: money(amount, shop.currency),
        exponent=currency_exponent(shop.currency),
        names=names_for(shop, [i for i in product_ids if isinstance(i, str)]),
        errors=context.pop("errors", {}),
        answer=context.pop("answer", None),
        focus=context.pop("focus", None),
        **context,
    )


@admin_blueprint.route("/cart", methods=["GET", "POST"])
def try_cart() -> ResponseReturnValue:
    shop = current_admin_shop()
    if request.method == "GET":
        return _render(shop, copy_form(NEW_CART))
    raw = _with_defaults(nested_form(request.form), NEW_CART)
    focus = edit_rows(raw, {"lines": BLANK_LINE})
    if focus is not None or request.form.get("_action") == "find":
        return _render(shop, raw, focus=focus or "customer_q")
    conv = Converter(shop.currency)
    payload = shaped(cart_payload, conv, raw, shop.currency)
    if not payload["lines"]:
        conv.fail("lines", "Add at least one line.")
    if conv.errors:
        return _render(shop, raw, 422, errors=conv.errors)
    try:
        answer = price(shop, payload, utcnow())
    except ApiError as error:  # 400 invalid_payload: the cart does not fit the contract
        if error.status != 400:
            raise
        return _render(shop, raw, 422, errors=error.details or {"_schema": [error.message]})
    products = {line["id"]: line for line in payload["lines"]}
    return _render(shop, raw, answer=answer, products=products)


def _with_defaults(raw: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Every part the template reads, whatever the form sent."""
    for name, value in defaults.items():
        if isinstance(value, dict):
            given = raw.get(name)
            raw[name] = _with_defaults(given if isinstance(given, dict) else {}, value)
        elif name not in raw or (isinstance(value, list) and not isinstance(raw[name], list)):
            raw[name] = copy_form(value)
    return raw
