"""The hot read paths of plugin.db: ``read_rows`` (one statement on a pooled connection of
its own, past the session) and ``reading`` (the session reads without a lock, and takes a
connection only when a statement runs); and the pricing hook built on them."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import bindparam, column, create_engine, event, select, table, text
from sqlalchemy.exc import DBAPIError

from plugin.checkout import pricing as checkout
from plugin.db import SHOP_BY_JOIN, AppSession, after_commit, commit, db, read_rows, reading
from plugin.extension import create_app
from plugin.groups.models import Group
from plugin.shops.models import Shop
from tests.conftest import PG_URL, SECRET, SHOP, Host, auth, customer_payload

HOOK = "/hooks/cart/price"
CART = {
    "cart_id": "k1",
    "currency": "EUR",
    "customer_id": "c_1",
    "channel": "web",
    "lines": [
        {"id": "l1", "product_id": "p1", "kind": "product", "quantity": 1, "unit_price": 1000}
    ],
}

BY_DOMAIN = (
    select(Shop.domain, Shop.currency, Shop.installed)
    .where(Shop.domain == bindparam("domain"))
    .execution_options(**{SHOP_BY_JOIN: True})
)


def _statements(engine, into: list[str]):
    def record(conn, cursor, statement, parameters, context, executemany):
        into.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return lambda: event.remove(engine, "before_cursor_execute", record)


def test_read_rows_reads_committed_rows_outside_the_session(app, shop):
    with app.app_context():
        pool = db.engine.pool
        row = db.session.execute(select(Shop).where(Shop.domain == shop)).scalar_one()
        row.currency = "USD"  # pending in the session's transaction, never flushed
        held = pool.checkedout()
        assert [tuple(r) for r in read_rows(BY_DOMAIN, {"domain": shop})] == [
            (shop, "EUR", 1 if not PG_URL else True)
        ]
        assert pool.checkedout() == held  # its connection went back to the pool
        assert db.session.is_modified(row)  # the session's work is untouched
        assert read_rows(BY_DOMAIN, {"domain": "nobody.example"}) == []
        db.session.rollback()


def test_read_rows_keeps_the_values_a_statement_holds(app, shop):
    with app.app_context():
        euro = BY_DOMAIN.where(Shop.currency == "EUR", Shop.installed.is_(True))
        dollar = BY_DOMAIN.where(Shop.currency == "USD")
        assert len(read_rows(euro, {"domain": shop})) == 1
        assert read_rows(dollar, {"domain": shop}) == []
        # A value bound by name comes from the parameters given.
        named = BY_DOMAIN.where(Shop.currency == bindparam("currency"))
        assert len(read_rows(named, {"domain": shop, "currency": "EUR"})) == 1
        assert read_rows(named, {"domain": shop, "currency": "GBP"}) == []


def test_read_rows_refuses_what_does_not_find_its_shop(app, shop):
    with app.app_context():
        with pytest.raises(RuntimeError, match="SHOP_BY_JOIN"):
            read_rows(select(Shop.domain).where(Shop.domain == bindparam("domain")), {})
        with pytest.raises(RuntimeError, match="SHOP_BY_JOIN"):
            update = Shop.__table__.update().values(name="x")
            read_rows(update.execution_options(**{SHOP_BY_JOIN: True}), {})


def test_a_driver_error_comes_out_as_sqlalchemys_and_the_connection_goes_back(app, shop):
    missing = (
        select(column("x"))
        .select_from(table("no_such_table"))
        .execution_options(**{SHOP_BY_JOIN: True})
    )
    with app.app_context():
        held = db.engine.pool.checkedout()
        with pytest.raises(DBAPIError) as raised:
            read_rows(missing, {})
        assert "no_such_table" in str(raised.value)
        assert db.engine.pool.checkedout() == held
        assert len(read_rows(BY_DOMAIN, {"domain": shop})) == 1  # the pool still serves


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="the driver's autocommit switch is PostgreSQL's")
def test_read_rows_gives_its_connection_back_outside_autocommit(app, shop):
    seen: list[tuple[bool, int]] = []

    def checkin(dbapi_connection, record):
        seen.append((dbapi_connection.autocommit, dbapi_connection.info.transaction_status))

    with app.app_context():
        engine = db.engine
        event.listen(engine, "checkin", checkin)
        try:
            read_rows(BY_DOMAIN, {"domain": shop})
        finally:
            event.remove(engine, "checkin", checkin)
    assert seen == [(False, 0)]  # as the pool gave it: not autocommit, idle (no transaction)


def test_reading_takes_a_connection_only_when_a_statement_runs(app, shop):
    with app.app_context():
        session = db.session()
        bind = session.bind
        pool = db.engine.pool
        held = pool.checkedout()
        statements: list[str] = []
        stop = _statements(db.engine, statements)
        try:
            with reading():
                assert pool.checkedout() == held and not session.in_transaction()
            assert statements == []
            with reading():
                assert db.session.execute(select(Group.name)).scalars().all() == ["Standard"]
                assert pool.checkedout() == held + 1
        finally:
            stop()
        assert statements and not any(s.lstrip().upper().startswith("BEGIN") for s in statements)
        # Ended: the connection is back, the session bound to its engine as before.
        assert pool.checkedout() == held and not session.in_transaction()
        assert session.bind is bind


def test_reading_makes_no_session_until_one_is_used_and_that_one_reads_without_begin(app, shop):
    with app.app_context():
        registry = db.session.registry
        statements: list[str] = []
        stop = _statements(db.engine, statements)
        try:
            with reading():
                pass
            assert not registry.has()  # nothing used: no session made
            with reading():
                names = db.session.execute(select(Group.name)).scalars().all()
                assert registry.has() and db.session().bind is not db.engine
        finally:
            stop()
        assert names == ["Standard"]
        assert statements and not any(s.lstrip().upper().startswith("BEGIN") for s in statements)
        # After the block, the session it made is an ordinary one again: a write begins.
        session = db.session()
        assert session.bind is db.engine and not session.in_transaction()
        commit()  # nothing begun or changed: nothing to do
        assert not session.in_transaction()


def test_a_reading_block_inside_another_gives_it_back_as_it_was(app, shop):
    with app.app_context():
        with reading():
            with reading():
                db.session.execute(select(Group.name)).all()
            # The outer block still reads without BEGIN, with the session the inner one made.
            assert db.session().bind is not db.engine
            statements: list[str] = []
            stop = _statements(db.engine, statements)
            try:
                db.session.execute(select(Shop.name)).all()
            finally:
                stop()
            assert not any(s.lstrip().upper().startswith("BEGIN") for s in statements)
        assert db.session().bind is db.engine and not db.session().in_transaction()


def test_reading_inside_a_transaction_changes_nothing(app, shop):
    with app.app_context():
        row = db.session.execute(select(Shop).where(Shop.domain == shop)).scalar_one()
        row.name = "Pending"
        with reading():
            db.session.execute(select(Group.name)).all()
        assert db.session().in_transaction() and row.name == "Pending"
        commit()
    with app.app_context():
        assert db.session.execute(select(Shop.name)).scalar_one() == "Pending"


def test_reading_ends_with_a_rollback_when_the_block_raises(app, shop):
    with app.app_context():
        bind = db.session().bind
        with pytest.raises(ZeroDivisionError), reading():
            db.session.execute(select(Group.name)).all()
            1 / 0  # noqa: B018
        assert not db.session().in_transaction() and db.session().bind is bind


def test_a_commit_with_nothing_begun_or_changed_runs_what_waited_for_it(app, shop):
    ran: list[int] = []
    with app.app_context():
        after_commit(lambda: ran.append(1))
        commit()
        assert ran == [1]
        # A change made to a row read before a commit (the session keeping its rows loaded,
        # as a streamed answer's does) begins a transaction: the next commit writes it.
        db.session().expire_on_commit = False
        row = db.session.execute(select(Shop).where(Shop.domain == shop)).scalar_one()
        commit()
        row.name = "Changed after a commit"
        commit()
    with app.app_context():
        assert db.session.execute(select(Shop.name)).scalar_one() == "Changed after a commit"


def test_a_cart_without_codes_is_priced_from_one_read(app, host, shop, monkeypatch):
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    assert host.post(HOOK, CART).status_code == 200  # the rule snapshot is built
    reads: list[object] = []
    real = checkout.read_rows

    def counted(statement, params):
        reads.append(statement)
        return real(statement, params)

    monkeypatch.setattr(checkout, "read_rows", counted)
    sessions: list[object] = []
    made = AppSession.__init__

    def making(self, **kwargs):
        sessions.append(self)
        made(self, **kwargs)

    monkeypatch.setattr(AppSession, "__init__", making)
    statements: list[str] = []
    with app.app_context():
        stop = _statements(db.engine, statements)
    try:
        answer = host.post(HOOK, CART)
        guest = host.post(HOOK, {**CART, "customer_id": None})
    finally:
        stop()
    assert (answer.status_code, guest.status_code) == (200, 200)
    assert answer.get_json()["customer"]["group"]["name"] == "Standard"
    assert reads == [checkout._SHOP_AND_CUSTOMER, checkout._SHOP]
    assert statements == []  # nothing through the session: no other read, no BEGIN
    assert sessions == []  # not even a session made
    # A typed code is looked up, in the reading mode: no BEGIN.
    typed = host.post(HOOK, {**CART, "codes": ["NOPE"]})
    assert typed.status_code == 200 and typed.get_json()["codes"][0]["status"] == "rejected"


def test_a_database_that_cannot_answer_is_a_503(tmp_path):
    unreachable = (
        "postgresql+psycopg://postgres@127.0.0.1:1/none"
        if PG_URL
        else f"sqlite:///{tmp_path}/no/such/folder/db.sqlite"
    )
    app = create_app(
        {
            "TESTING": True,
            "CUSTOMER_GROUPS_APP_SECRET": SECRET,
            "CUSTOMER_GROUPS_DATABASE_URL": unreachable,
        }
    )
    response = Host(app.test_client()).post(
        HOOK, {"cart_id": "k1", "currency": "EUR", "channel": "web", "lines": []}, shop=SHOP
    )
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="a server that closes connections: PostgreSQL's")
def test_connections_the_server_closed_are_replaced_at_checkout(app, host, shop):
    client = host.client
    assert host.post(HOOK, CART).status_code == 200
    with app.app_context():
        engine = db.engine
    connects: list[object] = []

    def connected(dbapi_connection, record):
        connects.append(dbapi_connection)

    event.listen(engine, "connect", connected)
    try:
        for _ in range(5):  # healthy connections are used again, never replaced
            assert host.post(HOOK, CART).status_code == 200
            assert client.get("/api/groups", headers=auth()).status_code == 200
        assert connects == []
        # The server ends every session of this database but the killer's own (a restart).
        killer = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with killer.connect() as connection:
            ended = (
                connection.execute(
                    text(
                        "WITH others AS MATERIALIZED (SELECT pid FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()) "
                        "SELECT pid FROM others WHERE pg_terminate_backend(pid)"
                    )
                )
                .scalars()
                .all()
            )
            assert ended
            for _ in range(100):
                alive = connection.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                    {"pids": ended},
                ).scalar()
                if not alive:
                    break
                time.sleep(0.05)
        killer.dispose()
        # Each path takes a connection from the pool and gets a working one.
        assert host.post(HOOK, CART).status_code == 200
        assert client.get("/api/groups", headers=auth()).status_code == 200
        assert connects  # replaced
    finally:
        event.remove(engine, "connect", connected)
