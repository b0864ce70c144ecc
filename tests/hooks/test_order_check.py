"""The ingest path's compiled order checks (``plugin.customers.schemas.accepted_order_paid``
and ``accepted_order_reversed``, used by ``hooks.webhooks`` for ``order/*``) give exactly
the verdict of the marshmallow path they replace: the same order for a body both accept,
the same 400 (message and ``details``) for anything else, over the input-limits corpus
and over generated orders."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hooks.signing import parse_json_object
from hooks.webhooks import TOPICS, _load, _read
from plugin.customers.schemas import accepted_order_paid, accepted_order_reversed
from plugin.errors import ApiError
from tests.limits.corpus import (
    EDGE_VALUES,
    LIMIT_VALUES,
    ODD_VALUES,
    body_cases,
    drop_in_place,
    dumps,
    order,
    put_in_place,
)

FAST = {"order/paid": accepted_order_paid, "order/refunded": accepted_order_reversed}


def verdict(read: Any, body: bytes) -> tuple[Any, ...]:
    try:
        return ("accepted", read(body))
    except ApiError as err:
        return ("refused", err.code, err.status, err.message, err.details)


def assert_same(topic: str, body: bytes) -> bool:
    """Both paths agree on ``body``; whether the compiled check vouched for it."""
    spec = TOPICS[topic]
    expected = verdict(lambda b: _load(spec.schema, parse_json_object(b)), body)
    assert verdict(lambda b: _read(spec, b), body) == expected, body[:300]
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(parsed, dict):
        return False
    fast = FAST[topic](parsed, b"\\u0000" not in body)
    if fast is not None:
        # Vouching for a body marshmallow refuses would skip its 400.
        assert expected == ("accepted", fast), body[:300]
    return fast is not None


def test_the_hot_topics_have_a_compiled_check():
    assert TOPICS["order/paid"].fast is accepted_order_paid
    assert TOPICS["order/cancelled"].fast is accepted_order_reversed
    assert TOPICS["order/refunded"].fast is accepted_order_reversed


def test_valid_orders_take_the_compiled_check():
    bare = {"id": 7, "placed_at": "2026-03-01", "currency": "eur", "total": 0}
    lines = [{"product_id": 12, "quantity": 1, "unit_price": 0}] * 3
    for body in (
        {"order": order("o1")},
        {"order": order("o2", customer_id=None, shipping=None, lines=[])},
        {"order": order("o3", shipping={"carrier": None})},
        {"order": bare},
        {"order": {**bare, "lines": lines, "discount_codes": ["A" * 64]}},
    ):
        assert assert_same("order/paid", json.dumps(body).encode())
    read = _read(TOPICS["order/paid"], json.dumps({"order": {**bare, "lines": lines}}).encode())
    assert read["order"]["id"] == "7"
    assert read["order"]["lines"][0] == {
        "product_id": "12",
        "kind": "product",
        "quantity": 1,
        "unit_price": 0,
    }
    assert assert_same("order/refunded", b'{"order": {"id": 12}}')
    assert assert_same("order/refunded", b'{"order": {"id": "o1"}}')


@pytest.mark.parametrize(
    ("topic", "baseline"),
    [("order/paid", {"order": order("lim_o1")}), ("order/refunded", {"order": {"id": "o1"}})],
)
def test_the_input_limits_corpus_gets_the_same_answer(topic, baseline):
    cases = list(body_cases(baseline, full=True))
    assert len(cases) > 50
    vouched = sum(assert_same(topic, case.body) for case in cases)
    # Most cases are refused (the compiled check vouches for none of those); the odd values
    # a field accepts (an integer id, an emoji) still take the fast path.
    assert vouched > 0


def test_refusals_keep_their_details():
    lines = [
        {"product_id": "p1", "quantity": 0, "unit_price": 1},
        {"product_id": " ", "quantity": 1, "unit_price": "12"},
    ]
    body = json.dumps({"order": order("o1", lines=lines, currency="EURO")}).encode()
    refused = verdict(lambda b: _read(TOPICS["order/paid"], b), body)
    assert refused[0] == "refused" and refused[2] == 400
    assert set(refused[4]) == {
        "order.currency",
        "order.lines.0.quantity",
        "order.lines.1.product_id",
        "order.lines.1.unit_price",
    }
    assert assert_same("order/paid", body) is False


_VALUE_LIST = [
    *LIMIT_VALUES.values(),
    *EDGE_VALUES.values(),
    *ODD_VALUES.values(),
    " o1 ",
    "o1",
    "p\u00a0",
    "\u2003x",
    "EUR\n",
    "EUR",
    "usd",
    "product",
    "service",
    "2026-03-01",
    "2026-03-01T10:00:00+02:00",
    " 2026-03-01T10:00:00Z ",
    "1899-12-31",
    "",
    "A" * 65,
    1,
    0,
    -1,
    2**53,
    2**53 - 1,
    1.5,
    [],
    ["SAVE10", ""],
    {"city": "Paris"},
    {"carrier": "ups", "address": {"deep": [[[]]]}, "extra": 1},
]
_PRISTINE = copy.deepcopy(_VALUE_LIST)
_VALUES = st.sampled_from(_VALUE_LIST)
_FIELDS = st.sampled_from(
    [
        "order",
        "order.id",
        "order.customer_id",
        "order.placed_at",
        "order.currency",
        "order.total",
        "order.lines",
        "order.lines.0",
        "order.lines.0.product_id",
        "order.lines.0.kind",
        "order.lines.0.quantity",
        "order.lines.1.unit_price",
        "order.lines.1.note",
        "order.discount_codes",
        "order.discount_codes.0",
        "order.shipping",
        "order.shipping.carrier",
        "order.shipping.address",
        "order.shipping.address.city",
        "order.payment_method",
        "order.channel",
        "order.extra",
        "extra",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    changes=st.lists(st.tuples(_FIELDS, _VALUES), max_size=4),
    dropped=st.lists(_FIELDS, max_size=2),
    topic=st.sampled_from(["order/paid", "order/refunded"]),
)
def test_generated_orders_get_the_same_answer(changes, dropped, topic):
    line = {"product_id": "p2", "kind": "service", "quantity": 1, "unit_price": 5}
    body = {"order": order("o1", lines=[*order("o1")["lines"], line])}
    for path, value in changes:
        put_in_place(body, path, value)
    for path in dropped:
        drop_in_place(body, path)
    assert_same(topic, dumps(body))
    assert _VALUE_LIST == _PRISTINE
