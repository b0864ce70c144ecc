"""``customers/redact``: forget a customer everywhere the intake's features keep them.

The customer row and what hangs on it go as ``delete_customer`` says (orders stay,
anonymised; codes handed and never used go). Beyond the rows that point at them by key,
their host id is also found inside values, and goes too:
- outbox events whose payload names them, pending or delivered: deleted (an event about a
  customer who asked to be forgotten is not sent afterwards, nor kept as history);
- job arguments and results that name them (``{"customer_ids": [...]}`` of automation
  runs): the id is taken out, the job kept (a queued job then simply skips them);
- the code-guessing guard's attempts and blocks counted against them.

Audiences are their own feature (``plugin.audiences.operations.forget_customer``, called
first by the webhook, so that their removal from every vendor is queued before this).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import String, cast, delete, select

from plugin.codes.lookup import attempt_subjects
from plugin.codes.models import CodeBlock
from plugin.db import db, for_shop
from plugin.events.models import OutboxEvent
from plugin.intake.operations import delete_customer
from plugin.jobs.models import Job
from plugin.shops.models import Shop


def _names(column: Any, external_id: str) -> Any:
    """The JSON column's text holds the id as a JSON string (a cheap filter; the rows it
    finds are then judged value by value)."""
    return cast(column, String).contains(json.dumps(external_id)[1:-1], autoescape=True)


def without(value: Any, external_id: str) -> Any:
    """``value`` with every occurrence of the id taken out (list items, object members)."""
    if isinstance(value, dict):
        return {k: without(v, external_id) for k, v in value.items() if v != external_id}
    if isinstance(value, list):
        return [without(v, external_id) for v in value if v != external_id]
    return value


def redact_customer(shop: Shop, external_id: str) -> bool:
    """Forget the customer (see the module docstring); whether they were known."""
    known = delete_customer(shop, external_id)
    db.session.execute(
        delete(CodeBlock).where(
            CodeBlock.subject.in_(attempt_subjects(external_id, None)),
        )
    )
    events = db.session.execute(
        select(OutboxEvent.id, OutboxEvent.payload).where(_names(OutboxEvent.payload, external_id))
    ).all()
    gone = [event_id for event_id, payload in events if without(payload, external_id) != payload]
    if gone:
        db.session.execute(
            delete(OutboxEvent)
            .where(OutboxEvent.id.in_(gone))
            .execution_options(synchronize_session=False)
        )
    jobs = db.session.execute(
        for_shop(Job, shop.id).where(
            _names(Job.params, external_id) | _names(Job.result, external_id)
        )
    ).scalars()
    for job in jobs:
        params, result = without(job.params, external_id), without(job.result, external_id)
        if params != job.params or result != job.result:
            job.params, job.result = params, result
    db.session.flush()
    return known
