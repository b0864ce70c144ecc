"""Every field and operator of "Segment conditions" (contract §5), counted by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from plugin.customers.models import Customer, CustomerProduct, CustomerTag
from plugin.db import db, utcnow
from plugin.shops.models import Shop
from tests.conftest import Host, auth, customer_payload, make_app
from tests.segments.conftest import CUSTOMERS, load_paris, preview


def c(field, op, value):
    return {"field": field, "op": op, "value": value}


CASES = [
    # registration_date (Paris days: a 11 Jan, b 10 Jan, c 12 Jan, d none, e 15 Feb)
    (c("registration_date", "is", "2026-01-11"), "a"),
    (c("registration_date", "before", "2026-01-11"), "b"),
    (c("registration_date", "after", "2026-01-11"), "ce"),
    (c("registration_date", "is", "2026-01-12"), "c"),
    # customer_tag (ignoring case)
    (c("customer_tag", "has", "vip"), "ab"),
    (c("customer_tag", "has", "WHOLESALE"), "d"),
    (c("customer_tag", "has_not", "Vip"), "cde"),
    # available_points: a 100, b 50, c 0, d 250, e 50
    (c("available_points", "eq", 50), "be"),
    (c("available_points", "ne", 50), "acd"),
    (c("available_points", "gt", 50), "ad"),
    (c("available_points", "gte", 100), "ad"),
    (c("available_points", "lt", 50), "c"),
    (c("available_points", "lte", 50), "bce"),
    # total_order_count: a 2, b 1, c 1 (o5 refunded), d 0, e 2
    (c("total_order_count", "eq", 1), "bc"),
    (c("total_order_count", "ne", 1), "ade"),
    (c("total_order_count", "gt", 1), "ae"),
    (c("total_order_count", "gte", 1), "abce"),
    (c("total_order_count", "lt", 1), "d"),
    (c("total_order_count", "lte", 1), "bcd"),
    # total_purchase_amount: a 5000, b 10000, c 500, d 0, e 7100
    (c("total_purchase_amount", "eq", 5000), "a"),
    (c("total_purchase_amount", "ne", 0), "abce"),
    (c("total_purchase_amount", "gt", 5000), "be"),
    (c("total_purchase_amount", "gte", 5000), "abe"),
    (c("total_purchase_amount", "lt", 5000), "cd"),
    (c("total_purchase_amount", "lte", 500), "cd"),
    # purchased_date (Paris days: a 1 and 6 Mar, b 1 Mar, c 10 Feb, e 6 and 10 Mar)
    (c("purchased_date", "is", "2026-03-01"), "ab"),
    (c("purchased_date", "is", "2026-03-06"), "ae"),  # c's order that day was refunded
    (c("purchased_date", "is", "2026-03-05"), ""),  # a's order is 00:30 on the 6th in Paris
    (c("purchased_date", "before", "2026-03-01"), "c"),
    (c("purchased_date", "before", "2026-03-02"), "abc"),
    (c("purchased_date", "after", "2026-03-06"), "e"),
    (c("purchased_date", "after", "2026-03-05"), "ae"),
    # last_order_date: a 6 Mar, b 1 Mar, c 10 Feb, e 10 Mar
    (c("last_order_date", "is", "2026-03-06"), "a"),
    (c("last_order_date", "before", "2026-03-06"), "bc"),
    (c("last_order_date", "after", "2026-03-06"), "e"),
    # purchased_product: a p1 p2, b p1 p3, c p3, e p1 p2 p4
    (c("purchased_product", "any_of", ["p2", "p3"]), "abce"),
    (c("purchased_product", "any_of", ["p4"]), "e"),
    (c("purchased_product", "all_of", ["p1", "p2"]), "ae"),
    (c("purchased_product", "all_of", ["p1", "p3"]), "b"),
    (c("purchased_product", "none_of", ["p1"]), "cd"),
    (c("purchased_product", "none_of", ["p2", "p3"]), "d"),
    # dropship_partner_registration_date: a 1 Feb, c 1 Mar
    (c("dropship_partner_registration_date", "is", "2026-02-01"), "a"),
    (c("dropship_partner_registration_date", "before", "2026-03-01"), "a"),
    (c("dropship_partner_registration_date", "after", "2026-02-01"), "c"),
    # used_discount_code
    (c("used_discount_code", "is", True), "ae"),
    (c("used_discount_code", "is", False), "bcd"),
    # city and country of the default address (ignoring case; no address is "not" any)
    (c("city", "is", "paris"), "a"),
    (c("city", "is_not", "Paris"), "bcde"),
    (c("country", "is", "fr"), "ab"),
    (c("country", "is_not", "FR"), "cde"),
    # customer_type, accepts_marketing
    (c("customer_type", "is", "business"), "ad"),
    (c("customer_type", "is", "individual"), "bce"),
    (c("accepts_marketing", "is", True), "ad"),
    (c("accepts_marketing", "is", False), "bce"),
]


@pytest.fixture(scope="module")
def previewing(tmp_path_factory):
    """A client of one Paris shop shared by the tests that only preview (a preview writes
    nothing): loading the shop sends 14 webhooks, which each of these tests paid before.
    Those tests come first in this module: on PostgreSQL, the next test's own app empties
    the worker's database."""
    app = make_app(tmp_path_factory.mktemp("paris"))
    client = app.test_client()
    load_paris(Host(client))
    yield client
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize(
    "condition, expected", CASES, ids=[f"{x['field']}-{x['op']}-{x['value']}" for x, _ in CASES]
)
def test_condition(previewing, condition, expected):
    assert preview(previewing, [condition]) == set(expected)


