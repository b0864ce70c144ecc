"""Audiences kept as rows: the groups or segments a rule or discount is aimed at.

An audience is ``{"type": "all" | "guests" | "groups" | "segments", "ids": [...]}`` in the
API (contract §4). ``audience_type`` is a column of the rule or discount; its ids are rows
of two link tables per kind of owner, one for groups and one for segments, e.g.
``price_rule_groups(shop_id, price_rule_id, group_id)``. Each link has two foreign keys,
both with the shop in them and both ``ON DELETE CASCADE``:

- ``(shop_id, price_rule_id) → price_rules (shop_id, id)`` and
  ``(shop_id, group_id) → groups (shop_id, id)``: a rule is aimed only at groups and
  segments of its own shop, whatever writes the rows;
- deleting a group or segment takes it out of every audience aimed at it, in the deleting
  transaction. An audience of groups (or segments) left with none matches nobody: it never
  widens to everyone, and is shown as ``{"type": "groups", "ids": []}`` until the merchant
  aims it again;
- deleting the rule or discount deletes its links.

Ids of groups and segments are never handed out again (``sqlite_autoincrement`` on SQLite,
sequences on PostgreSQL), so an id read before a delete cannot come to mean another group.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext
from typing import Any, ClassVar

from sqlalchemy import ForeignKeyConstraint, Integer
from sqlalchemy.orm import (
    Mapped,
    declared_attr,
    mapped_column,
    object_session,
    relationship,
    selectinload,
)

from plugin.db import db

#: What an audience's ids are, and what deletes do to them (for the OpenAPI document).
AUDIENCE_IDS = (
    "The groups or segments it is aimed at, ascending. Deleting a group or segment takes it "
    "out of every audience aimed at it (a foreign key); an audience of groups or segments "
    "left with none (ids []) matches nobody, never everyone."
)

#: Audience types whose ids are links, and the table and column each one points to.
TARGETS = {"groups": ("groups", "group_id"), "segments": ("segments", "segment_id")}


def audience_links(owner_table: str, owner_column: str, name: str) -> tuple[type[Any], type[Any]]:
    """The two link models of an owner table: ``{Name}Group`` and ``{Name}Segment``, in
    tables ``{owner}_groups`` and ``{owner}_segments`` (``owner_column`` without ``_id``)."""
    prefix = owner_column.removesuffix("_id")
    made = []
    for kind, (target_table, target_column) in TARGETS.items():
        namespace = {
            "__tablename__": f"{prefix}_{kind}",
            "__table_args__": (
                ForeignKeyConstraint(
                    ["shop_id", owner_column],
                    [f"{owner_table}.shop_id", f"{owner_table}.id"],
                    ondelete="CASCADE",
                ),
                ForeignKeyConstraint(
                    ["shop_id", target_column],
                    [f"{target_table}.shop_id", f"{target_table}.id"],
                    ondelete="CASCADE",
                ),
            ),
            "__doc__": f"One {kind[:-1]} of the audience of a row of ``{owner_table}``.",
            "shop_id": mapped_column(Integer, nullable=False),
            owner_column: mapped_column(Integer, primary_key=True),
            # Indexed for the cascade: deleting a group finds its links by this column.
            target_column: mapped_column(Integer, primary_key=True, index=True),
        }
        made.append(type(f"{name}{kind[:-1].title()}", (db.Model,), namespace))
    return made[0], made[1]


class Aimed:
    """A row with an audience: ``audience_type`` (a column of the model) and its links.

    The model names its two link models (:func:`audience_links`) in ``__audience_links__``;
    it needs ``UniqueConstraint("shop_id", "id")`` for their foreign keys.
    """

    __audience_links__: ClassVar[tuple[type[Any], type[Any]]]
    audience_type: Mapped[str]

    @declared_attr
    def group_links(cls) -> Mapped[list[Any]]:
        return relationship(
            cls.__audience_links__[0], cascade="all, delete-orphan", passive_deletes=True
        )

    @declared_attr
    def segment_links(cls) -> Mapped[list[Any]]:
        return relationship(
            cls.__audience_links__[1], cascade="all, delete-orphan", passive_deletes=True
        )

    @property
    def audience_ids(self) -> list[int]:
        """The ids of the audience's groups or segments, ascending (none for all/guests)."""
        if self.audience_type == "groups":
            return sorted(link.group_id for link in self.group_links)
        if self.audience_type == "segments":
            return sorted(link.segment_id for link in self.segment_links)
        return []

    def aim(self, kind: str, ids: Iterable[int] = ()) -> None:
        """Aim at everyone, guests, or these groups or segments of the row's shop (the
        caller checks they are the shop's; the foreign keys refuse any other)."""
        wanted = sorted(set(ids)) if kind in TARGETS else []
        group_link, segment_link = self.__audience_links__
        # Both read before either changes, without flushing what is pending (a lazy load
        # would flush the row's other changes, e.g. a name that a unique index refuses,
        # outside the caller's savepoint: a 500 instead of the 422 of unique_name).
        session = object_session(self)
        with session.no_autoflush if session is not None else nullcontext():
            groups, segments = list(self.group_links), list(self.segment_links)
        self.audience_type = kind
        self.group_links = _relinked(groups, group_link, "group_id", wanted, kind == "groups")
        self.segment_links = _relinked(
            segments, segment_link, "segment_id", wanted, kind == "segments"
        )


def _relinked(
    current: list[Any], link: type[Any], column: str, ids: list[int], wanted: bool
) -> list[Any]:
    """The links for ``ids`` (none unless ``wanted``): those already there kept, others new."""
    kept = {getattr(row, column): row for row in current}
    return [kept.get(i) or link(**{column: i}) for i in ids] if wanted else []


def audience_loaded(model: type[Aimed]) -> tuple[Any, ...]:
    """Query options that load the audiences of many rows in two queries (for lists)."""
    return (selectinload(model.group_links), selectinload(model.segment_links))
