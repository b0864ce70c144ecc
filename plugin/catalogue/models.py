"""The shop's catalogue as the host tells it (contract v2 §8, "Catalogue"): products and
categories by their host ids, kept from the ``product/*`` and ``category/*`` webhooks.

Only the admin reads it (titles instead of ids, searchable pickers). Pricing never does:
carts carry their own categories and prices, and a product the catalogue does not know is
priced all the same. A product may name categories the catalogue does not know (yet), so
its categories are rows of ``product_categories`` holding the host's category id, without
a foreign key to ``categories``; a category's parent likewise.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from plugin.db import NEVER_REUSED, ShopScoped, UtcDateTime, db, utcnow

KINDS = ("product", "service")


class Product(ShopScoped, db.Model):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("shop_id", "external_id"),
        CheckConstraint("kind IN ('product', 'service')", name="kind_known"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        Index("ix_products_shop_title_key", "shop_id", "title_key"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255))
    # ``plugin.catalogue.search.search_key`` of the title and of the id: what a search
    # compares with, the same on SQLite and PostgreSQL (no database folding).
    title_key: Mapped[str] = mapped_column(String(1024))
    id_key: Mapped[str] = mapped_column(String(1024))
    kind: Mapped[str] = mapped_column(String(16), default="product")
    price: Mapped[int] = mapped_column(BigInteger, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    categories: Mapped[list[ProductCategory]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ProductCategory.position",
        lazy="selectin",
    )

    @property
    def category_ids(self) -> list[str]:
        return [link.category_id for link in self.categories]


class ProductCategory(ShopScoped, db.Model):
    """One category a product is in, by the host's category id, in the order sent."""

    __tablename__ = "product_categories"
    __table_args__ = (Index("ix_product_categories_shop_category", "shop_id", "category_id"),)

    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    category_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)


class Category(ShopScoped, db.Model):
    __tablename__ = "categories"
    __table_args__ = (
        UniqueConstraint("shop_id", "external_id"),
        Index("ix_categories_shop_title_key", "shop_id", "title_key"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255))
    title_key: Mapped[str] = mapped_column(String(1024))
    id_key: Mapped[str] = mapped_column(String(1024))
    # The parent's host id (it may be a category the catalogue does not know yet).
    parent_id: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
