"""``POST /hooks/cart/price`` end to end (contract §4), with rules made through the admin API."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import event, func, select

from hooks import signals
from plugin.customers.models import Customer
from plugin.db import db
from plugin.shops.models import ProcessedEvent, Shop
from tests.conftest import SHOP, customer_payload
from tests.rules.helpers import Admin, cart, error, line, price_rule

HOOK = "/hooks/cart/price"


@pytest.fixture
def admin(client, shop):
    return Admin(client)


@pytest.fixture
def seed_003(host, admin):
    """Seed 003: 10 % off for group X, 20 % off for group Y, with real customers moved in."""
    for external_id in ("c_x", "c_y", "c_std"):
        response = host.webhook("customer/created", {"customer": customer_payload(external_id)})
        assert response.status_code == 200
    groups = {}
    for name, colour, members, percent in (
        ("X", "#1E88E5", ["c_x"], 10),
        ("Y", "#43a047", ["c_y"], 20),
    ):
        group = admin.create("/groups", {"name": name, "colour": colour})
        moved = admin.post(f"/groups/{group['id']}/customers", {"customer_ids": members})
        assert moved.status_code == 200, moved.get_json()
        admin.create(
            "/price-rules",
            price_rule(
                f"{name} -{percent}%",
                audience={"type": "groups", "ids": [group["id"]]},
                action={"type": "discount_percent", "value": percent},
            ),
        )
        groups[name] = group
    return groups


SEED_CART = [
    line("l1", "p1", quantity=2, unit_price=1999, category_ids=["shoes"]),
    line("l2", "p2", quantity=1, unit_price=500),
]


@pytest.mark.parametrize(
    "customer_id, group, units, subtotal, total",
    [
        # 1999 × 0.9 = 1799.1 → 1799; 500 × 0.9 = 450.
        ("c_x", "X", [1799, 450], 1799 * 2 + 450, 1799 * 2 + 450 + 500),
        # 1999 × 0.8 = 1599.2 → 1599; 500 × 0.8 = 400.
        ("c_y", "Y", [1599, 400], 1599 * 2 + 400, 1599 * 2 + 400 + 500),
        ("c_std", "Standard", [1999, 500], 4498, 4998),
        (None, None, [1999, 500], 4498, 4998),
        # Known to the host, not yet to us: a registered customer of the default group.
        ("c_new", "Standard", [1999, 500], 4498, 4998),
    ],
)
def test_group_prices_through_the_hook(host, seed_003, customer_id, group, units, subtotal, total):
    response = host.post(HOOK, cart(SEED_CART, customer_id=customer_id))
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert [ln["rule_unit_price"] for ln in answer["lines"]] == units
    assert (answer["subtotal"], answer["discount_total"], answer["shipping_total"]) == (
        subtotal,
        0,
        500,
    )
    assert answer["total"] == total
    assert sum(ln["total"] for ln in answer["lines"]) + answer["shipping_total"] == total
    shown = answer["customer"]["group"]
    assert (shown and shown["name"]) == group
    if group == "X":
        assert shown["colour"] == "#1e88e5"
        first = answer["lines"][0]
        assert first["adjustments"] == [
            {
                "source": "price_rule",
                "rule_id": first["adjustments"][0]["rule_id"],
                "label": "X -10%",
                "amount": (1799 - 1999) * 2,
            }
        ]
    assert answer["earns_loyalty_points"] is True
    assert answer["codes"] == [] and answer["gifts"] == []


def test_moving_a_customer_changes_the_next_price(host, admin, seed_003):
    assert host.post(HOOK, cart(SEED_CART, customer_id="c_std")).get_json()["total"] == 4998
    admin.post(f"/groups/{seed_003['Y']['id']}/customers", {"customer_ids": ["c_std"]})
    assert host.post(HOOK, cart(SEED_CART, customer_id="c_std")).get_json()["total"] == 4098


def test_bundle_programme_gift_and_guest_rule_together(host, admin):
    admin.create(
        "/price-rules",
        price_rule(
            "Guests +5%",
            audience={"type": "guests"},
            action={"type": "increase_percent", "value": 5},
            scope={"type": "products", "ids": ["p2"]},
        ),
    )
    admin.create(
        "/bundles",
        {
            "name": "Pair",
            "items": [{"product_id": "p1", "quantity": 2}],
            "price": {"type": "fixed_total", "value": 3000},
        },
    )
    admin.create(
        "/benefit-programmes",
        {
            "name": "Big basket",
            "conditions": [{"field": "channel", "op": "is", "value": "WEB"}],
            "tiers": [
                {"min_subtotal": 3000, "actions": [{"type": "percent_off_order", "value": 10}]},
                {"min_subtotal": 100000, "actions": [{"type": "fixed_off_order", "value": 5000}]},
            ],
            "earns_loyalty_points": False,
        },
    )
    admin.create(
        "/gift-rules",
        {
            "name": "Free tote",
            "trigger": {"type": "products", "product_ids": ["p1"], "min_quantity": 2},
            "gift": {"product_id": "p9"},
        },
    )
    lines = [line("l1", "p1", quantity=2, unit_price=1999), line("l2", "p2", unit_price=1000)]
    answer = host.post(HOOK, cart(lines)).get_json()
    # Guest: p2 is 1000 × 1.05 = 1050. Bundle: 2 × 1999 = 3998 → 3000 (998 off).
    # Programme tier 1 on 3000 + 1050 = 4050: 10 % = 405, spread 3000:1050 → 300 and 105.
    first, second = answer["lines"]
    assert (first["subtotal"], first["discount"], first["total"]) == (3998, 998 + 300, 2700)
    assert (second["rule_unit_price"], second["discount"], second["total"]) == (1050, 105, 945)
    assert answer["discount_total"] == 998 + 405
    assert answer["total"] == 2700 + 945 + 500
    assert answer["earns_loyalty_points"] is False
    assert [g["product_id"] for g in answer["gifts"]] == ["p9"]
    for priced in answer["lines"]:
        moved = (priced["unit_price"] - priced["rule_unit_price"]) * priced["quantity"]
        assert sum(a["amount"] for a in priced["adjustments"]) == -(moved + priced["discount"])


def test_price_preview_and_signal_answer_like_the_hook(app, host, admin, seed_003):
    body = cart(SEED_CART, customer_id="c_y", codes=["NOPE"])
    over_http = host.post(HOOK, body).get_json()
    preview = admin.post("/price-preview", body)
    assert preview.status_code == 200
    assert preview.get_json() == over_http
    with app.app_context():
        [(_, over_signal)] = signals.cart_price.send(SHOP, payload=body)
    assert over_signal == over_http
    assert over_http["codes"] == [
        {
            "code": "NOPE",
            "status": "rejected",
            "reason": "unknown_code",
            "message": over_http["codes"][0]["message"],
        }
    ]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"lines": [line(quantity=-1)]}, "lines.0.quantity"),
        ({"lines": [line(quantity=0)]}, "lines.0.quantity"),
        ({"lines": [line(unit_price="19.99")]}, "lines.0.unit_price"),
        ({"lines": [line(unit_price=19.99)]}, "lines.0.unit_price"),
        ({"lines": [line(kind="gift_card")]}, "lines.0.kind"),
        ({"lines": [line("a"), line("a", "p2")]}, "lines.1.id"),
        ({"lines": [line(f"l{i}") for i in range(501)]}, "lines"),
        ({"channel": "phone"}, "channel"),
        ({"payment_method": "bitcoin"}, "payment_method"),
        ({"currency": "USD"}, "currency"),
        ({"shipping": {"carrier": "ups", "price": -5}}, "shipping.price"),
        ({"lines": "l1"}, "lines"),
    ],
)
def test_bad_carts_are_400_naming_the_field(app, host, admin, change, field):
    response = host.post(HOOK, cart(**change))
    assert response.status_code == 400
    err = error(response)
    assert err["code"] == "invalid_payload"
    assert field in err["details"], err["details"]
    preview = admin.post("/price-preview", cart(**change))
    assert preview.status_code == 400
    assert field in error(preview)["details"]


def test_five_hundred_lines_are_fine(host, shop):
    lines = [line(f"l{i}", f"p{i}") for i in range(500)]
    response = host.post(HOOK, cart(lines))
    assert response.status_code == 200
    assert response.get_json()["subtotal"] == 500 * 1000


def test_unsigned_stale_and_uninstalled_are_refused_in_order(host, shop):
    body = json.dumps(cart()).encode()
    response = host.client.post(HOOK, data=body, headers={"X-Shop-Domain": SHOP})
    assert (response.status_code, error(response)["code"]) == (401, "invalid_signature")
    response = host.post(HOOK, cart(), secret="not-the-secret")
    assert (response.status_code, error(response)["code"]) == (401, "invalid_signature")
    response = host.post(HOOK, cart(), timestamp=int(time.time()) - 400)
    assert (response.status_code, error(response)["code"]) == (401, "stale_request")
    # An unknown shop is refused before its payload is judged.
    response = host.post(HOOK, None, shop="nobody.example", raw=b"not json")
    assert (response.status_code, error(response)["code"]) == (403, "shop_not_installed")
    host.webhook("app/uninstalled", {})
    response = host.post(HOOK, cart())
    assert (response.status_code, error(response)["code"]) == (403, "shop_not_installed")


def test_not_json_is_400(host, shop):
    response = host.post(HOOK, None, raw=b"{nope")
    assert (response.status_code, error(response)["code"]) == (400, "invalid_payload")


def test_the_hook_writes_nothing(app, host, admin, seed_003):
    # Only the attempt counters of an unknown code are ever written (contract v2 §4,
    # tests/codes/test_guessing.py): the code typed here exists.
    admin.create(
        "/discounts", {"name": "Summer", "type": "percent", "value": 10, "code": "SUMMER10"}
    )
    statements, reads = [], []

    def record(conn, cursor, statement, parameters, context, executemany):
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in {"INSERT", "UPDATE", "DELETE"}:
            statements.append(statement)
        elif verb == "SELECT":
            reads.append(statement)

    with app.app_context():
        before = (
            db.session.execute(select(func.count()).select_from(Customer)).scalar(),
            db.session.execute(select(func.count()).select_from(ProcessedEvent)).scalar(),
            db.session.execute(select(Shop.rules_version)).scalar(),
        )
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        for customer_id in ("c_x", "c_unknown", None):
            body = cart(SEED_CART, customer_id=customer_id, codes=["SUMMER10"])
            assert host.post(HOOK, body).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements == []
    assert reads  # the listener saw the hook's queries
    with app.app_context():
        after = (
            db.session.execute(select(func.count()).select_from(Customer)).scalar(),
            db.session.execute(select(func.count()).select_from(ProcessedEvent)).scalar(),
            db.session.execute(select(Shop.rules_version)).scalar(),
        )
    assert after == before


def test_a_failure_inside_pricing_is_a_5xx_with_the_error_shape(host, shop, monkeypatch):
    from plugin.checkout import pricing as service

    def broken(*args, **kwargs):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(service, "price_cart", broken)
    response = host.post(HOOK, cart())
    assert response.status_code == 500
    assert error(response)["code"] == "internal_error"
    assert "lines" not in response.get_json()


def test_segment_audience_and_segments_in_the_answer(app, host, admin):
    from plugin.segments.models import Segment, SegmentMember

    host.webhook("customer/created", {"customer": customer_payload("c_seg")})
    # Made before the segments (these have no conditions: a new customer would join them).
    host.webhook("customer/created", {"customer": customer_payload("c_plain")})
    with app.app_context():
        shop_id = db.session.execute(select(Shop.id)).scalar_one()
        customer_id = db.session.execute(
            select(Customer.id).where(Customer.external_id == "c_seg")
        ).scalar_one()
        ids = []
        for name in ("Loyal", "Big spenders", "Parisians"):
            segment = Segment(shop_id=shop_id, name=name, name_key=name.lower(), conditions=[])
            db.session.add(segment)
            db.session.flush()
            ids.append(segment.id)
        for segment_id in ids[:2]:
            db.session.add(
                SegmentMember(shop_id=shop_id, segment_id=segment_id, customer_id=customer_id)
            )
        db.session.commit()
    admin.create(
        "/price-rules",
        price_rule(
            "Loyal 25%",
            audience={"type": "segments", "ids": [ids[1]]},
            action={"type": "discount_percent", "value": 25},
        ),
    )
    body = cart([line(unit_price=2000)], customer_id="c_seg")
    answer = host.post(HOOK, body).get_json()
    assert answer["customer"]["segments"] == [
        {"id": ids[0], "name": "Loyal"},
        {"id": ids[1], "name": "Big spenders"},
    ]
    assert answer["lines"][0]["rule_unit_price"] == 1500
    assert admin.post("/price-preview", body).get_json() == answer
    # Not in the segment: no rule.
    other = host.post(HOOK, cart([line(unit_price=2000)], customer_id="c_plain")).get_json()
    assert other["lines"][0]["rule_unit_price"] == 2000
    assert other["customer"]["segments"] == []
