"""Codes in classes and uses per customer at the admin API and the redeem hook
(contract §8): both applied codes redeemed in one transaction, a code that loses its race
rejected and the cart priced again without it, ``uses_per_customer`` held by the database
under racing checkouts."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from plugin.checkout.redeem import PRICER_KEY
from plugin.codes.models import Redemption
from plugin.db import db
from tests.codes.conftest import discount_payload, engine_pricer, redeem_body
from tests.codes.test_redeem import _race, code_row
from tests.conftest import PG_URL, auth, order_payload


@pytest.fixture
def app(app):
    app.config[PRICER_KEY] = engine_pricer
    return app


def order_redemptions(app, order_id):
    with app.app_context():
        return sorted(
            (r.discount_id, r.status, r.customer_use)
            for r in db.session.execute(
                select(Redemption).where(Redemption.order_external_id == order_id)
            ).scalars()
        )


# --------------------------------------------------------------------------- admin API


def test_uses_per_customer_and_its_alias(client, make_discount):
    twice = make_discount(name="Twice", code="TWICE", uses_per_customer=2)
    assert (twice["uses_per_customer"], twice["once_per_customer"]) == (2, False)
    assert twice["combinable_with_other_codes"] is False
    once = make_discount(name="Once", code="ONCE", once_per_customer=True)
    assert (once["uses_per_customer"], once["once_per_customer"]) == (1, True)
    same = make_discount(name="Same", uses_per_customer=1, once_per_customer=True)
    assert same["uses_per_customer"] == 1
    free = make_discount(name="Free", combinable_with_other_codes=True)
    assert (free["uses_per_customer"], free["once_per_customer"]) == (None, False)
    assert free["combinable_with_other_codes"] is True

    for bad in (
        {"uses_per_customer": 2, "once_per_customer": True},
        {"uses_per_customer": None, "once_per_customer": True},
        {"uses_per_customer": 1, "once_per_customer": False},
        {"uses_per_customer": 0},
    ):
        answer = client.post(
            "/api/discounts", json=discount_payload(name="Bad", **bad), headers=auth()
        )
        assert answer.status_code == 422, bad
        assert "uses_per_customer" in answer.get_json()["error"]["details"]

    # A PATCH of either replaces the limit; the other follows.
    patched = client.patch(
        f"/api/discounts/{once['id']}", json={"uses_per_customer": 3}, headers=auth()
    ).get_json()
    assert (patched["uses_per_customer"], patched["once_per_customer"]) == (3, False)
    patched = client.patch(
        f"/api/discounts/{once['id']}", json={"once_per_customer": True}, headers=auth()
    ).get_json()
    assert (patched["uses_per_customer"], patched["once_per_customer"]) == (1, True)
    patched = client.patch(
        f"/api/discounts/{once['id']}", json={"combinable_with_other_codes": True}, headers=auth()
    ).get_json()
    assert patched["combinable_with_other_codes"] is True and patched["uses_per_customer"] == 1


# --------------------------------------------------------------------------- redeem hook


def test_an_order_code_and_a_shipping_code_are_both_redeemed(app, host, make_discount):
    ten = make_discount(name="Ten", code="TEN", combinable_with_other_codes=True)
    ship = make_discount(
        name="Ship", code="SHIP", type="free_shipping", value=None,
        combinable_with_other_codes=True, usage_limit=5,
    )  # fmt: skip
    answer = host.post("/hooks/checkout/redeem", redeem_body("o_1", ["TEN", "SHIP"])).get_json()
    assert [c["status"] for c in answer["codes"]] == ["applied", "applied"]
    assert answer["shipping_total"] == 0 and answer["discount_total"] == 400
    assert order_redemptions(app, "o_1") == [(ten["id"], "held", None), (ship["id"], "held", None)]
    # order/paid confirms both; a cancellation would release both.
    paid = host.webhook("order/paid", {"order": order_payload("o_1", discount_codes=["TEN"])})
    assert paid.status_code == 200, paid.get_json()
    statuses = {status for _, status, _ in order_redemptions(app, "o_1")}
    assert statuses == {"confirmed"}


def test_a_code_that_is_not_combinable_is_not_redeemed(app, host, make_discount):
    make_discount(name="Ten", code="TEN")
    ship = make_discount(name="Ship", code="SHIP", type="free_shipping", value=None)
    answer = host.post("/hooks/checkout/redeem", redeem_body("o_1", ["SHIP", "TEN"])).get_json()
    assert answer["codes"][1]["reason"] == "not_combinable_with_code"
    assert order_redemptions(app, "o_1") == [(ship["id"], "held", None)]
    assert code_row(app, "TEN").times_used == 0


def _stale_pricer(shop, body, codes):
    """A pricer that read the codes before another checkout took their last use."""
    stale = {k: c if c.blocked_reason else replace(c, times_used=0) for k, c in codes.items()}
    return engine_pricer(shop, body, stale)


def test_a_code_that_loses_its_race_is_dropped_and_the_other_redeemed_once(
    app, host, make_discount
):
    make_discount(name="Ten", code="TEN", combinable_with_other_codes=True)
    make_discount(
        name="Ship", code="SHIP", type="free_shipping", value=None, usage_limit=1,
        combinable_with_other_codes=True,
    )  # fmt: skip
    first = host.post("/hooks/checkout/redeem", redeem_body("o_1", ["SHIP"], "c_9")).get_json()
    assert first["codes"][0]["status"] == "applied"

    app.config[PRICER_KEY] = _stale_pricer
    answer = host.post("/hooks/checkout/redeem", redeem_body("o_2", ["TEN", "SHIP"])).get_json()
    assert answer["codes"][0]["status"] == "applied"
    assert (answer["codes"][1]["status"], answer["codes"][1]["reason"]) == (
        "rejected",
        "usage_limit_reached",
    )
    # Priced again without it: shipping is paid, the order code still applies.
    assert answer["shipping_total"] == 500 and answer["discount_total"] == 400
    assert answer["total"] == 3998 - 400 + 500
    # The round that lost was rolled back whole: TEN counted once, SHIP once (o_1).
    assert code_row(app, "TEN").times_used == 1
    assert code_row(app, "SHIP").times_used == 1


def test_uses_per_customer_counts_each_customers_uses(app, host, make_discount):
    make_discount(name="Thrice", code="THRICE", uses_per_customer=3)
    reasons = []
    for i in range(5):
        answer = host.post("/hooks/checkout/redeem", redeem_body(f"o_{i}", ["THRICE"])).get_json()
        reasons.append(answer["codes"][0]["reason"])
    assert reasons == [None, None, None, "already_used_by_customer", "already_used_by_customer"]
    other = host.post("/hooks/checkout/redeem", redeem_body("o_x", ["THRICE"], "c_2")).get_json()
    assert other["codes"][0]["status"] == "applied"
    # A cancelled order gives its use back: the customer may use the code once more.
    assert host.webhook("order/cancelled", {"order": {"id": "o_1"}}).status_code == 200
    again = host.post("/hooks/checkout/redeem", redeem_body("o_5", ["THRICE"])).get_json()
    assert again["codes"][0]["status"] == "applied"
    assert [use for _, _, use in order_redemptions(app, "o_5")] == [2]


def test_guests_cannot_use_a_code_with_uses_per_customer(app, host, make_discount):
    make_discount(name="Twice", code="TWICE", uses_per_customer=2)
    answer = host.post("/hooks/checkout/redeem", redeem_body("o_1", ["TWICE"], None)).get_json()
    assert answer["codes"][0]["reason"] == "guest_not_allowed"


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="races need PostgreSQL row locks; SQLite serialises all")
def test_racing_checkouts_never_pass_uses_per_customer(app, make_discount):
    for round_ in range(5):
        make_discount(name=f"Thrice {round_}", code=f"THR{round_}", uses_per_customer=3)
        answers = _race(
            app, [redeem_body(f"t{round_}_{i}", [f"THR{round_}"], "c_same") for i in range(10)]
        )
        assert all(a.status_code == 200 for a in answers), [a.get_json() for a in answers]
        statuses = [a.get_json()["codes"][0] for a in answers]
        assert sum(s["status"] == "applied" for s in statuses) == 3
        assert {s["reason"] for s in statuses if s["status"] == "rejected"} == {
            "already_used_by_customer"
        }
        with app.app_context():
            uses = sorted(
                db.session.execute(
                    select(Redemption.customer_use).where(
                        Redemption.order_external_id.like(f"t{round_}_%")
                    )
                ).scalars()
            )
        assert uses == [1, 2, 3]
