"""In-process signals (contract §7), shop redaction and session tokens (§5)."""

from __future__ import annotations

import time

import jwt
import pytest
from sqlalchemy import func, select

from hooks import signals
from plugin.db import db
from plugin.errors import ApiError
from tests.conftest import (
    APP_ID,
    SECRET,
    SHOP,
    auth,
    customer_payload,
    order_payload,
    session_token,
)

SCENARIO = [
    (
        "app/installed",
        {"shop": {"domain": SHOP, "name": "Lumen", "currency": "EUR", "timezone": "Europe/Paris"}},
        "e0",
    ),
    ("customer/created", {"customer": customer_payload("c_1", tags=["vip"])}, "e1"),
    ("customer/created", {"customer": customer_payload("c_2")}, "e2"),
    ("order/paid", {"order": order_payload("o_1", "c_1")}, "e3"),
    ("order/paid", {"order": order_payload("o_1", "c_1")}, "e4"),  # same order, new event
    ("order/paid", {"order": order_payload("o_2", "c_2", total=500)}, "e5"),
    ("order/refunded", {"order": {"id": "o_2"}}, "e6"),
    ("order/cancelled", {"order": {"id": "o_3"}}, "e7"),
    ("order/paid", {"order": order_payload("o_3", "c_1")}, "e8"),  # cancelled before paid
    ("customer/subscribed", {"customer_id": "c_2", "channel": "email"}, "e9"),
    ("customer/updated", {"customer": customer_payload("c_2", points=40)}, "e10"),
    ("customer/updated", {"customer": customer_payload("c_2", points=40)}, "e10"),  # duplicate
    ("customer/deleted", {"customer": {"id": "c_2"}}, "e11"),
]


def send_http(host, topic, payload, event_id):
    response = host.webhook(topic, payload, event_id=event_id)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def send_signal(host, topic, payload, event_id):
    with host.client.application.app_context():
        answers = signals.WEBHOOK_SIGNALS[topic].send(SHOP, payload=payload, event_id=event_id)
    bodies = [body for _, body in answers if body is not None]
    assert len(bodies) == 1
    return bodies[0]


def snapshot(app):
    """Every row of every table, without surrogate ids and timestamps."""
    state = {}
    skip = {
        "id",
        "shop_id",
        "customer_id",
        "order_id",
        "group_id",
        "created_at",
        "updated_at",
        "installed_at",
        "received_at",
        "paid_at",
        "reversed_at",
        "subscribed_email_at",
    }
    with app.app_context():
        for table in db.metadata.sorted_tables:
            rows = db.session.execute(select(table)).mappings().all()
            state[table.name] = sorted(
                repr(sorted((k, v) for k, v in row.items() if k not in skip)) for row in rows
            )
    return state


@pytest.mark.parametrize("send", [send_http, send_signal], ids=["http", "signals"])
def test_scenario_through_each_route(app, host, send):
    answers = [send(host, topic, payload, event_id) for topic, payload, event_id in SCENARIO]
    assert answers[4] == {"status": "ok"} and answers[11] == {"status": "duplicate"}
    from tests.test_webhooks import customer

    kept = customer(app, "c_1")
    assert (kept.order_count, kept.total_spent) == (1, 3998)
    assert customer(app, "c_2") is None
    state = snapshot(app)
    assert len(state["customers"]) == 1 and len(state["orders"]) == 3


def test_http_and_signals_end_in_the_same_state(tmp_path):
    from tests.conftest import Host, make_app

    states = []
    for index, send in enumerate((send_http, send_signal)):
        (tmp_path / str(index)).mkdir()
        app = make_app(tmp_path / str(index))
        host = Host(app.test_client())
        for topic, payload, event_id in SCENARIO:
            send(host, topic, payload, event_id)
        states.append(snapshot(app))
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    assert states[0] == states[1]


def test_signal_errors_raise_api_error(app, host, shop):
    with app.app_context(), pytest.raises(ApiError) as caught:
        signals.customer_created.send(SHOP, payload={"customer": {"id": ""}}, event_id="x")
    assert caught.value.code == "invalid_payload" and "customer.id" in caught.value.details


#: Tables that hold no shop's data: the shops themselves, and the process-wide schedule of
#: periodic background tasks (task names and times only).
NOT_SHOP_DATA = {"periodic_runs"}


def shop_tables():
    return [table for table in db.metadata.sorted_tables if table.name not in NOT_SHOP_DATA]


def test_shop_redact_leaves_no_row_in_any_table(app, host, shop):
    host.install("other.example")
    for domain in (SHOP, "other.example"):
        host.webhook("customer/created", {"customer": customer_payload(tags=["a"])}, shop=domain)
        host.webhook("order/paid", {"order": order_payload()}, shop=domain)
    assert host.webhook("shop/redact", {}).status_code == 200
    with app.app_context():
        from plugin.shops.models import Shop

        other_id = db.session.execute(
            select(Shop.id).where(Shop.domain == "other.example")
        ).scalar()
        for table in shop_tables():
            column = table.c.get("shop_id") if table.name != "shops" else table.c.id
            assert column is not None, f"{table.name} has no shop_id"
            left = db.session.execute(
                select(func.count()).select_from(table).where(column != other_id)
            ).scalar()
            assert left == 0, f"{table.name} still holds {left} rows of the redacted shop"
        kept = db.session.execute(
            select(func.count()).select_from(db.metadata.tables["customers"])
        ).scalar()
    assert kept == 1


