"""``/api/products`` and ``/api/categories`` (contract v2 §8, "Catalogue"): the catalogue
the host keeps us told of, searched by title or id ignoring case and accents."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from plugin.api.blueprint import api_blueprint
from plugin.apidoc import document
from plugin.catalogue import operations
from plugin.catalogue.schemas import CatalogueQuery, CategoryPage, ProductPage
from plugin.sessions import current_shop


def _query() -> dict[str, Any]:
    loaded: dict[str, Any] = CatalogueQuery().load(request.args.to_dict())
    ids = loaded.pop("ids")
    loaded["ids"] = None if ids is None else operations.split_ids(ids)
    return loaded


@api_blueprint.get("/products")
@document(
    "The shop's products, by title; q finds a title or id containing it, ignoring case and "
    "accents; ids (comma separated) gives exactly those the catalogue knows.",
    query=CatalogueQuery,
    response=ProductPage,
)
def list_products() -> ResponseReturnValue:
    return jsonify(ProductPage().dump(operations.list_products(current_shop(), **_query())))


@api_blueprint.get("/categories")
@document(
    "The shop's categories, by title; q finds a title or id containing it, ignoring case "
    "and accents; ids (comma separated) gives exactly those the catalogue knows.",
    query=CatalogueQuery,
    response=CategoryPage,
)
def list_categories() -> ResponseReturnValue:
    return jsonify(CategoryPage().dump(operations.list_categories(current_shop(), **_query())))
