"""Money one way (issue 14): Babel in the shop's currency and locale for people, a plain
decimal for machines, and the same minus sign wherever an amount is negative."""

from __future__ import annotations

import re

import pytest

from plugin.money import format_money, parse_locale, plain_amount
from tests.conftest import SHOP, customer_payload, order_payload
from tests.test_admin_ui import Admin, text


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "shown"),
    [
        (123456, "EUR", None, "€1,234.56"),
        (-400, "EUR", "en", "-€4.00"),
        (123456, "EUR", "fr_FR", "1\u202f234,56\xa0€"),
        (-400, "EUR", "fr_FR", "-4,00\xa0€"),
        (1500, "JPY", "en", "¥1,500"),
        (1999, "CHF", "de_CH", "CHF\xa019.99"),
        (None, "EUR", "en", "—"),
    ],
)
def test_people_read_amounts_in_the_shop_s_locale(amount, currency, locale, shown):
    assert format_money(amount, currency, locale) == shown


@pytest.mark.parametrize(
    ("amount", "currency", "plain"),
    [(123456, "EUR", "1234.56"), (-400, "EUR", "-4.00"), (1500, "JPY", "1500"), (5, "EUR", "0.05")],
)
def test_machines_read_plain_decimals(amount, currency, plain):
    assert plain_amount(amount, currency) == plain


def test_locales_are_read_as_bcp47_or_posix():
    assert parse_locale("fr-FR") == parse_locale("fr_FR") == "fr_FR"
    assert parse_locale("en") == "en"
    assert parse_locale("xx-QQ") is None
    assert parse_locale("") is None


def _install(host, locale=None):
    shop = {"domain": SHOP, "name": "Lumen", "currency": "EUR", "timezone": "Europe/Paris"}
    if locale is not None:
        shop["locale"] = locale
    return host.webhook("app/installed", {"shop": shop})


def test_a_shop_s_locale_writes_its_money_on_every_page(client, host):
    assert _install(host, "fr-FR").status_code == 200
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    host.webhook("order/paid", {"order": order_payload("o_1", "c_1", total=123456)})
    admin = Admin(client)
    page = text(admin.get("/admin/customers"))
    row = re.search(r'<tr data-customer-id="c_1">.*?</tr>', page, re.S)[0]
    assert "1\u202f234,56\xa0€" in row


def test_a_shop_without_a_locale_writes_money_as_en_does(client, host):
    assert _install(host).status_code == 200
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    host.webhook("order/paid", {"order": order_payload("o_1", "c_1", total=123456)})
    page = text(Admin(client).get("/admin/customers"))
    assert "€1,234.56" in page
    assert "1,234.56 EUR" not in page


def test_an_unknown_locale_is_refused_by_name(host):
    refused = _install(host, "xx-QQ")
    assert refused.status_code == 400
    assert "shop.locale" in refused.get_json()["error"]["details"]
