"""Every route of the OpenAPI document, every webhook topic and both hooks, over real HTTP.

One ``customer-groups serve`` (gunicorn, 2 workers) for the module. The routes and the
webhook topics are read from ``GET /api/openapi.json``: ``test_every_webhook_topic`` fails
for a documented topic it did not send, and the last test fails for any documented method
and path that no test here sent a request to, so a new route or topic needs a test here
before the suite passes again. Outcomes are checked through the API (what a merchant or
the host would see), background work (jobs, automations, audience runs, events) by
waiting for its effect.

The tests share the server and its data (one shop, ``lumen.example``, plus shops of their
own where a test needs one); each uses names and customer ids of its own.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from plugin.auth import events_key, sign
from tests.conftest import SHOP, customer_payload, order_payload
from tests.served.pages import AdminTab
from tests.served.server import Receiver, Server, wait_for

pytestmark = pytest.mark.served

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def server(serve) -> Server:
    # One attempt per event, so that an unreachable events_url makes a dead event at once.
    started = serve(CUSTOMER_GROUPS_OUTBOX_MAX_ATTEMPTS="1")
    started.install()
    return started


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    outside = Receiver()
    yield outside
    outside.stop()


def ok(response: Any, status: int = 200) -> Any:
    """The JSON of a response that must have ``status`` (else the server's log says why)."""
    if response.status_code != status:
        raise AssertionError(
            f"{response.request.method} {response.url}: {response.status_code}, not {status}\n"
            f"{response.text[:2000]}\n--- server log:\n{response.served_by.log()}"
        )
    return response.json() if response.content else None


def document(server: Server) -> dict[str, Any]:
    return ok(server.api("GET", "/openapi.json"))


def customer(server: Server, customer_id: str, shop: str = SHOP, **fields: Any) -> None:
    payload = {"customer": customer_payload(customer_id, **fields)}
    assert ok(server.webhook("customer/created", payload, shop=shop)) == {"status": "ok"}


def pool(server: Server, name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "type": "percent", "value": 10, **fields}
    return ok(server.api("POST", "/discounts", json=body), 201)


def codes_of(server: Server, discount_id: int, query: str = "") -> list[dict[str, Any]]:
    page = ok(server.api("GET", f"/discounts/{discount_id}/codes?per_page=1000{query}"))
    return sorted(page["items"], key=lambda item: item["code"])


def cart(cart_id: str, customer_id: str | None, *lines: tuple[str, int, int], **fields: Any):
    """A pricing-hook body: ``lines`` are (product id, quantity, unit price)."""
    return {
        "cart_id": cart_id,
        "currency": "EUR",
        "customer_id": customer_id,
        "channel": "web",
        "payment_method": "paypal",
        "shipping": {"carrier": "royal_mail", "price": 500, "address": {"city": "Paris"}},
        "lines": [
            {
                "id": f"l{n}",
                "product_id": product,
                "kind": "product",
                "category_ids": [],
                "quantity": quantity,
                "unit_price": price,
            }
            for n, (product, quantity, price) in enumerate(lines, 1)
        ],
        "codes": [],
        **fields,
    }


# -- Webhooks: every topic of the document ----------------------------------------------------


def test_every_webhook_topic(server):
    webhooks = document(server)["paths"]["/webhooks"]["post"]
    topic_header = next(p for p in webhooks["parameters"] if p["name"] == "X-Topic")
    topics = set(topic_header["schema"]["enum"])
    sent: set[str] = set()

    def send(topic: str, payload: Any, shop: str = SHOP, event_id: str | None = None) -> Any:
        sent.add(topic)
        return server.webhook(topic, payload, shop=shop, event_id=event_id)

    def figures(customer_id: str) -> tuple[int, int]:
        found = ok(server.api("GET", f"/customers/{customer_id}"))["figures"]
        return found["order_count"], found["total_spent"]

    created = {"customer": customer_payload("w_1", email="w1@example.com", tags=["vip"])}
    assert ok(send("customer/created", created, event_id="w-created")) == {"status": "ok"}
    seen = ok(server.api("GET", "/customers/w_1"))
    assert (seen["email"], seen["tags"], seen["group"]["name"]) == (
        "w1@example.com",
        ["vip"],
        "Standard",
    )
    # The same event again: answered, and nothing happens twice.
    again = send("customer/created", created, event_id="w-created")
    assert ok(again) == {"status": "duplicate"}

    updated = {
        "customer": customer_payload("w_1", email="w1@example.com", first_name="Augusta", tags=[])
    }
    assert ok(send("customer/updated", updated)) == {"status": "ok"}
    seen = ok(server.api("GET", "/customers/w_1"))
    assert (seen["first_name"], seen["tags"]) == ("Augusta", [])

    ok(send("customer/subscribed", {"customer_id": "w_1", "channel": "email"}))
    seen = ok(server.api("GET", "/customers/w_1"))
    assert seen["subscribed_email_at"] is not None and seen["accepts_marketing"] is True

    ok(send("order/paid", {"order": order_payload("o_w1", "w_1", total=5000)}))
    assert figures("w_1") == (1, 5000)
    ok(send("order/paid", {"order": order_payload("o_w2", "w_1", total=2000)}))
    assert figures("w_1") == (2, 7000)
    ok(send("order/refunded", {"order": {"id": "o_w2"}}))
    assert figures("w_1") == (1, 5000)
    # A cancellation before the payment makes the payment a no-op.
    ok(send("order/cancelled", {"order": {"id": "o_w3"}}))
    ok(send("order/paid", {"order": order_payload("o_w3", "w_1", total=900)}))
    assert figures("w_1") == (1, 5000)

    held = ok(send("customers/data_request", {"customer_id": "w_1"}))
    assert held["data"]["customer"]["email"] == "w1@example.com"
    assert {order["id"] for order in held["data"]["orders"]} >= {"o_w1"}

    customer(server, "w_2")
    ok(send("customer/deleted", {"customer": {"id": "w_2"}}))
    assert server.api("GET", "/customers/w_2").status_code == 404
    ok(send("customers/redact", {"customer_id": "w_1"}))
    assert server.api("GET", "/customers/w_1").status_code == 404

    # The catalogue (contract v2 §8): products and categories, found ignoring accents.
    lamp = {"id": "w_lamp", "title": "Lampe de bureau", "kind": "product",
            "category_ids": ["w_light"], "price": 4900, "active": True}  # fmt: skip
    ok(send("product/created", {"product": lamp}))
    ok(send("product/updated", {"product": {**lamp, "title": "Lampe à poser"}}))
    found = ok(server.api("GET", "/products", params={"q": "LAMPE A"}))["items"]
    assert [(p["id"], p["title"], p["category_ids"]) for p in found] == [
        ("w_lamp", "Lampe à poser", ["w_light"])
    ]
    ok(send("category/created", {"category": {"id": "w_light", "title": "Éclairage"}}))
    light = {"id": "w_light", "title": "Éclairage", "parent_id": "w_home"}
    ok(send("category/updated", {"category": light}))
    found = ok(server.api("GET", "/categories", params={"q": "eclair"}))["items"]
    assert [(c["id"], c["parent_id"]) for c in found] == [("w_light", "w_home")]
    ok(send("product/deleted", {"product_id": "w_lamp"}))
    ok(send("category/deleted", {"category_id": "w_light"}))
    assert ok(server.api("GET", "/products", params={"q": "lampe"}))["total"] == 0
    assert ok(server.api("GET", "/categories", params={"ids": "w_light"}))["total"] == 0
    refused = send("product/created", {"product": {**lamp, "price": -1}})
    assert refused.status_code == 400 and "product.price" in refused.json()["error"]["details"]

    # A shop of its own leaves: uninstalled (refused from then on), then redacted.
    gone = "gone.example"
    sent.add("app/installed")
    server.install(gone)
    customer(server, "g_1", shop=gone)
    ok(send("app/uninstalled", {}, shop=gone))
    refused = send("customer/created", {"customer": customer_payload("g_2")}, shop=gone)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "shop_not_installed"
    ok(send("shop/redact", {}, shop=gone))
    server.install(gone)  # installed again: a new shop, nothing of the old one kept
    assert server.api("GET", "/customers/g_1", shop=gone).status_code == 404
    groups = ok(server.api("GET", "/groups", shop=gone))
    assert [group["name"] for group in groups["items"]] == ["Standard"]

    assert topics - sent == set(), "documented topics this test does not send"


# -- The two hooks --------------------------------------------------------------------------


def test_pricing_and_redeem_hooks(server):
    discount = pool(server, "Hook 10%", code="HOOK10", usage_limit=1)
    customer(server, "h_1")
    customer(server, "h_2")
    body = cart("k_h1", "h_1", ("p1", 2, 1999), codes=["HOOK10"])

    priced = ok(server.signed("/hooks/cart/price", body))
    assert [(c["code"], c["status"]) for c in priced["codes"]] == [("HOOK10", "applied")]
    assert (priced["subtotal"], priced["discount_total"], priced["total"]) == (3998, 400, 4098)
    assert priced["customer"]["group"]["name"] == "Standard"
    # The admin's preview of the same cart is the same answer.
    assert ok(server.api("POST", "/price-preview", json=body)) == priced

    redeemed = ok(server.signed("/hooks/checkout/redeem", {**body, "order_id": "o_h1"}))
    assert redeemed["order_id"] == "o_h1" and redeemed["total"] == 4098
    assert redeemed["codes"][0]["status"] == "applied"
    repeated = ok(server.signed("/hooks/checkout/redeem", {**body, "order_id": "o_h1"}))
    assert repeated == redeemed
    # The limit of one use is reached: another order gets the cart without the code.
    other = {**cart("k_h2", "h_2", ("p1", 2, 1999), codes=["HOOK10"]), "order_id": "o_h2"}
    lost = ok(server.signed("/hooks/checkout/redeem", other))
    assert lost["codes"][0]["status"] == "rejected"
    assert lost["codes"][0]["reason"] == "usage_limit_reached" and lost["total"] == 4498

    redemptions = ok(server.api("GET", f"/discounts/{discount['id']}/redemptions"))
    assert [(r["order_id"], r["customer_id"], r["code"]) for r in redemptions["items"]] == [
        ("o_h1", "h_1", "HOOK10")
    ]
    # A webhook topic at a hook is refused (contract v2 §2), and changes nothing.
    wrong = server.signed("/hooks/cart/price", body, topic="order/paid")
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_payload"


# -- Groups, customers, segments -------------------------------------------------------------


def test_groups_and_their_customers(server):
    customer(server, "gr_1")
    made = ok(server.api("POST", "/groups", json={"name": "Served VIP", "colour": "#8E24AA"}), 201)
    assert (made["name"], made["colour"], made["is_default"]) == ("Served VIP", "#8e24aa", False)
    listed = ok(server.api("GET", "/groups?per_page=100"))
    assert "Served VIP" in {group["name"] for group in listed["items"]}
    changed = ok(server.api("PATCH", f"/groups/{made['id']}", json={"name": "Served Gold"}))
    assert ok(server.api("GET", f"/groups/{made['id']}")) == changed
    assert changed["name"] == "Served Gold"

    moved = server.api("POST", f"/groups/{made['id']}/customers", json={"customer_ids": ["gr_1"]})
    ok(moved)
    members = ok(server.api("GET", f"/groups/{made['id']}/customers"))
    assert [member["id"] for member in members["items"]] == ["gr_1"]
    assert ok(server.api("GET", "/customers/gr_1"))["group"]["name"] == "Served Gold"

    assert server.api("DELETE", f"/groups/{made['id']}").status_code == 204
    assert server.api("GET", f"/groups/{made['id']}").status_code == 404
    assert ok(server.api("GET", "/customers/gr_1"))["group"]["name"] == "Standard"
    standard = next(g for g in listed["items"] if g["is_default"])
    refused = server.api("DELETE", f"/groups/{standard['id']}")
    assert ok(refused, 409)["error"]["code"] == "default_group_protected"


def test_segments(server):
    customer(server, "sg_1", tags=["served-segment"])
    customer(server, "sg_2")
    conditions = [{"field": "customer_tag", "op": "has", "value": "served-segment"}]
    asked = {"match": "all", "conditions": conditions}
    preview = ok(server.api("POST", "/segments/preview", json=asked))
    assert preview["count"] == 1
    made = ok(
        server.api(
            "POST", "/segments", json={"name": "Tagged", "match": "all", "conditions": conditions}
        ),
        201,
    )
    assert made["member_count"] == 1
    members = ok(server.api("GET", f"/segments/{made['id']}/customers"))
    assert [member["id"] for member in members["items"]] == ["sg_1"]
    assert "Tagged" in {s["name"] for s in ok(server.api("GET", "/segments"))["items"]}
    changed = ok(server.api("PATCH", f"/segments/{made['id']}", json={"name": "Tagged ones"}))
    assert ok(server.api("GET", f"/segments/{made['id']}"))["name"] == changed["name"]
    # Membership follows the webhooks.
    customer(server, "sg_2", tags=["served-segment"])
    assert ok(server.api("GET", f"/segments/{made['id']}"))["member_count"] == 2
    assert server.api("DELETE", f"/segments/{made['id']}").status_code == 204
    assert server.api("GET", f"/segments/{made['id']}").status_code == 404


# -- Rules: price rules, bundles, gift rules, benefit programmes ------------------------------

RULES = {
    "/price-rules": {
        "name": "Served -10%",
        "audience": {"type": "all"},
        "scope": {"type": "products", "ids": ["p_rule"]},
        "action": {"type": "discount_percent", "value": 10},
        "priority": 1,
        "active": True,
    },
    "/bundles": {
        "name": "Served pair",
        "audience": {"type": "all"},
        "items": [{"product_id": "p_b1", "quantity": 1}, {"product_id": "p_b2", "quantity": 1}],
        "price": {"type": "fixed_total", "value": 1500},
        "max_applications": None,
        "priority": 1,
        "active": True,
    },
    "/gift-rules": {
        "name": "Served tote",
        "audience": {"type": "all"},
        "trigger": {"type": "products", "product_ids": ["p_g"], "min_quantity": 2},
        "gift": {"product_id": "p_tote", "quantity": 1},
        "active": True,
    },
    "/benefit-programmes": {
        "name": "Served tiers",
        "audience": {"type": "all"},
        "priority": 1,
        "conditions": [],
        "tiers": [{"min_subtotal": 100000, "actions": [{"type": "free_shipping"}]}],
        "earns_loyalty_points": False,
        "combinable_with_codes": True,
        "active": True,
    },
}


def test_rules_change_prices(server):
    body = cart(
        "k_rules", None, ("p_rule", 1, 1000), ("p_b1", 1, 1000), ("p_b2", 1, 1000), ("p_g", 2, 500)
    )
    before = ok(server.api("POST", "/price-preview", json=body))
    assert (before["subtotal"], before["total"], before["gifts"]) == (4000, 4500, [])
    assert before["earns_loyalty_points"] is True

    made = {}
    for path, rule in RULES.items():
        made[path] = ok(server.api("POST", path, json=rule), 201)
        assert made[path]["name"] == rule["name"]
        assert ok(server.api("GET", f"{path}/{made[path]['id']}")) == made[path]
        listed = ok(server.api("GET", path))
        assert [item["id"] for item in listed["items"]] == [made[path]["id"]]
    after = ok(server.api("POST", "/price-preview", json=body))
    lines = {line["id"]: line for line in after["lines"]}
    assert lines["l1"]["rule_unit_price"] == 900  # the price rule
    assert lines["l2"]["discount"] + lines["l3"]["discount"] == 500  # the pair for 15.00
    assert after["gifts"][0]["product_id"] == "p_tote"
    # The programme matches every cart (it has no conditions) and says: no points. Its only
    # tier (free shipping) starts at 1,000.00.
    assert after["shipping_total"] == 500 and after["earns_loyalty_points"] is False

    big = cart("k_big", None, ("p_x", 1, 100000))
    assert ok(server.api("POST", "/price-preview", json=big))["shipping_total"] == 0
    changed = server.api(
        "PATCH",
        f"/benefit-programmes/{made['/benefit-programmes']['id']}",
        json={"active": False},
    )
    assert ok(changed)["active"] is False
    assert ok(server.api("POST", "/price-preview", json=big))["shipping_total"] == 500
    for path in ("/price-rules", "/bundles", "/gift-rules"):
        renamed = server.api("PATCH", f"{path}/{made[path]['id']}", json={"name": "Renamed"})
        assert ok(renamed)["name"] == "Renamed"

    for path, rule in made.items():
        assert server.api("DELETE", f"{path}/{rule['id']}").status_code == 204
        assert server.api("GET", f"{path}/{rule['id']}").status_code == 404
    assert ok(server.api("POST", "/price-preview", json=body)) == before


# -- Discounts and codes ----------------------------------------------------------------------


def test_discounts_codes_and_jobs(server):
    made = pool(server, "Served pool", applies_to="products")
    assert made in ok(server.api("GET", "/discounts?per_page=1000"))["items"]
    changed = ok(server.api("PATCH", f"/discounts/{made['id']}", json={"value": 15}))
    assert changed["value"] == 15
    assert ok(server.api("GET", f"/discounts/{made['id']}")) == changed

    generated = server.api(
        "POST", f"/discounts/{made['id']}/codes/generate", json={"count": 20, "prefix": "SV-"}
    )
    assert ok(generated, 201)["generated"] == 20
    codes = codes_of(server, made["id"])
    assert len(codes) == 20 and all(code["code"].startswith("SV-") for code in codes)

    customer(server, "dc_1")
    given = server.api(
        "POST", f"/discounts/{made['id']}/codes/assign", json={"customer_id": "dc_1"}
    )
    given = ok(given)
    assert (given["status"], given["assigned_customer_id"]) == ("assigned", "dc_1")
    assigned = codes_of(server, made["id"], "&status=assigned")
    assert [code["code"] for code in assigned] == [given["code"]]
    held = ok(server.api("GET", "/customers/dc_1"))["codes"]
    assert given["code"] in json.dumps(held)

    # More than 10,000 codes are made by a job, which the served app runs by itself.
    asked = server.api(
        "POST", f"/discounts/{made['id']}/codes/generate", json={"count": 10_001, "length": 12}
    )
    job = ok(asked, 202)
    done = wait_for(
        lambda: (found := ok(server.api("GET", f"/jobs/{job['id']}")))["status"]
        in ("succeeded", "failed")
        and found,
        timeout=120,
        interval=0.5,
    )
    assert done["status"] == "succeeded" and done["result"]["generated"] == 10_001
    assert job["id"] in {one["id"] for one in ok(server.api("GET", "/jobs"))["items"]}
    total = ok(server.api("GET", f"/discounts/{made['id']}/codes?per_page=1"))["total"]
    assert total == 20 + 10_001
    assert ok(server.api("GET", f"/discounts/{made['id']}/redemptions"))["items"] == []

    assert server.api("DELETE", f"/discounts/{made['id']}").status_code == 204
    assert server.api("GET", f"/discounts/{made['id']}").status_code == 404
    assert server.api("GET", f"/discounts/{made['id']}/codes").status_code == 404


def test_csv_import_as_a_raw_text_csv_body(server):
    discount = pool(server, "Raw CSV")
    body = "code,note\nRAW-1,first\nRAW-2\n\nraw-1\nnot valid!\nRAW-3,last\n"
    answer = ok(
        server.api(
            "POST",
            f"/discounts/{discount['id']}/codes/import",
            data=body.encode(),
            headers={"Content-Type": "text/csv"},
        )
    )
    assert answer == {
        "imported": 3,
        "duplicates": 1,
        "invalid": 1,
        "errors": [
            {"line": 5, "code": "raw-1", "reason": "duplicate"},
            {"line": 6, "code": "not valid!", "reason": "invalid"},
        ],
        "errors_truncated": False,
    }
    assert [code["code"] for code in codes_of(server, discount["id"])] == [
        "RAW-1",
        "RAW-2",
        "RAW-3",
    ]


def test_csv_import_streams_a_chunked_body_of_more_than_a_batch(server):
    """No Content-Length (chunked transfer encoding): read as it comes, in batches."""
    discount = pool(server, "Chunked CSV")
    count = 60_000  # more than one batch of 50,000

    def chunks() -> Iterator[bytes]:
        yield b"code\r\n"
        for start in range(0, count, 5000):
            yield "".join(f"CH{n:06d}\r\n" for n in range(start, start + 5000)).encode()

    answer = ok(
        server.api(
            "POST",
            f"/discounts/{discount['id']}/codes/import",
            data=chunks(),
            headers={"Content-Type": "text/csv"},
        )
    )
    assert (answer["imported"], answer["duplicates"], answer["invalid"]) == (count, 0, 0)
    listed = ok(server.api("GET", f"/discounts/{discount['id']}/codes?per_page=1"))
    assert listed["total"] == count


def test_csv_import_as_multipart_then_export(server):
    discount = pool(server, "Multipart CSV")
    url = f"/discounts/{discount['id']}/codes/import"
    upload = {"file": ("c.csv", b"code\nMP-1\n-MP-2\n", "text/csv")}
    first = ok(server.api("POST", url, files=upload))
    assert (first["imported"], first["duplicates"], first["invalid"]) == (2, 0, 0)
    again = ok(server.api("POST", url, files={"file": ("c.csv", b"code\nmp-1\n", "text/csv")}))
    assert again["errors"] == [{"line": 2, "code": "mp-1", "reason": "duplicate"}]
    refused = server.api(
        "POST", url, data=b"name\nMP-3\n", headers={"Content-Type": "text/csv"}
    )
    assert ok(refused, 422)["error"]["code"] == "validation_failed"
    assert [code["code"] for code in codes_of(server, discount["id"])] == ["-MP-2", "MP-1"]

    exported = server.api("GET", f"/discounts/{discount['id']}/codes/export")
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    # A leading "-" is escaped for spreadsheets, and the escape is undone on import.
    assert sorted(row["code"] for row in rows) == ["'-MP-2", "MP-1"]
    assert {row["status"] for row in rows} == {"unassigned"}
    back = server.api("POST", url, data=exported.content, headers={"Content-Type": "text/csv"})
    assert (ok(back)["imported"], ok(back)["duplicates"]) == (0, 2)


# -- Automations, render, audiences, events ---------------------------------------------------


def test_automations_give_codes_and_render_them(server):
    discount = pool(server, "Welcome pool")
    ok(server.api("POST", f"/discounts/{discount['id']}/codes/generate", json={"count": 3}), 201)
    body = {
        "name": "Served welcome",
        "trigger": {"type": "customer_created"},
        "action": {"type": "give_coupon", "discount_id": discount["id"]},
    }
    made = ok(server.api("POST", "/automations", json=body), 201)
    assert made["active"] is True
    assert made in ok(server.api("GET", "/automations"))["items"]

    customer(server, "au_1", first_name="Ada")
    runs = wait_for(
        lambda: ok(server.api("GET", f"/automations/{made['id']}/runs"))["items"], timeout=30
    )
    assert len(runs) == 1
    given = codes_of(server, discount["id"], "&status=assigned")
    assert [code["assigned_customer_id"] for code in given] == ["au_1"]

    rendered = server.api(
        "POST",
        "/render",
        json={
            "template": f"Hi {{{{ customer.first_name }}}}: {{{{ coupon({discount['id']}) }}}}",
            "customer_id": "au_1",
        },
    )
    assert ok(rendered) == {"rendered": f"Hi Ada: {given[0]['code']}", "missing": []}

    paused = ok(server.api("PATCH", f"/automations/{made['id']}", json={"active": False}))
    assert ok(server.api("GET", f"/automations/{made['id']}")) == paused
    customer(server, "au_2")
    assert len(codes_of(server, discount["id"], "&status=assigned")) == 1
    assert server.api("DELETE", f"/automations/{made['id']}").status_code == 204
    assert server.api("GET", f"/automations/{made['id']}").status_code == 404


def test_audiences_run_against_the_vendor(server, receiver):
    group = ok(server.api("POST", "/groups", json={"name": "Texters"}), 201)
    customer(server, "ad_1", phone="+14155550101")
    ok(server.api("POST", f"/groups/{group['id']}/customers", json={"customer_ids": ["ad_1"]}))
    key = "att_key_0123456789zz"
    body = {
        "name": "Served texters",
        "source": {"type": "group", "id": group["id"]},
        "destination": {
            "type": "attentive",
            "credentials": {"api_key": key},
            "base_url": receiver.url + "/",
        },
        "mapping": {"identifier": "phone", "properties": {"Points": "points"}},
        "schedule": "daily",
    }
    made = ok(server.api("POST", "/audiences", json=body), 201)
    assert key not in json.dumps(made)  # credentials are write-only
    assert made["id"] in {a["id"] for a in ok(server.api("GET", "/audiences"))["items"]}
    changed = ok(server.api("PATCH", f"/audiences/{made['id']}", json={"schedule": "manual"}))
    assert ok(server.api("GET", f"/audiences/{made['id']}")) == changed

    started = ok(server.api("POST", f"/audiences/{made['id']}/run"), 201)
    run = wait_for(
        lambda: (found := ok(server.api("GET", f"/audiences/{made['id']}/runs/{started['id']}")))[
            "status"
        ]
        in ("succeeded", "failed")
        and found
    )
    assert (run["status"], run["synced"], run["failed"]) == ("succeeded", 1, 0), run
    history = ok(server.api("GET", f"/audiences/{made['id']}/runs"))
    assert [one["id"] for one in history["items"]] == [started["id"]]
    [sent] = receiver.at("/v1/attributes/custom")
    assert sent.headers["Authorization"] == f"Bearer {key}"
    assert json.loads(sent.body)["user"]["phone"] == "+14155550101"
    assert json.loads(sent.body)["properties"] == {"Points": "0"}

    # They leave the group: the next run says so at Attentive (contract §5, version 2).
    default = next(g for g in ok(server.api("GET", "/groups"))["items"] if g["is_default"])
    ok(server.api("POST", f"/groups/{default['id']}/customers", json={"customer_ids": ["ad_1"]}))
    again = ok(server.api("POST", f"/audiences/{made['id']}/run"), 201)
    assert (again["status"], again["synced"], again["removed"]) == ("succeeded", 0, 1), again
    left = json.loads(receiver.at("/v1/attributes/custom")[-1].body)
    assert left == {"properties": {"Points": ""}, "user": {"phone": "+14155550101"}}

    assert server.api("DELETE", f"/audiences/{made['id']}").status_code == 204
    assert server.api("GET", f"/audiences/{made['id']}").status_code == 404


def test_events_are_delivered_signed_and_retried(server, receiver):
    shop = "events.example"
    server.install(shop, events_url=receiver.url + "/events")
    customer(server, "ev_1", shop=shop)
    vip = ok(server.api("POST", "/groups", shop=shop, json={"name": "VIP"}), 201)
    receiver.failing.add("/events")

    def move(group_id: int) -> None:
        moved = server.api(
            "POST", f"/groups/{group_id}/customers", shop=shop, json={"customer_ids": ["ev_1"]}
        )
        ok(moved)

    def dead() -> list[dict[str, Any]]:
        return ok(server.api("GET", "/events?status=dead", shop=shop))["items"]

    move(vip["id"])  # customer/group_changed; the endpoint is down and one attempt is all
    [event] = wait_for(dead)
    assert event["topic"] == "customer/group_changed"
    assert ok(server.api("GET", f"/events/{event['id']}", shop=shop))["status"] == "dead"

    receiver.failing.clear()
    retried = ok(server.api("POST", f"/events/{event['id']}/retry", shop=shop))
    assert retried["status"] == "pending"
    wait_for(
        lambda: ok(server.api("GET", f"/events/{event['id']}", shop=shop))["status"] == "delivered"
    )
    delivered = receiver.at("/events")[-1]
    assert delivered.headers["X-Topic"] == "customer/group_changed"
    assert delivered.headers["X-Event-Id"] == event["event_id"]
    assert json.loads(delivered.body) == event["payload"]
    # Signed with the shop's own events key over shop, topic, event id and path.
    expected = sign(
        events_key(server.env["CUSTOMER_GROUPS_APP_SECRET"], shop),
        delivered.headers["X-Request-Timestamp"],
        shop,
        "customer/group_changed",
        event["event_id"],
        "/events",
        delivered.body,
    )
    assert expected in delivered.headers["X-Signature"].split(" ")
    assert base64.b64decode(expected.removeprefix("v2="))

    # Every dead event at once.
    receiver.failing.add("/events")
    standard = next(
        g for g in ok(server.api("GET", "/groups", shop=shop))["items"] if g["is_default"]
    )
    move(standard["id"])
    wait_for(dead)
    receiver.failing.clear()
    again = ok(server.api("POST", "/events/retry", shop=shop, json={"status": "dead"}))
    assert again == {"retried": 1}
    wait_for(lambda: not ok(server.api("GET", "/events?status=pending", shop=shop))["items"])
    assert dead() == []
    last = json.loads(receiver.at("/events")[-1].body)
    assert (last["customer_id"], last["from_group"], last["to_group"]) == (
        "ev_1",
        vip["id"],
        standard["id"],
    )


# -- The admin pages, over HTTP ---------------------------------------------------------------


def admin_ok(page: Any, path: str | None = None) -> Any:
    """A page answered 200 (at ``path``, after redirects); else what the page complained of."""
    if page.status != 200:
        notices = r'<(?:ul class="field-errors"|div class="notice[^"]*")(.*?)</'
        shown = re.findall(notices, page.text, re.S)
        raise AssertionError(f"{page.status} at {page.url}: {shown or page.text[-3000:]}")
    if path is not None:
        assert page.path == path, page.url
    return page


def test_admin_forms(server, receiver):
    tab = AdminTab(server)
    customer(server, "af_1", first_name="Grace", phone="+14155550109")

    # Groups: create, modify, then move a customer into it from the Customers page.
    new = admin_ok(tab.visit("/admin/groups/new"))
    listed = admin_ok(tab.submit(new.form(), {"name": "Admin made", "colour": "#00897B"}), "/admin")
    assert "Admin made" in listed.text
    groups = ok(server.api("GET", "/groups?per_page=100"))["items"]
    group = next(g for g in groups if g["name"] == "Admin made")
    assert group["colour"] == "#00897b"
    edit = admin_ok(tab.visit(f"/admin/groups/{group['id']}"))
    admin_ok(tab.submit(edit.form(), {"name": "Admin group"}), "/admin")
    assert ok(server.api("GET", f"/groups/{group['id']}"))["name"] == "Admin group"
    page = admin_ok(tab.visit("/admin/customers", q="af_1"))
    moved = tab.submit(
        page.form("/admin/customers/move"), {"customer_ids": "af_1", "group_id": group["id"]}
    )
    admin_ok(moved)
    assert ok(server.api("GET", "/customers/af_1"))["group"]["id"] == group["id"]

    # Segments.
    new = admin_ok(tab.visit("/admin/segments/new"))
    changes = {
        "name": "Admin segment",
        "conditions.0.field": "customer_tag",
        "conditions.0.op": "has",
        "conditions.0.text": "admin-tag",
    }
    admin_ok(tab.submit(new.form(), changes, button="Save segment"), "/admin/segments")
    segment = next(
        s for s in ok(server.api("GET", "/segments"))["items"] if s["name"] == "Admin segment"
    )
    assert segment["conditions"] == [{"field": "customer_tag", "op": "has", "value": "admin-tag"}]
    edit = admin_ok(tab.visit(f"/admin/segments/{segment['id']}"))
    admin_ok(tab.submit(edit.form(), {"name": "Admin tagged"}, button="Save segment"))
    assert ok(server.api("GET", f"/segments/{segment['id']}"))["name"] == "Admin tagged"

    # Rules: each kind created, modified and deleted through its form.
    kinds = {
        "price-rules": ({"name": "Admin rule", "action.value": "10"}, "/price-rules"),
        "bundles": (
            {
                "name": "Admin bundle",
                "items.0.product_id": "p_a1",
                "items.1.product_id": "p_a2",
                "price.value": "10",
            },
            "/bundles",
        ),
        "gift-rules": (
            {"name": "Admin gift", "trigger.min": "50", "gift.product_id": "p_gift"},
            "/gift-rules",
        ),
        "benefit-programmes": (
            {
                "name": "Admin programme",
                "tiers.0.min_subtotal": "100",
                "tiers.0.actions.0.value": "5",
            },
            "/benefit-programmes",
        ),
    }
    for kind, (changes, api_path) in kinds.items():
        new = admin_ok(tab.visit(f"/admin/rules/{kind}/new"))
        admin_ok(tab.submit(new.form(), changes, button="Save"), "/admin/rules")
        rules = ok(server.api("GET", api_path))["items"]
        [rule] = [r for r in rules if r["name"] == changes["name"]]
        edit = admin_ok(tab.visit(f"/admin/rules/{kind}/{rule['id']}"))
        admin_ok(tab.submit(edit.form(), {"name": f"{changes['name']} 2"}, button="Save"))
        assert ok(server.api("GET", f"{api_path}/{rule['id']}"))["name"] == f"{changes['name']} 2"
        rules = admin_ok(tab.visit("/admin/rules"))
        deleted = tab.submit(rules.form(f"/admin/rules/{kind}/{rule['id']}/delete"))
        admin_ok(deleted, "/admin/rules")
        assert server.api("GET", f"{api_path}/{rule['id']}").status_code == 404

    # Discounts and their codes.
    new = admin_ok(tab.visit("/admin/discounts/new"))
    changes = {"name": "Admin discount", "code_mode": "pool", "value_percent": "10"}
    admin_ok(tab.submit(new.form(), changes))
    [discount] = [
        d
        for d in ok(server.api("GET", "/discounts?per_page=1000"))["items"]
        if d["name"] == "Admin discount"
    ]
    assert (discount["type"], discount["value"], discount["code"]) == ("percent", 10, None)
    edit = admin_ok(tab.visit(f"/admin/discounts/{discount['id']}"))
    admin_ok(tab.submit(edit.form(), {"name": "Admin pool"}))
    assert ok(server.api("GET", f"/discounts/{discount['id']}"))["name"] == "Admin pool"
    codes_page = admin_ok(tab.visit(f"/admin/discounts/{discount['id']}/codes"))
    generate = codes_page.form(f"/admin/discounts/{discount['id']}/codes/generate")
    admin_ok(tab.submit(generate, {"count": "5", "prefix": "AD-"}))
    assert len(codes_of(server, discount["id"])) == 5
    codes_page = admin_ok(tab.visit(f"/admin/discounts/{discount['id']}/codes"))
    upload = codes_page.form(f"/admin/discounts/{discount['id']}/codes/import")
    imported = tab.submit(upload, files={"file": ("more.csv", b"code\nADMIN-CSV-1\n", "text/csv")})
    assert 'data-count="imported">1<' in admin_ok(imported).text
    exported = server.request(
        "GET", f"/admin/discounts/{discount['id']}/codes/export?s={tab.session}"
    )
    assert exported.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(exported.text)))) == 6

    # Automations: give a code of that pool to every new customer.
    new = admin_ok(tab.visit("/admin/automations/new"))
    changes = {"name": "Admin welcome", "action.discount_id": discount["id"]}
    admin_ok(tab.submit(new.form(), changes), "/admin/automations")
    [automation] = [
        a for a in ok(server.api("GET", "/automations"))["items"] if a["name"] == "Admin welcome"
    ]
    customer(server, "af_2")
    wait_for(lambda: ok(server.api("GET", f"/automations/{automation['id']}/runs"))["items"])
    admin_ok(tab.visit(f"/admin/automations/{automation['id']}/runs"))
    edit = admin_ok(tab.visit(f"/admin/automations/{automation['id']}"))
    admin_ok(tab.submit(edit.form(), {"active": None}))
    assert ok(server.api("GET", f"/automations/{automation['id']}"))["active"] is False

    # Audiences: the admin group sent to Attentive (the receiver), run from the page.
    new = admin_ok(tab.visit("/admin/audiences/new"))
    changes = {
        "name": "Admin audience",
        "source.type": "group",
        "source.group": group["id"],
        "destination.type": "attentive",
        "destination.credentials.api_key": "att_admin_key_0123456789",
        "destination.base_url": receiver.url + "/",
        "mapping.identifier": "phone",
    }
    # Attentive needs a property: "Add a property" posts the form and shows it with a row.
    more = admin_ok(tab.submit(new.form(), changes, button="Add a property"))
    changes = {
        "mapping.properties.0.name": "Points",
        "mapping.properties.0.field": "points",
        # A key is never shown again, not even on the page that asked for it: typed anew.
        "destination.credentials.api_key": "att_admin_key_0123456789",
    }
    admin_ok(tab.submit(more.form(), changes, button="Save"), "/admin/audiences")
    [audience] = [
        a for a in ok(server.api("GET", "/audiences"))["items"] if a["name"] == "Admin audience"
    ]
    pages = admin_ok(tab.visit("/admin/audiences"))
    admin_ok(tab.submit(pages.form(f"/admin/audiences/{audience['id']}/run")))
    wait_for(
        lambda: [
            run
            for run in ok(server.api("GET", f"/audiences/{audience['id']}/runs"))["items"]
            if run["status"] == "succeeded" and run["synced"] == 1
        ]
    )
    admin_ok(tab.visit(f"/admin/audiences/{audience['id']}/runs"))
    edit = admin_ok(tab.visit(f"/admin/audiences/{audience['id']}"))
    admin_ok(tab.submit(edit.form(), {"name": "Admin texters"}, button="Save"))
    assert ok(server.api("GET", f"/audiences/{audience['id']}"))["name"] == "Admin texters"

    # Try a cart.
    page = admin_ok(tab.visit("/admin/cart"))
    changes = {"lines.0.product_id": "p1", "lines.0.quantity": "2", "lines.0.unit_price": "12.50"}
    priced = admin_ok(tab.submit(page.form(), changes, button="Price this cart"))
    assert 'data-total="2500"' in priced.text

    # Everything made here is deleted from its list page.
    for listing, action, api_path in (
        ("/admin/audiences", f"/admin/audiences/{audience['id']}/delete", "/audiences"),
        ("/admin/automations", f"/admin/automations/{automation['id']}/delete", "/automations"),
        ("/admin/discounts", f"/admin/discounts/{discount['id']}/delete", "/discounts"),
        ("/admin/segments", f"/admin/segments/{segment['id']}/delete", "/segments"),
        ("/admin", f"/admin/groups/{group['id']}/delete", "/groups"),
    ):
        page = admin_ok(tab.visit(listing))
        admin_ok(tab.submit(page.form(action)), listing)
        removed = action.removesuffix("/delete").split("/")[-1]
        assert server.api("GET", f"{api_path}/{removed}").status_code == 404


