"""The demo shop: loaded through webhooks and the admin API, visible through the API."""

from __future__ import annotations

import re
import shlex
import subprocess
from datetime import UTC, datetime
from random import Random
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from customer_groups_demo import (
    CATEGORIES,
    PRODUCTS,
    SHOP_DOMAIN,
    TRADE_PRICES,
    load_demo,
    make_customers,
    make_orders,
    run_demo,
)
from customer_groups_demo.host import HOST_PAGE_PATH, install_demo_host
from plugin.db import db
from plugin.extension import create_app
from tests.browser.harness import ROOT, ServerThread
from tests.conftest import auth, make_app
from tests.served.server import free_port

TODAY = datetime(2026, 6, 15, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("demo"))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def loaded(demo_app):
    """One demo shop for the tests that only read it (GETs through the API): loading it
    sends some 400 webhooks and requests, seconds that each test paid once before."""
    return load_demo(demo_app, customers=40, orders=240, seed=11, today=TODAY)


@pytest.fixture
def client(demo_app):
    return demo_app.test_client()


def _get(client, path):
    response = client.get(path, headers=auth(SHOP_DOMAIN))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_catalogue_is_thirty_products_in_six_categories():
    assert len(PRODUCTS) == 30
    assert len(CATEGORIES) == 6
    assert len({product.id for product in PRODUCTS}) == 30


def test_same_seed_same_shop():
    first = make_customers(Random(5), 30, TODAY)
    second = make_customers(Random(5), 30, TODAY)
    assert [c.payload for c in first] == [c.payload for c in second]
    assert make_orders(Random(6), first, 50, TODAY) == make_orders(Random(6), second, 50, TODAY)
    assert [c.payload for c in make_customers(Random(7), 30, TODAY)] != [c.payload for c in first]


def test_orders_fall_in_the_last_eighteen_months_after_registration():
    customers = make_customers(Random(3), 60, TODAY)
    registered = {c.payload["id"]: c.payload["registered_at"] for c in customers}
    orders = make_orders(Random(4), customers, 400, TODAY)
    assert [o["placed_at"] for o in orders] == sorted(o["placed_at"] for o in orders)
    assert orders[0]["placed_at"] >= "2024-12-14"
    assert orders[-1]["placed_at"] <= "2026-06-15T12:00:00Z"
    for order in orders:
        if order["customer_id"] is not None:
            assert order["placed_at"] >= registered[order["customer_id"]]
    assert any(order["customer_id"] is None for order in orders)  # some guests
    assert any(order["discount_codes"] for order in orders)


def test_every_customer_is_in_exactly_one_group(client, loaded):
    groups = {g["name"]: g for g in _get(client, "/api/groups?per_page=100")["items"]}
    assert set(groups) == {"Standard", "Wholesale", "VIP", "Staff", "Press"}
    assert groups["Standard"]["is_default"] is True
    assert groups["Wholesale"]["colour"] == "#1e88e5"  # sent as #1E88E5
    assert sum(g["member_count"] for g in groups.values()) == len(loaded.customers) == 40
    businesses = [c for c in loaded.customers if c.payload["type"] == "business"]
    assert groups["Wholesale"]["member_count"] == len(businesses) > 0
    assert groups["VIP"]["member_count"] >= 1
    wholesale = _get(client, f"/api/groups/{groups['Wholesale']['id']}/customers?per_page=100")
    listed = {item.get("id") or item.get("customer_id") for item in wholesale["items"]}
    assert listed == {c.payload["id"] for c in businesses}


def test_customer_figures_match_the_orders_sent(client, loaded):
    assert loaded.refunded >= 1
    assert sum(c.orders for c in loaded.customers) > 0
    for customer in loaded.customers:
        seen = _get(client, f"/api/customers/{customer.payload['id']}")
        figures = seen["figures"]
        assert seen["group"]["name"] == (customer.group or "Standard")
        assert figures["order_count"] == customer.orders, customer.payload["id"]
        assert figures["total_spent"] == customer.spent, customer.payload["id"]


def test_the_catalogue_is_loaded_through_its_webhooks(client, loaded):
    products = _get(client, "/api/products?per_page=100")
    assert products["total"] == len(PRODUCTS) == 30
    fig = next(p for p in products["items"] if p["id"] == "p_candle_fig")
    assert (fig["title"], fig["category_ids"], fig["price"]) == ("Fig candle", ["candles"], 2400)
    found = _get(client, "/api/categories?q=SCENTS")["items"]
    assert [(c["id"], c["title"]) for c in found] == [("candles", "Candles and scents")]
    assert _get(client, "/api/products?q=lamp")["total"] == 3  # arc, desk, installation


def test_the_reports_show_what_the_codes_took_off(client, loaded):
    """Coded orders went through the redeem hook before order/paid, as at a checkout."""
    report = _get(client, "/api/reports/discounts?from=2024-01-01&to=2025-12-31")
    recent = _get(client, "/api/reports/discounts?from=2025-12-01&to=2026-06-15")
    used = [i for r in (report, recent) for i in r["items"] if i["redemptions"]]
    assert used and all(item["orders_total"] > 0 for item in used)
    assert any(item["discount_total"] > 0 for item in used)
    groups = _get(client, "/api/reports/groups?from=2025-12-01&to=2026-06-15")
    assert sum(item["orders"] for item in groups["items"]) > 0


