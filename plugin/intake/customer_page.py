"""What the admin's customer page shows beside the customer (``GET /api/customers/{id}``):
their orders, the redemptions of their codes, and their recent group and segment changes,
each a page of its own (``/orders``, ``/redemptions``, ``/changes``), newest first.

A customer the shop does not know is a 404, as on ``GET /api/customers/{id}``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields
from sqlalchemy.orm import aliased

from plugin.codes.models import Code, Discount, Redemption
from plugin.customers.models import Customer, CustomerChange, Order
from plugin.customers.operations import find_customer
from plugin.db import for_shop
from plugin.errors import ApiError, ErrorCode
from plugin.fields import Timestamp
from plugin.groups.models import Group
from plugin.paging import Page, page_of, paginate
from plugin.segments.models import Segment
from plugin.shops.models import Shop


class Ref(Schema):
    id = fields.Integer()
    name = fields.String()


class GroupRefOut(Ref):
    colour = fields.String()


class CustomerOrderOut(Schema):
    """One of the customer's orders as the host reported it (totals in minor units)."""

    id = fields.String(attribute="external_id")
    status = fields.String()
    placed_at = Timestamp()
    total = fields.Integer()
    currency = fields.String(allow_none=True)
    discount_codes = fields.List(fields.String())


class CustomerRedemptionRow(Schema):
    """A use of a code by one of the customer's orders: ``held`` until paid, then
    ``confirmed``, or ``released``; ``amount`` as priced at the redeem hook."""

    code = fields.String()
    discount = fields.Nested(Ref)
    order_id = fields.String()
    status = fields.String()
    amount = fields.Integer(allow_none=True)
    flagged = fields.Boolean()
    created_at = Timestamp()


class CustomerChangeOut(Schema):
    """A move to another group (``kind: group``, ``from_group`` null when not known) or
    into or out of a segment (``joined_segment``, ``left_segment``); a group or segment
    deleted since is null."""

    kind = fields.String()
    from_group = fields.Nested(GroupRefOut, allow_none=True)
    to_group = fields.Nested(GroupRefOut, allow_none=True)
    segment = fields.Nested(Ref, allow_none=True)
    happened_at = Timestamp()


CustomerOrderPage = page_of(CustomerOrderOut)
CustomerRedemptionPage = page_of(CustomerRedemptionRow)
CustomerChangePage = page_of(CustomerChangeOut)


def _customer(shop: Shop, external_id: str) -> Customer:
    customer = find_customer(shop, external_id)
    if customer is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"Customer {external_id} was not found.", 404)
    return customer


def _ref(row_id: int | None, name: str | None, colour: str | None = None) -> Any:
    if row_id is None:
        return None
    return {"id": row_id, "name": name, **({"colour": colour} if colour is not None else {})}


def customer_orders(shop: Shop, external_id: str, page: int, per_page: int) -> dict[str, Any]:
    customer = _customer(shop, external_id)
    query = (
        for_shop(Order, shop.id)
        .where(Order.customer_id == customer.id)
        .order_by(Order.placed_at.desc().nulls_last(), Order.id.desc())
    )
    found: Page[Any] = paginate(query, page, per_page)
    dumped: dict[str, Any] = CustomerOrderPage().dump(found)
    return dumped


def customer_redemptions(shop: Shop, external_id: str, page: int, per_page: int) -> dict[str, Any]:
    customer = _customer(shop, external_id)
    query = (
        for_shop(Redemption, shop.id)
        .add_columns(Code.code, Discount.id, Discount.name)
        .join(Code, Code.id == Redemption.code_id)
        .join(Discount, Discount.id == Redemption.discount_id)
        .where(Redemption.customer_id == customer.id)
        .order_by(Redemption.id.desc())
    )
    found: Page[Any] = paginate(query, page, per_page)
    found["items"] = [
        {
            "code": code,
            "discount": _ref(discount_id, name),
            "order_id": redemption.order_external_id,
            "status": redemption.status,
            # As priced at the redeem hook, where redemptions record it (the reports'
            # column); None where they do not.
            "amount": getattr(redemption, "amount", None),
            "flagged": redemption.flagged,
            "created_at": redemption.created_at,
        }
        for redemption, code, discount_id, name in found["items"]
    ]
    dumped: dict[str, Any] = CustomerRedemptionPage().dump(found)
    return dumped


def customer_changes(shop: Shop, external_id: str, page: int, per_page: int) -> dict[str, Any]:
    customer = _customer(shop, external_id)
    source, target = aliased(Group), aliased(Group)
    query = (
        for_shop(CustomerChange, shop.id)
        .add_columns(source.name, source.colour, target.name, target.colour, Segment.name)
        .outerjoin(source, source.id == CustomerChange.from_group_id)
        .outerjoin(target, target.id == CustomerChange.to_group_id)
        .outerjoin(Segment, Segment.id == CustomerChange.segment_id)
        .where(CustomerChange.customer_id == customer.id)
        .order_by(CustomerChange.id.desc())
    )
    found: Page[Any] = paginate(query, page, per_page)
    found["items"] = [
        {
            "kind": change.kind,
            "from_group": _ref(change.from_group_id, from_name, from_colour),
            "to_group": _ref(change.to_group_id, to_name, to_colour),
            "segment": _ref(change.segment_id, segment_name),
            "happened_at": change.happened_at,
        }
        for change, from_name, from_colour, to_name, to_colour, segment_name in found["items"]
    ]
    dumped: dict[str, Any] = CustomerChangePage().dump(found)
    return dumped
