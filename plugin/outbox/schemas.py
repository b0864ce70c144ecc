"""Admin API schemas of the outbox (``/api/events``)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from plugin.events import TOPICS
from plugin.events.models import DEAD, SKIPPED, STATUSES
from plugin.fields import Timestamp
from plugin.paging import PageQuery, page_of


class EventQuery(PageQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    topic = fields.String(load_default=None, validate=validate.OneOf(sorted(TOPICS)))
    event_id = fields.String(load_default=None, validate=validate.Length(max=36))


class RetryEventsIn(Schema):
    """Which events to send again: all ``dead`` ones, or all ``skipped`` ones, optionally
    of one topic."""

    status = fields.String(required=True, validate=validate.OneOf([DEAD, SKIPPED]))
    topic = fields.String(load_default=None, validate=validate.OneOf(sorted(TOPICS)))


class RetryEventsOut(Schema):
    retried = fields.Integer()


class EventOut(Schema):
    """An event sent to the shop (contract §6) and where its delivery stands: ``pending``
    (waiting for its first try or a retry at ``next_attempt_at``), ``delivered``, ``dead``
    (gave up after the last attempt; retry it), ``skipped`` (the shop has no events_url)."""

    id = fields.Integer()
    event_id = fields.String()
    topic = fields.String()
    payload = fields.Dict()
    status = fields.String(validate=validate.OneOf(STATUSES))
    attempts = fields.Integer()
    next_attempt_at = Timestamp(allow_none=True)
    last_attempt_at = Timestamp(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = Timestamp()
    delivered_at = Timestamp(allow_none=True)


EventPage = page_of(EventOut)
