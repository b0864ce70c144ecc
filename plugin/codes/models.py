"""Discounts, their codes (the shared code and the pool), redemptions and attempt guards.

Every code of a shop, shared or pooled, is a row of ``codes`` with ``code_key``
(the code lower-cased) under one unique index per shop, so a code typed at the
checkout names at most one discount.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from plugin.db import NEVER_REUSED, ShopScoped, UtcDateTime, db, utcnow
from plugin.rules.audience import Aimed, audience_links

CODE_UNASSIGNED = "unassigned"
CODE_ASSIGNED = "assigned"
CODE_REDEEMED = "redeemed"
CODE_STATUSES = (CODE_UNASSIGNED, CODE_ASSIGNED, CODE_REDEEMED)

HELD = "held"
CONFIRMED = "confirmed"
RELEASED = "released"
EXPIRED = "expired"
REDEMPTION_STATUSES = (HELD, CONFIRMED, RELEASED, EXPIRED)
#: Redemptions that count toward a code's uses and a customer's one use.
COUNTING = (HELD, CONFIRMED)

#: The foreign keys of ``codes`` (names as errors report them).
DISCOUNT_KEY = "fk_codes_shop_id_discounts"
CUSTOMER_KEY = "fk_codes_assigned_customer_id_customers"

# The groups and segments a discount is aimed at (``plugin.rules.audience``).
DiscountGroup, DiscountSegment = audience_links("discounts", "discount_id", "Discount")


class Discount(ShopScoped, Aimed, db.Model):
    """A discount as the merchant set it up: one shared code, a pool of codes, or both.

    ``value`` is an integer: minor units for ``fixed`` and ``free_shipping`` (its
    maximum), hundredths of a percent (basis points) for ``percent`` (1250 = 12.5 %).
    """

    __tablename__ = "discounts"
    __table_args__ = (
        CheckConstraint("applies_to IN ('products', 'services')", name="applies_to_known"),
        CheckConstraint("type IN ('percent', 'fixed', 'free_shipping')", name="type_known"),
        CheckConstraint("value IS NULL OR value >= 0", name="value_not_negative"),
        CheckConstraint("usage_limit IS NULL OR usage_limit >= 0", name="usage_limit_positive"),
        CheckConstraint(
            "uses_per_customer IS NULL OR uses_per_customer >= 1", name="uses_per_customer_positive"
        ),
        CheckConstraint("minimum_type IN ('none', 'amount', 'quantity')", name="minimum_known"),
        CheckConstraint("minimum_value >= 0", name="minimum_not_negative"),
        # What codes and audience links refer to: a discount together with its shop.
        UniqueConstraint("shop_id", "id"),
        UniqueConstraint("shop_id", "name_key"),
        NEVER_REUSED,
    )
    __audience_links__ = (DiscountGroup, DiscountSegment)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    # ``plugin.db.name_key(name)``: unique per shop, so a name is never used twice.
    name_key: Mapped[str] = mapped_column(String(255))
    applies_to: Mapped[str] = mapped_column(String(16), default="products")
    # The shared code as typed by the merchant (its row in ``codes`` has shared = true).
    code: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))
    value: Mapped[int | None] = mapped_column(BigInteger)
    carriers: Mapped[list[str]] = mapped_column(JSON, default=list)
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    usage_limit: Mapped[int | None] = mapped_column()
    # How often one customer may use it (null: no limit); ``once_per_customer`` is kept
    # equal to ``uses_per_customer = 1`` (its alias, contract §8).
    uses_per_customer: Mapped[int | None] = mapped_column()
    once_per_customer: Mapped[bool] = mapped_column(default=False)
    combinable_with_other_codes: Mapped[bool] = mapped_column(default=False, server_default=false())
    audience_type: Mapped[str] = mapped_column(String(16), default="all")
    minimum_type: Mapped[str] = mapped_column(String(16), default="none")
    minimum_value: Mapped[int] = mapped_column(BigInteger, default=0)
    payment_methods: Mapped[list[str]] = mapped_column(JSON, default=list)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Code(ShopScoped, db.Model):
    """One code: the discount's shared code (``shared``) or one code of its pool.

    ``usage_limit`` of the discount applies to each code row: the shared code's
    uses in total, each pool code's own uses.
    """

    __tablename__ = "codes"
    __table_args__ = (
        UniqueConstraint("shop_id", "code_key"),
        # A code belongs to a discount of its own shop (deleting the discount deletes its
        # codes), and may be assigned to a customer (deleting the customer unassigns it):
        # foreign keys on both databases.
        ForeignKeyConstraint(
            ["shop_id", "discount_id"],
            ["discounts.shop_id", "discounts.id"],
            ondelete="CASCADE",
            name=DISCOUNT_KEY,
        ),
        ForeignKeyConstraint(
            ["assigned_customer_id"], ["customers.id"], ondelete="SET NULL", name=CUSTOMER_KEY
        ),
        CheckConstraint("times_used >= 0", name="times_used_not_negative"),
        CheckConstraint("status IN ('unassigned', 'assigned', 'redeemed')", name="status_known"),
        # Assignment takes the oldest unassigned pool code: keep that lookup short.
        Index("ix_codes_discount_status_id", "discount_id", "status", "id"),
        # Only assigned codes: most pool codes never are, and bulk inserts skip this index.
        Index(
            "ix_codes_assigned_customer_id",
            "assigned_customer_id",
            postgresql_where=text("assigned_customer_id IS NOT NULL"),
            sqlite_where=text("assigned_customer_id IS NOT NULL"),
        ),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column()
    discount_id: Mapped[int] = mapped_column()
    code: Mapped[str] = mapped_column(String(64))
    # Compared byte by byte on PostgreSQL (COLLATE "C"): keys are lower-case ASCII, so
    # the order is the same as the database's, but the unique index compares them with
    # memcmp instead of the locale's rules, and ``LIKE 'prefix%'`` can use that index.
    code_key: Mapped[str] = mapped_column(
        String(64).with_variant(String(64, collation="C"), "postgresql")
    )
    # Server defaults too: bulk writes (COPY on PostgreSQL) send only the four columns
    # above, and parsing the rest a million times was a tenth of the server's work.
    shared: Mapped[bool] = mapped_column(default=False, server_default=false())
    status: Mapped[str] = mapped_column(
        String(16), default=CODE_UNASSIGNED, server_default=CODE_UNASSIGNED
    )
    assigned_customer_id: Mapped[int | None] = mapped_column()
    assigned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    times_used: Mapped[int] = mapped_column(default=0, server_default="0")
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, default=utcnow, server_default=func.now()
    )


#: The redemptions the once-per-customer index counts: those of once-per-customer
#: discounts that hold a use and were not flagged.
ONCE_PER_CUSTOMER_ROWS = (
    "once_per_customer AND customer_id IS NOT NULL AND status IN ('held', 'confirmed') "
    "AND NOT flagged"
)
#: The redemptions the uses-per-customer index counts: each use of a discount with
#: ``uses_per_customer`` takes one of the customer's numbered uses (1..limit).
CUSTOMER_USE_ROWS = (
    "customer_use IS NOT NULL AND customer_id IS NOT NULL AND status IN ('held', 'confirmed') "
    "AND NOT flagged"
)


class Redemption(ShopScoped, db.Model):
    """One use of a code by one order: held at checkout, confirmed when paid, or released."""

    __tablename__ = "redemptions"
    __table_args__ = (
        # One redemption per order and discount: an order may carry an order-class and a
        # shipping-class code (contract §8).
        UniqueConstraint("shop_id", "order_external_id", "discount_id"),
        CheckConstraint(
            "status IN ('held', 'confirmed', 'released', 'expired')", name="status_known"
        ),
        # Uses per customer, enforced by the database: a counting use holds one of the
        # customer's numbered uses of the discount, and a number is held once.
        Index(
            "uq_redemptions_customer_use",
            "discount_id",
            "customer_id",
            "customer_use",
            unique=True,
            sqlite_where=text(CUSTOMER_USE_ROWS),
            postgresql_where=text(CUSTOMER_USE_ROWS),
        ),
        CheckConstraint("customer_use IS NULL OR customer_use >= 1", name="customer_use_positive"),
        # Once per customer, enforced by the database: one counting, unflagged
        # redemption per (discount, customer). A flagged one (an order/paid that went
        # past the limit without the redeem hook) is recorded but stays outside.
        Index(
            "uq_redemptions_once_per_customer",
            "discount_id",
            "customer_id",
            unique=True,
            sqlite_where=text(ONCE_PER_CUSTOMER_ROWS),
            postgresql_where=text(ONCE_PER_CUSTOMER_ROWS),
        ),
        Index("ix_redemptions_status_expires", "status", "expires_at"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    code_id: Mapped[int] = mapped_column(ForeignKey("codes.id", ondelete="CASCADE"), index=True)
    discount_id: Mapped[int] = mapped_column(ForeignKey("discounts.id", ondelete="CASCADE"))
    order_external_id: Mapped[str] = mapped_column(String(255))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    once_per_customer: Mapped[bool] = mapped_column(default=False)
    # Which of the customer's ``uses_per_customer`` uses this is (null: no such limit).
    customer_use: Mapped[int | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=HELD)
    flagged: Mapped[bool] = mapped_column(default=False)
    # What the code took off the order as the redeem hook priced it (lines and shipping);
    # 0 for an order/paid whose code never went through the hook (the discounts report).
    amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CheckoutAnswer(ShopScoped, db.Model):
    """The redeem hook's answer per order id, so a repeated call answers the same."""

    __tablename__ = "checkout_answers"
    __table_args__ = (UniqueConstraint("shop_id", "order_external_id"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    order_external_id: Mapped[str] = mapped_column(String(255))
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CodeAttempt(ShopScoped, db.Model):
    """An unknown code typed at either hook by one cart, customer or address (the brute-force
    guard); one row per distinct code and subject within the window."""

    __tablename__ = "code_attempts"
    __table_args__ = (
        Index("ix_code_attempts_subject", "shop_id", "subject", "attempted_at"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    # "customer:{external id}", "cart:{cart id}" or "ip:{IPv4 address | IPv6 /64}".
    subject: Mapped[str] = mapped_column(String(300))
    code_key: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CodeBlock(ShopScoped, db.Model):
    """A cart, customer or address refused every code until ``blocked_until``
    (``too_many_attempts``)."""

    __tablename__ = "code_blocks"
    __table_args__ = (UniqueConstraint("shop_id", "subject"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(300))
    blocked_until: Mapped[datetime] = mapped_column(UtcDateTime)
