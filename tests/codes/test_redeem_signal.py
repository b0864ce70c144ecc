"""The in-process redeem call (contract §7): the ``checkout_redeem`` signal answers what the
redeem hook answers, and redeems once per order whichever way the host calls."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hooks import signals
from plugin.codes.models import Code
from plugin.db import db
from plugin.errors import ApiError
from tests.codes.conftest import redeem_body
from tests.conftest import SHOP


def send(app, payload, shop=SHOP):
    with app.app_context():
        answers = [answer for _, answer in signals.checkout_redeem.send(shop, payload=payload)]
    assert len(answers) == 1
    return answers[0]


def test_signal_and_hook_redeem_the_same_order_once(app, host, make_discount):
    make_discount(code="SUMMER10", usage_limit=5)
    by_signal = send(app, redeem_body("o_1", ["summer10"]))
    assert by_signal["order_id"] == "o_1"
    assert by_signal["codes"][0]["status"] == "applied"
    assert by_signal["discount_total"] == 400  # 10 % of 3998, half-up

    by_hook = host.post("/hooks/checkout/redeem", redeem_body("o_1", ["summer10"]))
    assert by_hook.status_code == 200 and by_hook.get_json() == by_signal
    fresh = host.post("/hooks/checkout/redeem", redeem_body("o_2", ["summer10"], "c_2"))
    assert send(app, redeem_body("o_2", ["summer10"], "c_2")) == fresh.get_json()
    with app.app_context():
        used = db.session.execute(select(Code.times_used)).scalar_one()
    assert used == 2


def test_signal_for_a_shop_that_did_not_install_is_refused(app, shop):
    with pytest.raises(ApiError) as refused:
        send(app, redeem_body("o_1", []), shop="elsewhere.example")
    assert refused.value.code == "shop_not_installed"
