"""References to our own rows are kept by the database (issue 12, "Integrity by the
database"): deleting a group or segment takes it out of every audience aimed at it in the
same transaction, an audience left empty matches nobody, and ids are never handed out twice.
"""

from __future__ import annotations

from sqlalchemy import select

from plugin.db import db
from plugin.shops.models import Shop
from tests.conftest import SHOP, customer_payload
from tests.rules.helpers import Admin, cart, line, price_rule

HOOK = "/hooks/cart/price"


def rules_version(app):
    with app.app_context():
        return db.session.execute(select(Shop.rules_version).where(Shop.domain == SHOP)).scalar()


def test_a_deleted_groups_rule_does_not_pass_to_the_next_group(app, host, shop):
    """The defect of issue 12: give group 2 a -50 % rule, delete group 2, create a group;
    on SQLite it got id 2 back, and with it the -50 %."""
    admin = Admin(host.client)
    wholesale = admin.create("/groups", {"name": "Wholesale"})
    rule = admin.create(
        "/price-rules",
        price_rule(
            "Wholesale -50%",
            audience={"type": "groups", "ids": [wholesale["id"]]},
            action={"type": "discount_percent", "value": 50},
        ),
    )
    assert admin.delete(f"/groups/{wholesale['id']}").status_code == 204
    fresh = admin.create("/groups", {"name": "Fresh"})
    assert host.webhook("customer/created", {"customer": customer_payload("c_new")}).status_code
    moved = admin.post(f"/groups/{fresh['id']}/customers", {"customer_ids": ["c_new"]})
    assert moved.status_code == 200, moved.get_json()

    answer = host.post(HOOK, cart([line(unit_price=2000)], customer_id="c_new")).get_json()
    assert answer["lines"][0]["rule_unit_price"] == 2000
    assert answer["subtotal"] == 2000
    assert fresh["id"] != wholesale["id"]
    shown = admin.get(f"/price-rules/{rule['id']}").get_json()
    assert shown["audience"] == {"type": "groups", "ids": []}
