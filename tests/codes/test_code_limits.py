"""A code that is not once per customer may be used again by the same customer; a pool
code is single-use whatever the discount's usage limit (review findings)."""

from __future__ import annotations

import pytest

from plugin.checkout.redeem import PRICER_KEY
from tests.codes.conftest import engine_pricer, redeem_body
from tests.conftest import auth


@pytest.fixture
def app(app):
    app.config[PRICER_KEY] = engine_pricer
    return app


def status(answer):
    code = answer.get_json()["codes"][0]
    return code["status"], code.get("reason")


def test_a_shared_code_not_once_per_customer_serves_one_customer_twice(host, make_discount):
    make_discount(code="AGAIN", usage_limit=5, once_per_customer=False)
    first = host.post("/hooks/checkout/redeem", redeem_body("o_1", ["AGAIN"]))
    second = host.post("/hooks/checkout/redeem", redeem_body("o_2", ["AGAIN"]))
    assert status(first) == ("applied", None)
    assert status(second) == ("applied", None)


def test_once_per_customer_still_refuses_the_second_use(host, make_discount):
    make_discount(code="ONCE", usage_limit=5, once_per_customer=True)
    host.post("/hooks/checkout/redeem", redeem_body("o_1", ["ONCE"]))
    second = host.post("/hooks/checkout/redeem", redeem_body("o_2", ["ONCE"]))
    assert status(second) == ("rejected", "already_used_by_customer")


def test_a_pool_code_is_single_use_whatever_the_usage_limit(client, host, make_discount):
    pool = make_discount(name="Pool", usage_limit=100)
    client.post(
        f"/api/discounts/{pool['id']}/codes/import",
        data=b"code\nSOLO-1\n",
        headers={**auth(), "Content-Type": "text/csv"},
    )
    first = host.post("/hooks/checkout/redeem", redeem_body("o_1", ["SOLO-1"], None))
    assert status(first) == ("applied", None)
    for order, customer in (("o_2", "c_2"), ("o_3", None)):
        again = host.post("/hooks/checkout/redeem", redeem_body(order, ["SOLO-1"], customer))
        assert status(again) == ("rejected", "usage_limit_reached")
    priced = host.post(
        "/hooks/cart/price",
        {k: v for k, v in redeem_body("o_4", ["SOLO-1"], "c_3").items() if k != "order_id"},
    )
    assert priced.get_json()["codes"][0]["reason"] == "usage_limit_reached"


def test_an_exported_code_with_a_leading_dash_imports_back_as_it_was(client, make_discount):
    source = make_discount(name="Source")
    client.post(
        f"/api/discounts/{source['id']}/codes/import",
        data=b"code\n-10OFF\nPLAIN\n",
        headers={**auth(), "Content-Type": "text/csv"},
    )
    exported = client.get(f"/api/discounts/{source['id']}/codes/export", headers=auth())
    assert "'-10OFF" in exported.get_data(as_text=True)  # safe in a spreadsheet

    # Codes are unique in the shop: importing the export again finds the same two codes
    # (duplicates), none of them mangled into an invalid one.
    report = client.post(
        f"/api/discounts/{source['id']}/codes/import",
        data=exported.get_data(),
        headers={**auth(), "Content-Type": "text/csv"},
    ).get_json()
    assert (report["duplicates"], report["invalid"], report["imported"]) == (2, 0, 0), report
    assert sorted(e["code"] for e in report["errors"]) == ["-10OFF", "PLAIN"]
