"""Reports (contract v2 §8): per discount and per group, days in the shop's time zone,
per-day series, refunds and cancellations netted."""

from __future__ import annotations

import pytest

from tests.conftest import auth, customer_payload, order_payload

PARIS = "Europe/Paris"


@pytest.fixture
def paris(host):
    host.install(timezone=PARIS)


def api(client, path, **params):
    response = client.get(f"/api/reports/{path}", query_string=params, headers=auth())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def redeem(host, order_id, code, customer_id="c_1", unit_price=2000):
    body = {
        "cart_id": f"k_{order_id}", "currency": "EUR", "customer_id": customer_id,
        "channel": "web", "payment_method": "paypal", "shipping": None, "codes": [code],
        "order_id": order_id,
        "lines": [{"id": "l1", "product_id": "p1", "kind": "product", "category_ids": [],
                   "quantity": 1, "unit_price": unit_price}],
    }  # fmt: skip
    answer = host.post("/hooks/checkout/redeem", body)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["codes"][0]["status"] == "applied", answer.get_json()
    return answer.get_json()


def paid(host, order_id, placed_at, total, codes=(), customer_id="c_1"):
    order = order_payload(order_id, customer_id, placed_at=placed_at, total=total,
                          discount_codes=list(codes))  # fmt: skip
    response = host.webhook("order/paid", {"order": order})
    assert response.status_code == 200, response.get_json()


def discount(client, name, code, value=10):
    body = {"name": name, "type": "percent", "value": value, "code": code}
    response = client.post("/api/discounts", json=body, headers=auth())
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def group(client, name):
    response = client.post("/api/groups", json={"name": name}, headers=auth())
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def move(client, group_id, *customer_ids):
    response = client.post(
        f"/api/groups/{group_id}/customers", json={"customer_ids": list(customer_ids)},
        headers=auth(),
    )  # fmt: skip
    assert response.status_code == 200, response.get_json()


def series(item, name):
    return {entry["day"]: entry[name] for entry in item["series"] if entry[name]}


def test_discounts_report_by_shop_day_net_of_refunds(client, host, paris):
    summer = discount(client, "Summer", "SUMMER10")
    idle = discount(client, "Idle", "IDLE")
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    # Through the redeem hook: the code took 10 % of 2000.
    assert redeem(host, "o_1", "SUMMER10")["discount_total"] == 200
    # 23:30 UTC on 1 March is 00:30 on 2 March in Paris.
    paid(host, "o_1", "2026-03-01T23:30:00Z", 1800, ["SUMMER10"])
    # Paid without the hook: counted, with 0 taken (the hook never priced it).
    paid(host, "o_2", "2026-03-01T22:30:00Z", 5000, ["summer10"])
    # Redeemed and paid, then refunded: counts nowhere.
    redeem(host, "o_3", "SUMMER10", unit_price=1000)
    paid(host, "o_3", "2026-03-02T10:00:00Z", 900, ["SUMMER10"])
    assert host.webhook("order/refunded", {"order": {"id": "o_3"}}).status_code == 200
    # Held at the hook but never paid: not an order yet.
    redeem(host, "o_4", "SUMMER10")
    # Outside the range.
    paid(host, "o_5", "2026-03-05T10:00:00Z", 700, ["SUMMER10"])

    report = api(client, "discounts", **{"from": "2026-03-01", "to": "2026-03-03"})
    assert (report["from"], report["to"], report["timezone"]) == ("2026-03-01", "2026-03-03", PARIS)
    by_name = {item["discount"]["name"]: item for item in report["items"]}
    assert set(by_name) == {"Summer", "Idle"}
    item = by_name["Summer"]
    assert item["discount"]["id"] == summer
    assert (item["redemptions"], item["discount_total"], item["orders_total"]) == (2, 200, 6800)
    assert [entry["day"] for entry in item["series"]] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert series(item, "redemptions") == {"2026-03-01": 1, "2026-03-02": 1}
    assert series(item, "discount_total") == {"2026-03-02": 200}
    assert series(item, "orders_total") == {"2026-03-01": 5000, "2026-03-02": 1800}
    idle_item = by_name["Idle"]
    assert idle_item["discount"]["id"] == idle
    assert (idle_item["redemptions"], idle_item["orders_total"]) == (0, 0)
    assert report["totals"] == {"redemptions": 2, "discount_total": 200, "orders_total": 6800}


