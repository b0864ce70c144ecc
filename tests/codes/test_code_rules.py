"""The issue's list, rule by rule: code shape, the brute-force guard, paid orders past a
limit, holds, CSV escaping."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

import plugin.checkout.redeem
from plugin.checkout.redeem import PRICER_KEY
from plugin.codes.csv_io import escape_cell
from plugin.codes.models import Code, CodeAttempt, CodeBlock, Redemption
from plugin.codes.redemption import expire_holds
from plugin.db import db, unit_of_work, utcnow
from tests.codes.conftest import discount_payload, engine_pricer, redeem_body
from tests.conftest import auth, order_payload


@pytest.fixture
def app(app):
    app.config[PRICER_KEY] = engine_pricer
    return app


def _redemptions(app):
    with app.app_context():
        return [
            (r.order_external_id, r.status, r.flagged)
            for r in db.session.execute(select(Redemption).order_by(Redemption.id)).scalars()
        ]


def _times_used(app, key):
    with app.app_context():
        return db.session.execute(select(Code.times_used).where(Code.code_key == key)).scalar_one()


@pytest.mark.parametrize(
    ("code", "status", "warned"),
    [
        ("A" * 12, 201, False),
        ("A" * 13, 201, True),
        ("B" * 64, 201, True),
        ("C" * 65, 422, None),
        ("  Pad_ded-1  ", 201, False),
        ("NEW\nLINE", 422, None),
        ("semi;colon", 422, None),
        ("=SUM(A1)", 422, None),
    ],
)
def test_shared_code_shape(client, shop, code, status, warned):
    answer = client.post("/api/discounts", json=discount_payload(code=code), headers=auth())
    assert answer.status_code == status, answer.get_json()
    if status == 201:
        assert answer.get_json()["code"] == code.strip()
        assert bool(answer.get_json()["warnings"]) is warned
    else:
        assert list(answer.get_json()["error"]["details"]) == ["code"]


@pytest.mark.parametrize("field", ["prefix", "suffix", "charset"])
def test_generation_refuses_a_trailing_newline(client, make_discount, field):
    """``^...$`` lets "AB\\n" through ``re.match``: the shape is checked with fullmatch."""
    discount = make_discount()
    value = "AB\n" if field != "charset" else "ABCD\n"
    answer = client.post(
        f"/api/discounts/{discount['id']}/codes/generate",
        json={"count": 3, "length": 6, field: value},
        headers=auth(),
    )
    assert answer.status_code == 422 and field in answer.get_json()["error"]["details"]
    listed = client.get(f"/api/discounts/{discount['id']}/codes", headers=auth())
    assert listed.get_json()["total"] == 0


def test_unknown_codes_slow_down_then_block(app, host, make_discount, monkeypatch):
    make_discount(code="REAL")
    waits = []
    monkeypatch.setattr(plugin.checkout.redeem.time, "sleep", waits.append)
    for i in range(10):
        body = redeem_body(f"o_{i}", [f"GUESS{i}"], "c_guesser")
        answer = host.post("/hooks/checkout/redeem", body).get_json()
        assert answer["codes"][0]["reason"] == "unknown_code"
    # Attempts 5 to 9 are held back, doubling up to 1 s; the 10th blocks instead.
    assert waits == [0.25, 0.5, 1.0, 1.0, 1.0]
    blocked = host.post("/hooks/checkout/redeem", redeem_body("o_x", ["REAL"], "c_guesser"))
    assert blocked.get_json()["codes"][0]["reason"] == "too_many_attempts"
    assert "try again later" in blocked.get_json()["codes"][0]["message"]
    # The pricing hook reads the block too, and writes nothing.
    assert waits == [0.25, 0.5, 1.0, 1.0, 1.0]
    other = host.post("/hooks/checkout/redeem", redeem_body("o_y", ["REAL"], "c_honest"))
    assert other.get_json()["codes"][0]["status"] == "applied"


def test_the_block_ends_and_old_attempts_are_pruned(app, host, make_discount):
    make_discount(code="REAL")
    app.config["CUSTOMER_GROUPS_CODE_SLOW_AFTER"] = 100
    for i in range(10):
        host.post("/hooks/checkout/redeem", redeem_body(f"o_{i}", [f"NOPE{i}"], "c_g"))
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(CodeBlock)).scalar_one() == 1
        with unit_of_work():  # the periodic task's own
            expire_holds(utcnow() + timedelta(days=2))
        assert db.session.execute(select(func.count()).select_from(CodeBlock)).scalar_one() == 0
        assert db.session.execute(select(func.count()).select_from(CodeAttempt)).scalar_one() == 0


def test_paid_twice_by_one_customer_is_flagged(app, host, make_discount):
    """Once per customer, and the host sends order/paid without the redeem hook: the
    second order is recorded, counted and flagged for the merchant, never dropped."""
    make_discount(code="ONCE", once_per_customer=True)
    for order in ("o_1", "o_2"):
        paid = host.webhook("order/paid", {"order": order_payload(order, discount_codes=["once"])})
        assert paid.status_code == 200
    assert _redemptions(app) == [("o_1", "confirmed", False), ("o_2", "confirmed", True)]
    assert _times_used(app, "once") == 2
    # The same event again counts nothing twice.
    host.webhook("order/paid", {"order": order_payload("o_2", discount_codes=["ONCE"])})
    assert _times_used(app, "once") == 2


def test_a_hold_that_expired_is_confirmed_when_paid_late(app, host, make_discount):
    make_discount(code="LATE", usage_limit=1)
    host.post("/hooks/checkout/redeem", redeem_body("o_1", ["LATE"]))
    with app.app_context(), unit_of_work():  # the periodic task's own
        assert expire_holds(utcnow() + timedelta(days=8)) == 1
    assert _times_used(app, "late") == 0
    # Meanwhile another order takes the only use; the late payment is still recorded.
    taken = host.post("/hooks/checkout/redeem", redeem_body("o_2", ["LATE"], "c_2")).get_json()
    assert taken["codes"][0]["status"] == "applied"
    host.webhook("order/paid", {"order": order_payload("o_1", discount_codes=["LATE"])})
    assert _redemptions(app) == [("o_1", "confirmed", True), ("o_2", "held", False)]
    assert _times_used(app, "late") == 2


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+33 6", "'+33 6"),
        ("-cmd", "'-cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("plain-code", "plain-code"),
        (None, ""),
        (3, "3"),
    ],
)
def test_escape_cell(value, shown):
    assert escape_cell(value) == shown


def test_import_finds_the_code_column_and_quoted_cells(client, make_discount):
    discount = make_discount()
    body = 'note,Code\n"a, b","QUOTED-1"\nx,  spaced  \n,\n'
    answer = client.post(
        f"/api/discounts/{discount['id']}/codes/import",
        data=body.encode(),
        headers={**auth(), "Content-Type": "text/csv"},
    )
    report = answer.get_json()
    assert (report["imported"], report["duplicates"], report["invalid"]) == (2, 0, 0), report
    codes = client.get(f"/api/discounts/{discount['id']}/codes", headers=auth()).get_json()
    assert sorted(c["code"] for c in codes["items"]) == ["QUOTED-1", "spaced"]
