"""Customers as the extension sees them: the host's snapshot plus figures kept from orders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from plugin.customers.keys import KEY_LENGTH, optional_text_key
from plugin.db import NEVER_REUSED, ShopScoped, UtcDateTime, db, utcnow


def _key_of(column: str) -> Any:
    """An INSERT default: the key of ``column``'s text in the same row (Core inserts)."""

    def default(context: Any) -> str | None:
        return optional_text_key(context.get_current_parameters().get(column))

    return default


class Customer(ShopScoped, db.Model):
    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("shop_id", "external_id"),
        CheckConstraint("order_count >= 0", name="order_count_not_negative"),
        CheckConstraint("total_spent >= 0", name="total_spent_not_negative"),
        Index("ix_customers_shop_order_count", "shop_id", "order_count"),
        Index("ix_customers_shop_total_spent", "shop_id", "total_spent"),
        Index("ix_customers_shop_last_order_at", "shop_id", "last_order_at"),
        Index("ix_customers_shop_registered_at", "shop_id", "registered_at"),
        Index("ix_customers_shop_points", "shop_id", "points"),
        Index("ix_customers_shop_group", "shop_id", "group_id"),
        Index("ix_customers_shop_city_key", "shop_id", "city_key"),
        Index("ix_customers_shop_country_key", "shop_id", "country_key"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    # Moved by hand (POST /api/groups/{id}/customers): automatic groups leave the customer
    # where the merchant put them until the lock is released (contract §8).
    group_locked: Mapped[bool] = mapped_column(default=False, server_default=false())

    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    registered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Integers may reach 2^53 - 1 (contract v2 §2), hence BigInteger.
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    accepts_marketing: Mapped[bool] = mapped_column(default=False)
    # Null when the host sent a type that is neither individual nor business.
    type: Mapped[str | None] = mapped_column(String(16), default="individual")
    city: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str | None] = mapped_column(String(64))
    zip: Mapped[str | None] = mapped_column(String(32))
    # What segment conditions compare (plugin.customers.keys.text_key), kept by
    # _keep_text_keys whenever city or country is set.
    city_key: Mapped[str | None] = mapped_column(String(KEY_LENGTH), default=_key_of("city"))
    country_key: Mapped[str | None] = mapped_column(String(KEY_LENGTH), default=_key_of("country"))
    dropship_partner_id: Mapped[str | None] = mapped_column(String(255))
    dropship_registered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    # Figures derived from paid, not reversed orders; recomputed per customer on order events,
    # held within 2^53 - 1 (plugin.limits.saturate).
    order_count: Mapped[int] = mapped_column(BigInteger, default=0)
    total_spent: Mapped[int] = mapped_column(BigInteger, default=0)
    first_order_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_order_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    used_discount_code: Mapped[bool] = mapped_column(default=False)

    subscribed_email_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    subscribed_sms_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    tags: Mapped[list[CustomerTag]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="CustomerTag.tag_key"
    )

    @validates("city", "country")
    def _keep_text_keys(self, name: str, value: str | None) -> str | None:
        setattr(self, f"{name}_key", optional_text_key(value))
        return value


class CustomerTag(ShopScoped, db.Model):
    __tablename__ = "customer_tags"
    # With customer_id: a tag condition reads its customers from the index (migration 0020).
    __table_args__ = (Index("ix_customer_tags_shop_tag", "shop_id", "tag_key", "customer_id"),)

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    # Tags compare by text_key (ignoring case); the original spelling is kept for display.
    tag_key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(255))


class CustomerProduct(ShopScoped, db.Model):
    """A product a customer bought in paid, not reversed orders, with when."""

    __tablename__ = "customer_products"
    # With customer_id: a bought-product condition reads its customers from the index.
    __table_args__ = (
        Index("ix_customer_products_shop_product", "shop_id", "product_id", "customer_id"),
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(BigInteger)
    first_purchased_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_purchased_at: Mapped[datetime] = mapped_column(UtcDateTime)


ORDER_PAID = "paid"
ORDER_CANCELLED = "cancelled"
ORDER_REFUNDED = "refunded"


class Order(ShopScoped, db.Model):
    """An order as the host reported it; a reversed order keeps its row so re-deliveries no-op."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "external_id"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        CheckConstraint("status IN ('paid', 'cancelled', 'refunded')", name="status_known"),
        Index("ix_orders_shop_customer_placed", "shop_id", "customer_id", "placed_at"),
        # The reports read a shop's paid orders by day.
        Index("ix_orders_shop_placed", "shop_id", "placed_at"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    # The group the customer was in when the order was paid (the groups report counts the
    # order there, wherever the customer went since); null for guests and once the group
    # is deleted.
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16))
    # Null while only a cancel or refund is known (it arrived before order/paid).
    placed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reversed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    currency: Mapped[str | None] = mapped_column(String(3))
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    payment_method: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(32))
    carrier: Mapped[str | None] = mapped_column(String(64))
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    lines: Mapped[list[OrderLine]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="OrderLine.id"
    )


class OrderLine(ShopScoped, db.Model):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(BigInteger)
    unit_price: Mapped[int] = mapped_column(BigInteger)


CHANGE_GROUP = "group"
CHANGE_JOINED_SEGMENT = "joined_segment"
CHANGE_LEFT_SEGMENT = "left_segment"
CHANGE_KINDS = (CHANGE_GROUP, CHANGE_JOINED_SEGMENT, CHANGE_LEFT_SEGMENT)


class CustomerChange(ShopScoped, db.Model):
    """A customer's move to another group, or into or out of a segment, as published
    (``customer/group_changed``, ``customer/segments_changed``): the customer page's
    recent changes. Written by ``plugin.intake.changes`` in the publishing
    transaction; a deleted group or segment leaves the row with a null reference."""

    __tablename__ = "customer_changes"
    __table_args__ = (
        CheckConstraint("kind IN ('group', 'joined_segment', 'left_segment')", name="kind_known"),
        # A customer's changes, newest first (the customer page), and the rows a deleted
        # customer takes with it; a deleted shop's. Each reference to a group or segment is
        # indexed only where it is set (for the SET NULL of its delete): a segment's 600,000
        # joiners write no entry in the group indexes, a move none in the segment's (issue
        # 13, goal 4).
        Index("ix_customer_changes_customer", "customer_id", "id"),
        Index("ix_customer_changes_shop", "shop_id"),
        *(
            Index(
                f"ix_customer_changes_set_{column}",
                column,
                sqlite_where=text(f"{column} IS NOT NULL"),
                postgresql_where=text(f"{column} IS NOT NULL"),
            )
            for column in ("from_group_id", "to_group_id", "segment_id")
        ),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    # A group change: from (null: none known) and to.
    from_group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    to_group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="SET NULL"))
    happened_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