def test_groups_report_counts_orders_where_the_customer_was(client, host, paris):
    wholesale = group(client, "Wholesale")
    retail = group(client, "Retail")
    for customer_id in ("c_1", "c_2", "c_3"):
        host.webhook("customer/created", {"customer": customer_payload(customer_id)})
    move(client, wholesale, "c_1", "c_2")
    discount(client, "Ten", "TEN")
    redeem(host, "o_1", "TEN", customer_id="c_1")
    paid(host, "o_1", "2026-06-10T21:59:00Z", 1800, ["TEN"], customer_id="c_1")  # 23:59 Paris
    paid(host, "o_2", "2026-06-10T22:00:00Z", 3000, customer_id="c_1")  # 00:00 on the 11th
    paid(host, "o_3", "2026-06-11T08:00:00Z", 500, customer_id="c_2")
    paid(host, "o_4", "2026-06-11T09:00:00Z", 400, customer_id="c_2")
    host.webhook("order/cancelled", {"order": {"id": "o_4"}})
    paid(host, "o_5", "2026-06-11T09:00:00Z", 999, customer_id=None)  # a guest: no group
    # c_1 moves on: their orders stay with Wholesale; the next one is Retail's.
    move(client, retail, "c_1")
    paid(host, "o_6", "2026-06-12T09:00:00Z", 100, customer_id="c_1")

    report = api(client, "groups", **{"from": "2026-06-10", "to": "2026-06-12"})
    by_name = {item["group"]["name"]: item for item in report["items"]}
    assert set(by_name) == {"Standard", "Wholesale", "Retail"}
    w = by_name["Wholesale"]
    assert (w["customers"], w["orders"], w["revenue"], w["discount_total"], w["members"]) == (
        2,
        3,
        5300,
        200,
        1,
    )
    assert series(w, "orders") == {"2026-06-10": 1, "2026-06-11": 2}
    assert series(w, "customers") == {"2026-06-10": 1, "2026-06-11": 2}
    assert series(w, "revenue") == {"2026-06-10": 1800, "2026-06-11": 3500}
    assert series(w, "discount_total") == {"2026-06-10": 200}
    r = by_name["Retail"]
    assert (r["customers"], r["orders"], r["revenue"], r["members"]) == (1, 1, 100, 1)
    s = by_name["Standard"]
    assert (s["orders"], s["members"]) == (0, 1)
    # c_1 ordered in two groups: one customer in all.
    assert report["totals"] == {"customers": 2, "orders": 4, "revenue": 5400, "discount_total": 200}


def test_a_deleted_group_takes_its_orders_out(client, host, paris):
    gone = group(client, "Gone")
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    move(client, gone, "c_1")
    paid(host, "o_1", "2026-06-10T10:00:00Z", 1000)
    assert client.delete(f"/api/groups/{gone}", headers=auth()).status_code == 204
    report = api(client, "groups", **{"from": "2026-06-10", "to": "2026-06-10"})
    assert [item["group"]["name"] for item in report["items"]] == ["Standard"]
    assert report["totals"]["orders"] == 0


def test_without_a_range_the_last_30_days(client, host, paris):
    report = api(client, "groups")
    assert len(report["items"][0]["series"]) == 30
    assert report["items"][0]["series"][-1]["day"] == report["to"]
    one = api(client, "discounts", **{"from": "2026-01-01"})
    assert (one["from"], one["to"]) == ("2026-01-01", "2026-01-30")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "to"),
        ({"from": "2026-3-1"}, "from"),
        ({"to": "1066-10-14"}, "to"),
        ({"from": "2026-03-01T00:00:00Z"}, "from"),
        ({"day": "2026-03-01"}, "day"),
    ],
)
def test_bad_ranges_are_refused(client, host, paris, params, field):
    for path in ("discounts", "groups"):
        response = client.get(f"/api/reports/{path}", query_string=params, headers=auth())
        assert response.status_code == 422
        assert field in response.get_json()["error"]["details"]


def test_daylight_saving_days_hold_their_own_hours(client, host, paris):
    """29 March 2026 has 23 hours in Paris: 22:30 UTC that day is 00:30 on the 30th."""
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    paid(host, "o_1", "2026-03-28T23:30:00Z", 100)  # 00:30 on the 29th (UTC+1)
    paid(host, "o_2", "2026-03-29T21:30:00Z", 200)  # 23:30 on the 29th (UTC+2)
    paid(host, "o_3", "2026-03-29T22:30:00Z", 400)  # 00:30 on the 30th
    report = api(client, "groups", **{"from": "2026-03-29", "to": "2026-03-30"})
    standard = report["items"][0]
    assert series(standard, "revenue") == {"2026-03-29": 300, "2026-03-30": 400}
