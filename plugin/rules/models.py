"""Price rules, bundles, gift rules and benefit programmes as the merchant set them up.

Money is integer minor units; percentages are stored as basis points (hundredths of a
percent: ``1250`` is 12.5 %), like discounts. The database enforces the contract's
ranges (§4 "Values") with CHECK constraints, so a row that bypassed the schemas still
cannot hold a discount of 150 % or a negative price. Audiences are rows of link tables
with foreign keys (:mod:`plugin.rules.audience`), not id lists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from plugin.db import NEVER_REUSED, ShopScoped, UtcDateTime, db, utcnow
from plugin.rules.audience import Aimed, audience_links

AUDIENCE_TYPES = ("all", "guests", "groups", "segments")
SCOPE_TYPES = ("all", "categories", "products")
PRICE_ACTIONS = (
    "discount_percent",
    "discount_fixed",
    "increase_percent",
    "increase_fixed",
    "set_price",
)
BUNDLE_PRICES = ("fixed_total", "percent_off")
GIFT_TRIGGERS = ("products", "subtotal")
#: 100 % in basis points.
FULL_PERCENT = 10_000


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _audience_check() -> CheckConstraint:
    return CheckConstraint(_one_of("audience_type", AUDIENCE_TYPES), name="audience_type_known")


# The groups and segments each kind of rule is aimed at (``plugin.rules.audience``).
PriceRuleGroup, PriceRuleSegment = audience_links("price_rules", "price_rule_id", "PriceRule")
BundleGroup, BundleSegment = audience_links("bundles", "bundle_id", "Bundle")
GiftRuleGroup, GiftRuleSegment = audience_links("gift_rules", "gift_rule_id", "GiftRule")
BenefitProgrammeGroup, BenefitProgrammeSegment = audience_links(
    "benefit_programmes", "programme_id", "BenefitProgramme"
)


class PriceRule(ShopScoped, Aimed, db.Model):
    """A group price, discount or increase on the unit price of matching lines."""

    __tablename__ = "price_rules"
    __table_args__ = (
        _audience_check(),
        CheckConstraint(_one_of("scope_type", SCOPE_TYPES), name="scope_type_known"),
        CheckConstraint(_one_of("action_type", PRICE_ACTIONS), name="action_type_known"),
        CheckConstraint("action_value >= 0", name="action_value_not_negative"),
        CheckConstraint(
            "action_type <> 'discount_percent' "
            f"OR (action_value > 0 AND action_value <= {FULL_PERCENT})",
            name="discount_percent_range",
        ),
        CheckConstraint(
            "action_type <> 'increase_percent' OR action_value > 0",
            name="increase_percent_positive",
        ),
        CheckConstraint(
            "starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at", name="window_order"
        ),
        Index("ix_price_rules_shop_active", "shop_id", "active"),
        UniqueConstraint("shop_id", "name_key"),
        # What its audience links refer to: the row together with its shop.
        UniqueConstraint("shop_id", "id"),
        NEVER_REUSED,
    )

    __audience_links__ = (PriceRuleGroup, PriceRuleSegment)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    # ``plugin.db.name_key(name)``: unique per shop, so a name is never used twice.
    name_key: Mapped[str] = mapped_column(String(255))
    audience_type: Mapped[str] = mapped_column(String(16), default="all")
    scope_type: Mapped[str] = mapped_column(String(16), default="all")
    # Host ids (strings) of categories or products; empty for "all".
    scope_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    action_type: Mapped[str] = mapped_column(String(32))
    # Basis points for the percent actions, minor units for the others.
    action_value: Mapped[int] = mapped_column(BigInteger)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Bundle(ShopScoped, Aimed, db.Model):
    """Products sold together: a set price or a percentage off per complete set."""

    __tablename__ = "bundles"
    __table_args__ = (
        _audience_check(),
        CheckConstraint(_one_of("price_type", BUNDLE_PRICES), name="price_type_known"),
        CheckConstraint("price_value >= 0", name="price_value_not_negative"),
        CheckConstraint(
            f"price_type <> 'percent_off' OR (price_value > 0 AND price_value <= {FULL_PERCENT})",
            name="percent_off_range",
        ),
        CheckConstraint(
            "max_applications IS NULL OR max_applications >= 1", name="max_applications_positive"
        ),
        Index("ix_bundles_shop_active", "shop_id", "active"),
        UniqueConstraint("shop_id", "name_key"),
        # What its audience links refer to: the row together with its shop.
        UniqueConstraint("shop_id", "id"),
        NEVER_REUSED,
    )

    __audience_links__ = (BundleGroup, BundleSegment)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    # ``plugin.db.name_key(name)``: unique per shop, so a name is never used twice.
    name_key: Mapped[str] = mapped_column(String(255))
    audience_type: Mapped[str] = mapped_column(String(16), default="all")
    price_type: Mapped[str] = mapped_column(String(16))
    # Minor units per set for fixed_total, basis points for percent_off.
    price_value: Mapped[int] = mapped_column(BigInteger)
    max_applications: Mapped[int | None] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    items: Mapped[list[BundleItem]] = relationship(
        order_by="BundleItem.position", cascade="all, delete-orphan", passive_deletes=True
    )


class BundleItem(ShopScoped, db.Model):
    __tablename__ = "bundle_items"
    __table_args__ = (
        UniqueConstraint("bundle_id", "position"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    bundle_id: Mapped[int] = mapped_column(ForeignKey("bundles.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[int] = mapped_column(Integer)


class GiftRule(ShopScoped, Aimed, db.Model):
    """A free product added once when the trigger is met."""

    __tablename__ = "gift_rules"
    __table_args__ = (
        _audience_check(),
        CheckConstraint(_one_of("trigger_type", GIFT_TRIGGERS), name="trigger_type_known"),
        CheckConstraint("trigger_min_quantity >= 1", name="trigger_min_quantity_positive"),
        CheckConstraint("trigger_min >= 0", name="trigger_min_not_negative"),
        CheckConstraint("gift_quantity >= 1", name="gift_quantity_positive"),
        Index("ix_gift_rules_shop_active", "shop_id", "active"),
        UniqueConstraint("shop_id", "name_key"),
        # What its audience links refer to: the row together with its shop.
        UniqueConstraint("shop_id", "id"),
        NEVER_REUSED,
    )

    __audience_links__ = (GiftRuleGroup, GiftRuleSegment)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    # ``plugin.db.name_key(name)``: unique per shop, so a name is never used twice.
    name_key: Mapped[str] = mapped_column(String(255))
    audience_type: Mapped[str] = mapped_column(String(16), default="all")
    trigger_type: Mapped[str] = mapped_column(String(16))
    # ``products`` trigger: that many units in total of these products.
    trigger_product_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    trigger_min_quantity: Mapped[int] = mapped_column(Integer, default=1)
    # ``subtotal`` trigger: minor units.
    trigger_min: Mapped[int] = mapped_column(BigInteger, default=0)
    gift_product_id: Mapped[str] = mapped_column(String(255))
    gift_quantity: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class BenefitProgramme(ShopScoped, Aimed, db.Model):
    """Tiered cart benefits for an audience under conditions; decides loyalty points."""

    __tablename__ = "benefit_programmes"
    __table_args__ = (
        _audience_check(),
        Index("ix_benefit_programmes_shop_active", "shop_id", "active"),
        UniqueConstraint("shop_id", "name_key"),
        # What its audience links refer to: the row together with its shop.
        UniqueConstraint("shop_id", "id"),
        NEVER_REUSED,
    )

    __audience_links__ = (BenefitProgrammeGroup, BenefitProgrammeSegment)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    # ``plugin.db.name_key(name)``: unique per shop, so a name is never used twice.
    name_key: Mapped[str] = mapped_column(String(255))
    audience_type: Mapped[str] = mapped_column(String(16), default="all")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # [{"field", "op", "value"}] as validated by the schema.
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    earns_loyalty_points: Mapped[bool] = mapped_column(default=True)
    combinable_with_codes: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    tiers: Mapped[list[BenefitTier]] = relationship(
        order_by="BenefitTier.min_subtotal", cascade="all, delete-orphan", passive_deletes=True
    )


class BenefitTier(ShopScoped, db.Model):
    """One tier: from ``min_subtotal`` on, its actions apply.

    ``actions`` hold ``{"type", "value"}`` (basis points for ``percent_off_order``, minor
    units for ``fixed_off_order``) or ``{"type": "free_shipping", "carriers", "max_amount"}``.
    """

    __tablename__ = "benefit_tiers"
    __table_args__ = (
        UniqueConstraint("programme_id", "min_subtotal"),
        CheckConstraint("min_subtotal >= 0", name="min_subtotal_not_negative"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("benefit_programmes.id", ondelete="CASCADE")
    )
    min_subtotal: Mapped[int] = mapped_column(BigInteger)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