def test_admin_opens_and_every_linked_page_answers(server):
    """``GET /admin?shop=…&id_token=…`` and every admin page reachable by its links."""
    customer(server, "ac_1")
    made = ok(server.api("POST", "/groups", json={"name": "Linked"}), 201)
    discount = pool(server, "Linked pool")
    ok(server.api("POST", f"/discounts/{discount['id']}/codes/generate", json={"count": 2}), 201)
    for path, rule in RULES.items():
        ok(server.api("POST", path, json={**rule, "name": f"Linked {path}"}), 201)
    conditions = [{"field": "customer_tag", "op": "has", "value": "linked"}]
    segment = {"name": "Linked", "match": "all", "conditions": conditions}
    ok(server.api("POST", "/segments", json=segment), 201)

    tab = AdminTab(server)
    opened = tab.page
    assert "Linked" in opened.text
    # Its stylesheet and script, by version: kept by the browser until they change.
    for name in ("admin.css", "admin.js"):
        found = re.search(rf'"(/admin/static/{re.escape(name)}\?v=[0-9a-f]+)"', opened.text)
        assert found, name
        asset = server.request("GET", found[1])
        assert asset.status_code == 200
        assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    nav = {urlsplit(link).path for link in opened.links}
    assert {"/admin", "/admin/customers", "/admin/segments", "/admin/rules"} <= nav
    seen: dict[str, int] = {}
    queue = [link for link in opened.links]
    while queue:
        link = queue.pop(0)
        path = urlsplit(link).path
        if not path.startswith("/admin") or path.startswith("/admin/static") or path in seen:
            continue
        page = tab.get(link)
        seen[path] = page.status
        if page.meta.get("cg-session"):
            queue.extend(page.links)
    assert {path for path, status in seen.items() if status != 200} == set()
    assert f"/admin/groups/{made['id']}" in seen
    assert f"/admin/discounts/{discount['id']}/codes" in seen
    assert f"/admin/discounts/{discount['id']}/codes/export" in seen
    assert "/admin/cart" in seen and "/admin/audiences/new" in seen


