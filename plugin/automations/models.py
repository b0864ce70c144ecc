"""Automations and the history of their runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from plugin.db import NEVER_REUSED, ShopScoped, UtcDateTime, db, utcnow

CUSTOMER_CREATED = "customer_created"
CUSTOMER_SUBSCRIBED = "customer_subscribed"
ORDER_PAID = "order_paid"
JOINED_GROUP = "joined_group"
JOINED_SEGMENT = "joined_segment"
#: An extension of contract §5: another automation gave a code of ``discount_id``.
COUPON_GIVEN = "coupon_given"
TRIGGER_TYPES = (
    CUSTOMER_CREATED,
    CUSTOMER_SUBSCRIBED,
    ORDER_PAID,
    JOINED_GROUP,
    JOINED_SEGMENT,
    COUPON_GIVEN,
)
#: The reference each trigger type needs (None: none).
TRIGGER_REFERENCE = {
    CUSTOMER_CREATED: None,
    CUSTOMER_SUBSCRIBED: None,
    ORDER_PAID: None,
    JOINED_GROUP: "group_id",
    JOINED_SEGMENT: "segment_id",
    COUPON_GIVEN: "discount_id",
}

GIVE_COUPON = "give_coupon"
ACTION_TYPES = (GIVE_COUPON,)

RUN_SUCCEEDED = "succeeded"
RUN_FAILED = "failed"
RUN_STATUSES = (RUN_SUCCEEDED, RUN_FAILED)

#: ``error_code`` of a failed run.
POOL_EMPTY = "pool_empty"
DISCOUNT_MISSING = "discount_missing"


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Automation(ShopScoped, db.Model):
    """When ``trigger_type`` happens to a customer, run the action for them, once.

    The trigger's group, segment or discount are foreign keys that become NULL when
    that object is deleted: the automation then never fires (and shows it).
    """

    __tablename__ = "automations"
    __table_args__ = (
        CheckConstraint(_one_of("trigger_type", TRIGGER_TYPES), name="trigger_type_known"),
        CheckConstraint(_one_of("action_type", ACTION_TYPES), name="action_type_known"),
        CheckConstraint(
            "expires_after_days IS NULL OR expires_after_days > 0", name="expiry_positive"
        ),
        Index("ix_automations_shop_trigger", "shop_id", "trigger_type"),
        UniqueConstraint("shop_id", "name_key"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    # ``plugin.db.name_key(name)``: unique per shop, so a name is never used twice.
    name_key: Mapped[str] = mapped_column(String(255))
    trigger_type: Mapped[str] = mapped_column(String(32))
    trigger_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="SET NULL")
    )
    trigger_segment_id: Mapped[int | None] = mapped_column(
        ForeignKey("segments.id", ondelete="SET NULL")
    )
    trigger_discount_id: Mapped[int | None] = mapped_column(
        ForeignKey("discounts.id", ondelete="SET NULL")
    )
    action_type: Mapped[str] = mapped_column(String(32), default=GIVE_COUPON)
    # The discount whose pool the coupon comes from.
    discount_id: Mapped[int | None] = mapped_column(ForeignKey("discounts.id", ondelete="SET NULL"))
    # A code given expires this many days later (or at the discount's end, if sooner).
    expires_after_days: Mapped[int | None] = mapped_column()
    active: Mapped[bool] = mapped_column(default=True)
    # The latest failure the merchant should hear about; cleared by a success begun after it.
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class AutomationRun(ShopScoped, db.Model):
    """One run of an automation for one customer: the code given, or why not.

    At most one succeeded run per automation and customer (a partial unique index), so
    a trigger delivered twice, or two runs racing, never give a customer two codes.
    """

    __tablename__ = "automation_runs"
    __table_args__ = (
        CheckConstraint(_one_of("status", RUN_STATUSES), name="status_known"),
        Index(
            "uq_automation_runs_once_per_customer",
            "automation_id",
            "customer_id",
            unique=True,
            sqlite_where=text("status = 'succeeded'"),
            postgresql_where=text("status = 'succeeded'"),
        ),
        Index("ix_automation_runs_automation", "automation_id", "id"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    # What set it off: the event topic (``order/paid``, ``customer/group_changed``, ...).
    cause: Mapped[str | None] = mapped_column(String(64))
    code_id: Mapped[int | None] = mapped_column(ForeignKey("codes.id", ondelete="SET NULL"))
    # The code as given (kept when the code row goes with its discount).
    code: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
