"""From events to automation jobs: the reactor that sees a trigger and queues its runs.

It hears every event the extension publishes and the incoming happenings
(:func:`plugin.events.notify`) inside the transaction that caused them, finds the shop's
active automations whose trigger matches (one query), and enqueues one
``automations.run`` job per automation and chunk of customers. The job commits with the
trigger or not at all; the run itself happens later in the job runner, so a failing
automation (an empty pool) can never block or undo the event.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Integer, Select, case, cast, exists, func, select, true

from plugin.automations.models import (
    COUPON_GIVEN,
    CUSTOMER_CREATED,
    CUSTOMER_SUBSCRIBED,
    JOINED_GROUP,
    JOINED_SEGMENT,
    ORDER_PAID,
    Automation,
)
from plugin.automations.runs import RUN_JOB
from plugin.db import SHOP_PARAM, built, db, run_built, shop_param
from plugin.events import reactor, set_based
from plugin.jobs.registry import enqueue
from plugin.shops.models import Shop
from plugin.shops.operations import per_version

#: Customers per ``automations.run`` job (a segment recompute may bring thousands).
CHUNK = 500

#: The trigger types an event topic can set off.
TRIGGERS_OF_TOPIC: dict[str, tuple[str, ...]] = {
    "customer/created": (CUSTOMER_CREATED, JOINED_GROUP),
    "customer/subscribed": (CUSTOMER_SUBSCRIBED,),
    "order/paid": (ORDER_PAID,),
    "customer/group_changed": (JOINED_GROUP,),
    "customer/segments_changed": (JOINED_SEGMENT,),
    "coupon/given": (COUPON_GIVEN,),
}

Trigger = tuple[str, int | None]  # (trigger type, the group/segment/discount id or None)


def triggers_in(topic: str, payload: dict[str, Any]) -> Iterator[Trigger]:
    """The triggers one event sets off for its customer."""
    if topic == "customer/created":
        yield CUSTOMER_CREATED, None
        if payload.get("group_id") is not None:
            yield JOINED_GROUP, payload["group_id"]
    elif topic == "customer/subscribed":
        yield CUSTOMER_SUBSCRIBED, None
    elif topic == "order/paid":
        yield ORDER_PAID, None
    elif topic == "customer/group_changed":
        if payload.get("to_group") is not None:
            yield JOINED_GROUP, payload["to_group"]
    elif topic == "customer/segments_changed":
        for segment_id in payload.get("joined") or ():
            yield JOINED_SEGMENT, segment_id
    elif topic == "coupon/given":
        yield COUPON_GIVEN, payload.get("discount_id")


def _reference(automation: Any) -> int | None:
    return {
        JOINED_GROUP: automation.trigger_group_id,
        JOINED_SEGMENT: automation.trigger_segment_id,
        COUPON_GIVEN: automation.trigger_discount_id,
    }.get(automation.trigger_type)


_ACTIVE = "customer_groups_active_automations"


def _active_automations(shop: Shop) -> list[Any]:
    """The shop's active automations, read once per version of the shop's settings
    (:func:`plugin.shops.operations.per_version`: a change of an automation, or of the
    group, segment or discount it names, bumps it), and at most once per transaction: a
    commit reacts to each topic it published in turn (an ``order/paid`` to itself, then to
    the segments the customer joined), and each read, in a savepoint of its own, was three
    more statements per order. Reactions run as the transaction commits, after its own
    changes (automations included) are flushed; reactors never change automations."""
    session = db.session()
    transaction = session.get_transaction()
    cached = session.info.get(_ACTIVE)
    if cached is None or cached[0] is not transaction:
        cached = session.info[_ACTIVE] = (transaction, {})
    found: list[Any] | None = cached[1].get(shop.id)
    if found is None:
        found = cached[1][shop.id] = per_version(
            shop, "active_automations", lambda: _read_active(shop)
        )
    return found


def _read_active(shop: Shop) -> list[Any]:
    return list(run_built(built("active_automations", _active), {SHOP_PARAM: shop.id}).all())


def _active(dialect: str) -> Any:
    automations = Automation.__table__.c
    return select(
        automations.id,
        automations.trigger_type,
        automations.trigger_group_id,
        automations.trigger_segment_id,
        automations.trigger_discount_id,
    ).where(shop_param(automations), automations.active.is_(True))


def _listening(shop: Shop, topic: str) -> dict[Trigger, list[int]]:
    """The active automations that events of ``topic`` can set off, by trigger."""
    types = TRIGGERS_OF_TOPIC.get(topic)
    if not types:
        return {}
    listening: dict[Trigger, list[int]] = {}
    for automation in _active_automations(shop):
        if automation.trigger_type not in types:
            continue
        ref = _reference(automation)
        if automation.trigger_type in (JOINED_GROUP, JOINED_SEGMENT, COUPON_GIVEN) and ref is None:
            continue  # its group, segment or discount was deleted
        listening.setdefault((automation.trigger_type, ref), []).append(automation.id)
    return listening


@reactor
def queue_automation_runs(shop: Shop, topic: str, payloads: list[dict[str, Any]]) -> None:
    """Enqueue the runs of every active automation that ``payloads`` of ``topic`` trigger."""
    listening = _listening(shop, topic)
    if not listening:
        return
    customers: dict[int, dict[str, None]] = {}  # automation → host ids, in order, once
    for payload in payloads:
        external_id = payload.get("customer_id")
        if not external_id:
            continue
        for trigger in triggers_in(topic, payload):
            for automation_id in listening.get(trigger, ()):
                customers.setdefault(automation_id, {})[str(external_id)] = None
    for automation_id, found in customers.items():
        ids = list(found)
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            enqueue(
                shop,
                RUN_JOB,
                {"automation_id": automation_id, "customer_ids": chunk, "cause": topic},
                total=len(chunk),
            )


@set_based(queue_automation_runs)
def queue_selected_automation_runs(shop: Shop, topic: str, payloads: Select[Any]) -> None:
    """:func:`queue_automation_runs` for a set-based publish: the payloads are read only
    when an automation listens to the topic, and only those that name its group or
    segment (600,000 joiners of one segment are not read for an automation on another);
    the list form then decides, as always."""
    listening = _listening(shop, topic)
    if not listening:
        return
    events = payloads.subquery("events")
    payload = events.c.payload
    named = sorted({ref for _, ref in listening if ref is not None})
    wanted: Any = true()
    if topic == "customer/group_changed":
        wanted = payload["to_group"].as_integer().in_(named)
    elif topic == "customer/segments_changed":
        joined = payload["joined"]
        listed = case((func.json_typeof(joined) == "array", joined))
        value = func.json_array_elements_text(listed).table_valued("value")
        wanted = exists(select(value.c.value).where(cast(value.c.value, Integer).in_(named)))
    rows = select(payload).select_from(events).where(wanted).order_by(events.c.position)
    queue_automation_runs(shop, topic, list(db.session.execute(rows).scalars()))
