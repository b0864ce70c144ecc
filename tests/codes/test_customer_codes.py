"""``GET /api/customers/{id}`` lists the codes handed to the customer (contract §5)."""

from __future__ import annotations

from sqlalchemy import select

from tests.conftest import auth


def test_customer_view_lists_the_codes_handed_to_that_customer_only(client, make_discount):
    discount = make_discount(name="Welcome <b>back</b>")
    imported = client.post(
        f"/api/discounts/{discount['id']}/codes/import",
        data=b"code\nWELCOME-A\nWELCOME-B\nWELCOME-C\n",
        headers={**auth(), "Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.get_json()
    url = f"/api/discounts/{discount['id']}/codes/assign"
    first = client.post(url, json={"customer_id": "c_1"}, headers=auth()).get_json()
    other = client.post(url, json={"customer_id": "c_2"}, headers=auth()).get_json()

    view = client.get("/api/customers/c_1", headers=auth())
    assert view.status_code == 200, view.get_json()
    codes = view.get_json()["codes"]
    assert [c["code"] for c in codes] == [first["code"]]
    assert codes[0]["status"] == "assigned"
    assert codes[0]["discount"] == {"id": discount["id"], "name": "Welcome <b>back</b>"}
    assert codes[0]["assigned_at"] is not None

    assert [
        c["code"] for c in client.get("/api/customers/c_2", headers=auth()).get_json()["codes"]
    ] == [other["code"]]


def test_data_request_and_redact_cover_codes_redemptions_and_attempts(
    app, client, host, make_discount
):
    from plugin.checkout.redeem import PRICER_KEY
    from plugin.codes.models import Code, CodeAttempt
    from plugin.customers.models import Order
    from plugin.db import db
    from tests.codes.conftest import engine_pricer, redeem_body
    from tests.conftest import order_payload

    app.config[PRICER_KEY] = engine_pricer
    pool = make_discount(name="Pool")
    client.post(
        f"/api/discounts/{pool['id']}/codes/import",
        data=b"code\nKEEP-1\nUSED-1\n",
        headers={**auth(), "Content-Type": "text/csv"},
    )
    make_discount(name="Shared", code="SUMMER10")
    assign = f"/api/discounts/{pool['id']}/codes/assign"
    unused = client.post(assign, json={"customer_id": "c_1"}, headers=auth()).get_json()["code"]
    host.post("/hooks/checkout/redeem", redeem_body("o_1", ["SUMMER10"]))
    host.post("/hooks/checkout/redeem", redeem_body("o_2", ["NO-SUCH-CODE"]))
    assert host.webhook("order/paid", {"order": order_payload("o_1", discount_codes=["SUMMER10"])})

    asked = host.webhook("customers/data_request", {"customer_id": "c_1"})
    data = asked.get_json()["data"]
    assert [c["code"] for c in data["codes"]] == [unused]
    assert [(r["order_id"], r["code"], r["status"]) for r in data["redemptions"]] == [
        ("o_1", "SUMMER10", "confirmed")
    ]
    assert data["group"]["name"] == "Standard"

    assert host.webhook("customers/redact", {"customer_id": "c_1"}).status_code == 200
    with app.app_context():
        codes = set(db.session.execute(select(Code.code)).scalars())
        assert unused not in codes and "SUMMER10" in codes  # the used shared code stays
        subjects = set(db.session.execute(select(CodeAttempt.subject)).scalars())
        assert subjects and not any("c_1" in subject for subject in subjects)
        addresses = db.session.execute(select(Order.shipping_address)).scalars().all()
        assert addresses and all(address is None for address in addresses)


def test_a_code_assigned_by_hand_is_announced_as_coupon_given(client, make_discount):
    from hooks import signals

    heard = []

    def receive(sender, payload=None, event_id=None, **_):
        heard.append((sender, payload, event_id))

    discount = make_discount(name="By hand")
    client.post(
        f"/api/discounts/{discount['id']}/codes/import",
        data=b"code\nHAND-1\n",
        headers={**auth(), "Content-Type": "text/csv"},
    )
    signals.coupon_given.connect(receive)
    try:
        url = f"/api/discounts/{discount['id']}/codes/assign"
        assert client.post(url, json={"customer_id": "c_9"}, headers=auth()).status_code == 200
        refused = client.post(url, json={"customer_id": "c_8"}, headers=auth())
        assert refused.status_code == 409  # an empty pool announces nothing
    finally:
        signals.coupon_given.disconnect(receive)
    assert len(heard) == 1
    sender, payload, event_id = heard[0]
    assert payload["customer_id"] == "c_9" and payload["code"] == "HAND-1"
    assert payload["discount_id"] == discount["id"] and event_id
