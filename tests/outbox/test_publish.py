"""Publishing: an outbox row in the same transaction as the change, a signal after commit."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import aliased

from hooks import signals
from plugin import events
from plugin.customers.models import Customer, CustomerChange
from plugin.db import db, enter_shop
from plugin.events import publish, publish_many, publish_selected
from plugin.events.models import OutboxEvent
from plugin.groups.models import Group
from plugin.intake import changes
from plugin.segments.models import Segment
from plugin.shops.models import Shop
from tests.conftest import PG_URL, SHOP, auth, json_rows
from tests.outbox.conftest import add_customers, install, make_group, move, outbox


def _shop() -> Shop:
    return db.session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()


def test_a_group_move_writes_one_pending_event_per_customer(app, client, host, events_shop):
    add_customers(host, 2)
    vip = make_group(client)
    heard = []
    receiver = lambda sender, **kw: heard.append((sender, kw))  # noqa: E731
    signals.customer_group_changed.connect(receiver)
    try:
        move(client, vip, ["c_0", "c_1"])
    finally:
        signals.customer_group_changed.disconnect(receiver)
    rows = outbox(app)
    assert [(r.topic, r.status, r.attempts) for r in rows] == [
        ("customer/group_changed", "pending", 0)
    ] * 2
    assert {r.payload["customer_id"] for r in rows} == {"c_0", "c_1"}
    assert all(r.payload["to_group"] == vip for r in rows)
    # The in-process signal carries the same event id as the outbox row (and the POST).
    assert sorted(kw["event_id"] for _, kw in heard) == sorted(r.event_id for r in rows)
    assert {sender for sender, _ in heard} == {SHOP}


def test_a_rollback_leaves_no_event_and_sends_no_signal(app, events_shop):
    heard = []
    receiver = lambda sender, **kw: heard.append(kw)  # noqa: E731
    signals.coupon_given.connect(receiver)
    try:
        with app.app_context():
            publish(_shop(), "coupon/given", {"customer_id": "c_1"})
            db.session.rollback()
            db.session.commit()
    finally:
        signals.coupon_given.disconnect(receiver)
    assert outbox(app) == [] and heard == []


def test_a_savepoint_neither_sends_early_nor_loses_the_outer_events(app, events_shop):
    heard = []
    receiver = lambda sender, **kw: heard.append(kw["payload"]["customer_id"])  # noqa: E731
    signals.coupon_given.connect(receiver)
    try:
        with app.app_context():
            shop = _shop()
            publish(shop, "coupon/given", {"customer_id": "kept"})
            with db.session.begin_nested():
                publish(shop, "coupon/given", {"customer_id": "inner-kept"})
            assert heard == []  # releasing a savepoint is not the commit
            try:
                with db.session.begin_nested():
                    publish(shop, "coupon/given", {"customer_id": "undone"})
                    raise RuntimeError
            except RuntimeError:
                pass
            db.session.commit()
    finally:
        signals.coupon_given.disconnect(receiver)
    assert heard == ["kept", "inner-kept"]
    assert [r.payload["customer_id"] for r in outbox(app)] == ["kept", "inner-kept"]


def test_a_shop_without_events_url_records_its_events_as_skipped(app, client, host):
    install(host, None)
    add_customers(host, 1)
    move(client, make_group(client), ["c_0"])
    [row] = outbox(app)
    assert row.status == "skipped" and row.next_attempt_at is None
    assert row.last_error == "The shop has no events_url."


def test_publish_many_inserts_every_event_set_based(app, events_shop):
    with app.app_context():
        publish_many(
            _shop(),
            "customer/segments_changed",
            [{"customer_id": f"c_{i}", "joined": [1], "left": []} for i in range(12_000)],
        )
        db.session.commit()
        count, distinct = db.session.execute(
            select(func.count(), func.count(func.distinct(OutboxEvent.event_id)))
        ).one()
        # Every column as a single publish writes it (PostgreSQL takes many through COPY).
        last = db.session.execute(
            select(OutboxEvent).order_by(OutboxEvent.id.desc()).limit(1)
        ).scalar_one()
        assert last.payload == {"customer_id": "c_11999", "joined": [1], "left": []}
        assert (last.topic, last.status, last.attempts) == (
            "customer/segments_changed",
            "pending",
            0,
        )
        assert last.next_attempt_at is not None and last.created_at is not None
        assert last.last_error is None
    assert count == distinct == 12_000


def test_a_change_published_twice_for_a_customer_is_recorded_once(app, client, host, events_shop):
    """The changes of a reaction are one statement on PostgreSQL, one per change elsewhere:
    either way a customer named twice for the same change gets one row."""
    add_customers(host, 2)
    group = make_group(client)
    with app.app_context():
        shop = _shop()
        enter_shop(shop.id)
        move = {"from_group": None, "to_group": group}
        publish_many(
            shop,
            "customer/group_changed",
            [{"customer_id": c, **move} for c in ("c_1", "c_0", "c_1")]
            + [{"customer_id": "c_0", "joined": [], "left": []}],
        )
        publish(shop, "customer/segments_changed", {"customer_id": "c_1", "joined": [], "left": []})
        db.session.commit()
        rows = db.session.execute(
            select(Customer.external_id, CustomerChange.kind, CustomerChange.to_group_id)
            .join(Customer, Customer.id == CustomerChange.customer_id)
            .where(CustomerChange.to_group_id == group)
            .order_by(CustomerChange.id)
        ).all()
    assert sorted(rows) == [("c_0", "group", group), ("c_1", "group", group)]


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="the database makes the ids on PostgreSQL only")
def test_events_published_set_based_have_time_ordered_ids(app, host, events_shop):
    """PostgreSQL makes the ids of a set-based publish: UUIDs of version 7, unique, whose
    time is the publish's and which grow in the order the rows went in."""
    add_customers(host, 40)
    with app.app_context():
        shop = _shop()
        enter_shop(shop.id)
        before = time.time()
        made = publish_selected(
            shop,
            "customer/segments_changed",
            select(
                func.json_build_object(
                    "customer_id", Customer.external_id, "joined", func.json_build_array(1)
                )
            ).order_by(Customer.id),
        )
        db.session.commit()
        after = time.time()
    assert made == 40
    rows = outbox(app)
    ids = [uuid.UUID(row.event_id) for row in rows]
    assert [str(i) for i in ids] == [row.event_id for row in rows]  # the canonical form
    assert {i.version for i in ids} == {7} and {i.variant for i in ids} == {uuid.RFC_4122}
    assert len(set(ids)) == 40
    stamps = [int.from_bytes(i.bytes[:6], "big") / 1000 for i in ids]
    assert stamps == sorted(stamps)
    assert before - 1 <= stamps[0] and stamps[-1] <= after + 1


