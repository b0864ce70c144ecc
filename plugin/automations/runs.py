"""Running an automation for customers: the ``automations.run`` job and ``give_coupon``.

Each customer is one transaction: take the next code of the pool (conditional UPDATE,
``SKIP LOCKED`` on PostgreSQL), record the succeeded run (the partial unique index
allows one per automation and customer) and publish ``coupon/given`` to the outbox,
all or nothing. An empty pool records a failed run and the automation's ``last_error``
instead; nothing of it reaches back to the event that triggered the automation, which
committed long before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from plugin.automations.models import (
    DISCOUNT_MISSING,
    POOL_EMPTY,
    RUN_FAILED,
    RUN_SUCCEEDED,
    Automation,
    AutomationRun,
)
from plugin.codes.models import Discount
from plugin.codes.operations import take_pool_code
from plugin.customers.models import Customer
from plugin.db import db, for_shop, utcnow
from plugin.events import COUPON_GIVEN, publish
from plugin.fields import iso_timestamp
from plugin.jobs.models import Job
from plugin.jobs.registry import job_kind
from plugin.shops.models import Shop

log = logging.getLogger(__name__)

RUN_JOB = "automations.run"

GIVEN = "given"
FAILED = "failed"
SKIPPED = "skipped"


@job_kind(RUN_JOB)
def run_automation_job(job: Job, report: Callable[[int], None]) -> dict[str, Any]:
    """Run one automation for the customers in ``job.params`` (host ids), resuming after
    the ``progress`` a killed runner left behind."""
    shop = db.session.get(Shop, job.shop_id)
    params = dict(job.params)
    customers: list[str] = list(params["customer_ids"])
    counts = {GIVEN: 0, FAILED: 0, SKIPPED: 0}
    start = min(job.progress or 0, len(customers))
    counts[SKIPPED] += start  # done by an earlier attempt of this job
    for index in range(start, len(customers)):
        if shop is None:
            counts[SKIPPED] += 1
        else:
            counts[
                run_for_customer(
                    shop, params["automation_id"], customers[index], params.get("cause")
                )
            ] += 1
        report(index + 1)
    return counts


def code_expiry(automation: Automation, discount: Discount, now: datetime) -> datetime | None:
    """When a code given now expires: ``expires_after_days`` from now, or the discount's
    end, whichever comes first (None: never)."""
    ends = discount.ends_at
    if automation.expires_after_days:
        mine = now + timedelta(days=automation.expires_after_days)
        return min(mine, ends) if ends is not None else mine
    return ends


def run_for_customer(shop: Shop, automation_id: int, external_id: str, cause: str | None) -> str:
    """Run the automation's action for one customer; say what came of it: ``given``,
    ``failed`` (a failed run was recorded) or ``skipped`` (nothing to do: the automation is
    off or gone, the customer is gone or already has their code). The job's checkpoint
    (``report``) commits it together with the job's progress, so a resumed job neither
    repeats nor skips a customer."""
    try:
        return _run(shop, automation_id, external_id, cause)
    except BaseException:
        db.session.rollback()
        raise


def _run(shop: Shop, automation_id: int, external_id: str, cause: str | None) -> str:
    automation = db.session.execute(
        for_shop(Automation, shop.id).where(Automation.id == automation_id)
    ).scalar_one_or_none()
    if automation is None or not automation.active or not shop.installed:
        db.session.rollback()
        return SKIPPED
    customer = db.session.execute(
        for_shop(Customer, shop.id).where(Customer.external_id == external_id)
    ).scalar_one_or_none()
    if customer is None or _already_given(automation, customer):
        db.session.rollback()
        return SKIPPED
    discount = db.session.get(Discount, automation.discount_id) if automation.discount_id else None
    if discount is None or discount.shop_id != shop.id:
        return _fail(
            shop,
            automation,
            customer,
            cause,
            DISCOUNT_MISSING,
            "The automation's discount was deleted; choose another discount.",
        )
    now = utcnow()
    expires_at = code_expiry(automation, discount, now)
    code = take_pool_code(discount, customer, expires_at)
    if code is None:
        db.session.rollback()
        return _fail(
            shop,
            automation,
            customer,
            cause,
            POOL_EMPTY,
            f"Pool empty: discount {discount.id} ({discount.name}) has no unassigned code "
            "left; generate or import more codes.",
        )
    try:
        with db.session.begin_nested():
            db.session.add(
                AutomationRun(
                    shop_id=shop.id,
                    automation_id=automation.id,
                    customer_id=customer.id,
                    status=RUN_SUCCEEDED,
                    cause=cause,
                    code_id=code.id,
                    code=code.code,
                    expires_at=expires_at,
                    created_at=now,
                )
            )
    except IntegrityError:
        # Another run gave this customer their code first: ours goes back to the pool.
        db.session.rollback()
        return SKIPPED
    publish(
        shop,
        COUPON_GIVEN,
        {
            "customer_id": external_id,
            "discount_id": discount.id,
            "code": code.code,
            "expires_at": iso_timestamp(expires_at),
            "automation_id": automation.id,
        },
    )
    # Clear the merchant's alert only when there is one (no row lock otherwise), and only one
    # raised before this run began: a run that failed while this one held its code (the
    # pool is empty now) keeps its alert, whichever of the two commits last.
    db.session.execute(
        update(Automation)
        .where(
            Automation.id == automation.id,
            or_(
                Automation.last_error_at < now,
                # an alert without its time (never written so by us): cleared as before
                and_(Automation.last_error.is_not(None), Automation.last_error_at.is_(None)),
            ),
        )
        .values(last_error=None, last_error_at=None)
        .execution_options(synchronize_session=False)
    )
    return GIVEN


def _already_given(automation: Automation, customer: Customer) -> bool:
    found = db.session.execute(
        select(AutomationRun.id).where(
            AutomationRun.automation_id == automation.id,
            AutomationRun.customer_id == customer.id,
            AutomationRun.status == RUN_SUCCEEDED,
        )
    ).first()
    return found is not None


def _fail(
    shop: Shop,
    automation: Automation,
    customer: Customer,
    cause: str | None,
    error_code: str,
    message: str,
) -> str:
    """Record a failed run and tell the merchant on the automation (the job commits it)."""
    now = utcnow()
    db.session.add(
        AutomationRun(
            shop_id=shop.id,
            automation_id=automation.id,
            customer_id=customer.id,
            status=RUN_FAILED,
            cause=cause,
            error_code=error_code,
            error=message,
            created_at=now,
        )
    )
    db.session.execute(
        update(Automation)
        .where(Automation.id == automation.id)
        .values(last_error=message, last_error_at=now)
        .execution_options(synchronize_session=False)
    )
    log.info("Automation %s failed for customer %s: %s", automation.id, customer.id, message)
    return FAILED