def test_all_and_any(previewing):
    conditions = [c("country", "is", "FR"), c("total_order_count", "gte", 2)]
    assert preview(previewing, conditions, match="all") == {"a"}
    assert preview(previewing, conditions, match="any") == {"a", "b", "e"}
    three = [*conditions, c("customer_tag", "has", "wholesale")]
    assert preview(previewing, three, match="any") == {"a", "b", "d", "e"}
    assert preview(previewing, three, match="all") == set()


def test_a_tag_or_product_row_of_another_shop_never_counts(client, paris):
    """A tag or bought-product condition names the shop as well as the customer: a row
    that gives this shop's customer c a tag or a product under another shop's id (no write
    of ours makes one) is not this shop's, in a preview, a count or a recompute alike."""
    with client.application.app_context():
        other = db.session.execute(
            insert(Shop).values(domain="other.example", currency="EUR").returning(Shop.id)
        ).scalar_one()
        customer = db.session.execute(
            select(Customer.id).where(Customer.external_id == "c")
        ).scalar_one()
        db.session.execute(
            insert(CustomerTag).values(
                customer_id=customer, tag_key="vip", shop_id=other, tag="VIP"
            )
        )
        now = utcnow()
        db.session.execute(
            insert(CustomerProduct).values(
                customer_id=customer,
                product_id="p9",
                shop_id=other,
                quantity=1,
                first_purchased_at=now,
                last_purchased_at=now,
            )
        )
        db.session.commit()
    cases = [
        (c("customer_tag", "has", "vip"), {"a", "b"}),
        (c("customer_tag", "has_not", "vip"), set("cde")),
        (c("purchased_product", "any_of", ["p9"]), set()),
        (c("purchased_product", "all_of", ["p3", "p9"]), set()),
        (c("purchased_product", "none_of", ["p9"]), set("abcde")),
    ]
    for number, (condition, expected) in enumerate(cases):
        assert preview(client, [condition]) == expected
        # Saved: the full recompute's INSERT ... SELECT, then c's own re-evaluation.
        response = client.post(
            "/api/segments",
            json={"name": f"Other shop {number}", "match": "all", "conditions": [condition]},
            headers=auth(),
        )
        assert response.status_code == 201, response.get_json()
        segment = response.get_json()["id"]
        members = client.get(f"/api/segments/{segment}/customers", headers=auth()).get_json()
        assert {m["id"] for m in members["items"]} == expected, condition
    paris.webhook("customer/updated", {"customer": CUSTOMERS[2]})  # c, as it was
    for number, (condition, expected) in enumerate(cases):
        found = client.get("/api/segments", headers=auth()).get_json()["items"]
        counts = {s["name"]: s["member_count"] for s in found}
        assert counts[f"Other shop {number}"] == len(expected), condition


def test_saved_segment_has_the_previewed_members(client, paris):
    conditions = [c("purchased_product", "any_of", ["p1"]), c("total_purchase_amount", "gt", 6000)]
    response = client.post(
        "/api/segments",
        json={"name": "Big p1 buyers", "match": "all", "conditions": conditions},
        headers=auth(),
    )
    assert response.status_code == 201, response.get_json()
    segment = response.get_json()
    assert segment["member_count"] == 2  # b (10000) and e (7100)
    members = client.get(f"/api/segments/{segment['id']}/customers", headers=auth()).get_json()
    assert [m["id"] for m in members["items"]] == ["b", "e"]


def test_relative_dates_count_from_today_in_the_shop(client, host):
    host.install(timezone="Pacific/Auckland")
    now = datetime.now(UTC)
    for customer_id, days in (("recent", 10), ("old", 40)):
        moment = (now - timedelta(days=days)).isoformat()
        payload = customer_payload(customer_id, registered_at=moment)
        assert host.webhook("customer/created", {"customer": payload}).status_code == 200
    assert preview(client, [c("registration_date", "after", "-30d")]) == {"recent"}
    assert preview(client, [c("registration_date", "before", "-30d")]) == {"old"}
    assert preview(client, [c("registration_date", "is", "-10d")]) == {"recent"}
    assert preview(client, [c("registration_date", "is", "-11d")]) == set()
