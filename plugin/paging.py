"""Lists, one page at a time: the ``page`` and ``per_page`` parameters, the page of a query,
and the envelope every list answers (contract §5: ``{"items", "total", "page",
"per_page"}``).

Core: imports nothing of ours but the database session and the input limits, so every
feature and edge pages the same way.
"""

from __future__ import annotations

from typing import Any, Generic, TypedDict, TypeVar

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import Select, func, select

from plugin.db import db
from plugin.limits import MAX_INTEGER

T = TypeVar("T")

#: The most items one page of a list holds (the admin pages ask for that many to mean
#: "every one").
MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 50


class PageParams(Schema):
    """``page`` and ``per_page`` of every list: positive, and ``page × per_page`` within
    ±(2^53 − 1) so that the offset is a number every database takes."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_INTEGER))
    per_page = fields.Integer(
        load_default=DEFAULT_PER_PAGE, validate=validate.Range(min=1, max=MAX_PER_PAGE)
    )

    @validates_schema
    def _offset_in_range(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("page", 1) * data.get("per_page", DEFAULT_PER_PAGE) > MAX_INTEGER:
            raise ValidationError(
                f"page × per_page must stay within {MAX_INTEGER}.", field_name="page"
            )


class PageQuery(PageParams):
    """``page`` and ``per_page`` and nothing else: another query parameter is a 422."""

    class Meta:
        unknown = RAISE


class Page(TypedDict, Generic[T]):
    """One page of a list, as every list answers it."""

    items: list[T]
    total: int
    page: int
    per_page: int


def paginate(query: Select[Any], page: int, per_page: int) -> Page[Any]:
    """The ``page``-th ``per_page`` rows of ``query`` (which orders them) and how many rows
    it has in all. A query of one column gives its values (``select(Group)``: groups);
    of several, the rows (``select(Run, Customer.external_id)``: pairs)."""
    total = db.session.execute(
        select(func.count()).select_from(query.order_by(None).subquery())
    ).scalar_one()
    result = db.session.execute(query.limit(per_page).offset((page - 1) * per_page))
    if len(query.column_descriptions) == 1:
        items: list[Any] = list(result.scalars())
    else:
        items = [tuple(row) for row in result]
    return {"items": items, "total": total, "page": page, "per_page": per_page}


def page_of(item_schema: type[Schema]) -> type[Schema]:
    """The schema of a page of ``item_schema``; ``GroupOut`` → ``GroupPage``."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema)),
            "total": fields.Integer(),
            "page": fields.Integer(),
            "per_page": fields.Integer(),
        },
        name=f"{item_schema.__name__.removesuffix('Out')}Page",
    )
