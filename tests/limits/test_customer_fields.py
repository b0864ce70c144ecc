"""Customer fields that cannot lose a customer (issue 11 item 7; README "Customer fields"):
a flaw in an optional field is cleaned or dropped and the customer kept; only an unusable
id refuses the event, which then changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from plugin.customers.models import Customer
from plugin.db import db
from plugin.limits import MAX_INTEGER
from tests.conftest import auth, customer_payload
from tests.limits.conftest import open_admin, snapshot
from tests.limits.corpus import dumps


def _stored(app, customer_id: str = "c_1") -> Customer:
    with app.app_context():
        customer = db.session.execute(
            select(Customer).where(Customer.external_id == customer_id)
        ).scalar_one()
        db.session.expunge(customer)
        return customer


def _view(client, customer_id: str = "c_1") -> dict[str, Any]:
    response = client.get(f"/api/customers/{customer_id}", headers=auth())
    assert response.status_code == 200
    return response.get_json()


def _send(host, topic: str = "customer/created", **fields: Any):
    body = dumps({"customer": customer_payload("c_1", **fields)})
    response = host.webhook(topic, None, raw=body)
    assert response.status_code == 200, response.get_json()
    return response


def test_a_padded_email_is_trimmed_and_found_ignoring_case(app, client, host, shop):
    # The example: refused with 400 before, so the customer never existed.
    _send(host, email="  Used.One@Example.com ")
    assert _view(client)["email"] == "Used.One@Example.com"
    session = open_admin(client)
    found = client.get("/admin/customers", query_string={"s": session, "q": "used.ONE@example"})
    assert found.status_code == 200 and "Used.One@Example.com" in found.get_data(as_text=True)


CASES = [
    # field, sent, kept
    ("email", "not an email", None),
    ("email", "a" * 330 + "@example.com", None),
    ("email", 12, None),
    ("email", "ada\x00@example.com", "ada@example.com"),
    ("phone", "+33 6 12 34 56 78", "+33612345678"),
    ("phone", "(+1) 415-555-0101", "+14155550101"),
    ("phone", "+1 415 555 0101 ext. 12", None),
    ("phone", "+1 (415) 555-0101", "+14155550101"),
    ("phone", "0033 6 12 34 56 78", "+33612345678"),
    ("phone", "0612", None),
    ("phone", ["+33612345678"], None),
    ("first_name", "  Ada\x00 ", "Ada"),
    ("first_name", "Jos\u00e9\ud83d", "Jos\u00e9"),
    ("first_name", "x" * 256, None),
    ("first_name", 42, None),
    ("last_name", "   ", None),
    ("registered_at", "yesterday", None),
    ("registered_at", "0001-01-01T00:00:00+14:00", None),
    ("registered_at", "9999-12-31T23:59:59-14:00", None),
    ("registered_at", "2026-02-30", None),
    ("points", "12", 12),
    ("points", 12.0, 12),
    ("points", 12.5, 0),
    ("points", 2**31, 2**31),
    ("points", 2**63, MAX_INTEGER),
    ("points", 10**30, MAX_INTEGER),
    ("points", 1e308, MAX_INTEGER),
    ("points", -5, 0),
    ("points", "many", 0),
    ("points", True, 0),
    ("points", None, 0),
    ("accepts_marketing", "yes", False),
    ("accepts_marketing", 1, False),
    ("type", " Business ", "business"),
    ("type", "robot", None),
    ("type", None, None),
    ("type", 7, None),
]


@pytest.mark.parametrize(("field", "sent", "kept"), CASES)
def test_a_flawed_optional_field_is_cleaned_or_dropped(app, client, host, shop, field, sent, kept):
    _send(host, **{field: sent})
    assert _view(client)[field] == kept
    # The customer is there with everything else as sent.
    view = _view(client)
    assert view["last_name" if field != "last_name" else "first_name"] in ("Lovelace", "Ada")


def test_an_absent_type_is_individual(app, client, host, shop):
    payload = customer_payload("c_1")
    del payload["type"]
    host.webhook("customer/created", {"customer": payload})
    assert _view(client)["type"] == "individual"


def test_tags_one_bad_tag_is_dropped_not_the_list(app, client, host, shop):
    tags = ["vip", "", "  ", 5, "x" * 300, "a\x00b", "VIP", None, "\ud800", "newsletter"]
    _send(host, tags=tags)
    assert _view(client)["tags"] == ["ab", "newsletter", "vip"]
    _send(host, "customer/updated", tags="vip")  # not a list: no tags
    assert _view(client)["tags"] == []


def test_address_and_dropship_partner(app, client, host, shop):
    _send(host, default_address="Paris", dropship_partner={"id": ""})
    view = _view(client)
    assert view["default_address"] is None and view["dropship_partner"] is None
    _send(
        host,
        "customer/updated",
        default_address={"city": "c" * 300, "country": "FR", "zip": 75001},
        dropship_partner={"id": "dp_1", "registered_at": "0001-01-01"},
    )
    view = _view(client)
    assert view["default_address"] == {"city": None, "country": "FR", "zip": None}
    assert view["dropship_partner"] == {"id": "dp_1", "registered_at": None}


def test_an_update_with_flaws_keeps_the_customer_and_applies_the_rest(app, client, host, shop):
    _send(host, points=50, phone="+33612345678")
    _send(host, "customer/updated", points="lots", phone="call me", first_name="Grace")
    view = _view(client)
    assert (view["points"], view["phone"], view["first_name"]) == (0, None, "Grace")


def test_every_flaw_at_once_still_keeps_the_customer(app, client, host, shop):
    flawed = {
        "email": "  nobody ",
        "phone": "\x00",
        "first_name": ["Ada"],
        "last_name": {"x": 1},
        "registered_at": 5,
        "tags": [{"a": 1}],
        "points": "__LITERAL__NaN",
        "accepts_marketing": "true",
        "type": "",
        "default_address": [],
        "dropship_partner": "dp_1",
        "unknown\x00key": "\ud800",
    }
    _send(host, **flawed)
    view = _view(client)
    assert view["id"] == "c_1"
    assert view["email"] is None and view["tags"] == [] and view["points"] == 0


@pytest.mark.parametrize(
    "bad_id", ["", "   ", "a\x00b", "\ud800", "x" * 256, None, [], {}, True, 2**63, 1.5]
)
def test_an_unusable_id_refuses_the_event_and_changes_nothing(app, host, shop, bad_id):
    before = snapshot(app)
    body = dumps({"customer": customer_payload("c_1", id=bad_id)})
    response = host.webhook("customer/created", None, raw=body)
    assert response.status_code == 400
    assert "customer.id" in response.get_json()["error"]["details"]
    assert snapshot(app) == before


def test_a_customer_that_is_not_an_object_is_refused(app, host, shop):
    response = host.webhook("customer/created", {"customer": "c_1"})
    assert response.status_code == 400
    assert "customer" in response.get_json()["error"]["details"]


def test_the_stored_values_fit_their_columns(app, host, shop):
    # What the database keeps: cleaned text only, never NUL or half a character.
    _send(host, first_name="A\x00da", last_name="Love\udc00lace", tags=["t\x00"])
    customer = _stored(app)
    assert (customer.first_name, customer.last_name) == ("Ada", "Lovelace")