def test_the_customer_page_and_its_lists(server):
    """Issue 14: a customer's orders, redemptions and recorded changes, and the admin's
    customer page moving them and giving them a code."""
    customer(server, "cp_1", first_name="Hedy")
    group = ok(server.api("POST", "/groups", json={"name": "Customer page"}), 201)
    discount = pool(server, "Customer page pool")
    ok(server.api("POST", f"/discounts/{discount['id']}/codes/generate", json={"count": 2}), 201)
    ok(server.webhook("order/paid", {"order": order_payload("cp_o1", "cp_1", total=2500)}))

    orders = ok(server.api("GET", "/customers/cp_1/orders"))
    assert [(o["id"], o["total"], o["status"]) for o in orders["items"]] == [
        ("cp_o1", 2500, "paid")
    ]
    assert ok(server.api("GET", "/customers/cp_1/redemptions"))["total"] == 0
    assert server.api("GET", "/customers/nobody/changes").status_code == 404

    tab = AdminTab(server)
    listed = admin_ok(tab.visit("/admin/customers", q="cp_1"))
    [link] = [link for link in listed.links if urlsplit(link).path == "/admin/customers/cp_1"]
    page = admin_ok(tab.get(link))
    assert "Hedy" in page.text and "cp_o1" in page.text
    moved = tab.submit(page.form("/admin/customers/cp_1/move"), {"group_id": group["id"]})
    assert "Moved to “Customer page”." in admin_ok(moved, "/admin/customers/cp_1").text
    given = tab.submit(
        moved.form("/admin/customers/cp_1/give-code"), {"discount_id": discount["id"]}
    )
    code = re.search(r"Gave the code (\w+)\.", admin_ok(given).text)[1]

    changes = ok(server.api("GET", "/customers/cp_1/changes"))["items"]
    assert [c["kind"] for c in changes] == ["group"]
    assert changes[0]["to_group"]["name"] == "Customer page"
    assert changes[0]["from_group"]["name"] == "Standard"
    paid = order_payload("cp_o2", "cp_1", discount_codes=[code])
    ok(server.webhook("order/paid", {"order": paid}))
    used = ok(server.api("GET", "/customers/cp_1/redemptions"))["items"]
    assert [(u["code"], u["order_id"]) for u in used] == [(code, "cp_o2")]