def _changes() -> list[tuple]:
    source, target = aliased(Group), aliased(Group)
    return [
        tuple(row)
        for row in db.session.execute(
            select(
                Customer.external_id,
                CustomerChange.kind,
                source.name,
                target.name,
                Segment.name,
            )
            .join(Customer, Customer.id == CustomerChange.customer_id)
            .outerjoin(source, source.id == CustomerChange.from_group_id)
            .outerjoin(target, target.id == CustomerChange.to_group_id)
            .outerjoin(Segment, Segment.id == CustomerChange.segment_id)
            .order_by(CustomerChange.id)
        )
    ]


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="a set-based publish runs set-based on PostgreSQL only")
def test_a_set_based_publish_records_what_a_list_of_the_same_events_records(
    app, client, host, events_shop, monkeypatch
):
    """The reactors' set-based forms (customer changes, automation runs) do what their
    list forms do with the same payloads: a gone group or segment is kept as none, an
    unknown customer is left out; and an in-process receiver hears each event after the
    commit, with the outbox row's id, in order."""
    add_customers(host, 3)
    vip = make_group(client)
    buyers = client.post(
        "/api/segments",
        json={
            "name": "Buyers",
            "conditions": [{"field": "total_order_count", "op": "gte", "value": 1}],
        },  # fmt: skip
        headers=auth(),
    ).get_json()["id"]
    with app.app_context():
        standard = db.session.execute(
            select(Group.id).where(Group.is_default.is_(True))
        ).scalar_one()
    moves = [
        {"customer_id": "c_0", "from_group": standard, "to_group": vip},
        {"customer_id": "c_1", "from_group": 999_999, "to_group": standard},
        {"customer_id": "nobody", "from_group": standard, "to_group": vip},
        {"customer_id": "c_2", "from_group": vip, "to_group": None},
    ]
    segments = [
        {"customer_id": "c_2", "joined": [buyers], "left": []},
        {"customer_id": "c_0", "joined": [], "left": [buyers, 999_999]},
        {"customer_id": "c_1", "joined": [buyers, 999_998], "left": [buyers]},
        {"customer_id": "c_2", "joined": None},  # no list, or null: no segment named
    ]
    set_based_calls = []
    record_selected = events._set_based[changes.record_changes]

    def spy(shop, topic, payloads):
        set_based_calls.append(topic)
        record_selected(shop, topic, payloads)

    recorded = {}
    for how in ("list", "set"):
        if how == "set":
            monkeypatch.setitem(events._set_based, changes.record_changes, spy)
        heard = []
        receiver = lambda sender, _heard=heard, **kw: _heard.append(kw)  # noqa: E731
        signals.customer_segments_changed.connect(receiver)
        try:
            with app.app_context():
                shop = _shop()
                enter_shop(shop.id)
                db.session.execute(delete(CustomerChange))
                db.session.execute(delete(OutboxEvent))
                if how == "list":
                    publish_many(shop, "customer/group_changed", moves)
                    publish_many(shop, "customer/segments_changed", segments)
                else:
                    assert publish_selected(shop, "customer/group_changed", json_rows(moves)) == 4
                    made = publish_selected(shop, "customer/segments_changed", json_rows(segments))
                    assert made == 4
                assert heard == []  # not before the commit
                db.session.commit()
                recorded[how] = sorted(_changes(), key=repr)
                ids = list(
                    db.session.execute(
                        select(OutboxEvent.event_id)
                        .where(OutboxEvent.topic == "customer/segments_changed")
                        .order_by(OutboxEvent.id)
                    ).scalars()
                )
        finally:
            signals.customer_segments_changed.disconnect(receiver)
        assert [kw["payload"] for kw in heard] == segments
        assert [kw["event_id"] for kw in heard] == ids
    assert set_based_calls == ["customer/group_changed", "customer/segments_changed"]
    assert recorded["set"] == recorded["list"]
    assert recorded["set"] == sorted(
        [
            ("c_0", "group", "Standard", "VIP", None),
            ("c_1", "group", None, "Standard", None),
            ("c_2", "group", "VIP", None, None),
            ("c_2", "joined_segment", None, None, "Buyers"),
            ("c_1", "joined_segment", None, None, "Buyers"),
            ("c_1", "joined_segment", None, None, None),
            ("c_0", "left_segment", None, None, "Buyers"),
            ("c_0", "left_segment", None, None, None),
            ("c_1", "left_segment", None, None, "Buyers"),
        ],
        key=repr,
    )


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="a set-based publish runs set-based on PostgreSQL only")
def test_a_failing_set_based_reactor_undoes_only_itself(app, host, events_shop):
    add_customers(host, 2)
    heard: list[list] = []

    def listening(shop, topic, payloads):
        heard.append(payloads)

    @events.set_based(listening)
    def broken(shop, topic, payloads):
        db.session.execute(delete(OutboxEvent))  # undone with the savepoint
        raise RuntimeError("the reactor is on fire")

    def plain(shop, topic, payloads):  # no set-based form: hears the list
        heard.append(payloads)

    events.reactor(listening)
    events.reactor(plain)
    payloads = [{"customer_id": f"c_{i}", "joined": [], "left": []} for i in range(2)]
    try:
        with app.app_context():
            shop = _shop()
            enter_shop(shop.id)
            publish_selected(shop, "customer/segments_changed", json_rows(payloads))
            db.session.commit()
    finally:
        for react in (listening, plain):
            events._reactors.remove(react)
        events._set_based.pop(listening)
    assert heard == [payloads]
    assert [row.payload for row in outbox(app)] == payloads


