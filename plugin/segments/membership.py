"""Who a customer is for pricing: group and segments, read in at most two queries."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from plugin.customers.models import Customer
from plugin.db import db, shop_scope
from plugin.groups.models import Group
from plugin.segments.models import Segment, SegmentMember


@dataclass(frozen=True, slots=True)
class CustomerIdentity:
    """A registered customer's group and segments (segments as ``(id, name)``, by id)."""

    customer_id: int
    external_id: str
    group_id: int
    group_name: str
    group_colour: str
    segments: tuple[tuple[int, str], ...]


def customer_identity(shop_id: int, external_id: str | None) -> CustomerIdentity | None:
    """The customer's group and segments as stored now; None for a guest or an unknown id."""
    if not external_id:
        return None
    with shop_scope(shop_id):
        return _identity(external_id)


def _identity(external_id: str) -> CustomerIdentity | None:
    row = db.session.execute(
        select(Customer.id, Customer.group_id, Group.name, Group.colour)
        .join(Group, Group.id == Customer.group_id)
        .where(Customer.external_id == external_id)
    ).first()
    if row is None:
        return None
    customer_id, group_id, group_name, group_colour = row
    segments = db.session.execute(
        select(Segment.id, Segment.name)
        .join(SegmentMember, SegmentMember.segment_id == Segment.id)
        .where(SegmentMember.customer_id == customer_id)
        .order_by(Segment.id)
    ).all()
    return CustomerIdentity(
        customer_id=customer_id,
        external_id=external_id,
        group_id=group_id,
        group_name=group_name,
        group_colour=group_colour,
        segments=tuple((sid, name) for sid, name in segments),
    )
