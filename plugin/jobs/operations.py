"""Jobs as the admin API reads them (shop-scoped, newest first)."""

from __future__ import annotations

from plugin.db import for_shop, get_for_shop
from plugin.jobs.models import Job
from plugin.jobs.registry import HasId
from plugin.paging import Page, paginate


def get_job(shop: HasId, job_id: int) -> Job:
    return get_for_shop(Job, shop.id, job_id)


def list_jobs(
    shop: HasId, page: int, per_page: int, status: str | None = None, kind: str | None = None
) -> Page[Job]:
    query = for_shop(Job, shop.id)
    if status is not None:
        query = query.where(Job.status == status)
    if kind is not None:
        query = query.where(Job.kind == kind)
    return paginate(query.order_by(Job.id.desc()), page, per_page)
