"""Redaction leaves nothing behind (issue 15 item 5): after ``customers/redact`` no row of any
table of the schema names the customer; after ``shop/redact`` none names the shop.

The customer goes through everything that keeps a trace: an automation (its job's
arguments, its run, the coupon it gave, the outbox event announcing it), audiences (what
the vendor holds, and a run whose errors name them), paid orders, and the code-guessing
guard (attempts and a block). The walk reads every row of every table as text."""

from __future__ import annotations

import json

from sqlalchemy import select

from plugin.audiences.models import AudienceMember
from plugin.db import db
from plugin.jobs import run_pending
from tests.audiences.vendors import FakeKlaviyo
from tests.conftest import SHOP, auth, customer_payload, order_payload
from tests.rules.helpers import cart

CUSTOMER = "cust-zq81x"
EMAIL = "zq81x.person@example.org"
PHONE = "+15550198181"
NAMES = ("Quintessa", "Zyxwell")
NEEDLES = (CUSTOMER, EMAIL, PHONE, *NAMES)
KEY = "pk_live_redaction_0123456789"


def rows_naming(app, needles) -> list[str]:
    """Every row of every table whose text holds one of ``needles``."""
    found = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)).mappings():
                text = json.dumps({k: str(v) for k, v in row.items()}).casefold()
                for needle in needles:
                    if needle.casefold() in text:
                        found.append(f"{table.name}: {dict(row)}")
        db.session.rollback()
    return found


def trace_everywhere(app, client, host, httpserver) -> None:
    """Leave the customer's traces in every feature that keeps some."""
    app.config["CUSTOMER_GROUPS_CODE_SLOW_AFTER"] = 1000
    discount = client.post(
        "/api/discounts", json={"name": "Welcome", "type": "percent", "value": 10}, headers=auth()
    ).get_json()
    client.post(
        f"/api/discounts/{discount['id']}/codes/import",
        data=b"code\nWELCOME1\nWELCOME2\n",
        headers={**auth(), "Content-Type": "text/csv"},
    )
    automation = client.post(
        "/api/automations",
        json={
            "name": "Welcome coupon",
            "trigger": {"type": "customer_created"},
            "action": {"type": "give_coupon", "discount_id": discount["id"]},
        },
        headers=auth(),
    )
    assert automation.status_code == 201, automation.get_json()
    customer = customer_payload(
        CUSTOMER, email=EMAIL, phone=PHONE, first_name=NAMES[0], last_name=NAMES[1]
    )
    assert host.webhook("customer/created", {"customer": customer}).status_code == 200
    run_pending(app)  # the automation's job: a coupon given, an event in the outbox
    assert host.webhook("order/paid", {"order": order_payload("o_9", CUSTOMER)}).status_code == 200
    # The guard: wrong codes typed by the customer, enough to be blocked.
    for attempt in range(3):
        codes = [f"NOPE{attempt}{i}" for i in range(5)]
        host.post(
            "/hooks/cart/price", cart(cart_id=f"k{attempt}", customer_id=CUSTOMER, codes=codes)
        )
    # Audiences: one vendor holds them, another refused them (the run's errors name them).
    FakeKlaviyo(httpserver, "LIST1", KEY)
    httpserver.expect_request("/refusing/api/profile-import").respond_with_json(
        {"errors": [{"code": "invalid"}]}, status=400
    )
    for name, base in (("Held", "/"), ("Refused", "/refusing/")):
        audience = client.post(
            "/api/audiences",
            json={
                "name": name,
                "source": {"type": "group", "id": _default_group(client)},
                "destination": {
                    "type": "klaviyo",
                    "credentials": {"api_key": KEY},
                    "list_id": "LIST1",
                    "base_url": httpserver.url_for(base),
                },
            },
            headers=auth(),
        ).get_json()
        client.post(f"/api/audiences/{audience['id']}/run", headers=auth())


def _default_group(client) -> int:
    groups = client.get("/api/groups", headers=auth()).get_json()["items"]
    return next(group["id"] for group in groups if group["is_default"])


def test_customers_redact_leaves_nothing_of_the_customer(app, client, host, shop, httpserver):
    trace_everywhere(app, client, host, httpserver)
    before = rows_naming(app, NEEDLES)
    tables = {row.split(":")[0] for row in before}
    # The traces the walk must then find gone (the scenario really left them).
    assert {"customers", "jobs", "outbox_events", "audience_runs", "code_attempts"} <= tables

    answer = host.webhook("customers/redact", {"customer_id": CUSTOMER})
    assert answer.status_code == 200, answer.get_json()

    left = rows_naming(app, NEEDLES)
    assert left == [], "\n".join(row[:300] for row in left)
    with app.app_context():
        # What the vendor holds of them is queued for removal, by nothing but its own ids.
        left = db.session.execute(select(AudienceMember)).scalars().all()
        assert [(row.customer_id, row.vendor_ref is not None) for row in left] == [(None, True)]


def test_the_removal_queued_by_redaction_takes_them_out_of_the_vendor(
    app, client, host, shop, httpserver
):
    trace_everywhere(app, client, host, httpserver)
    host.webhook("customers/redact", {"customer_id": CUSTOMER})
    run_pending(app)  # the audience run the redaction queued
    with app.app_context():
        assert db.session.execute(select(AudienceMember)).scalars().all() == []
    assert rows_naming(app, NEEDLES) == []


def test_shop_redact_leaves_nothing_of_the_shop(app, client, host, shop, httpserver):
    trace_everywhere(app, client, host, httpserver)
    with app.app_context():
        from plugin.shops.models import Shop

        shop_id = db.session.execute(select(Shop.id).where(Shop.domain == SHOP)).scalar_one()
    assert rows_naming(app, (SHOP,))

    assert host.webhook("shop/redact", {}).status_code == 200

    assert rows_naming(app, (SHOP, *NEEDLES)) == []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            if "shop_id" in table.c:
                left = db.session.execute(select(table).where(table.c.shop_id == shop_id)).first()
                assert left is None, f"{table.name} still holds a row of the shop"