def test_published_events_roll_back_with_their_cause(app, events_shop):
    with app.app_context():
        publish_many(
            _shop(),
            "customer/segments_changed",
            [{"customer_id": f"c_{i}", "joined": [], "left": [2]} for i in range(500)],
        )
        db.session.rollback()
        assert db.session.execute(select(func.count()).select_from(OutboxEvent)).scalar_one() == 0


def test_unknown_topics_are_refused(app, events_shop):
    import pytest

    with app.app_context(), pytest.raises(ValueError):
        publish(_shop(), "order/exploded", {})


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="a set-based publish runs set-based on PostgreSQL only")
def test_a_set_based_publish_in_a_rolled_back_savepoint_leaves_nothing(app, host, events_shop):
    """Its events, the changes its reactors would record and its signals go with the
    savepoint; a set-based publish before it, and one in a released savepoint, stay."""
    add_customers(host, 3)
    heard = []
    receiver = lambda sender, **kw: heard.append(kw["payload"]["customer_id"])  # noqa: E731
    signals.customer_segments_changed.connect(receiver)

    def joined(customer_id):
        return json_rows([{"customer_id": customer_id, "joined": [], "left": [7]}])

    try:
        with app.app_context():
            shop = _shop()
            enter_shop(shop.id)
            publish_selected(shop, "customer/segments_changed", joined("c_0"))
            with db.session.begin_nested():
                publish_selected(shop, "customer/segments_changed", joined("c_1"))
            try:
                with db.session.begin_nested():
                    publish_selected(shop, "customer/segments_changed", joined("c_2"))
                    raise RuntimeError
            except RuntimeError:
                pass
            db.session.commit()
            recorded = [row[0] for row in _changes()]
    finally:
        signals.customer_segments_changed.disconnect(receiver)
    assert heard == ["c_0", "c_1"]
    assert [row.payload["customer_id"] for row in outbox(app)] == ["c_0", "c_1"]
    assert recorded == ["c_0", "c_1"]


