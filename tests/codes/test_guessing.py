"""Guessing codes (contract v2 §2, "Guessing codes"; §4 "It changes nothing but the
attempt counters"): counted per cart, customer and client address at both hooks, a
blocked guesser refused every code (real ones included), at most 5 codes a request, and
the density warning of generated codes, in the API and on the admin page."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import event, func, select

import plugin.checkout.pricing
from hooks import signals
from plugin.codes.generation import DEFAULT_CHARSET, GUESS_ODDS
from plugin.codes.lookup import address_subject
from plugin.codes.models import CheckoutAnswer, Code, CodeAttempt, CodeBlock
from plugin.db import db
from plugin.errors import ApiError
from plugin.jobs import run_pending
from tests.conftest import SHOP, auth
from tests.rules.helpers import Admin, cart, error
from tests.test_admin_ui_more import AdminPages

PRICE = "/hooks/cart/price"
REDEEM = "/hooks/checkout/redeem"
HOOKS = (PRICE, REDEEM)
LIMIT = 10  # CUSTOMER_GROUPS_CODE_ATTEMPT_LIMIT's default


@pytest.fixture
def app(app):
    # The slow-down is tested on its own; elsewhere it would only make the tests slower.
    app.config["CUSTOMER_GROUPS_CODE_SLOW_AFTER"] = 1000
    return app


@pytest.fixture
def real(make_discount):
    """A discount whose shared code REAL takes 10 % off."""
    return make_discount(code="REAL")


class Shopper:
    """Sends carts to either hook: every call a fresh cart id and order id unless told."""

    def __init__(self, host):
        self.host = host
        self.calls = 0

    def send(self, hook, codes, *, cart_id=None, customer_id=None, client_ip=None, **extra):
        self.calls += 1
        body = cart(cart_id=cart_id or f"k_{self.calls}", customer_id=customer_id, codes=codes)
        if client_ip is not None:
            body["client_ip"] = client_ip
        if hook == REDEEM:
            body["order_id"] = f"o_{self.calls}"
        body.update(extra)
        return self.host.post(hook, body)

    def code(self, hook, code, **kwargs):
        """The status and reason of one typed code."""
        answer = self.send(hook, [code], **kwargs)
        assert answer.status_code == 200, answer.get_json()
        result = answer.get_json()["codes"][0]
        return result["status"], result["reason"]


@pytest.fixture
def shopper(host, shop):
    return Shopper(host)


def _count(app, model):
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def _times_used(app, key):
    with app.app_context():
        return db.session.execute(select(Code.times_used).where(Code.code_key == key)).scalar_one()


# Counting and blocking -------------------------------------------------------------------


@pytest.mark.parametrize("guessed_at", HOOKS)
def test_a_guest_is_blocked_by_client_ip_across_fresh_carts_at_both_hooks(
    app, shopper, real, guessed_at
):
    ip = "203.0.113.7"
    for i in range(LIMIT):
        # A fresh cart id (and order id) each time: only the address ties the calls.
        assert shopper.code(guessed_at, f"GUESS{i}", client_ip=ip) == ("rejected", "unknown_code")
    # From that address, the real code is refused at both hooks, whatever the cart.
    for hook in HOOKS:
        assert shopper.code(hook, "REAL", client_ip=ip) == ("rejected", "too_many_attempts")
    assert _times_used(app, "real") == 0  # the blocked redeem took no use
    blocked = shopper.send(PRICE, ["REAL"], client_ip=ip).get_json()
    assert blocked["discount_total"] == 0
    assert "try again later" in blocked["codes"][0]["message"]
    # Another address, or none, is not blocked (their carts are fresh too).
    assert shopper.code(PRICE, "REAL", client_ip="198.51.100.1") == ("applied", None)
    assert shopper.code(REDEEM, "REAL") == ("applied", None)


def test_the_real_code_is_refused_for_the_cart_and_the_customer_too(app, shopper, real):
    for i in range(LIMIT):
        shopper.code(PRICE, f"GUESS{i}", cart_id="k_guess", customer_id="c_guesser")
    # The same customer from another cart, the same cart as a guest: both blocked.
    assert shopper.code(REDEEM, "REAL", customer_id="c_guesser") == (
        "rejected",
        "too_many_attempts",
    )
    assert shopper.code(PRICE, "REAL", cart_id="k_guess") == ("rejected", "too_many_attempts")
    assert shopper.code(PRICE, "REAL", customer_id="c_honest") == ("applied", None)
    with app.app_context():
        subjects = set(db.session.execute(select(CodeBlock.subject)).scalars())
    assert subjects == {"cart:k_guess", "customer:c_guesser"}


def test_an_ipv6_address_counts_as_its_64(app, shopper, real):
    # Every guess from another address of one /64: a guesser rotating through them.
    for i in range(LIMIT):
        ip = f"2001:db8:1:2:{i:x}::{i + 1:x}"
        assert shopper.code(PRICE, f"GUESS{i}", client_ip=ip) == ("rejected", "unknown_code")
    for ip in ("2001:db8:1:2::1", "2001:DB8:1:2:ffff:ffff:ffff:ffff"):
        assert shopper.code(PRICE, "REAL", client_ip=ip) == ("rejected", "too_many_attempts")
    assert shopper.code(PRICE, "REAL", client_ip="2001:db8:1:3::1") == ("applied", None)
    with app.app_context():
        subjects = set(db.session.execute(select(CodeBlock.subject)).scalars())
    assert "ip:2001:db8:1:2::/64" in subjects


@pytest.mark.parametrize(
    ("typed", "subject"),
    [
        ("203.0.113.7", "ip:203.0.113.7"),
        ("::ffff:203.0.113.7", "ip:203.0.113.7"),  # the same shopper written as IPv6
        ("2001:db8::1", "ip:2001:db8::/64"),
        ("2001:db8:0:0:ffff:1:2:3", "ip:2001:db8::/64"),
        ("fe80::1%eth0", "ip:fe80::/64"),
    ],
)
def test_address_subjects(typed, subject):
    assert address_subject(typed) == subject


def test_the_same_typo_counts_once(app, shopper, real):
    for _ in range(3):
        for hook in HOOKS:
            answer = shopper.code(
                hook, "SUMER10", cart_id="k_1", customer_id="c_1", client_ip="203.0.113.7"
            )
            assert answer == ("rejected", "unknown_code")
    # One row per subject (cart, customer, address), however often it was priced.
    assert _count(app, CodeAttempt) == 3
    for i in range(LIMIT - 2):  # 9 distinct unknown codes in all: not blocked yet
        shopper.code(PRICE, f" guess{i} ", cart_id="k_1")  # case and spaces do not matter
        shopper.code(PRICE, f"GUESS{i}", cart_id="k_1")
    assert shopper.code(PRICE, "REAL", cart_id="k_1") == ("applied", None)
    shopper.code(PRICE, "ONE-MORE", cart_id="k_1")  # the 10th
    assert shopper.code(PRICE, "REAL", cart_id="k_1") == ("rejected", "too_many_attempts")


def test_the_pricing_hook_writes_only_when_a_typed_code_is_unknown(app, shopper, real):
    writes = []

    def record(conn, cursor, statement, parameters, context, executemany):
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in {"INSERT", "UPDATE", "DELETE"}:
            writes.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        for customer_id in ("c_1", None):
            for codes in ([], ["REAL"], ["real", " Real "]):
                answer = shopper.send(PRICE, codes, customer_id=customer_id, client_ip="::1")
                assert answer.status_code == 200
        assert writes == []
        assert _count(app, CodeAttempt) == 0
        # An unknown code: its counts are the only rows written.
        shopper.send(PRICE, ["REAL", "NOPE"], customer_id="c_1", client_ip="::1")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert writes and all("code_attempts" in statement for statement in writes)
    assert _count(app, CodeAttempt) == 3
    assert _count(app, CheckoutAnswer) == 0


def test_the_pricing_hook_holds_a_guesser_back_after_the_commit(app, shopper, monkeypatch):
    app.config["CUSTOMER_GROUPS_CODE_SLOW_AFTER"] = 5
    waits = []
    monkeypatch.setattr(plugin.checkout.pricing.time, "sleep", waits.append)
    for i in range(7):
        shopper.code(PRICE, f"GUESS{i}", client_ip="203.0.113.9")
    assert waits == [0.25, 0.5, 1.0]  # the 5th, 6th and 7th unknown codes


def test_the_admin_preview_counts_nothing(app, shopper, shop):
    for i in range(LIMIT + 1):
        preview = Admin(shopper.host.client).post(
            "/price-preview", cart(codes=[f"GUESS{i}"], client_ip="203.0.113.7")
        )
        assert preview.get_json()["codes"][0]["reason"] == "unknown_code"
    assert _count(app, CodeAttempt) == 0


# Input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("hook", HOOKS)
def test_more_than_five_codes_is_a_400_on_codes_at_both_hooks(app, shopper, real, hook):
    six = ["REAL", "A1", "A2", "A3", "A4", "A5"]
    refused = shopper.send(hook, six, client_ip="203.0.113.7")
    assert refused.status_code == 400
    assert error(refused)["code"] == "invalid_payload"
    assert list(error(refused)["details"]) == ["codes"]
    assert (_count(app, CodeAttempt), _count(app, CheckoutAnswer)) == (0, 0)
    five = shopper.send(hook, six[:5], client_ip="203.0.113.7")
    assert five.status_code == 200
    assert [c["status"] for c in five.get_json()["codes"]] == ["applied"] + ["rejected"] * 4


def test_more_than_five_codes_is_refused_by_the_signals_and_the_preview(app, client, real):
    body = cart(codes=["REAL", "A1", "A2", "A3", "A4", "A5"])
    with app.app_context():
        for signal, payload in (
            (signals.cart_price, body),
            (signals.checkout_redeem, {**body, "order_id": "o_1"}),
        ):
            with pytest.raises(ApiError) as refused:
                signal.send(SHOP, payload=payload)
            assert refused.value.status == 400 and list(refused.value.details) == ["codes"]
    preview = Admin(client).post("/price-preview", body)
    assert preview.status_code in (400, 422)
    assert list(error(preview)["details"]) == ["codes"]
    assert _count(app, CheckoutAnswer) == 0


@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize(
    "client_ip", ["", "localhost", "203.0.113.256", "1.2.3.4/24", " 1.2.3.4", 2130706433, []]
)
def test_a_bad_client_ip_is_a_400_on_client_ip(app, shopper, real, hook, client_ip):
    refused = shopper.send(hook, ["NOPE"], client_ip=client_ip)
    assert refused.status_code == 400
    assert list(error(refused)["details"]) == ["client_ip"]
    assert _count(app, CodeAttempt) == 0


@pytest.mark.parametrize("hook", HOOKS)
def test_client_ip_is_optional_and_may_be_null(shopper, real, hook):
    assert shopper.code(hook, "REAL") == ("applied", None)  # not sent
    body = cart(cart_id="k_null", codes=["REAL"], client_ip=None)
    if hook == REDEEM:
        body["order_id"] = "o_null"
    answer = shopper.host.post(hook, body)
    assert answer.status_code == 200 and answer.get_json()["codes"][0]["status"] == "applied"


# The density warning ---------------------------------------------------------------------


def _generate(client, discount_id, **body):
    answer = client.post(
        f"/api/discounts/{discount_id}/codes/generate", json=body, headers=auth()
    )
    assert answer.status_code in (201, 202), answer.get_json()
    return answer


def test_a_dense_generation_warns_and_a_sparse_one_does_not(client, make_discount):
    pool = make_discount(name="Pool")["id"]
    # 100 of 31^4 = 923,521 possible: a guess succeeds once in 9,235 tries.
    dense = _generate(client, pool, count=100, length=4).get_json()
    assert dense["generated"] == 100
    [warning] = dense["warnings"]
    assert "once in 9,235 tries" in warning and "more often than once in a million" in warning
    # 100 of 31^8 (about 8.5 * 10^11): once in 8.5 billion.
    sparse = _generate(client, pool, count=100, length=8).get_json()
    assert sparse == {"generated": 100, "warnings": []}


def test_the_code_space_ignores_case(client, make_discount):
    pool = make_discount(name="Pool")["id"]
    # "abAB" is 2 characters to a shopper: 2^16 = 65,536 codes, not 4^16.
    answer = _generate(client, pool, count=1, length=16, charset="abAB").get_json()
    assert len(answer["warnings"]) == 1 and "of 2, ignoring case" in answer["warnings"][0]
    assert 4**16 > GUESS_ODDS  # the same count over 4^16 would not have warned


def test_codes_of_the_same_shape_count_together(client, make_discount):
    first = make_discount(name="First")["id"]
    second = make_discount(name="Second")["id"]
    space = len(DEFAULT_CHARSET) ** 5  # 28,629,151: at most 28 codes keep the odds
    assert 28 * GUESS_ODDS <= space < 29 * GUESS_ODDS
    assert _generate(client, first, count=20, length=5, prefix="A-").get_json()["warnings"] == []
    # 20 more of that shape (another discount's: a guess finds any of them) make 40.
    tipped = _generate(client, second, count=20, length=5, prefix="A-").get_json()
    assert "with 40 codes of this shape" in tipped["warnings"][0]
    # Another prefix is another shape.
    other = _generate(client, second, count=20, length=5, prefix="B-").get_json()
    assert other["warnings"] == []


def test_a_generation_job_warns_in_its_answer_and_its_result(app, client, make_discount):
    pool = make_discount(name="Pool")["id"]
    answer = _generate(client, pool, count=10_001, length=5)
    assert answer.status_code == 202
    job = answer.get_json()
    assert job["total"] == 10_001 and len(job["warnings"]) == 1
    assert run_pending(app) == 1
    done = client.get(f"/api/jobs/{job['id']}", headers=auth()).get_json()
    assert done["status"] == "succeeded", done
    assert done["result"] == {"generated": 10_001, "warnings": job["warnings"]}


def _warnings_panel(html):
    found = re.search(r'<div class="notice notice-warning" data-generate-warnings[^>]*>', html)
    assert found, "no warnings panel"
    items = re.findall(r"<li>(.*?)</li>", html[found.end() : html.index("</div>", found.end())])
    return "hidden" in found.group(0), [unescape(item) for item in items]


def test_the_codes_page_shows_the_warning(app, client, shop, make_discount):
    pool = make_discount(name="Pool")["id"]
    pages = AdminPages(client)
    page = f"/admin/discounts/{pool}/codes"
    assert _warnings_panel(pages.get(page).get_data(as_text=True)) == (True, [])

    sparse = pages.post(f"{page}/generate", {"count": "50", "length": "8"})
    html = client.get(sparse.headers["Location"]).get_data(as_text=True)
    assert "Generated 50 codes." in html and "Easy to guess" not in html

    dense = pages.post(f"{page}/generate", {"count": "50", "length": "4"})
    assert dense.status_code == 303
    html = unescape(client.get(dense.headers["Location"]).get_data(as_text=True))
    assert re.search(r'class="flash flash-warning">Generated 50 codes\. Easy to guess', html)

    # A job: the warning when it starts, and in the panel once it is done.
    job = pages.post(f"{page}/generate", {"count": "10001", "length": "5"})
    started = unescape(client.get(job.headers["Location"]).get_data(as_text=True))
    assert "flash-warning" in started and "Easy to guess" in started
    assert run_pending(app) == 1
    job_id = int(re.search(r"job=(\d+)", job.headers["Location"]).group(1))
    done = pages.get(page, job=job_id).get_data(as_text=True)
    hidden, warnings = _warnings_panel(done)
    assert not hidden and len(warnings) == 1 and warnings[0].startswith("Easy to guess")


def test_the_openapi_document_tells_of_client_ip_and_warnings(client, shop):
    document = client.get("/api/openapi.json", headers=auth()).get_json()
    schemas = document["components"]["schemas"]
    for name in ("CartIn", "RedeemIn"):
        client_ip = schemas[name]["properties"]["client_ip"]
        assert client_ip["type"] == ["string", "null"] and "/64" in client_ip["description"]
        assert schemas[name]["properties"]["codes"]["maxItems"] == 5
    assert "million" in schemas["GenerateOut"]["properties"]["warnings"]["description"]
    generate = document["paths"]["/api/discounts/{discount_id}/codes/generate"]["post"]
    accepted = generate["responses"]["202"]["content"]["application/json"]["schema"]["$ref"]
    assert accepted.endswith("/GenerationJobOut")
    assert "warnings" in schemas["GenerationJobOut"]["properties"]
    price = document["paths"][PRICE]["post"]["description"]
    assert "attempt counters" in price