def test_every_table_is_keyed_by_shop(app):
    for table in shop_tables():
        if table.name != "shops":
            assert "shop_id" in table.c, f"{table.name} has no shop_id"


def claims(**overrides):
    now = int(time.time())
    base = {
        "iss": f"https://{SHOP}/admin",
        "dest": f"https://{SHOP}",
        "aud": APP_ID,
        "sub": "staff-1",
        "exp": now + 60,
        "nbf": now,
        "iat": now,
        "jti": "j1",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: jwt.encode(claims(), "other-secret", algorithm="HS256"), id="secret"),
        pytest.param(
            lambda: jwt.encode(claims(aud="someone-else"), SECRET, algorithm="HS256"), id="aud"
        ),
        pytest.param(
            lambda: jwt.encode(
                claims(
                    exp=int(time.time()) - 11, iat=int(time.time()) - 60, nbf=int(time.time()) - 60
                ),
                SECRET,
                algorithm="HS256",
            ),
            id="expired",
        ),
        pytest.param(
            lambda: jwt.encode(claims(nbf=int(time.time()) + 30), SECRET, algorithm="HS256"),
            id="not-yet",
        ),
        pytest.param(
            lambda: jwt.encode(claims(exp=int(time.time()) + 3600), SECRET, algorithm="HS256"),
            id="too-long",
        ),
        pytest.param(
            lambda: jwt.encode(claims(jti=None), SECRET, algorithm="HS256"), id="missing-claim"
        ),
        pytest.param(lambda: jwt.encode(claims(), SECRET, algorithm="HS512"), id="alg"),
        pytest.param(lambda: jwt.encode(claims(), None, algorithm="none"), id="alg-none"),
        pytest.param(
            lambda: jwt.encode(claims(iss="https://evil.example/admin"), SECRET, algorithm="HS256"),
            id="iss-dest",
        ),
        pytest.param(
            lambda: jwt.encode(claims(iss=f"http://{SHOP}/admin"), SECRET, algorithm="HS256"),
            id="iss-not-https",
        ),
        pytest.param(
            lambda: jwt.encode(claims(iss=f"https://{SHOP}/other"), SECRET, algorithm="HS256"),
            id="iss-path",
        ),
        pytest.param(
            lambda: jwt.encode(claims(dest=f"https://{SHOP}:8443"), SECRET, algorithm="HS256"),
            id="dest-port",
        ),
        pytest.param(
            lambda: jwt.encode(claims(dest=f"https://{SHOP}/x"), SECRET, algorithm="HS256"),
            id="dest-path",
        ),
        pytest.param(lambda: "", id="empty"),
    ],
)
def test_bad_session_tokens_are_401(client, shop, token):
    response = client.get("/api/customers/c_1", headers={"Authorization": f"Bearer {token()}"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_token"


def test_clock_skew_of_ten_seconds_is_allowed(client, host, shop):
    host.webhook("customer/created", {"customer": customer_payload()})
    now = int(time.time())
    token = jwt.encode(claims(exp=now - 5, iat=now - 50, nbf=now - 50), SECRET, algorithm="HS256")
    response = client.get("/api/customers/c_1", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_token_for_one_shop_never_reaches_another(client, host, shop):
    host.install("other.example")
    host.webhook(
        "customer/created", {"customer": customer_payload("c_other")}, shop="other.example"
    )
    mine = client.get("/api/customers/c_other", headers=auth(SHOP))
    assert mine.status_code == 404
    theirs = client.get("/api/customers/c_other", headers=auth("other.example"))
    assert theirs.status_code == 200 and theirs.get_json()["email"] == "c_other@example.com"


def test_admin_page_needs_a_token_for_that_shop(client, shop):
    assert client.get(f"/admin?shop={SHOP}").status_code == 401
    other = client.get(f"/admin?shop=other.example&id_token={session_token(SHOP)}")
    assert other.status_code == 401
    page = client.get(f"/admin?shop={SHOP}&id_token={session_token(SHOP)}")
    assert page.status_code == 200
    assert "Standard" in page.get_data(as_text=True)
    assert "frame-ancestors" in page.headers["Content-Security-Policy"]


def test_extension_does_not_change_host_error_handling(app):
    @app.get("/host-page")
    def host_page():
        raise ValueError("host bug")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/host-page")
    assert response.status_code == 500
    assert "error" not in (response.get_json(silent=True) or {})
    missing = app.test_client().get("/nowhere")
    assert missing.status_code == 404 and missing.get_json(silent=True) is None
