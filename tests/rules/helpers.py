"""Helpers shared by the rules and pricing-hook tests: an admin API client and carts."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.conftest import SHOP, auth


class Admin:
    """Calls the admin API of one shop with a fresh session token each time."""

    def __init__(self, client: FlaskClient, shop: str = SHOP) -> None:
        self.client = client
        self.shop = shop

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api{path}", query_string=params, headers=auth(self.shop))

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(f"/api{path}", json=body, headers=auth(self.shop))

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(f"/api{path}", json=body, headers=auth(self.shop))

    def delete(self, path: str) -> Any:
        return self.client.delete(f"/api{path}", headers=auth(self.shop))

    def create(self, path: str, body: Any) -> dict[str, Any]:
        response = self.post(path, body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()


def line(line_id: str = "l1", product_id: str = "p1", **fields: Any) -> dict[str, Any]:
    base = {
        "id": line_id,
        "product_id": product_id,
        "kind": "product",
        "category_ids": [],
        "quantity": 1,
        "unit_price": 1000,
    }
    base.update(fields)
    return base


def cart(lines: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "cart_id": "k_1",
        "currency": "EUR",
        "customer_id": None,
        "channel": "web",
        "payment_method": "paypal",
        "shipping": {"carrier": "royal_mail", "price": 500, "address": None},
        "lines": lines if lines is not None else [line()],
        "codes": [],
    }
    base.update(fields)
    return base


def price_rule(name: str = "Rule", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": name,
        "audience": {"type": "all"},
        "scope": {"type": "all"},
        "action": {"type": "discount_percent", "value": 10},
    }
    base.update(fields)
    return base


def error(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert set(body) == {"error"}, body
    return body["error"]
