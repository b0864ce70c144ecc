"""Step 2 before price rules, price lists; step 3b after bundles, offers (contract §8).

Both are pure functions over the lines, kept out of :mod:`.engine` so that each step
reads on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .cart import CustomerContext, Line
from .result import Adjustment
from .rules import Offer, OfferTarget, PriceEntries, PriceList, in_window

# --------------------------------------------------------------------------- price lists


def price_list_units(
    lines: Sequence[Line],
    price_lists: Sequence[PriceList],
    entries: PriceEntries,
) -> list[tuple[PriceList, int] | None]:
    """Return, per line, the price list that prices it and its unit price, or None.

    ``price_lists`` are those that apply to the customer now, by ``(priority, id)``
    (:meth:`RuleSet.price_lists_for`). A list prices a line when it has an entry for
    the product with a ``min_quantity`` not above the units of that product in the
    whole cart; the first such list wins, with its entry of the greatest such minimum.
    """
    units: dict[str, int] = {}
    for line in lines:
        units[line.product_id] = units.get(line.product_id, 0) + line.quantity
    found: dict[str, tuple[PriceList, int] | None] = {}
    for product_id, quantity in units.items():
        found[product_id] = None
        for price_list in price_lists:
            best: tuple[int, int] | None = None
            for minimum, price in entries.get(price_list.id, {}).get(product_id, ()):
                if minimum <= quantity and (best is None or minimum > best[0]):
                    best = (minimum, price)
            if best is not None:
                found[product_id] = (price_list, best[1])
                break
    return [found[line.product_id] for line in lines]


# --------------------------------------------------------------------------- offers


def _take(order: Sequence[int], units_left: list[int], wanted: int) -> list[tuple[int, int]]:
    """Take ``wanted`` units from the lines of ``order`` in that order; return
    ``(line, units)`` taken, or nothing (and take nothing) when there are not enough."""
    taken: list[tuple[int, int]] = []
    for i in order:
        if not wanted:
            break
        part = min(wanted, units_left[i])
        if part:
            taken.append((i, part))
            wanted -= part
    if wanted:
        return []
    for i, part in taken:
        units_left[i] -= part
    return taken


@dataclass(frozen=True, slots=True)
class _CartIndex:
    """The cart's lines by product id and by category id (built once per cart)."""

    by_product: dict[str, list[int]]
    by_category: dict[str, list[int]]

    @classmethod
    def of(cls, lines: Sequence[Line]) -> _CartIndex:
        by_product: dict[str, list[int]] = {}
        by_category: dict[str, list[int]] = {}
        for i, line in enumerate(lines):
            by_product.setdefault(line.product_id, []).append(i)
            for category_id in set(line.category_ids):
                by_category.setdefault(category_id, []).append(i)
        return cls(by_product, by_category)

    def lines_of(self, target: OfferTarget) -> set[int]:
        """The lines ``target`` matches: look-ups by whichever side is smaller."""
        found: set[int] = set()
        for wanted, index in (
            (target.product_ids, self.by_product),
            (target.category_ids, self.by_category),
        ):
            if len(wanted) <= len(index):
                for key in wanted:
                    found.update(index.get(key, ()))
            else:
                for key, lines in index.items():
                    if key in wanted:
                        found.update(lines)
        return found


def _order(
    cart: _CartIndex, unit_prices: Sequence[int], target: OfferTarget, dearest: bool
) -> list[int]:
    matching = cart.lines_of(target)
    if dearest:
        return sorted(matching, key=lambda i: (-unit_prices[i], i))
    return sorted(matching, key=lambda i: (unit_prices[i], i))


def _get_units(
    offer: Offer, cart: _CartIndex, unit_prices: Sequence[int], left: list[int]
) -> dict[int, int]:
    """Apply one offer as often as it can; return the get units it took, by line.

    One application takes ``buy.quantity`` units most expensive first, then
    ``get.quantity`` other units cheapest first (ties: earlier line). When an
    application took its buy units from one line and its get units from one line,
    the next ones would take the same until one of them runs short: those are taken
    at once, so a line of a million units costs no more than one of two.
    """
    got: dict[int, int] = {}
    buy_order = [i for i in _order(cart, unit_prices, offer.buy, dearest=True) if left[i]]
    if sum(left[i] for i in buy_order) < offer.buy.quantity:
        return got  # not one application: the get side is not even looked at
    get_order = [i for i in _order(cart, unit_prices, offer.get, dearest=False) if left[i]]
    limit = offer.max_applications
    done = 0
    while buy_order and get_order and (limit is None or done < limit):
        bought = _take(buy_order, left, offer.buy.quantity)
        if not bought:
            break
        given = _take(get_order, left, offer.get.quantity)
        if not given:
            for i, part in bought:
                left[i] += part
            break
        for i, part in given:
            got[i] = got.get(i, 0) + part
        done += 1
        if len(bought) == 1 and len(given) == 1:
            (b, bq), (g, gq) = bought[0], given[0]
            more = left[b] // (bq + gq) if b == g else min(left[b] // bq, left[g] // gq)
            if limit is not None:
                more = min(more, limit - done)
            left[b] -= more * bq
            left[g] -= more * gq
            if more:
                got[g] = got.get(g, 0) + more * gq
            done += more
    return got


def apply_offers(
    lines: Sequence[Line],
    unit_prices: Sequence[int],
    units_left: list[int],
    offers: Sequence[Offer],
    customer: CustomerContext,
    now: datetime,
    adjustments: list[list[Adjustment]],
) -> list[int]:
    """Apply the offers in ``(priority, id)`` order to the units no bundle took
    (``units_left``, taken from as offers use them); return each line's offer discount.

    A get unit's discount is of its price after steps 2 and 3 (``unit_prices``);
    one adjustment per line and offer.
    """
    discounts = [0] * len(lines)
    cart = _CartIndex.of(lines)
    for offer in offers:
        if not in_window(offer.starts_at, offer.ends_at, now) or not offer.audience.matches(
            customer
        ):
            continue
        got = _get_units(offer, cart, unit_prices, units_left)
        for i, units in sorted(got.items()):
            amount = units * offer.discount.per_unit(unit_prices[i])
            if amount:
                discounts[i] += amount
                adjustments[i].append(Adjustment("offer", offer.name, -amount, offer_id=offer.id))
    return discounts
