"""The background work of discount codes, registered on the job interface.

- ``codes.generate`` (job): more codes than a request makes (``POST .../codes/generate``
  past 10,000). Each batch commits with its progress, so a run that was killed resumes
  from ``job.progress`` and the pool ends with exactly the count asked for.
- ``codes.expire_holds`` (every minute): expire redemption holds past their time, giving
  the uses back to their codes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugin.codes.generation import density_warnings, generate_codes
from plugin.codes.operations import get_discount
from plugin.codes.redemption import expire_holds
from plugin.db import db
from plugin.jobs.models import Job
from plugin.jobs.registry import PermanentJobError, enqueue, job_kind, periodic
from plugin.shops.models import Shop

GENERATE_CODES = "codes.generate"


def enqueue_generation(shop: Shop, discount_id: int, args: dict[str, Any]) -> Job:
    """Queue generating ``args["count"]`` codes for the discount (the caller commits)."""
    return enqueue(shop, GENERATE_CODES, {"discount_id": discount_id, **args}, args["count"])


@job_kind(GENERATE_CODES)
def generate_codes_job(job: Job, report: Callable[[int], None]) -> dict[str, Any]:
    params = dict(job.params)
    discount_id = params.pop("discount_id")
    count = int(params.pop("count"))
    shop = db.session.get(Shop, job.shop_id)
    if shop is None:
        raise PermanentJobError(f"Shop {job.shop_id} no longer exists.")
    discount = get_discount(shop, discount_id)  # gone: a 404 ApiError fails the job
    already = job.progress  # codes committed by earlier attempts (with their progress)
    warnings = density_warnings(shop, count, made_already=already, **params)
    if already < count:
        generate_codes(
            shop,
            discount,
            count - already,
            progress=lambda done, _total: report(already + done),
            **params,
        )
    return {"generated": count, "warnings": warnings}


@periodic("codes.expire_holds", every=60)
def expire_redemption_holds() -> None:
    expire_holds()
