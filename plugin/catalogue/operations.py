"""Keeping the catalogue from the host's webhooks, and finding in it for the admin.

Each ``created``/``updated`` webhook carries the whole product or category: it is written
as sent, whether or not an earlier one arrived (an ``updated`` before its ``created`` is
taken all the same). Two deliveries racing for the same new id both end in one row: the
insert skips on the unique key and the loser updates.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, case, delete, insert, or_, select, update

from plugin.catalogue.models import Category, Product, ProductCategory
from plugin.catalogue.search import search_key
from plugin.db import db, for_shop, insert_ignoring_conflict, utcnow
from plugin.paging import Page, paginate
from plugin.shops.models import Shop

#: At most this many ids in one ``ids=`` lookup.
MAX_IDS = 1000


def _upsert(model: Any, shop: Shop, external_id: str, values: dict[str, Any]) -> int:
    """Write the row of ``external_id`` with ``values``; its id."""
    values = {**values, "updated_at": utcnow()}
    if not insert_ignoring_conflict(
        model.__table__, {"shop_id": shop.id, "external_id": external_id, **values}
    ):
        db.session.execute(
            update(model)
            .where(model.external_id == external_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    row_id: int = db.session.execute(
        select(model.id).where(model.external_id == external_id)
    ).scalar_one()
    return row_id


def upsert_product(shop: Shop, data: dict[str, Any]) -> int:
    """``product/created``, ``product/updated``: the product as sent, categories included."""
    product_id = _upsert(
        Product,
        shop,
        data["id"],
        {
            "title": data["title"],
            "title_key": search_key(data["title"]),
            "id_key": search_key(data["id"]),
            "kind": data["kind"],
            "price": data["price"],
            "active": data["active"],
        },
    )
    db.session.execute(
        delete(ProductCategory)
        .where(ProductCategory.product_id == product_id)
        .execution_options(synchronize_session=False)
    )
    if data["category_ids"]:
        db.session.execute(
            insert(ProductCategory),
            [
                {
                    "shop_id": shop.id,
                    "product_id": product_id,
                    "category_id": category,
                    "position": position,
                }
                for position, category in enumerate(data["category_ids"])
            ],
        )
    return product_id


def delete_product(shop: Shop, external_id: str) -> bool:
    """``product/deleted``: forget the product (rules naming it keep its id)."""
    deleted = db.session.execute(
        delete(Product)
        .where(Product.external_id == external_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(deleted)


def upsert_category(shop: Shop, data: dict[str, Any]) -> int:
    """``category/created``, ``category/updated``: the category as sent."""
    return _upsert(
        Category,
        shop,
        data["id"],
        {
            "title": data["title"],
            "title_key": search_key(data["title"]),
            "id_key": search_key(data["id"]),
            "parent_id": data["parent_id"],
        },
    )


def delete_category(shop: Shop, external_id: str) -> bool:
    """``category/deleted``: forget the category (products keep naming it by id)."""
    deleted = db.session.execute(
        delete(Category)
        .where(Category.external_id == external_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(deleted)


def split_ids(text: str | None) -> list[str]:
    """``"a, b,,c"`` → ``["a", "b", "c"]`` (the ``ids=`` parameter), at most :data:`MAX_IDS`."""
    if not text:
        return []
    return list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))[:MAX_IDS]


def _found(model: Any, shop: Shop, q: str, ids: list[str] | None) -> Select[Any]:
    query = for_shop(model, shop.id)
    if ids is not None:
        query = query.where(model.external_id.in_(ids))
    term = search_key(q)
    if term:
        query = query.where(
            or_(
                model.title_key.contains(term, autoescape=True),
                model.id_key.contains(term, autoescape=True),
            )
        )
        # The product whose id is the term comes first, then by title.
        return query.order_by(
            case((model.id_key == term, 0), else_=1), model.title_key, model.external_id
        )
    return query.order_by(model.title_key, model.external_id)


def list_products(
    shop: Shop, q: str = "", ids: list[str] | None = None, page: int = 1, per_page: int = 50
) -> Page[Product]:
    """Products whose title or id contains ``q`` (ignoring case and accents), by title."""
    return paginate(_found(Product, shop, q, ids), page, per_page)


def list_categories(
    shop: Shop, q: str = "", ids: list[str] | None = None, page: int = 1, per_page: int = 50
) -> Page[Category]:
    """Categories whose title or id contains ``q`` (ignoring case and accents), by title."""
    return paginate(_found(Category, shop, q, ids), page, per_page)


def _titles(model: Any, shop: Shop, ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted({i for i in ids if i})
    titles: dict[str, str] = {}
    for start in range(0, len(wanted), MAX_IDS):
        chunk = wanted[start : start + MAX_IDS]
        titles.update(
            db.session.execute(
                select(model.external_id, model.title).where(model.external_id.in_(chunk))
            ).all()
        )
    return titles


def product_titles(shop: Shop, ids: Iterable[str]) -> dict[str, str]:
    """The titles of the products among ``ids`` the catalogue knows (id → title)."""
    return _titles(Product, shop, ids)


def category_titles(shop: Shop, ids: Iterable[str]) -> dict[str, str]:
    """The titles of the categories among ``ids`` the catalogue knows (id → title)."""
    return _titles(Category, shop, ids)
