"""Payloads of the catalogue webhooks (contract v2 §8) and what the admin API answers."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_load, validate

from plugin.catalogue.models import KINDS
from plugin.fields import HostId, Payload, StrictInteger, Timestamp
from plugin.paging import PageParams, page_of

#: At most this many categories per product (a body holding more is refused, naming it).
MAX_CATEGORIES = 1000


class Title(fields.String):
    """A title: 1–255 characters once trimmed (``plugin.limits`` already refused NULs)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Length(min=1, max=255), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip()


class ProductSchema(Payload):
    id = HostId(required=True)
    title = Title(required=True)
    kind = fields.String(load_default="product", validate=validate.OneOf(KINDS))
    category_ids = fields.List(
        HostId(), load_default=list, validate=validate.Length(max=MAX_CATEGORIES)
    )
    price = StrictInteger(required=True, validate=validate.Range(min=0))
    active = fields.Boolean(load_default=True)

    @post_load
    def _once_each(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # A category named twice is kept once, where it first comes: refusing the product
        # would lose it (the host does not retry a 400).
        data["category_ids"] = list(dict.fromkeys(data["category_ids"]))
        return data


class ProductEventSchema(Payload):
    """``product/created``, ``product/updated``: the product's full snapshot."""

    product = fields.Nested(ProductSchema, required=True)


class ProductDeletedSchema(Payload):
    product_id = HostId(required=True)


class CategorySchema(Payload):
    id = HostId(required=True)
    title = Title(required=True)
    parent_id = HostId(allow_none=True, load_default=None)


class CategoryEventSchema(Payload):
    """``category/created``, ``category/updated``: the category's full snapshot."""

    category = fields.Nested(CategorySchema, required=True)


class CategoryDeletedSchema(Payload):
    category_id = HostId(required=True)


class CatalogueQuery(PageParams):
    """``q`` (title or id, ignoring case and accents), ``ids`` (exactly these, comma
    separated: how a page shows the titles of what it already holds), ``page``, ``per_page``."""

    class Meta:
        unknown = "raise"

    q = fields.String(load_default="", validate=validate.Length(max=255))
    ids = fields.String(load_default=None, validate=validate.Length(max=100_000))


class ProductOut(Schema):
    id = fields.String(attribute="external_id")
    title = fields.String()
    kind = fields.String()
    category_ids = fields.List(fields.String())
    price = fields.Integer()
    active = fields.Boolean()
    updated_at = Timestamp()


class CategoryOut(Schema):
    id = fields.String(attribute="external_id")
    title = fields.String()
    parent_id = fields.String(allow_none=True)
    updated_at = Timestamp()


ProductPage = page_of(ProductOut)
CategoryPage = page_of(CategoryOut)