# -- Reports (contract v2 §8) ----------------------------------------------------------------


def test_reports_of_discounts_and_groups(server):
    """Redeemed at the hook, paid, one refunded: the discount's and the group's figures, by
    day, over real HTTP (the shop's time zone is UTC here)."""
    discount = pool(server, "Report 10%", code="REPORT10")
    group = ok(server.api("POST", "/groups", json={"name": "Reported"}), 201)
    for customer_id in ("r_1", "r_2"):
        customer(server, customer_id)
    ok(server.api("POST", f"/groups/{group['id']}/customers", json={"customer_ids": ["r_1"]}))
    body = cart("k_r1", "r_1", ("p1", 1, 5000), codes=["REPORT10"])
    ok(server.signed("/hooks/checkout/redeem", {**body, "order_id": "o_r1"}))
    for order_id, customer_id, placed_at, total, codes in (
        ("o_r1", "r_1", "2026-04-01T10:00:00Z", 4500, ["REPORT10"]),
        ("o_r2", "r_1", "2026-04-02T10:00:00Z", 1000, []),
        ("o_r3", "r_1", "2026-04-02T11:00:00Z", 700, ["REPORT10"]),
        ("o_r4", "r_2", "2026-04-02T12:00:00Z", 300, []),
    ):
        order = order_payload(order_id, customer_id, placed_at=placed_at, total=total,
                              discount_codes=codes)  # fmt: skip
        ok(server.webhook("order/paid", {"order": order}))
    ok(server.webhook("order/refunded", {"order": {"id": "o_r3"}}))

    span = {"from": "2026-04-01", "to": "2026-04-03"}
    report = ok(server.api("GET", "/reports/discounts", params=span))
    [item] = [i for i in report["items"] if i["discount"]["id"] == discount["id"]]
    assert (item["redemptions"], item["discount_total"], item["orders_total"]) == (1, 500, 4500)
    assert [d["redemptions"] for d in item["series"]] == [1, 0, 0]
    report = ok(server.api("GET", "/reports/groups", params=span))
    [item] = [i for i in report["items"] if i["group"]["id"] == group["id"]]
    figures = (item["customers"], item["orders"], item["revenue"], item["discount_total"])
    assert figures == (1, 2, 5500, 500)
    assert [d["revenue"] for d in item["series"]] == [4500, 1000, 0]
    backwards = {"from": "2026-04-03", "to": "2026-04-01"}
    refused = server.api("GET", "/reports/groups", params=backwards)
    assert refused.status_code == 422 and "to" in refused.json()["error"]["details"]


