"""Factories for discount-code tests: a discount through the admin API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import auth


def discount_payload(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "Summer 10%", "type": "percent", "value": 10}
    base.update(fields)
    return base


@pytest.fixture
def make_discount(client, shop):
    def make(**fields: Any) -> dict[str, Any]:
        response = client.post("/api/discounts", json=discount_payload(**fields), headers=auth())
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


def engine_pricer(shop, body, codes):
    """Price with the real engine and no price rules (the rules glue is another module)."""
    from plugin.db import utcnow
    from plugin.pricing import Cart, CustomerContext, Line, RuleSet, Shipping, price_cart

    shipping = body.get("shipping")
    cart = Cart(
        cart_id=body["cart_id"],
        currency=body["currency"],
        customer_id=body.get("customer_id"),
        channel=body.get("channel", "web"),
        payment_method=body.get("payment_method"),
        shipping=Shipping(shipping.get("carrier"), shipping["price"]) if shipping else None,
        lines=tuple(
            Line(
                id=line["id"],
                product_id=line["product_id"],
                kind=line["kind"],
                category_ids=tuple(line.get("category_ids", ())),
                quantity=line["quantity"],
                unit_price=line["unit_price"],
            )
            for line in body["lines"]
        ),
        codes=tuple(body.get("codes", ())),
    )
    customer = CustomerContext(customer_id=body.get("customer_id"))
    return price_cart(cart, customer, RuleSet.empty(), codes, utcnow()).to_dict()


def redeem_body(order_id: str, codes: list[str], customer_id: str | None = "c_1") -> dict:
    return {
        "cart_id": f"k_{order_id}",
        "currency": "EUR",
        "customer_id": customer_id,
        "channel": "web",
        "payment_method": "paypal",
        "shipping": {"carrier": "royal_mail", "price": 500, "address": None},
        "lines": [
            {
                "id": "l1",
                "product_id": "p1",
                "kind": "product",
                "category_ids": [],
                "quantity": 2,
                "unit_price": 1999,
            }
        ],
        "codes": codes,
        "order_id": order_id,
    }
