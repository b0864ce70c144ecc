"""Jobs as the admin API reads them (shop-scoped, newest first)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from plugin.db import db, for_shop, get_for_shop
from plugin.jobs.models import Job
from plugin.jobs.registry import HasId


def get_job(shop: HasId, job_id: int) -> Job:
    return get_for_shop(Job, shop.id, job_id)


def list_jobs(
    shop: HasId, page: int, per_page: int, status: str | None = None, kind: str | None = None
) -> dict[str, Any]:
    query = for_shop(Job, shop.id)
    if status is not None:
        query = query.where(Job.status == status)
    if kind is not None:
        query = query.where(Job.kind == kind)
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    items = db.session.execute(
        query.order_by(Job.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).scalars()
    return {"items": list(items), "total": total, "page": page, "per_page": per_page}
