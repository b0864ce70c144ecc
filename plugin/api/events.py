"""``/api/events``: what the extension sent the shop, and how delivery went (contract §6)."""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from plugin.api.blueprint import api_blueprint
from plugin.api.schemas import load_body
from plugin.apidoc import document
from plugin.outbox import operations
from plugin.outbox.schemas import (
    EventOut,
    EventPage,
    EventQuery,
    RetryEventsIn,
    RetryEventsOut,
)
from plugin.sessions import current_shop


@api_blueprint.get("/events")
@document(
    "Events sent to the shop (coupon/given, customer/group_changed, "
    "customer/segments_changed), newest first, by status, topic or event id.",
    query=EventQuery,
    response=EventPage,
    description="Each event is POSTed to the shop's events_url, signed like the host's "
    "webhooks (X-Shop-Domain, X-Request-Timestamp, X-Signature, X-Topic, X-Event-Id, plus "
    "X-Event-Created-At), with exponential backoff and jitter until a 2xx answer. Delivery "
    "is at least once: receivers deduplicate by X-Event-Id, which never changes between "
    "attempts.",
)
def list_events() -> ResponseReturnValue:
    query = EventQuery().load(request.args.to_dict())
    return jsonify(EventPage().dump(operations.list_events(current_shop(), **query)))


@api_blueprint.get("/events/<int:event_pk>")
@document("One event and its delivery status.", response=EventOut)
def get_event(event_pk: int) -> ResponseReturnValue:
    return jsonify(EventOut().dump(operations.get_event(current_shop(), event_pk)))


@api_blueprint.post("/events/retry")
@document(
    "Send again every dead event, or every skipped one (optionally of one topic), in one "
    "statement: pending now, attempts from zero. Answers how many; 409 conflict when the "
    "shop has no events_url.",
    request=RetryEventsIn,
    response=RetryEventsOut,
)
def retry_events() -> ResponseReturnValue:
    retried = operations.retry_events(current_shop(), **load_body(RetryEventsIn()))
    return jsonify(RetryEventsOut().dump({"retried": retried}))


@api_blueprint.post("/events/<int:event_pk>/retry")
@document(
    "Send a dead or skipped event again (pending now, attempts from zero); 409 conflict for "
    "an event in another status or when the shop has no events_url.",
    response=EventOut,
)
def retry_event(event_pk: int) -> ResponseReturnValue:
    return jsonify(EventOut().dump(operations.retry_event(current_shop(), event_pk)))
