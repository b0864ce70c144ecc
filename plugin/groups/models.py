"""Customer groups: every registered customer is in exactly one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from plugin.db import NEVER_REUSED, ShopScoped, UtcDateTime, db, utcnow

DEFAULT_GROUP_NAME = "Standard"
DEFAULT_GROUP_COLOUR = "#9e9e9e"
#: The foreign key of an automatic group's segment (name as errors report it).
AUTO_SEGMENT_KEY = "fk_groups_auto_segment_id_segments"


class Group(ShopScoped, db.Model):
    __tablename__ = "groups"
    __table_args__ = (
        UniqueConstraint("shop_id", "name_key"),
        CheckConstraint("length(colour) = 7", name="colour_format"),
        # One default group per shop, enforced by the database.
        Index(
            "uq_groups_one_default_per_shop",
            "shop_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
        # What audience links refer to: the row together with its shop.
        UniqueConstraint("shop_id", "id"),
        # An automatic group's segment is one of its shop's; deleting it is refused while
        # a group uses it (plugin.segments.operations.delete_segment answers 409 first).
        ForeignKeyConstraint(
            ["shop_id", "auto_segment_id"],
            ["segments.shop_id", "segments.id"],
            name=AUTO_SEGMENT_KEY,
        ),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    # The name folded for the case-insensitive uniqueness rule.
    name_key: Mapped[str] = mapped_column(String(255))  # folding can lengthen a name
    colour: Mapped[str] = mapped_column(String(7), default=DEFAULT_GROUP_COLOUR)
    is_default: Mapped[bool] = mapped_column(default=False)
    # Automatic groups (contract §8): an unlocked customer belongs to the group of lowest
    # (auto_priority, id) among those whose segment they are in, else to the default.
    auto_segment_id: Mapped[int | None] = mapped_column(index=True)
    auto_priority: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