# -- Price lists and offers (contract §8) -------------------------------------------------------


def test_price_lists_and_offers(server):
    customer(server, "c_list")
    made = ok(
        server.api(
            "POST",
            "/price-lists",
            json={"name": "Trade", "audience": {"type": "customers", "ids": ["c_list"]}},
        ),
        201,
    )
    assert ok(server.api("GET", f"/price-lists/{made['id']}"))["audience"]["ids"] == ["c_list"]
    assert [item["id"] for item in ok(server.api("GET", "/price-lists"))["items"]] == [made["id"]]
    entries = f"/price-lists/{made['id']}/entries"
    report = ok(
        server.api(
            "POST",
            f"{entries}/import",
            data=b"product_id,min_quantity,price\np_list,1,900\np_list,3,800\np_list,x,1\n",
            headers={"Content-Type": "text/csv"},
        )
    )
    assert (report["imported"], report["invalid"]) == (2, 1)
    assert report["errors"][0]["line"] == 4
    added = ok(server.api("POST", entries, json={"product_id": "p_other", "price": 10}))
    assert added == {"product_id": "p_other", "min_quantity": 1, "price": 10}
    assert ok(server.api("GET", f"{entries}?per_page=2"))["total"] == 3
    assert server.api("DELETE", f"{entries}?product_id=p_other&min_quantity=1").status_code == 204
    exported = server.api("GET", f"{entries}/export")
    assert exported.headers["Content-Type"].startswith("text/csv")
    assert exported.text.splitlines() == [
        "product_id,min_quantity,price",
        "p_list,1,900",
        "p_list,3,800",
    ]

    offer = ok(
        server.api(
            "POST",
            "/offers",
            json={
                "name": "Second half price",
                "buy": {"product_ids": ["p_list"], "quantity": 1},
                "get": {
                    "product_ids": ["p_list"],
                    "quantity": 1,
                    "discount": {"type": "percent", "value": 50},
                },
            },
        ),
        201,
    )
    assert ok(server.api("GET", f"/offers/{offer['id']}"))["name"] == "Second half price"
    assert [item["id"] for item in ok(server.api("GET", "/offers"))["items"]] == [offer["id"]]
    body = cart("k_list", "c_list", ("p_list", 2, 1000), ("p_list", 1, 1000))
    answer = ok(server.signed("/hooks/cart/price", body, topic="hooks/cart/price"))
    # Three units: the 3-unit price, 800; one unit is the get unit of the offer (-400).
    assert [line["rule_unit_price"] for line in answer["lines"]] == [800, 800]
    assert answer["discount_total"] == 400 and answer["subtotal"] == 2400
    sources = {a["source"] for line in answer["lines"] for a in line["adjustments"]}
    assert sources == {"price_list", "offer"}
    patched = server.api("PATCH", f"/offers/{offer['id']}", json={"active": False})
    assert ok(patched)["active"] is False
    renamed = server.api("PATCH", f"/price-lists/{made['id']}", json={"name": "Trade 2"})
    assert ok(renamed)["name"] == "Trade 2"
    assert server.api("DELETE", f"/offers/{offer['id']}").status_code == 204
    assert server.api("DELETE", f"/price-lists/{made['id']}").status_code == 204
    assert server.api("GET", entries).status_code == 404


