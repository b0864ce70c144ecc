"""Price lists and offers through the admin API and the pricing hook (contract §8), and
windows on bundles, gift rules and programmes."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from plugin.db import db
from plugin.rules.models import PriceListCustomer, PriceListEntry
from plugin.shops.models import Shop
from tests.conftest import SHOP, auth, customer_payload
from tests.rules.helpers import Admin, cart, error, line

HOOK = "/hooks/cart/price"


@pytest.fixture
def admin(client, shop):
    return Admin(client)


def priced(host, body):
    response = host.post(HOOK, body, topic="hooks/cart/price")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def import_csv(client, list_id, text, shop=SHOP):
    return client.post(
        f"/api/price-lists/{list_id}/entries/import",
        data=text.encode(),
        headers={**auth(shop), "Content-Type": "text/csv"},
    )


def new_list(admin, **fields):
    body = {"name": "Wholesale", "audience": {"type": "all"}, **fields}
    return admin.create("/price-lists", body)


# --------------------------------------------------------------------------- price lists


def test_price_list_crud_and_customer_audience(admin, host):
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    created = new_list(
        admin,
        audience={"type": "customers", "ids": ["c_1"]},
        priority=2,
        starts_at="2026-01-01T00:00:00Z",
    )
    assert created["audience"] == {"type": "customers", "ids": ["c_1"]}
    assert created["priority"] == 2 and created["starts_at"] == "2026-01-01T00:00:00Z"
    got = admin.get(f"/price-lists/{created['id']}").get_json()
    assert got["audience"] == {"type": "customers", "ids": ["c_1"]}
    # A customer the shop does not know is a 422 naming it, and changes nothing.
    response = admin.patch(
        f"/price-lists/{created['id']}", {"audience": {"type": "customers", "ids": ["c_404"]}}
    )
    assert response.status_code == 422
    assert "c_404" in error(response)["details"]["audience.ids"][0]
    # Back to a group audience: the customer links go.
    groups = admin.get("/groups").get_json()["items"]
    patched = admin.patch(
        f"/price-lists/{created['id']}",
        {"audience": {"type": "groups", "ids": [groups[0]["id"]]}},
    ).get_json()
    assert patched["audience"] == {"type": "groups", "ids": [groups[0]["id"]]}
    listed = admin.get("/price-lists").get_json()
    assert [item["name"] for item in listed["items"]] == ["Wholesale"]
    assert admin.delete(f"/price-lists/{created['id']}").status_code == 204
    assert admin.get(f"/price-lists/{created['id']}").status_code == 404


def test_window_must_end_after_it_starts(admin):
    response = admin.post(
        "/price-lists",
        {"name": "Bad", "starts_at": "2026-02-01T00:00:00Z", "ends_at": "2026-01-01T00:00:00Z"},
    )
    assert response.status_code == 422
    assert "ends_at" in error(response)["details"]


def test_entries_one_at_a_time(admin):
    pl = new_list(admin)
    path = f"/price-lists/{pl['id']}/entries"
    assert admin.post(path, {"product_id": "p1", "price": 900}).get_json() == {
        "product_id": "p1",
        "min_quantity": 1,
        "price": 900,
    }
    admin.post(path, {"product_id": "p1", "min_quantity": 10, "price": 700})
    # The same product and minimum again replaces its price.
    admin.post(path, {"product_id": "p1", "min_quantity": 10, "price": 650})
    page = admin.get(path, per_page=1, page=2).get_json()
    assert page["total"] == 2
    assert page["items"] == [{"product_id": "p1", "min_quantity": 10, "price": 650}]
    bad = admin.post(path, {"product_id": "p1", "min_quantity": 0, "price": 1})
    assert bad.status_code == 422
    assert set(error(bad)["details"]) == {"min_quantity"}
    bad = admin.post(path, {"product_id": "p1", "price": -1})
    assert bad.status_code == 422
    assert set(error(bad)["details"]) == {"price"}
    response = admin.client.delete(f"/api{path}?product_id=p1&min_quantity=10", headers=auth())
    assert response.status_code == 204
    again = admin.client.delete(f"/api{path}?product_id=p1&min_quantity=10", headers=auth())
    assert again.status_code == 404
    assert admin.get(path).get_json()["total"] == 1


def test_import_reports_and_replaces_then_export_round_trips(admin, app):
    pl = new_list(admin)
    first = import_csv(admin.client, pl["id"], "product_id,min_quantity,price\nold,1,5\n")
    assert first.get_json()["imported"] == 1
    text = (
        "product_id,min_quantity,price\n"
        "p1,1,900\n"
        "p1,10,700\n"
        "p2,0,100\n"  # line 4: min_quantity below 1
        "p3,1,-5\n"  # line 5: negative price
        "p1,10,650\n"  # line 6: repeats line 3
        "=cmd,1,100\n"
        "\n"
        "p4,2\n"  # line 9: two columns
    )
    report = import_csv(admin.client, pl["id"], text).get_json()
    assert report["imported"] == 3
    assert report["invalid"] == 4
    assert [e["line"] for e in report["errors"]] == [4, 5, 6, 9]
    assert "min_quantity" in report["errors"][0]["reason"]
    # The old entry went with the re-import.
    exported = admin.client.get(f"/api/price-lists/{pl['id']}/entries/export", headers=auth())
    assert exported.mimetype == "text/csv"
    lines = exported.get_data(as_text=True).splitlines()
    assert lines == ["product_id,min_quantity,price", "'=cmd,1,100", "p1,1,900", "p1,10,700"]
    # What was exported imports back as it was.
    again = import_csv(admin.client, pl["id"], exported.get_data(as_text=True)).get_json()
    assert again == {"imported": 3, "invalid": 0, "errors": [], "errors_truncated": False}
    with app.app_context():
        ids = set(db.session.execute(select(PriceListEntry.product_id)).scalars())
    assert ids == {"=cmd", "p1"}


def test_import_without_the_columns_changes_nothing(admin):
    pl = new_list(admin)
    import_csv(admin.client, pl["id"], "product_id,min_quantity,price\np1,1,900\n")
    response = import_csv(admin.client, pl["id"], "sku,price\np1,100\n")
    assert response.status_code == 422
    assert admin.get(f"/price-lists/{pl['id']}/entries").get_json()["total"] == 1


def test_entries_of_another_shops_list_are_404(admin, host, client):
    pl = new_list(admin)
    host.install("other.example")
    other = Admin(client, "other.example")
    assert other.get(f"/price-lists/{pl['id']}/entries").status_code == 404
    assert (
        import_csv(client, pl["id"], "product_id,min_quantity,price\n", "other.example").status_code
        == 404
    )


def test_hook_prices_by_list_with_breaks_over_the_cart(admin, host):
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    pl = new_list(admin, name="VIP", audience={"type": "customers", "ids": ["c_1"]})
    import_csv(admin.client, pl["id"], "product_id,min_quantity,price\np1,1,900\np1,5,700\n")
    admin.create(
        "/price-rules",
        {"name": "All -50%", "action": {"type": "discount_percent", "value": 50}},
    )
    body = cart(
        [line("l1", "p1", quantity=3), line("l2", "p1", quantity=2), line("l3", "p2")],
        customer_id="c_1",
    )
    answer = priced(host, body)
    first, second, third = answer["lines"]
    assert first["rule_unit_price"] == 700 and second["rule_unit_price"] == 700
    assert first["adjustments"] == [
        {"source": "price_list", "price_list_id": pl["id"], "label": "VIP", "amount": -900}
    ]
    # p2 is on no list: the price rule applies to it, and only to it.
    assert third["rule_unit_price"] == 500
    assert third["adjustments"][0]["source"] == "price_rule"
    # Another customer: the list is not theirs.
    other = priced(host, {**body, "customer_id": "c_2"})
    assert other["lines"][0]["rule_unit_price"] == 500


def test_hook_reads_only_the_carts_entries(admin, host, app):
    pl = new_list(admin)
    rows = "".join(f"x{i},1,{i}\n" for i in range(2000))
    import_csv(admin.client, pl["id"], "product_id,min_quantity,price\n" + rows + "p1,1,1\n")
    seen: list[int] = []

    with app.app_context():
        engine = db.engine

        def count(conn, cursor, statement, parameters, context, executemany):
            if "price_list_entries" in statement:
                seen.append(1)

        event.listen(engine, "after_cursor_execute", count)
    try:
        answer = priced(host, cart([line("l1", "p1", quantity=2)]))
    finally:
        event.remove(engine, "after_cursor_execute", count)
    assert answer["lines"][0]["rule_unit_price"] == 1
    assert len(seen) == 1  # one query, by (list, product)
    # Read once per snapshot: the next cart of the same product asks nothing more.
    event.listen(engine, "after_cursor_execute", count)
    try:
        priced(host, cart([line("l1", "p1", quantity=5)]))
    finally:
        event.remove(engine, "after_cursor_execute", count)
    assert len(seen) == 1
    # A change of entries is seen by the next cart (it bumps the rules version).
    admin.post(f"/price-lists/{pl['id']}/entries", {"product_id": "p1", "price": 7})
    assert priced(host, cart([line()]))["lines"][0]["rule_unit_price"] == 7
    admin.client.delete(
        f"/api/price-lists/{pl['id']}/entries?product_id=p1&min_quantity=1", headers=auth()
    )
    assert priced(host, cart([line()]))["lines"][0]["rule_unit_price"] == 1000
    import_csv(admin.client, pl["id"], "product_id,min_quantity,price\np1,1,3\n")
    assert priced(host, cart([line()]))["lines"][0]["rule_unit_price"] == 3


def test_deleting_a_customer_takes_them_out_of_the_list(admin, host, app):
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    pl = new_list(admin, audience={"type": "customers", "ids": ["c_1"]})
    with app.app_context():
        shop_id = db.session.execute(select(Shop.id).where(Shop.domain == SHOP)).scalar_one()
        db.session.execute(
            db.metadata.tables["customers"]
            .delete()
            .where(db.metadata.tables["customers"].c.shop_id == shop_id)
        )
        db.session.commit()
        assert db.session.execute(select(PriceListCustomer)).all() == []
    assert admin.get(f"/price-lists/{pl['id']}").get_json()["audience"]["ids"] == []


# --------------------------------------------------------------------------- offers

OFFER = {
    "name": "3 for 2",
    "buy": {"product_ids": ["p1"], "quantity": 2},
    "get": {"product_ids": ["p1"], "quantity": 1, "discount": {"type": "free"}},
}


def test_offer_crud(admin):
    created = admin.create("/offers", {**OFFER, "max_applications": 2})
    assert created["buy"] == {"product_ids": ["p1"], "quantity": 2}
    assert created["get"] == {"product_ids": ["p1"], "quantity": 1, "discount": {"type": "free"}}
    patched = admin.patch(
        f"/offers/{created['id']}",
        {
            "get": {
                "category_ids": ["socks"],
                "quantity": 1,
                "discount": {"type": "percent", "value": 12.5},
            }
        },
    ).get_json()
    assert patched["get"] == {
        "category_ids": ["socks"],
        "quantity": 1,
        "discount": {"type": "percent", "value": 12.5},
    }
    assert admin.delete(f"/offers/{created['id']}").status_code == 204


@pytest.mark.parametrize(
    "change, field",
    [
        ({"buy": {"product_ids": ["p1"], "category_ids": ["c"], "quantity": 1}}, "buy"),
        ({"buy": {"quantity": 1}}, "buy"),
        ({"get": {"product_ids": ["p1"], "discount": {"type": "percent", "value": 150}}}, "get"),
        ({"get": {"product_ids": ["p1"], "discount": {"type": "free", "value": 5}}}, "get"),
        ({"max_applications": 0}, "max_applications"),
        ({"audience": {"type": "customers", "ids": ["c_1"]}}, "audience"),
    ],
)
def test_offer_input_is_checked(admin, change, field):
    response = admin.post("/offers", {**OFFER, **change})
    assert response.status_code == 422
    assert any(key.startswith(field) for key in error(response)["details"])


def test_hook_applies_offer_after_bundles(admin, host):
    admin.create("/offers", OFFER)
    answer = priced(host, cart([line("l1", "p1", quantity=3)]))
    assert answer["lines"][0]["discount"] == 1000
    assert answer["lines"][0]["adjustments"][0]["source"] == "offer"
    assert answer["total"] == 2500
    # A bundle takes the units first.
    admin.create(
        "/bundles",
        {
            "name": "Pair",
            "items": [{"product_id": "p1", "quantity": 2}],
            "price": {"type": "fixed_total", "value": 1500},
        },
    )
    answer = priced(host, cart([line("l1", "p1", quantity=3)]))
    sources = [a["source"] for a in answer["lines"][0]["adjustments"]]
    assert sources == ["bundle"]
    assert answer["total"] == 1500 + 1000 + 500


# --------------------------------------------------------------------------- windows


def test_windows_on_bundles_gift_rules_and_programmes(admin, host):
    past = {"starts_at": "2020-01-01T00:00:00Z", "ends_at": "2020-02-01T00:00:00Z"}
    bundle = admin.create(
        "/bundles",
        {
            "name": "Pair",
            "items": [{"product_id": "p1", "quantity": 2}],
            "price": {"type": "fixed_total", "value": 1500},
            **past,
        },
    )
    assert bundle["ends_at"] == "2020-02-01T00:00:00Z"
    gift = admin.create(
        "/gift-rules",
        {
            "name": "Tote",
            "trigger": {"type": "subtotal", "min": 0},
            "gift": {"product_id": "g1"},
            **past,
        },
    )
    programme = admin.create(
        "/benefit-programmes",
        {
            "name": "All",
            "tiers": [{"min_subtotal": 0, "actions": [{"type": "fixed_off_order", "value": 100}]}],
            **past,
        },
    )
    answer = priced(host, cart([line("l1", "p1", quantity=2)]))
    assert answer["discount_total"] == 0 and answer["gifts"] == [] and answer["programme"] is None
    for path, row in (("bundles", bundle), ("gift-rules", gift), ("benefit-programmes", programme)):
        admin.patch(f"/{path}/{row['id']}", {"ends_at": None})
    answer = priced(host, cart([line("l1", "p1", quantity=2)]))
    assert answer["gifts"][0]["product_id"] == "g1"
    assert answer["programme"]["id"] == programme["id"]
    assert answer["discount_total"] == 500 + 100


def test_import_of_plain_lines_crlf_a_repeat_and_a_quoted_field(admin):
    pl = new_list(admin)
    text = (
        "product_id,min_quantity,price\r\n"
        + "".join(f"sku-{n},1,{n}\r\n" for n in range(1, 300))
        + "sku-7,1,5\r\n"  # line 301 repeats line 8
        + '"sku,quoted",2,10\r\n'  # line 302: a quoted field, the csv reader from here
        + "sku-x,1,1"  # line 303, no newline at the end
    )
    report = import_csv(admin.client, pl["id"], text).get_json()
    assert report["imported"] == 301
    assert report["errors"] == [
        {"line": 301, "reason": "Repeats the product_id and min_quantity of an earlier line."}
    ]
    page = admin.get(f"/price-lists/{pl['id']}/entries", per_page=1000).get_json()
    prices = {(e["product_id"], e["min_quantity"]): e["price"] for e in page["items"]}
    assert prices[("sku-7", 1)] == 7 and prices[("sku,quoted", 2)] == 10
    assert prices[("sku-x", 1)] == 1
