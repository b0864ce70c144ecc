"""``customer-groups demo``: a believable shop, loaded the way a real host would load it.

Everything goes through the public doors: the shop, its customers and orders arrive as
signed webhooks on ``POST /webhooks``; groups, segments and rules are made through the admin
API with a session token. The data comes from a seeded ``random.Random``, so two runs on the
same day load the same shop.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shlex
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, inspect

from customer_groups_demo.host import HOST_PAGE_PATH, install_demo_host
from plugin.auth import curl_command, issue_session_token, signed_headers
from plugin.db import db
from plugin.extension import create_app
from plugin.schema import upgrade_schema as upgrade
from plugin.server import serve

SHOP_DOMAIN = "lumen.example"
SHOP = {
    "domain": SHOP_DOMAIN,
    "name": "Lumen",
    "currency": "EUR",
    "timezone": "Europe/Paris",
    "locale": "en-IE",
    "api_url": f"https://{SHOP_DOMAIN}/api",
    "access_token": "demo-access-token",
}
DEFAULT_SEED = 2026
DEFAULT_PATH = os.path.join("instance", "demo.sqlite")


class DemoError(RuntimeError):
    """A demo step failed: the message names the request and the answer."""


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    category: str
    price: int  # minor units
    kind: str = "product"


# A small lighting-and-home catalogue: 30 products in 6 categories.
PRODUCTS: list[Product] = [
    Product("p_arc_lamp", "Arc floor lamp", "lighting", 18900),
    Product("p_desk_lamp", "Brass desk lamp", "lighting", 8900),
    Product("p_pendant", "Opal pendant", "lighting", 12900),
    Product("p_wall_sconce", "Wall sconce", "lighting", 6900),
    Product("p_bulb_warm", "Warm LED bulb", "lighting", 900),
    Product("p_string_lights", "String lights", "lighting", 2900),
    Product("p_linen_throw", "Linen throw", "textiles", 7900),
    Product("p_wool_cushion", "Wool cushion", "textiles", 3900),
    Product("p_rug_small", "Jute rug 120x180", "textiles", 14900),
    Product("p_curtain", "Sheer curtain", "textiles", 4900),
    Product("p_tea_towels", "Tea towels (set of 3)", "textiles", 1900),
    Product("p_stoneware_mug", "Stoneware mug", "ceramics", 1800),
    Product("p_vase_tall", "Tall vase", "ceramics", 5400),
    Product("p_bowl_set", "Bowl set", "ceramics", 4200),
    Product("p_planter", "Planter", "ceramics", 3600),
    Product("p_teapot", "Teapot", "ceramics", 4800),
    Product("p_candle_fig", "Fig candle", "candles", 2400),
    Product("p_candle_cedar", "Cedar candle", "candles", 2400),
    Product("p_candle_amber", "Amber candle", "candles", 2600),
    Product("p_diffuser", "Reed diffuser", "candles", 3200),
    Product("p_wick_trimmer", "Wick trimmer", "candles", 1500),
    Product("p_notebook", "Linen notebook", "stationery", 1600),
    Product("p_planner", "Weekly planner", "stationery", 2200),
    Product("p_pen_brass", "Brass pen", "stationery", 3400),
    Product("p_cards", "Greeting cards (5)", "stationery", 1200),
    Product("p_tote", "Canvas tote", "stationery", 1400),
    Product("s_gift_wrap", "Gift wrapping", "services", 500, "service"),
    Product("s_install", "Lamp installation", "services", 4500, "service"),
    Product("s_engraving", "Engraving", "services", 900, "service"),
    Product("s_express", "Express preparation", "services", 700, "service"),
]
PRODUCTS_BY_ID = {product.id: product for product in PRODUCTS}
CATEGORIES = sorted({product.category for product in PRODUCTS})
#: The categories' titles, as the host's catalogue names them (contract v2 §8).
CATEGORY_TITLES = {
    "candles": "Candles and scents",
    "ceramics": "Ceramics",
    "lighting": "Lighting",
    "services": "Services",
    "stationery": "Stationery",
    "textiles": "Textiles",
}

FIRST_NAMES = [
    "Camille", "Léa", "Manon", "Chloé", "Inès", "Sarah", "Emma", "Louise", "Jade", "Alice",
    "Lucas", "Hugo", "Louis", "Gabriel", "Arthur", "Jules", "Nathan", "Tom", "Paul", "Léo",
    "Sofia", "Marta", "Anna", "Giulia", "Lena", "Noah", "Elias", "Mateo", "Lars", "Pieter",
]  # fmt: skip
LAST_NAMES = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "Rossi", "Müller", "Janssens",
    "De Vries", "Schmidt", "Fernández", "Bianchi", "Peeters", "Fontaine", "Chevalier",
]  # fmt: skip
COMPANY_WORDS = ["Atelier", "Studio", "Maison", "Galerie", "Comptoir", "Agence"]
# (city, country, zip, calling code, national number length); Paris weighs most.
CITIES = [
    ("Paris", "FR", "75011", "33", 9, 30),
    ("Lyon", "FR", "69002", "33", 9, 10),
    ("Marseille", "FR", "13001", "33", 9, 7),
    ("Bordeaux", "FR", "33000", "33", 9, 7),
    ("Lille", "FR", "59000", "33", 9, 6),
    ("Nantes", "FR", "44000", "33", 9, 5),
    ("Brussels", "BE", "1000", "32", 9, 6),
    ("Geneva", "CH", "1201", "41", 9, 4),
    ("Berlin", "DE", "10115", "49", 10, 5),
    ("Amsterdam", "NL", "1012", "31", 9, 5),
    ("Milan", "IT", "20121", "39", 10, 4),
    ("Madrid", "ES", "28001", "34", 9, 4),
]
TAGS = ["newsletter", "instagram", "gift-buyer", "interior-designer", "returning", "press"]
CARRIERS = ["colissimo", "chronopost", "dhl", "ups"]
SHIPPING_PRICES = {"colissimo": 590, "chronopost": 990, "dhl": 1290, "ups": 1190}
CODES = ["WELCOME10", "SUMMER24", "LUMEN15", "NEWSLETTER5"]

GROUPS = [
    # name, colour, who moves in
    ("Wholesale", "#1E88E5", "business customers"),
    ("VIP", "#8e24aa", "the biggest individual spenders"),
    ("Staff", "#43a047", "staff accounts"),
    ("Press", "#fb8c00", "customers tagged press"),
]


@dataclass
class DemoCustomer:
    payload: dict[str, Any]
    weight: float
    group: str | None = None
    spent: int = 0  # paid, not refunded
    orders: int = 0


@dataclass
class DemoShop:
    """What was loaded, for the summary and the ready-made requests."""

    customers: list[DemoCustomer] = field(default_factory=list)
    orders: int = 0
    refunded: int = 0
    with_codes: int = 0
    groups: dict[str, int] = field(default_factory=dict)
    segments: dict[str, int] = field(default_factory=dict)
    price_rules: dict[str, int] = field(default_factory=dict)
    bundles: dict[str, int] = field(default_factory=dict)
    gift_rules: dict[str, int] = field(default_factory=dict)
    benefit_programmes: dict[str, int] = field(default_factory=dict)
    price_lists: dict[str, int] = field(default_factory=dict)
    offers: dict[str, int] = field(default_factory=dict)
    discounts: dict[str, int] = field(default_factory=dict)


class DemoClient:
    """Talks to the app as the host and as a staff user would, and fails loudly."""

    def __init__(self, app: Flask, shop: str = SHOP_DOMAIN) -> None:
        self.client: FlaskClient = app.test_client()
        self.secret: str = app.config["CUSTOMER_GROUPS_APP_SECRET"]
        self.app_id: str = app.config["CUSTOMER_GROUPS_APP_ID"]
        self.shop = shop
        self.events = 0

    def webhook(self, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload).encode()
        self.events += 1
        headers = signed_headers(
            self.secret, self.shop, body, topic=topic, event_id=f"demo-{self.events}"
        )
        response = self.client.post("/webhooks", data=body, headers=headers)
        return _expect(response, 200, f"webhook {topic}")

    def redeem(self, order: dict[str, Any]) -> dict[str, Any]:
        """``POST /hooks/checkout/redeem`` for an order about to be placed, as the host
        calls it at checkout: the code is priced and held, so the discounts report knows
        what it took off."""
        cart = {
            "cart_id": f"k_{order['id']}",
            "currency": order["currency"],
            "customer_id": order["customer_id"],
            "channel": order["channel"],
            "payment_method": order["payment_method"],
            "shipping": None,
            "lines": [
                {
                    "id": str(number),
                    "product_id": line["product_id"],
                    "kind": line["kind"],
                    "category_ids": [PRODUCTS_BY_ID[line["product_id"]].category],
                    "quantity": line["quantity"],
                    "unit_price": line["unit_price"],
                }
                for number, line in enumerate(order["lines"], 1)
            ],
            "codes": order["discount_codes"],
            "order_id": order["id"],
        }
        body = json.dumps(cart).encode()
        path = "/hooks/checkout/redeem"
        response = self.client.post(
            path, data=body, headers=signed_headers(self.secret, self.shop, body, path=path)
        )
        return _expect(response, 200, f"redeem {order['id']}")

    def api(self, method: str, path: str, payload: Any = None, expect: int = 200) -> Any:
        # A fresh token per call: they live 60 s and a slow machine may load for longer.
        token = issue_session_token(self.secret, self.app_id, self.shop, user="demo")
        response = self.client.open(
            path, method=method, json=payload, headers={"Authorization": f"Bearer {token}"}
        )
        return _expect(response, expect, f"{method} {path}")


def _expect(response: Any, status: int, what: str) -> Any:
    if response.status_code != status:
        hint = " (is that endpoint there yet?)" if response.status_code in (404, 405) else ""
        raise DemoError(
            f"The demo could not load the shop: {what} answered {response.status_code}, "
            f"not {status}{hint}: {response.get_data(as_text=True)[:500]}"
        )
    return response.get_json()


# The made-up shop.


def make_customers(rng: Random, count: int, today: datetime) -> list[DemoCustomer]:
    """Individuals and businesses across Europe, a few staff and dropship partners."""
    weights = [city[5] for city in CITIES]
    made: list[DemoCustomer] = []
    for number in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, country, zip_code, calling, digits, _ = rng.choices(CITIES, weights)[0]
        business = rng.random() < 0.15
        staff = not business and number % 97 == 0
        registered = today - timedelta(days=rng.randint(1, 3 * 365), minutes=rng.randint(0, 1439))
        handle = _ascii(f"{first}.{last}")
        domain = "lumen.example" if staff else rng.choice(["mail.example", "post.example"])
        if business:  # a company address: contact@atelier-durand.example
            handle, domain = "contact", _ascii(f"{rng.choice(COMPANY_WORDS)}-{last}") + ".example"
        tags = sorted(rng.sample(TAGS, rng.choice([0, 0, 1, 1, 2])))
        if business:
            tags = sorted({*tags, "trade"})
        if staff:
            tags = sorted({*tags, "staff"})
        partner = None
        if business and rng.random() < 0.3:
            since = registered + timedelta(days=rng.randint(0, 200))
            partner = {"id": f"dp_{number:04d}", "registered_at": _iso(min(since, today))}
        payload = {
            "id": f"c_{number:04d}",
            "email": f"{handle}{number}@{domain}",
            "phone": (
                "+" + calling + str(rng.randint(1, 9)) + _digits(rng, digits - 1)
                if rng.random() < 0.75
                else None
            ),
            "first_name": first,
            "last_name": last,
            "registered_at": _iso(registered),
            "tags": tags,
            "points": rng.choice([0, 0, 0, rng.randint(10, 400), rng.randint(400, 3000)]),
            "accepts_marketing": rng.random() < 0.6,
            "type": "business" if business else "individual",
            "default_address": {"city": city, "country": country, "zip": zip_code},
            "dropship_partner": partner,
        }
        # Buying habits: a long tail, businesses and a few enthusiasts buy much more.
        weight = rng.paretovariate(1.6) * (3 if business else 1)
        made.append(DemoCustomer(payload, weight))
    return made


def make_orders(
    rng: Random, customers: list[DemoCustomer], count: int, today: datetime
) -> list[dict[str, Any]]:
    """Orders over the past 18 months, oldest first; about 5 % from guests."""
    weights = [customer.weight for customer in customers]
    start = today - timedelta(days=548)
    orders: list[dict[str, Any]] = []
    for number in range(1, count + 1):
        guest = not customers or rng.random() < 0.05
        buyer = None if guest else rng.choices(customers, weights)[0]
        earliest = start
        if buyer is not None:
            earliest = max(start, _parse(buyer.payload["registered_at"]))
        span = max(int((today - earliest).total_seconds()), 60)
        placed = earliest + timedelta(seconds=rng.randint(0, span))
        business = buyer is not None and buyer.payload["type"] == "business"
        in_store = rng.random() < 0.12
        lines = _order_lines(rng, business, in_store)
        subtotal = sum(line["quantity"] * line["unit_price"] for line in lines)
        codes = [rng.choice(CODES)] if not in_store and rng.random() < 0.1 else []
        discount = subtotal * 10 // 100 if codes else 0
        carrier = None if in_store else rng.choice(CARRIERS)
        shipping_price = 0 if carrier is None or subtotal >= 15000 else SHIPPING_PRICES[carrier]
        address = None
        if buyer is not None and not in_store:
            address = {
                "city": buyer.payload["default_address"]["city"],
                "country": buyer.payload["default_address"]["country"],
            }
        elif not in_store:
            address = {"city": "Paris", "country": "FR"}
        order = {
            "id": f"o_{number:05d}",
            "customer_id": buyer.payload["id"] if buyer is not None else None,
            "placed_at": _iso(placed),
            "currency": "EUR",
            "total": subtotal - discount + shipping_price,
            "lines": lines,
            "discount_codes": codes,
            "shipping": None if carrier is None else {"carrier": carrier, "address": address},
            "payment_method": (
                "cash"
                if in_store
                else ("bank_transfer" if business and rng.random() < 0.5 else "paypal")
            ),
            "channel": "in_store" if in_store else "web",
        }
        if buyer is not None:
            buyer.spent += order["total"]
            buyer.orders += 1
        orders.append(order)
    orders.sort(key=lambda order: order["placed_at"])
    return orders


def _order_lines(rng: Random, business: bool, in_store: bool) -> list[dict[str, Any]]:
    goods = [product for product in PRODUCTS if product.kind == "product"]
    services = [product for product in PRODUCTS if product.kind == "service"]
    picked = rng.sample(goods, rng.choice([1, 1, 1, 2, 2, 3, 4]))
    if not in_store and rng.random() < 0.2:
        picked.append(rng.choice(services))
    return [
        {
            "product_id": product.id,
            "kind": product.kind,
            "quantity": (
                1
                if product.kind == "service"
                else rng.randint(2, 12)
                if business
                else rng.choice([1, 1, 1, 2, 3])
            ),
            "unit_price": product.price,
        }
        for product in picked
    ]


def load_catalogue(client: DemoClient) -> None:
    """The shop's categories and products, sent as the host sends them: ``category/created``
    and ``product/created`` webhooks (the admin shows them by title and picks them)."""
    for category in CATEGORIES:
        client.webhook(
            "category/created",
            {"category": {"id": category, "title": CATEGORY_TITLES[category], "parent_id": None}},
        )
    for product in PRODUCTS:
        client.webhook(
            "product/created",
            {
                "product": {
                    "id": product.id,
                    "title": product.name,
                    "kind": product.kind,
                    "category_ids": [product.category],
                    "price": product.price,
                    "active": True,
                }
            },
        )


def load_demo(
    app: Flask,
    customers: int = 300,
    orders: int = 3000,
    seed: int = DEFAULT_SEED,
    today: datetime | None = None,
) -> DemoShop:
    """Install the demo shop in ``app`` and fill it, through webhooks and the admin API."""
    rng = Random(seed)
    today = (today or datetime.now(UTC)).replace(hour=12, minute=0, second=0, microsecond=0)
    demo = DemoShop()
    client = DemoClient(app)
    request_log = logging.getLogger("customer_groups.requests")
    level = request_log.level
    request_log.setLevel(logging.WARNING)  # thousands of loading requests are not news
    try:
        client.webhook("app/installed", {"shop": SHOP})
        load_catalogue(client)
        demo.customers = make_customers(rng, customers, today)
        for customer in demo.customers:
            client.webhook("customer/created", {"customer": customer.payload})
        # The discounts exist before the orders that use their codes, and each such order
        # went through the redeem hook at checkout, as a host does it.
        _make_discounts(client, demo)
        order_list = make_orders(rng, demo.customers, orders, today)
        refunds = []
        for order in order_list:
            if order["discount_codes"]:
                client.redeem(order)
            client.webhook("order/paid", {"order": order})
            if order["discount_codes"]:
                demo.with_codes += 1
            if rng.random() < 0.015:
                refunds.append(order)
        for order in refunds:
            client.webhook("order/refunded", {"order": {"id": order["id"]}})
            if order["customer_id"] is not None:
                buyer = next(c for c in demo.customers if c.payload["id"] == order["customer_id"])
                buyer.spent -= order["total"]
                buyer.orders -= 1
        demo.orders, demo.refunded = len(order_list), len(refunds)
        for customer in demo.customers:
            if customer.payload["accepts_marketing"] and rng.random() < 0.3:
                client.webhook(
                    "customer/subscribed",
                    {"customer_id": customer.payload["id"], "channel": "email"},
                )
        _make_groups(client, demo, today)
        _make_segments(client, demo, today)
        _make_rules(client, demo)
    finally:
        request_log.setLevel(level)
    return demo


def _make_groups(client: DemoClient, demo: DemoShop, today: datetime) -> None:
    listed = client.api("GET", "/api/groups?per_page=1000")
    for group in listed["items"]:
        demo.groups[group["name"]] = group["id"]
    for name, colour, _ in GROUPS:
        created = client.api(
            "POST", "/api/groups", {"name": name, "colour": colour, "is_default": False}, 201
        )
        demo.groups[name] = created["id"]
    individuals = sorted(
        (c for c in demo.customers if c.payload["type"] == "individual"),
        key=lambda c: (-c.spent, c.payload["id"]),
    )
    chosen: dict[str, list[str]] = {name: [] for name, _, _ in GROUPS}
    for customer in demo.customers:
        tags = customer.payload["tags"]
        if "staff" in tags:
            customer.group = "Staff"
        elif customer.payload["type"] == "business":
            customer.group = "Wholesale"
        elif "press" in tags and customer.spent < 20000:
            customer.group = "Press"
    for customer in individuals[: max(1, len(individuals) // 20)]:
        if customer.group is None and customer.spent > 0:
            customer.group = "VIP"
    for customer in demo.customers:
        if customer.group is not None:
            chosen[customer.group].append(customer.payload["id"])
    for name, ids in chosen.items():
        if ids:
            client.api("POST", f"/api/groups/{demo.groups[name]}/customers", {"customer_ids": ids})


def _make_segments(client: DemoClient, demo: DemoShop, today: datetime) -> None:
    lapsed_since = (today - timedelta(days=180)).date().isoformat()
    segments = [
        ("Loyal", "all", [{"field": "total_order_count", "op": "gte", "value": 5}]),
        ("Big spenders", "all", [{"field": "total_purchase_amount", "op": "gte", "value": 50000}]),
        (
            "Lapsed Parisians",
            "all",
            [
                {"field": "city", "op": "is", "value": "Paris"},
                {"field": "last_order_date", "op": "before", "value": lapsed_since},
            ],
        ),
        ("New this month", "all", [{"field": "registration_date", "op": "after", "value": "-30d"}]),
        (
            "Candle lovers",
            "any",
            [
                {
                    "field": "purchased_product",
                    "op": "any_of",
                    "value": ["p_candle_fig", "p_candle_cedar", "p_candle_amber"],
                },
                {"field": "customer_tag", "op": "has", "value": "gift-buyer"},
            ],
        ),
        ("Code users", "all", [{"field": "used_discount_code", "op": "is", "value": True}]),
    ]
    for name, match, conditions in segments:
        created = client.api(
            "POST", "/api/segments", {"name": name, "match": match, "conditions": conditions}, 201
        )
        demo.segments[name] = created["id"]


def _make_rules(client: DemoClient, demo: DemoShop) -> None:
    groups = demo.groups

    def audience(*names: str) -> dict[str, Any]:
        return {"type": "groups", "ids": [groups[name] for name in names]}

    everyone = {"type": "all"}
    price_rules = [
        ("Wholesale -20%", audience("Wholesale"), {"type": "all", "ids": []},
         {"type": "discount_percent", "value": 20}, 20),
        ("Staff -30%", audience("Staff"), {"type": "all", "ids": []},
         {"type": "discount_percent", "value": 30}, 10),
        ("VIP candles -10%", audience("VIP"), {"type": "categories", "ids": ["candles"]},
         {"type": "discount_percent", "value": 10}, 30),
        ("Trade price for installation", audience("Wholesale"),
         {"type": "products", "ids": ["s_install"]}, {"type": "set_price", "value": 3000}, 5),
    ]  # fmt: skip
    for name, who, scope, action, priority in price_rules:
        body = {
            "name": name,
            "audience": who,
            "scope": scope,
            "action": action,
            "priority": priority,
            "active": True,
            "starts_at": None,
            "ends_at": None,
        }
        demo.price_rules[name] = client.api("POST", "/api/price-rules", body, 201)["id"]

    bundles = [
        ("Reading corner", [("p_desk_lamp", 1), ("p_bulb_warm", 2), ("p_linen_throw", 1)],
         {"type": "fixed_total", "value": 9900}),
        ("Candle trio", [("p_candle_fig", 1), ("p_candle_cedar", 1), ("p_candle_amber", 1)],
         {"type": "percent_off", "value": 15}),
    ]  # fmt: skip
    for priority, (name, items, price) in enumerate(bundles, start=1):
        body = {
            "name": name,
            "audience": everyone,
            "items": [{"product_id": pid, "quantity": qty} for pid, qty in items],
            "price": price,
            "max_applications": None,
            "priority": priority * 10,
            "active": True,
        }
        demo.bundles[name] = client.api("POST", "/api/bundles", body, 201)["id"]

    gift_rules = [
        ("Free tote from 120 EUR", everyone, {"type": "subtotal", "min": 12000}, "p_tote"),
        ("Wick trimmer with 2 candles", everyone,
         {"type": "products", "product_ids": ["p_candle_fig", "p_candle_cedar", "p_candle_amber"],
          "min_quantity": 2}, "p_wick_trimmer"),
    ]  # fmt: skip
    for name, who, trigger, gift in gift_rules:
        body = {
            "name": name,
            "audience": who,
            "trigger": trigger,
            "gift": {"product_id": gift, "quantity": 1},
            "active": True,
        }
        demo.gift_rules[name] = client.api("POST", "/api/gift-rules", body, 201)["id"]

    programme = {
        "name": "VIP tiers",
        "audience": audience("VIP"),
        "priority": 10,
        "conditions": [],
        "tiers": [
            {"min_subtotal": 10000, "actions": [{"type": "percent_off_order", "value": 5}]},
            {
                "min_subtotal": 25000,
                "actions": [
                    {"type": "percent_off_order", "value": 10},
                    {"type": "free_shipping", "carriers": [], "max_amount": None},
                ],
            },
        ],
        "earns_loyalty_points": True,
        "combinable_with_codes": False,
        "active": True,
    }
    demo.benefit_programmes["VIP tiers"] = client.api(
        "POST", "/api/benefit-programmes", programme, 201
    )["id"]
    _make_price_lists_and_offers(client, demo)


#: Wholesale's trade prices with quantity breaks (contract v2 §8): product, then (from
#: quantity, unit price) pairs. A line the list prices takes no price rule, so each price
#: here is below what "Wholesale -20%" would give (notebook 16.00 → 12.80 by the rule).
TRADE_PRICES = {
    "p_notebook": [(1, 1250), (10, 1100), (50, 950)],
    "p_planner": [(1, 1700), (10, 1550)],
    "p_cards": [(1, 900), (20, 750)],
    "p_stoneware_mug": [(1, 1400), (12, 1200)],
    "p_bulb_warm": [(1, 700), (24, 600)],
}


def _make_price_lists_and_offers(client: DemoClient, demo: DemoShop) -> None:
    trade = {
        "name": "Trade prices",
        "audience": {"type": "groups", "ids": [demo.groups["Wholesale"]]},
        "priority": 10,
        "active": True,
    }
    list_id = client.api("POST", "/api/price-lists", trade, 201)["id"]
    demo.price_lists[trade["name"]] = list_id
    for product_id, breaks in TRADE_PRICES.items():
        for minimum, price in breaks:
            entry = {"product_id": product_id, "min_quantity": minimum, "price": price}
            client.api("POST", f"/api/price-lists/{list_id}/entries", entry)
    offers = [
        ("Greeting cards: 3 for 2", {"product_ids": ["p_cards"], "quantity": 2},
         {"product_ids": ["p_cards"], "quantity": 1, "discount": {"type": "free"}}, 3),
        ("Second candle half price",
         {"category_ids": ["candles"], "quantity": 1},
         {"category_ids": ["candles"], "quantity": 1,
          "discount": {"type": "percent", "value": 50}}, 1),
    ]  # fmt: skip
    for priority, (name, buy, get, most) in enumerate(offers, start=1):
        body = {
            "name": name,
            "audience": {"type": "all"},
            "buy": buy,
            "get": get,
            "max_applications": most,
            "priority": priority * 10,
            "active": True,
        }
        demo.offers[name] = client.api("POST", "/api/offers", body, 201)["id"]


def _make_discounts(client: DemoClient, demo: DemoShop) -> None:
    """The codes the orders used, plus a pool of single-use birthday codes."""
    everyone = {"type": "all"}
    discounts = [
        ("Summer 10%", "SUMMER24", "products", "percent", 10, {}),
        ("Welcome 10%", "WELCOME10", "products", "percent", 10, {"once_per_customer": True}),
        ("Lumen 15%", "LUMEN15", "products", "percent", 15, {"usage_limit": 500}),
        (
            "Newsletter 5 EUR off from 30 EUR",
            "NEWSLETTER5",
            "products",
            "fixed",
            500,
            {"minimum": {"type": "amount", "value": 3000}},
        ),
        (
            "Free Colissimo",
            "FREESHIP",
            "products",
            "free_shipping",
            None,
            {"carriers": ["colissimo"]},
        ),
        ("Birthday 15%", None, "products", "percent", 15, {"once_per_customer": True}),
    ]
    for name, code, applies_to, kind, value, extra in discounts:
        body = {
            "name": name,
            "applies_to": applies_to,
            "code": code,
            "type": kind,
            "value": value,
            "carriers": [],
            "starts_at": None,
            "ends_at": None,
            "usage_limit": None,
            "once_per_customer": False,
            "audience": everyone,
            "minimum": {"type": "none", "value": None},
            "payment_methods": [],
            "channels": [],
            "active": True,
            **extra,
        }
        demo.discounts[name] = client.api("POST", "/api/discounts", body, 201)["id"]
    pool = {"count": 50, "length": 8, "prefix": "BDAY-", "suffix": "", "charset": None}
    client.api("POST", f"/api/discounts/{demo.discounts['Birthday 15%']}/codes/generate", pool, 201)


# The ready-made requests printed after loading.


def sample_cart(demo: DemoShop) -> dict[str, Any]:
    """A cart of a Wholesale customer with a code: price rules, a bundle and a gift show."""
    buyer = next(
        (c for c in demo.customers if c.group == "Wholesale"),
        demo.customers[0] if demo.customers else None,
    )
    picked = [("p_desk_lamp", 1), ("p_bulb_warm", 2), ("p_linen_throw", 1), ("p_candle_fig", 2)]
    lines = [
        {
            "id": f"l{index}",
            "product_id": pid,
            "kind": PRODUCTS_BY_ID[pid].kind,
            "category_ids": [PRODUCTS_BY_ID[pid].category],
            "quantity": quantity,
            "unit_price": PRODUCTS_BY_ID[pid].price,
        }
        for index, (pid, quantity) in enumerate(picked, start=1)
    ]
    city = buyer.payload["default_address"] if buyer is not None else {"city": "Paris"}
    return {
        "cart_id": "demo_cart_1",
        "currency": "EUR",
        "customer_id": buyer.payload["id"] if buyer is not None else None,
        "channel": "web",
        "payment_method": "paypal",
        "shipping": {
            "carrier": "colissimo",
            "price": SHIPPING_PRICES["colissimo"],
            "address": {"city": city["city"], "country": city.get("country", "FR")},
        },
        "lines": lines,
        "codes": ["SUMMER24"],
    }


def build_app(path: str, secret: str) -> Flask:
    """A fresh SQLite file at ``path`` with the schema of the migrations."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    app = create_app(
        {
            "CUSTOMER_GROUPS_APP_SECRET": secret,
            "CUSTOMER_GROUPS_DATABASE_URL": f"sqlite:///{path}",
            "CUSTOMER_GROUPS_HOST_ADMIN_URL": HOST_PAGE_PATH,
        }
    )
    install_demo_host(app, SHOP_DOMAIN, SHOP["name"])
    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
    # Alembic's logging setup replaces ours; keep the request log for the server.
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]

    def _no_fsync_per_commit(dbapi_connection: Any, connection_record: Any) -> None:
        # A throwaway file rebuilt on every run; WAL stays consistent at NORMAL.
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    with app.app_context():
        event.listen(db.engine, "connect", _no_fsync_per_commit)
        db.engine.dispose()  # reconnect with the pragma
    missing = sorted(set(db.metadata.tables) - tables)
    if missing:
        raise DemoError(
            "The migrations are behind the models: no table "
            + ", ".join(missing)
            + ". Generate a migration (flask --app plugin db migrate) and run the demo again."
        )
    return app


