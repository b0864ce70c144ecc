"""What the admin API shows of a job."""

from __future__ import annotations

from marshmallow import Schema, fields

from plugin.fields import Timestamp


class JobOut(Schema):
    """A background job: what it does (kind), how far it got (progress of total), its
    attempts, and how it ended (result, or error; while a retry waits, error is the last
    attempt's). available_at: when a queued job may start."""

    id = fields.Integer()
    kind = fields.String()
    status = fields.String()
    progress = fields.Integer()
    total = fields.Integer()
    attempts = fields.Integer()
    max_attempts = fields.Integer()
    result = fields.Dict(allow_none=True)
    error = fields.String(allow_none=True)
    created_at = Timestamp()
    available_at = Timestamp()
    started_at = Timestamp(allow_none=True)
    heartbeat_at = Timestamp(allow_none=True)
    finished_at = Timestamp(allow_none=True)
