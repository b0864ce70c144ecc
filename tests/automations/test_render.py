"""``POST /api/render``: codes in messages, in a sandbox that only sees what we pass."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from plugin.codes.models import Code
from plugin.db import db, utcnow
from tests.automations.conftest import create_customer
from tests.conftest import auth


def render(client, template, customer_id="c_1", **fields):
    body = {"template": template, "customer_id": customer_id, **fields}
    return client.post("/api/render", json=body, headers=auth())


@pytest.fixture
def welcome(client, host, make_pool):
    """Ada (c_1) holds code ADA-1 of the discount 'Welcome 10%' (shared code WELCOME);
    Bob (c_2) holds none."""
    pool = make_pool(codes=("ADA-1",), code="WELCOME")
    create_customer(host, "c_1", first_name="Ada", email="ada@example.com")
    create_customer(host, "c_2", first_name="Bob <b>")
    given = client.post(
        f"/api/discounts/{pool['id']}/codes/assign", json={"customer_id": "c_1"}, headers=auth()
    )
    assert given.status_code == 200
    return pool


def test_the_customer_s_code_by_shared_code_name_or_id(client, welcome):
    template = (
        "Hi {{ customer.first_name }} ({{ customer.email }}, {{ customer.group }}): "
        '{{ coupon("WELCOME") }} / {{ coupon("welcome 10%") }} / {{ coupon(ID) }}'
    ).replace("ID", str(welcome["id"]))
    answer = render(client, template)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {
        "rendered": "Hi Ada (ada@example.com, Standard): ADA-1 / ADA-1 / ADA-1",
        "missing": [],
    }


def test_a_customer_without_a_code_gets_nothing_rendered(client, welcome):
    answer = render(
        client, 'Hello {{ customer.first_name }}, your code: {{ coupon("WELCOME") }}', "c_2"
    )
    assert answer.status_code == 200
    assert answer.get_json() == {"rendered": None, "missing": ["WELCOME"]}
    # A template that only asks for the code when told to does not miss it.
    guarded = render(client, "{% if false %}{{ coupon('WELCOME') }}{% endif %}Hi", "c_2")
    assert guarded.get_json() == {"rendered": "Hi", "missing": []}


def test_expired_or_used_codes_count_as_missing(app, client, welcome):
    with app.app_context():
        db.session.execute(
            update(Code).where(Code.code == "ADA-1").values(expires_at=utcnow() - timedelta(1))
        )
        db.session.commit()
    assert render(client, "{{ coupon('WELCOME') }}").get_json()["rendered"] is None
    with app.app_context():
        db.session.execute(
            update(Code).where(Code.code == "ADA-1").values(expires_at=None, status="redeemed")
        )
        db.session.commit()
    assert render(client, "{{ coupon('WELCOME') }}").get_json()["missing"] == ["WELCOME"]


def test_html_escapes_and_text_does_not(client, welcome):
    html = render(client, "{{ customer.first_name }}", "c_2", format="html").get_json()
    text = render(client, "{{ customer.first_name }}", "c_2", format="text").get_json()
    assert html["rendered"] == "Bob &lt;b&gt;" and text["rendered"] == "Bob <b>"
    assert render(client, "x", format="pdf").status_code == 422


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ customer.__class__ }}",
        "{{ coupon.__globals__ }}",
        "{{ coupon.__closure__ }}",
        "{{ customer|attr('__class__') }}",
        "{{ '{0.__class__}'.format(customer) }}",
        "{{ self._TemplateReference__context }}",
        "{{ customer.update({'email': 'x'}) }}",
        "{{ range(10)|list }}",
        "{{ cycler }}",
        "{{ lipsum() }}",
        "{{ config }}",
        "{{ request }}",
        "{{ 'a' * 100000000 }}",
        "{{ 9 ** 99999999 }}",
        "{{ customer.nickname }}",
        "{{ 1 / 0 }}",
    ],
)
def test_templates_cannot_reach_beyond_what_is_passed(client, welcome, template):
    answer = render(client, template)
    assert answer.status_code == 422, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "validation_failed" and error["details"]["template"]


def test_syntax_errors_name_the_line(client, welcome):
    answer = render(client, "Hello\n{{ customer.first_name ")
    assert answer.status_code == 422
    [message] = answer.get_json()["error"]["details"]["template"]
    assert message.startswith("Line 2:")
    unclosed = render(client, "{% if true %}no end")
    assert unclosed.status_code == 422


def test_unknown_discount_customer_and_bad_bodies(client, welcome):
    unknown = render(client, "{{ coupon('NOPE') }}")
    assert unknown.status_code == 422
    assert "NOPE" in unknown.get_json()["error"]["details"]["template"][0]
    nobody = render(client, "hi", "c_404")
    assert nobody.status_code == 422 and "customer_id" in nobody.get_json()["error"]["details"]
    for body in (
        {},
        {"template": "", "customer_id": "c_1"},
        {"template": "x"},
        {"template": "x", "customer_id": "c_1", "extra": 1},
    ):
        assert client.post("/api/render", json=body, headers=auth()).status_code == 422
    assert (
        client.post("/api/render", json={"template": "x", "customer_id": "c_1"}).status_code == 401
    )


def test_another_shop_s_customers_and_discounts_are_out_of_reach(client, host, welcome):
    from tests.conftest import Host

    Host(client).install(shop="other.example")
    other = {"Authorization": auth("other.example")["Authorization"]}
    answer = client.post(
        "/api/render", json={"template": "hi", "customer_id": "c_1"}, headers=other
    )
    assert answer.status_code == 422