def run_demo(
    host: str,
    port: int,
    customers: int,
    orders: int,
    serve_after: bool = True,
    path: str | None = None,
    seed: int = DEFAULT_SEED,
) -> DemoShop:
    """Build, load and (unless told not to) serve the demo shop, printing how to use it."""
    secret = os.environ.get("CUSTOMER_GROUPS_APP_SECRET")
    made_up = not secret
    if not secret:
        secret = secrets.token_urlsafe(32)
    path = os.path.abspath(path or DEFAULT_PATH)
    started = time.perf_counter()
    app = build_app(path, secret)
    demo = load_demo(app, customers, orders, seed)
    elapsed = time.perf_counter() - started

    base = f"http://{host}:{port}"
    cart_path = os.path.join(os.path.dirname(path), "demo-cart.json")
    body = json.dumps(sample_cart(demo), separators=(",", ":")).encode()
    with open(cart_path, "wb") as handle:
        handle.write(body)
    env = f"CUSTOMER_GROUPS_APP_SECRET={shlex.quote(secret)}"
    token = issue_session_token(secret, app.config["CUSTOMER_GROUPS_APP_ID"], SHOP_DOMAIN)
    curl = curl_command(
        f"{base}/hooks/cart/price",
        signed_headers(secret, SHOP_DOMAIN, body, path="/hooks/cart/price"),
        body,
        None,
    )
    rel_cart = os.path.relpath(cart_path)
    command = shell_command()
    print(
        f"""
Customer Groups demo: {SHOP["name"]} ({SHOP_DOMAIN}, {SHOP["currency"]}, {SHOP["timezone"]})
  {len(demo.customers)} customers, {demo.orders} orders ({demo.with_codes} with a code, \
{demo.refunded} refunded)
  groups: {", ".join(demo.groups)}
  segments: {", ".join(demo.segments)}
  {len(demo.price_rules)} price rules, {len(demo.bundles)} bundles, {len(demo.gift_rules)} gift \
rules, {len(demo.benefit_programmes)} benefit programme, \
{len(demo.price_lists)} price list, {len(demo.offers)} offers, \
{len(demo.discounts)} discounts (codes {", ".join(CODES)}, FREESHIP, 50 BDAY-… codes)
  loaded in {elapsed:.1f} s into {os.path.relpath(path)}

App secret{" (made up for this run)" if made_up else ""}: {secret}

Open the admin (a stand-in for the shop's admin: a fresh session each time it is opened):
  {base}{HOST_PAGE_PATH}
The admin alone (this token lives 60 s), and a fresh one:
  {base}/admin?{urlencode({"shop": SHOP_DOMAIN, "id_token": token})}
  {env} {command} token --shop {SHOP_DOMAIN} --admin-url {base}

Price a cart (the signature is valid for 300 s):
  {curl}
Sign it again ({rel_cart} holds the body):
  {env} {command} sign --shop {SHOP_DOMAIN} --file {rel_cart} \
--url {base}/hooks/cart/price
""",
        flush=True,
    )
    if serve_after:
        with app.app_context():
            db.engine.dispose()  # gunicorn forks: no pooled connection may cross it
        # One worker: SQLite has one writer anyway; threads serve the admin and the hooks.
        serve(host, port, workers=1, threads=8, app=app)
    return demo


def shell_command() -> str:
    """How to run ``customer-groups`` from the current directory as printed: the script
    beside this Python (``.venv/bin/customer-groups`` after ``make demo``), relative when it
    is below the current directory; ``python -m plugin.cli`` when there is no script."""
    script = os.path.join(os.path.dirname(sys.executable), "customer-groups")
    if not os.access(script, os.X_OK):
        return f"{shlex.quote(sys.executable)} -m plugin.cli"
    relative = os.path.relpath(script)
    if relative.startswith(os.pardir):
        return shlex.quote(script)
    return shlex.quote(relative if os.sep in relative else os.path.join(os.curdir, relative))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return folded.lower().replace(" ", "")


def _digits(rng: Random, count: int) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(count))