def test_price_list_pages_of_the_admin(server):
    """The admin's price list from the rules page: an entry set by its form (the price typed
    in major units), a CSV import with its report, an entry deleted, the export streamed."""
    made = ok(server.api("POST", "/price-lists", json={"name": "Admin trade"}), 201)
    tab = AdminTab(server)
    rules = admin_ok(tab.visit("/admin/rules"))
    path = f"/admin/rules/price-lists/{made['id']}/entries"
    [link] = [link for link in rules.links if urlsplit(link).path == path]
    page = admin_ok(tab.get(link))
    assert "Admin trade" in page.text and "Entries (0)" in page.text

    refused = tab.submit(page.form(path), {"product_id": "p_admin", "price": "abc"})
    assert refused.status == 422 and "Entries (0)" in refused.text
    added = tab.submit(page.form(path), {"product_id": "p_admin", "min_quantity": "5",
                                         "price": "18.50"})  # fmt: skip
    assert "p_admin from 5" in admin_ok(added, path).text and "Entries (1)" in added.text
    assert ok(server.api("GET", f"/price-lists/{made['id']}/entries"))["items"] == [
        {"product_id": "p_admin", "min_quantity": 5, "price": 1850}
    ]

    csv_body = b"product_id,min_quantity,price\np_a,1,900\np_b,2,800\np_c,0,1\n"
    imported = tab.submit(
        added.form(f"{path}/import"), files={"file": ("list.csv", csv_body, "text/csv")}
    )
    assert 'data-count="imported">2<' in admin_ok(imported).text
    assert 'data-count="invalid">1<' in imported.text and "Entries (2)" in imported.text
    deleted = tab.submit(imported.form(f"{path}/delete"))  # the first entry's form: p_a
    assert "Deleted p_a from 1." in admin_ok(deleted, path).text
    exported = server.request("GET", f"{path}/export?s={tab.session}")
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    assert exported.text.splitlines() == ["product_id,min_quantity,price", "p_b,2,800"]


