"""JSON columns are read by ``plugin.db.json_loads``: orjson where it reads exactly as
``json.loads`` does, ``json`` where it would not. Both are compared on every kind of value
(integers past 64 bits, floats, lone surrogates, nesting), as text and as bytes, and on
what the database hands back."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from plugin.db import db, json_loads
from plugin.events.models import OutboxEvent
from plugin.shops.models import Shop
from tests.conftest import SHOP, Host

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def same(ours: Any, theirs: Any) -> bool:
    """Equal and of the same types all the way down (1 and 1.0, 0.0 and -0.0 differ)."""
    return json.dumps(ours) == json.dumps(theirs)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES, st.booleans())
def test_reads_every_value_as_json_does(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert same(json_loads(text), json.loads(text))
    try:
        raw = text.encode()
    except UnicodeEncodeError:  # a lone surrogate written as itself: no UTF-8 for it
        return
    assert same(json_loads(raw), json.loads(raw))


def test_the_cases_orjson_reads_differently_go_to_json() -> None:
    for text in (
        "123456789012345678901234567890",  # orjson: a float
        "-98765432109876543210",
        '{"n": [18446744073709551616]}',
        '"\\ud800"',  # orjson refuses a lone surrogate
        "1e400",  # orjson refuses, json says inf
    ):
        assert same(json_loads(text), json.loads(text)), text
        assert same(json_loads(text.encode()), json.loads(text.encode())), text


def test_the_database_hands_back_exact_values(app, client) -> None:
    Host(client).install()
    # One value per row: a row orjson refuses would go to json whole, hiding the others.
    payloads = [{"id": 2**70 + 1}, {"surrogate": "\ud800x"}, {"e": 1e300, "neg": -0.0}]
    with app.app_context():
        shop_id = db.session.execute(select(Shop.id).where(Shop.domain == SHOP)).scalar_one()
        for number, payload in enumerate(payloads):
            db.session.add(
                OutboxEvent(
                    shop_id=shop_id,
                    topic="coupon/given",
                    event_id=f"e-{number}",
                    payload=payload,
                    status="skipped",
                    attempts=0,
                )
            )
        db.session.commit()
        db.session.expunge_all()
        read = db.session.execute(select(OutboxEvent.payload).order_by(OutboxEvent.id)).scalars()
        assert [json.dumps(p) for p in read] == [json.dumps(p) for p in payloads]
        assert db.engine.dialect._json_deserializer is json_loads  # what read them
