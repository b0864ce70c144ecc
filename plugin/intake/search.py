"""Finding customers for the admin: by name, email or id, optionally in one group, paged."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from plugin.customers.models import Customer
from plugin.db import db, for_shop
from plugin.groups.models import Group
from plugin.paging import Page, paginate
from plugin.segments.models import Segment, SegmentMember
from plugin.shops.models import Shop


def search_customers(
    shop: Shop, query: str, group_id: int | None, page: int, per_page: int
) -> Page[dict[str, Any]]:
    """The page ``{"items", "total", "page", "per_page"}``; each item is
    ``{"customer", "group", "segments"}`` (segments as ``{"id", "name"}``), in three queries.
    """
    where = []
    term = query.strip().lower()
    if term:
        full_name = func.lower(
            func.coalesce(Customer.first_name, "") + " " + func.coalesce(Customer.last_name, "")
        )
        where.append(
            or_(
                full_name.contains(term, autoescape=True),
                func.lower(func.coalesce(Customer.email, "")).contains(term, autoescape=True),
                func.lower(Customer.external_id) == term,
            )
        )
    if group_id is not None:
        where.append(Customer.group_id == group_id)
    listed = paginate(
        select(Customer, Group)
        .join(Group, Group.id == Customer.group_id)
        .where(*where)
        .order_by(Customer.id),
        page,
        per_page,
    )
    rows = listed["items"]
    segments: dict[int, list[dict[str, Any]]] = {customer.id: [] for customer, _ in rows}
    if segments:
        found = db.session.execute(
            for_shop(Segment, shop.id)
            .add_columns(SegmentMember.customer_id)
            .join(SegmentMember, SegmentMember.segment_id == Segment.id)
            .where(SegmentMember.customer_id.in_(segments))
            .order_by(Segment.name_key)
        ).all()
        for segment, customer_id in found:
            segments[customer_id].append({"id": segment.id, "name": segment.name})
    listed["items"] = [
        {"customer": customer, "group": group, "segments": segments[customer.id]}
        for customer, group in rows
    ]
    return listed