def test_automatic_groups_and_released_locks(server):
    customer(server, "ag_1", tags=["served-auto"])
    customer(server, "ag_2")
    conditions = [{"field": "customer_tag", "op": "has", "value": "served-auto"}]
    made = server.api("POST", "/segments", json={"name": "Served auto", "conditions": conditions})
    segment = ok(made, 201)
    body = {"name": "Served auto", "auto_segment_id": segment["id"]}
    auto = ok(server.api("POST", "/groups", json=body), 201)
    assert auto["auto_segment_id"] == segment["id"] and auto["auto_priority"] == 0
    assert ok(server.api("GET", "/customers/ag_1"))["group"]["name"] == "Served auto"
    ok(server.api("POST", f"/groups/{auto['id']}/customers", json={"customer_ids": ["ag_2"]}))
    released = server.api("POST", "/groups/locks/release", json={"customer_ids": ["ag_2"]})
    assert ok(released) == {"released": 1, "moved": 1}
    assert ok(server.api("GET", "/customers/ag_2"))["group"]["name"] == "Standard"
    # Moved by hand again, then released from the groups page of the admin.
    ok(server.api("POST", f"/groups/{auto['id']}/customers", json={"customer_ids": ["ag_2"]}))
    tab = AdminTab(server)
    groups_page = admin_ok(tab.visit("/admin"))
    freed = tab.submit(groups_page.form("/admin/groups/locks/release"), {"customer_ids": "ag_2"})
    assert "1 customer(s) released; 1 placed in another group." in admin_ok(freed).text
    assert ok(server.api("GET", "/customers/ag_2"))["group"]["name"] == "Standard"
    refused = server.api("DELETE", f"/segments/{segment['id']}")
    assert ok(refused, 409)["error"]["code"] == "conflict"
    assert server.api("DELETE", f"/groups/{auto['id']}").status_code == 204
    assert ok(server.api("GET", "/customers/ag_1"))["group"]["name"] == "Standard"


# -- Every documented route was sent a request ------------------------------------------------


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile(
        "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts) + "$"
    )


def test_every_documented_route_was_exercised(server, request):
    here = request.module
    selected = {item.originalname for item in request.session.items if item.module is here}
    if selected != {name for name in dir(here) if name.startswith("test_")}:
        pytest.skip("only meaningful when the whole module runs (some tests were deselected)")
    routes = {
        (method.upper(), path)
        for path, operations in document(server)["paths"].items()
        for method in operations
        if method in METHODS
    }
    # A literal segment beats a parameter (/admin/segments/new is not /admin/segments/{id}).
    patterns = sorted(
        ((route, _template_pattern(route[1])) for route in routes),
        key=lambda item: item[0][1].count("{"),
    )
    exercised = set()
    for method, path in server.sent:
        for route, pattern in patterns:
            if route[0] == method and pattern.match(path):
                exercised.add(route)
                break
    assert sorted(routes - exercised) == [], "documented routes no test here exercised"
