"""Property: the SQL compiler and the Python evaluator agree on random customers and
random condition lists (the incremental path must match the set-based one)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from plugin.customers.keys import optional_text_key, text_key
from plugin.customers.models import Customer
from plugin.db import db
from plugin.groups.operations import ensure_default_group
from plugin.intake import operations as customers
from plugin.segments.compiler import segment_customer_ids
from plugin.segments.conditions import parse_conditions
from plugin.segments.evaluator import evaluate
from plugin.segments.operations import customer_facts
from plugin.shops.operations import install_shop

TODAY = date(2026, 3, 10)
START = datetime(2026, 3, 1, tzinfo=UTC)
TIMEZONES = ["UTC", "Europe/Paris", "America/New_York", "Pacific/Auckland"]
PRODUCTS = ["p1", "p2", "p3"]

# Spellings that fold alike in Python but not in SQL lower() (ASCII only on SQLite, and
# on PostgreSQL under the C locale): É, ß, Ø, Ü/İ/ı (Turkish), and combining accents.
CITIES = ["Paris", "paris", "Lyon", "ÉVRY", "évry", "E\u0301vry", "Evry", "Zürich", "ZÜRICH"]
CITIES += ["Zu\u0308rich", "Straße", "STRASSE", "Øslo", "øSLO", "İstanbul", "Istanbul", "ıstanbul"]
COUNTRIES = ["FR", "fr", "DE", "ÖSTERREICH", "O\u0308sterreich", "Türkiye", "TÜRKİYE", "TURKIYE"]
TAGS = ["vip", "VIP", "new", "b2b", "Straße", "STRASSE", "Zürich", "ZU\u0308RICH", "Ø", "ø"]
TAGS += ["İstanbul", "ıstanbul", "ISTANBUL", "ﬁne", "FINE"]

# Instants on a few days, at hours that land on different days in different zones.
moments = st.builds(
    lambda day, hour: START + timedelta(days=day, hours=hour),
    st.integers(0, 5),
    st.sampled_from([0, 5, 11, 13, 22, 23]),
)
days = st.one_of(
    st.integers(0, 6).map(lambda d: (START.date() + timedelta(days=d)).isoformat()),
    st.integers(4, 10).map(lambda d: f"-{d}d"),  # TODAY - 4..10 days: 28 Feb to 6 Mar
)

orders = st.lists(
    st.fixed_dictionaries(
        {
            "placed_at": moments,
            "total": st.sampled_from([0, 1000, 2500]),
            "products": st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=2, unique=True),
            "code": st.booleans(),
            "refunded": st.booleans(),
        }
    ),
    max_size=3,
)

customer_specs = st.fixed_dictionaries(
    {
        "registered_at": st.none() | moments,
        "tags": st.lists(st.sampled_from(TAGS), max_size=3),
        "points": st.integers(0, 3),
        "accepts_marketing": st.booleans(),
        "type": st.sampled_from(["individual", "business"]),
        "city": st.none() | st.sampled_from(CITIES),
        "country": st.none() | st.sampled_from(COUNTRIES),
        "dropship": st.none() | moments,
        "orders": orders,
    }
)


def cond(field, ops, values):
    return st.fixed_dictionaries(
        {"field": st.just(field), "op": st.sampled_from(ops), "value": values}
    )


NUMBER_OPS = ["eq", "ne", "gt", "gte", "lt", "lte"]
DATE_OPS = ["is", "before", "after"]
conditions = st.one_of(
    cond("registration_date", DATE_OPS, days),
    cond("customer_tag", ["has", "has_not"], st.sampled_from(["New", *TAGS])),
    cond("available_points", NUMBER_OPS, st.integers(0, 3)),
    cond("total_order_count", NUMBER_OPS, st.integers(0, 3)),
    cond("total_purchase_amount", NUMBER_OPS, st.sampled_from([0, 1000, 2500, 3500])),
    cond("purchased_date", DATE_OPS, days),
    cond("last_order_date", DATE_OPS, days),
    cond(
        "purchased_product",
        ["any_of", "all_of", "none_of"],
        st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=3, unique=True),
    ),
    cond("dropship_partner_registration_date", DATE_OPS, days),
    cond("used_discount_code", ["is"], st.booleans()),
    cond("city", ["is", "is_not"], st.sampled_from(["LYON", "ÉVRY", "zÜrich", *CITIES])),
    cond("country", ["is", "is_not"], st.sampled_from(["türkiye", "österreich", *COUNTRIES])),
    cond("customer_type", ["is"], st.sampled_from(["individual", "business"])),
    cond("accepts_marketing", ["is"], st.booleans()),
)


def iso(moment):
    return None if moment is None else moment.isoformat()


def build(shop, specs):
    for index, spec in enumerate(specs):
        customer_id = f"c{index}"
        customers.upsert_customer(
            shop,
            {
                "id": customer_id,
                "registered_at": spec["registered_at"],
                "tags": spec["tags"],
                "points": spec["points"],
                "accepts_marketing": spec["accepts_marketing"],
                "type": spec["type"],
                "default_address": (
                    None
                    if spec["city"] is None and spec["country"] is None
                    else {"city": spec["city"], "country": spec["country"], "zip": None}
                ),
                "dropship_partner": (
                    None
                    if spec["dropship"] is None
                    else {"id": "dp", "registered_at": spec["dropship"]}
                ),
            },
        )
        for number, order in enumerate(spec["orders"]):
            order_id = f"{customer_id}-o{number}"
            customers.record_paid_order(
                shop,
                {
                    "id": order_id,
                    "customer_id": customer_id,
                    "placed_at": order["placed_at"],
                    "currency": "EUR",
                    "total": order["total"],
                    "lines": [
                        {"product_id": p, "kind": "product", "quantity": 1, "unit_price": 0}
                        for p in order["products"]
                    ],
                    "discount_codes": ["CODE"] if order["code"] else [],
                },
            )
            if order["refunded"]:
                customers.reverse_order(shop, order_id, "refunded")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    timezone=st.sampled_from(TIMEZONES),
    specs=st.lists(customer_specs, min_size=2, max_size=8),
    raw=st.lists(conditions, min_size=1, max_size=6),
    match=st.sampled_from(["all", "any"]),
)
def test_sql_and_python_agree(app, timezone, specs, raw, match):
    with app.app_context():
        try:
            shop = install_shop(
                f"{uuid.uuid4().hex[:12]}.example", {"currency": "EUR", "timezone": timezone}
            )
            ensure_default_group(shop)
            build(shop, specs)
            rows = list(
                db.session.execute(
                    select(Customer).where(Customer.shop_id == shop.id).order_by(Customer.id)
                ).scalars()
            )
            # Both paths read the keys written with the customer: the one function's.
            for customer, spec in zip(rows, specs, strict=True):
                assert customer.city_key == optional_text_key(spec["city"])
                assert customer.country_key == optional_text_key(spec["country"])
                assert {t.tag_key for t in customer.tags} == {text_key(t) for t in spec["tags"]}
            # Each condition alone, then the list under ``match``.
            cases = [("all", [c]) for c in raw] + [(match, raw)]
            for case_match, case in cases:
                parsed = parse_conditions(case)
                query = segment_customer_ids(shop.id, case_match, parsed, TODAY, timezone)
                in_sql = set(db.session.execute(query).scalars())
                in_python = {
                    c.id
                    for c in rows
                    if evaluate(
                        customer_facts(shop, c, parsed), case_match, parsed, TODAY, timezone
                    )
                }
                assert in_sql == in_python, (case_match, case)
        finally:
            db.session.rollback()
