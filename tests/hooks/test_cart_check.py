"""The pricing hook's compiled cart check (``plugin.checkout.schemas.accepted_cart``, used by
``read_cart``) gives exactly the verdict of the marshmallow path it replaces on the hot
path: the same engine cart for a cart both accept, the same 400 (message and ``details``)
for anything else, over the input-limits corpus and over generated carts."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.checkout.pricing import read_cart, validate_cart
from plugin.checkout.schemas import CheckedCart, accepted_cart, checked_cart, decoded_cart
from plugin.errors import ApiError
from plugin.limits import parse_json_object
from tests.limits.corpus import (
    EDGE_VALUES,
    LIMIT_VALUES,
    ODD_VALUES,
    body_cases,
    cart,
    drop_in_place,
    dumps,
    put_in_place,
)


def verdict(read: Any, body: bytes) -> tuple[Any, ...]:
    try:
        return ("accepted", read(body))
    except ApiError as err:
        return ("refused", err.code, err.status, err.message, err.details)


def marshmallow_path(body: bytes) -> CheckedCart:
    """What the hook ran before: the body within the limits, then ``CartIn``, then the
    engine's cart made from what it gave."""
    return checked_cart(validate_cart(parse_json_object(body)))


def assert_same(body: bytes) -> bool:
    """The two paths agree on ``body``; whether the compiled check vouched for it."""
    expected = verdict(marshmallow_path, body)
    assert verdict(read_cart, body) == expected, body[:300]
    decoded = decoded_cart(body)
    if decoded is not None:
        # Straight from the raw body: vouching for a cart marshmallow refuses would skip it.
        assert expected == ("accepted", decoded), body[:300]
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(parsed, dict):
        return False
    fast = accepted_cart(parsed, text_checked=b"\\u0000" not in body)
    if fast is not None:
        # Vouching for a cart marshmallow refuses would skip its 400.
        assert expected == ("accepted", fast), body[:300]
    return fast is not None


def line(index: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"l{index}",
        "product_id": f"p{index}",
        "kind": "product",
        "category_ids": ["shoes", "c2"],
        "quantity": 2,
        "unit_price": 1999,
        **fields,
    }


def test_valid_carts_take_the_compiled_check():
    full = cart(lines=[line(i) for i in range(50)])
    bare = {
        "cart_id": 7,
        "currency": "eur",
        "channel": "in_store",
        "lines": [{"id": 1, "product_id": 2, "kind": "service", "quantity": 1, "unit_price": 0}],
    }
    for body in (cart(), full, bare, cart(shipping=None, customer_id=None, client_ip="::1")):
        assert assert_same(json.dumps(body).encode())
        assert decoded_cart(json.dumps(body).encode()) is not None  # in one pass
    # A field the cart does not know (hosts may send them): not the one pass, still fast.
    extra = json.dumps(cart(note="gift", lines=[line(0, colour="red")])).encode()
    assert decoded_cart(extra) is None and assert_same(extra)
    checked = read_cart(json.dumps(bare).encode())
    assert (checked.cart.cart_id, checked.cart.lines[0].id, checked.cart.lines[0].product_id) == (
        "7",
        "1",
        "2",
    )
    assert checked.cart.currency == "eur"  # as sent: the service compares it with the shop's


def test_the_input_limits_corpus_gets_the_same_answer():
    cases = list(body_cases(cart(), full=True))
    assert len(cases) > 500
    vouched = sum(assert_same(case.body) for case in cases)
    # Most cases are refused (the compiled check vouches for none of those); the odd
    # values a field accepts (an integer id, an emoji) still take the fast path.
    assert vouched > 0


def test_refusals_keep_their_details():
    body = json.dumps(
        cart(lines=[line(0, quantity=0), line(1, id="l0"), line(2, unit_price="12")])
    ).encode()
    refused = verdict(read_cart, body)
    assert refused[0] == "refused" and refused[2] == 400
    assert refused[4] == {
        "lines.0.quantity": [
            "Must be greater than or equal to 1 and less than or equal to 1000000."
        ],
        "lines.2.unit_price": ["Not a valid integer."],
    }
    assert refused == verdict(marshmallow_path, body)


_VALUE_LIST = [
    *LIMIT_VALUES.values(),
    *EDGE_VALUES.values(),
    *ODD_VALUES.values(),
    " l1 ",
    "l1",
    "p\u00a0",
    "\u2003x",
    "EUR\n",
    "EUR",
    "usd",
    "web",
    "in_store",
    "product",
    "service",
    "cash",
    "10.0.0.1",
    "fe80::1",
    "1.2.3",
    1,
    10**12,
    10**12 + 1,
    1_000_000,
    1_000_001,
    -0,
    ["a", "b"],
    ["a"] * 101,
    ["x"] * 6,
    {"city": "Paris"},
    {"city": None, "country": "FR", "extra": [1]},
]
_PRISTINE = copy.deepcopy(_VALUE_LIST)
_VALUES = st.sampled_from(_VALUE_LIST)
_FIELDS = st.sampled_from(
    [
        "cart_id",
        "currency",
        "customer_id",
        "channel",
        "payment_method",
        "shipping",
        "shipping.price",
        "shipping.carrier",
        "shipping.address",
        "shipping.address.city",
        "shipping.address.country",
        "lines",
        "lines.0.id",
        "lines.1.id",
        "lines.0.product_id",
        "lines.0.kind",
        "lines.0.category_ids",
        "lines.1.category_ids.0",
        "lines.0.quantity",
        "lines.1.unit_price",
        "lines.0.note",
        "codes",
        "codes.0",
        "client_ip",
        "extra",
    ]
)


def test_a_value_put_in_a_cart_is_never_written_into_afterwards():
    """The generated changes below put the corpus's own values in a cart and may then change
    a key under one: the value must stay as it was for every later example and test."""
    shared: dict[str, Any] = {}
    body = cart(lines=[line(0), line(1)], codes=["SAVE10"])
    put_in_place(body, "shipping", shared)
    put_in_place(body, "shipping.price", shared)
    assert shared == {}
    assert body["shipping"] == {"price": {}}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    changes=st.lists(st.tuples(_FIELDS, _VALUES), max_size=4),
    dropped=st.lists(_FIELDS, max_size=2),
)
def test_generated_carts_get_the_same_answer(changes, dropped):
    body = cart(lines=[line(0), line(1)], codes=["SAVE10"])
    for path, value in changes:
        put_in_place(body, path, value)
    for path in dropped:
        drop_in_place(body, path)
    assert_same(dumps(body))
    assert _VALUE_LIST == _PRISTINE  # no example wrote into the values other tests share
