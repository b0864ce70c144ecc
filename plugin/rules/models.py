"""Price rules, bundles, gift rules, benefit programmes, price lists and offers as the
merchant set them up.

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
    ForeignKeyConstraint,
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
#: Price lists may also be aimed at customers by the host's ids (contract §8).
PRICE_LIST_AUDIENCE_TYPES = (*AUDIENCE_TYPES, "customers")
OFFER_TARGETS = ("products", "categories")
OFFER_DISCOUNTS = ("percent", "free")
GIFT_TRIGGERS = ("products", "subtotal")
#: 100 % in basis points.
FULL_PERCENT = 10_000


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _audience_check(types: tuple[str, ...] = AUDIENCE_TYPES) -> CheckConstraint:
    return CheckConstraint(_one_of("audience_type", types), name="audience_type_known")


def _window_check() -> CheckConstraint:
    return CheckConstraint(
        "starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at", name="window_order"
    )


# The groups and segments each kind of rule is aimed at (``plugin.rules.audience``).
PriceRuleGroup, PriceRuleSegment = audience_links("price_rules", "price_rule_id", "PriceRule")
BundleGroup, BundleSegment = audience_links("bundles", "bundle_id", "Bundle")
GiftRuleGroup, GiftRuleSegment = audience_links("gift_rules", "gift_rule_id", "GiftRule")
BenefitProgrammeGroup, BenefitProgrammeSegment = audience_links(
    "benefit_programmes", "programme_id", "BenefitProgramme"
)
PriceListGroup, PriceListSegment = audience_links("price_lists", "price_list_id", "PriceList")
OfferGroup, OfferSegment = audience_links("offers", "offer_id", "Offer")


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
        _window_check(),
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
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
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
        _window_check(),
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
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class BenefitProgramme(ShopScoped, Aimed, db.Model):
    """Tiered cart benefits for an audience under conditions; decides loyalty points."""

    __tablename__ = "benefit_programmes"
    __table_args__ = (
        _audience_check(),
        _window_check(),
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
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
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


class PriceList(ShopScoped, Aimed, db.Model):
    """Prices per product and minimum quantity for an audience (contract §8, step 2).

    Its audience may also be ``customers``: rows of ``price_list_customers`` naming
    customers by the host's ids, each a foreign key to ``customers``.
    """

    __tablename__ = "price_lists"
    __table_args__ = (
        _audience_check(PRICE_LIST_AUDIENCE_TYPES),
        _window_check(),
        Index("ix_price_lists_shop_active", "shop_id", "active"),
        UniqueConstraint("shop_id", "name_key"),
        # What its audience links and entries refer to: the row together with its shop.
        UniqueConstraint("shop_id", "id"),
        NEVER_REUSED,
    )

    __audience_links__ = (PriceListGroup, PriceListSegment)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    # ``plugin.db.name_key(name)``: unique per shop, so a name is never used twice.
    name_key: Mapped[str] = mapped_column(String(255))
    audience_type: Mapped[str] = mapped_column(String(16), default="all")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    customer_links: Mapped[list[PriceListCustomer]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def audience_ids(self) -> list[Any]:  # type: ignore[override]
        """Group or segment ids ascending, or the host's customer ids in name order."""
        if self.audience_type == "customers":
            return sorted(link.customer_id for link in self.customer_links)
        return Aimed.audience_ids.fget(self)  # type: ignore[attr-defined,no-any-return]

    def aim_at_customers(self, external_ids: list[str]) -> None:
        """Aim at these customers (the caller checks they are the shop's customers)."""
        self.aim("customers")
        kept = {link.customer_id: link for link in self.customer_links}
        self.customer_links = [
            kept.get(i) or PriceListCustomer(shop_id=self.shop_id, customer_id=i)
            for i in sorted(set(external_ids))
        ]


class PriceListCustomer(db.Model):
    """One customer of a price list's ``customers`` audience, by the host's id.

    Both foreign keys hold the shop: a list is aimed only at customers of its own shop, and
    deleting the customer or the list deletes the link.
    """

    __tablename__ = "price_list_customers"
    __table_args__ = (
        ForeignKeyConstraint(
            ["shop_id", "price_list_id"],
            ["price_lists.shop_id", "price_lists.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["shop_id", "customer_id"],
            ["customers.shop_id", "customers.external_id"],
            ondelete="CASCADE",
        ),
        # For the cascade: deleting a customer finds its links by these columns.
        Index("ix_price_list_customers_customer", "shop_id", "customer_id"),
    )

    shop_id: Mapped[int] = mapped_column(Integer)
    price_list_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(255), primary_key=True)


class PriceListEntry(ShopScoped, db.Model):
    """One price of a list: ``price`` per unit from ``min_quantity`` units of the product
    in the cart. One entry per product and minimum: the primary key, which is also the
    index the checkout reads by (list, product)."""

    __tablename__ = "price_list_entries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["shop_id", "price_list_id"],
            ["price_lists.shop_id", "price_lists.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("min_quantity >= 1", name="min_quantity_positive"),
        CheckConstraint("price >= 0", name="price_not_negative"),
    )

    shop_id: Mapped[int] = mapped_column(Integer)
    price_list_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    min_quantity: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    price: Mapped[int] = mapped_column(BigInteger)


class Offer(ShopScoped, Aimed, db.Model):
    """Buy X get Y (contract §8, step 3b): ``buy_quantity`` units of the buy products or
    categories give ``get_quantity`` other units of the get ones a discount."""

    __tablename__ = "offers"
    __table_args__ = (
        _audience_check(),
        _window_check(),
        CheckConstraint(_one_of("buy_type", OFFER_TARGETS), name="buy_type_known"),
        CheckConstraint(_one_of("get_type", OFFER_TARGETS), name="get_type_known"),
        CheckConstraint("buy_quantity >= 1", name="buy_quantity_positive"),
        CheckConstraint("get_quantity >= 1", name="get_quantity_positive"),
        CheckConstraint(_one_of("discount_type", OFFER_DISCOUNTS), name="discount_type_known"),
        CheckConstraint(
            "discount_type <> 'percent' "
            f"OR (discount_value > 0 AND discount_value <= {FULL_PERCENT})",
            name="discount_percent_range",
        ),
        CheckConstraint(
            "max_applications IS NULL OR max_applications >= 1", name="max_applications_positive"
        ),
        Index("ix_offers_shop_active", "shop_id", "active"),
        UniqueConstraint("shop_id", "name_key"),
        # What its audience links refer to: the row together with its shop.
        UniqueConstraint("shop_id", "id"),
        NEVER_REUSED,
    )

    __audience_links__ = (OfferGroup, OfferSegment)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    # ``plugin.db.name_key(name)``: unique per shop, so a name is never used twice.
    name_key: Mapped[str] = mapped_column(String(255))
    audience_type: Mapped[str] = mapped_column(String(16), default="all")
    buy_type: Mapped[str] = mapped_column(String(16))
    # Host ids of products or categories.
    buy_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    buy_quantity: Mapped[int] = mapped_column(Integer)
    get_type: Mapped[str] = mapped_column(String(16))
    get_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    get_quantity: Mapped[int] = mapped_column(Integer)
    discount_type: Mapped[str] = mapped_column(String(16))
    # Basis points for ``percent``; null for ``free``.
    discount_value: Mapped[int | None] = mapped_column(Integer)
    max_applications: Mapped[int | None] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