def test_a_reactor_that_names_its_topics_hears_only_those(app, events_shop):
    heard: list = []

    @events.reactor(topics=("coupon/given",))
    def coupons(shop, topic, payloads):
        heard.append((topic, payloads))

    try:
        with app.app_context():
            shop = _shop()
            enter_shop(shop.id)
            publish(shop, "customer/segments_changed", {"customer_id": "c_1", "joined": []})
            publish(shop, "coupon/given", {"customer_id": "c_1"})
            db.session.commit()
    finally:
        events._reactors.remove(coupons)
        events._topics.pop(coupons, None)
    assert heard == [("coupon/given", [{"customer_id": "c_1"}])]
    # Registered again without topics, it hears everything (the default).
    events.reactor(coupons)
    try:
        assert events._hears(coupons, "customer/segments_changed")
    finally:
        events._reactors.remove(coupons)


def test_an_event_along_a_change_is_refused_for_another_shop_or_off_postgres(app, events_shop):
    from plugin.events import Along

    with app.app_context():
        shop = _shop()
        enter_shop(shop.id)
        wrong_shop = Along("test_wrong_shop", lambda dialect: [], {"b_shop": shop.id + 1})
        with pytest.raises(ValueError):
            publish(shop, "coupon/given", {"customer_id": "c_1"}, along=wrong_shop)
        db.session.rollback()
        assert db.session.execute(select(func.count()).select_from(OutboxEvent)).scalar_one() == 0


def test_a_reactor_part_of_the_change_fails_the_webhook_and_leaves_nothing(
    app, host, events_shop, monkeypatch
):
    """The recorder of who moved runs in the transaction, with no savepoint: when it fails,
    the webhook fails whole (nothing of it stays, its event id is not spent) and the
    host's next delivery of the same event is counted once."""
    from plugin.customers.models import Order
    from plugin.segments.models import SegmentMember
    from tests.conftest import customer_payload, order_payload

    assert changes.record_changes in events._in_the_change
    host.webhook("customer/created", {"customer": customer_payload("c_1")})
    with app.app_context():
        shop = _shop()
        enter_shop(shop.id)
        from plugin.segments.operations import create_segment

        create_segment(
            shop,
            {
                "name": "Buyers",
                "match": "all",
                "conditions": [{"field": "total_order_count", "op": "gte", "value": 1}],
            },
        )
        db.session.commit()

    def broken(*args, **kwargs):
        raise RuntimeError("the changes table is on fire")

    monkeypatch.setattr(changes, "_rows", broken)
    event_id = str(uuid.uuid4())
    paid = {"order": order_payload("o_1")}
    failed = host.webhook("order/paid", paid, event_id=event_id)
    assert failed.status_code == 500
    assert failed.get_json()["error"]["code"] == "internal_error"

    def kept() -> tuple:
        with app.app_context():
            counts = tuple(
                db.session.execute(select(func.count()).select_from(model)).scalar_one()
                for model in (Order, SegmentMember, CustomerChange)
            )
        return (*counts, [row.topic for row in outbox(app)])

    assert kept() == (0, 0, 0, [])
    monkeypatch.undo()
    answer = host.webhook("order/paid", paid, event_id=event_id)
    assert answer.get_json() == {"status": "ok"}
    assert kept() == (1, 1, 1, ["customer/segments_changed"])
