"""Products and categories by their titles (contract v2 §8: "the admin shows products and
categories by title wherever it shows them"), the id where the catalogue does not know it.

A view collects the ids a page shows and asks once (:func:`names_for`); templates render
them with the macros of ``customer_groups/_catalogue.html``::

    {% import "customer_groups/_catalogue.html" as catalogue %}
    {{ catalogue.product(names, "p_lamp") }}   {{ catalogue.categories(names, ids) }}

Where one is chosen, the field takes ``data-picker="products"`` (or ``categories``;
``data-picker-multiple`` for a list): ``static/picker.js`` makes it a searchable picker
(see /work/helpers/picker.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from plugin.catalogue import operations
from plugin.shops.models import Shop


@dataclass(frozen=True)
class Names:
    """Titles of the products and categories a page shows (id → title)."""

    products: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)

    def product(self, product_id: str) -> str | None:
        return self.products.get(product_id)

    def category(self, category_id: str) -> str | None:
        return self.categories.get(category_id)


def names_for(
    shop: Shop, product_ids: Iterable[str] = (), category_ids: Iterable[str] = ()
) -> Names:
    """The titles of ``product_ids`` and ``category_ids`` the catalogue knows: two queries."""
    return Names(
        operations.product_titles(shop, [i for i in product_ids if isinstance(i, str)]),
        operations.category_titles(shop, [i for i in category_ids if isinstance(i, str)]),
    )


def ids_in(value: Any) -> list[str]:
    """The ids of a value that may be one id, a list of them, or a comma-separated text."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [item for item in value if isinstance(item, str)]
    return []