def test_segments_rules_and_discounts_exist(client, loaded):
    segments = _get(client, "/api/segments?per_page=100")
    assert {s["name"] for s in segments["items"]} == set(loaded.segments) and segments["total"] == 6
    for path, made in [
        ("/api/price-rules", loaded.price_rules),
        ("/api/bundles", loaded.bundles),
        ("/api/gift-rules", loaded.gift_rules),
        ("/api/benefit-programmes", loaded.benefit_programmes),
        ("/api/price-lists", loaded.price_lists),
        ("/api/offers", loaded.offers),
        ("/api/discounts", loaded.discounts),
    ]:
        listed = _get(client, f"{path}?per_page=100")
        assert {item["name"] for item in listed["items"]} == set(made), path
    assert len(loaded.price_rules) == 4 and len(loaded.bundles) == 2
    assert len(loaded.gift_rules) == 2 and len(loaded.discounts) == 6
    assert len(loaded.price_lists) == 1 and len(loaded.offers) == 2
    [trade] = loaded.price_lists.values()
    entries = _get(client, f"/api/price-lists/{trade}/entries?per_page=100")
    assert entries["total"] == sum(len(breaks) for breaks in TRADE_PRICES.values())


def test_run_demo_prints_an_admin_url_and_a_signed_curl_that_work(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CUSTOMER_GROUPS_APP_SECRET", raising=False)
    path = tmp_path / "demo.sqlite"
    run_demo("127.0.0.1", 5999, 25, 120, serve_after=False, path=str(path), seed=3)
    out = capsys.readouterr().out
    secret = out.split("App secret (made up for this run): ", 1)[1].split()[0]
    admin_url = next(line.strip() for line in out.splitlines() if "/admin?shop=" in line)
    curl = next(line.strip() for line in out.splitlines() if line.strip().startswith("curl "))
    assert "customer-groups token --shop lumen.example" in out
    assert "customer-groups sign --shop lumen.example --file" in out
    assert "http://127.0.0.1:5999/demo/admin" in out

    app = create_app(
        {
            "TESTING": True,
            "CUSTOMER_GROUPS_APP_SECRET": secret,
            "CUSTOMER_GROUPS_DATABASE_URL": f"sqlite:///{path}",
        }
    )
    client = app.test_client()
    query = parse_qs(urlsplit(admin_url).query)
    assert query["shop"] == [SHOP_DOMAIN]
    page = client.get(f"/admin?shop={SHOP_DOMAIN}&id_token={query['id_token'][0]}")
    assert page.status_code == 200
    assert "Wholesale" in page.get_data(as_text=True)

    words = shlex.split(curl)
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    body = words[words.index("--data-binary") + 1].encode()
    assert urlsplit(words[4]).path == "/hooks/cart/price"
    priced = client.post("/hooks/cart/price", data=body, headers=headers)
    assert priced.status_code == 200, priced.get_json()
    answer = priced.get_json()
    assert answer["customer"]["group"]["name"] == "Wholesale"
    assert answer["total"] < answer["subtotal"] + answer["shipping_total"]
    assert (tmp_path / "demo-cart.json").read_bytes() == body


def _printed_commands(out: str) -> list[str]:
    """The shell lines the demo printed (a trailing backslash continues a line)."""
    lines = out.replace("\\\n", "").splitlines()
    return [
        line.strip()
        for line in lines
        if line.strip().startswith(("CUSTOMER_GROUPS_APP_SECRET=", "curl "))
    ]


def test_every_command_the_demo_prints_runs_as_printed_from_the_project_root(
    tmp_path, capsys, monkeypatch
):
    """Issue 14: pasted into a shell at the project root (as after ``make demo``), every
    printed command works, and the stand-in host page frames the admin with a fresh token."""
    monkeypatch.delenv("CUSTOMER_GROUPS_APP_SECRET", raising=False)
    monkeypatch.chdir(ROOT)
    port = free_port()
    path = tmp_path / "demo.sqlite"
    run_demo("127.0.0.1", port, 25, 120, serve_after=False, path=str(path), seed=3)
    out = capsys.readouterr().out
    secret = out.split("App secret (made up for this run): ", 1)[1].split()[0]
    app = create_app(
        {
            "CUSTOMER_GROUPS_APP_SECRET": secret,
            "CUSTOMER_GROUPS_DATABASE_URL": f"sqlite:///{path}",
            "CUSTOMER_GROUPS_HOST_ADMIN_URL": HOST_PAGE_PATH,
        }
    )
    install_demo_host(app, SHOP_DOMAIN, "Lumen")
    server = ServerThread(app, port)
    try:
        commands = _printed_commands(out)
        assert len(commands) == 3, out  # token, the curl, sign
        for command in commands:
            ran = subprocess.run(
                ["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=60
            )
            assert ran.returncode == 0, (command, ran.stdout, ran.stderr)
            if " token " in command:
                admin = requests.get(ran.stdout.strip(), timeout=10)
                assert admin.status_code == 200 and "Wholesale" in admin.text
            elif " sign " in command:
                resigned = subprocess.run(
                    ["bash", "-c", ran.stdout.strip()], capture_output=True, text=True, timeout=60
                )
                assert '"total"' in resigned.stdout, resigned
            else:
                assert '"total"' in ran.stdout, ran

        # The stand-in for the host's admin: a fresh token on every opening.
        first = requests.get(f"http://127.0.0.1:{port}/demo/admin", timeout=10)
        second = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        tokens = [re.search(r'src="/admin\?([^"]+)"', page.text)[1] for page in (first, second)]
        assert tokens[0] != tokens[1]
        framed = requests.get(
            f"http://127.0.0.1:{port}/admin?" + tokens[1].replace("&amp;", "&"), timeout=10
        )
        assert framed.status_code == 200 and "Wholesale" in framed.text
        # An expired or missing session sends the merchant back to it.
        expired = requests.get(f"http://127.0.0.1:{port}/admin?shop={SHOP_DOMAIN}", timeout=10)
        assert expired.status_code == 401
        assert 'href="/demo/admin"' in expired.text
    finally:
        server.stop()
