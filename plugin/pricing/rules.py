"""The merchant's rules as the engine sees them, and an indexed snapshot of them.

A caller loads the shop's rules once (price rules, bundles, gift rules, benefit
programmes), builds a :class:`RuleSet` and may reuse it for many carts: the
snapshot is immutable and all sorting and indexing happens in
:meth:`RuleSet.build`, so a call only looks at the price rules that can touch
the cart's products and categories.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from .cart import CustomerContext
from .money import percent_of, price_factor, to_percent
from .text import text_key

AudienceType = Literal["all", "guests", "groups", "segments", "customers"]
AUDIENCE_TYPES: frozenset[str] = frozenset({"all", "guests", "groups", "segments", "customers"})

# An audience key names one way of being in an audience: ("all", 0),
# ("guests", 0), ("groups", group id) or ("segments", segment id). A ``customers``
# audience (price lists, contract §8) has no key: nothing indexed by key is aimed at one.
AudienceKey = tuple[str, int]


def require_aware(moment: datetime | None, what: str) -> None:
    """Refuse naive datetimes: every instant the engine compares is aware (UTC)."""
    if moment is not None and moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, not a naive one")


def in_window(starts_at: datetime | None, ends_at: datetime | None, now: datetime) -> bool:
    """Tell whether ``now`` is in ``[starts_at, ends_at)``; None ends are open."""
    return (starts_at is None or starts_at <= now) and (ends_at is None or now < ends_at)


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a rule is for: everyone, guests, any of some groups or any of some segments, or
    (price lists, contract §8) some registered customers named by the host's
    ``customer_ids``."""

    type: AudienceType = "all"
    ids: frozenset[int] = frozenset()
    customer_ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.type not in AUDIENCE_TYPES:
            raise ValueError(f"unknown audience type {self.type!r}")
        object.__setattr__(self, "ids", frozenset(self.ids))
        object.__setattr__(self, "customer_ids", frozenset(self.customer_ids))

    def matches(self, customer: CustomerContext) -> bool:
        """Tell whether ``customer`` is in this audience (a guest is in no group or segment)."""
        if self.type == "all":
            return True
        if self.type == "guests":
            return customer.is_guest
        if customer.is_guest:
            return False
        if self.type == "groups":
            return customer.group is not None and customer.group.id in self.ids
        if self.type == "customers":
            return customer.customer_id in self.customer_ids
        return not self.ids.isdisjoint(customer.segment_ids)

    def keys(self) -> tuple[AudienceKey, ...]:
        """Return the audience keys under which a rule for this audience is indexed."""
        if self.type in ("all", "guests"):
            return ((self.type, 0),)
        if self.type == "customers":
            return ()
        return tuple((self.type, i) for i in sorted(self.ids))


def customer_keys(customer: CustomerContext) -> tuple[AudienceKey, ...]:
    """Return the audience keys ``customer`` belongs to (see :meth:`Audience.keys`)."""
    if customer.is_guest:
        return (("all", 0), ("guests", 0))
    keys: list[AudienceKey] = [("all", 0)]
    if customer.group is not None:
        keys.append(("groups", customer.group.id))
    keys.extend(("segments", i) for i in sorted(customer.segment_ids))
    return tuple(keys)


# --------------------------------------------------------------------------- price rules

ScopeType = Literal["all", "categories", "products"]
PriceActionType = Literal[
    "discount_percent", "discount_fixed", "increase_percent", "increase_fixed", "set_price"
]
PERCENT_ACTIONS: frozenset[str] = frozenset({"discount_percent", "increase_percent"})
FIXED_ACTIONS: frozenset[str] = frozenset({"discount_fixed", "increase_fixed", "set_price"})


def _as_amount(value: int | Decimal, what: str) -> int:
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"{what} must be a whole number of minor units, not {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class Scope:
    """What a price rule touches: all products, some categories or some products."""

    type: ScopeType = "all"
    ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in ("all", "categories", "products"):
            raise ValueError(f"unknown scope type {self.type!r}")


@dataclass(frozen=True, slots=True)
class PriceAction:
    """What a price rule does to the unit price.

    ``value`` is a Decimal percent for ``discount_percent`` / ``increase_percent``
    and an int in minor units for the others; it is normalised on creation.
    """

    type: PriceActionType
    value: int | Decimal
    #: For a percent action, ``(100 ∓ value) / 100`` as an exact fraction of integers
    #: (``money.price_factor``): the unit price is multiplied by it without a Decimal.
    factor: tuple[int, int] | None = dataclass_field(
        default=None, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.type in PERCENT_ACTIONS:
            percent = to_percent(self.value)
            object.__setattr__(self, "value", percent)
            increase = self.type == "increase_percent"
            object.__setattr__(self, "factor", price_factor(percent, increase))
        elif self.type in FIXED_ACTIONS:
            object.__setattr__(self, "value", _as_amount(self.value, f"{self.type} value"))
        else:
            raise ValueError(f"unknown price action {self.type!r}")

    @property
    def percent(self) -> Decimal:
        """The value of a percent action."""
        if not isinstance(self.value, Decimal):
            raise TypeError(f"{self.type} has no percent value")
        return self.value

    @property
    def amount(self) -> int:
        """The value, in minor units, of a fixed action or ``set_price``."""
        if isinstance(self.value, Decimal):
            raise TypeError(f"{self.type} has no amount value")
        return self.value


@dataclass(frozen=True, slots=True)
class PriceRule:
    """A group price, discount or increase on the unit price of matching lines."""

    id: int
    name: str
    audience: Audience
    scope: Scope
    action: PriceAction
    priority: int = 0
    active: bool = True
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.starts_at, f"price rule {self.id} starts_at")
        require_aware(self.ends_at, f"price rule {self.id} ends_at")

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.priority, self.id)


# --------------------------------------------------------------------------- bundles

BundlePriceType = Literal["fixed_total", "percent_off"]


@dataclass(frozen=True, slots=True)
class BundleItem:
    product_id: str
    quantity: int

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise ValueError(f"bundle item {self.product_id}: quantity must be >= 1")


@dataclass(frozen=True, slots=True)
class BundlePrice:
    """``fixed_total`` (int minor units per set) or ``percent_off`` (Decimal percent)."""

    type: BundlePriceType
    value: int | Decimal

    def __post_init__(self) -> None:
        if self.type == "percent_off":
            object.__setattr__(self, "value", to_percent(self.value))
        elif self.type == "fixed_total":
            object.__setattr__(self, "value", _as_amount(self.value, "fixed_total value"))
        else:
            raise ValueError(f"unknown bundle price {self.type!r}")

    def discount_per_set(self, set_sum: int) -> int:
        """Return the discount of one set worth ``set_sum`` at rule prices.

        ``fixed_total`` replaces the set's sum and never raises it;
        ``percent_off`` is rounded half-up per set.
        """
        if isinstance(self.value, Decimal):
            return min(set_sum, percent_of(set_sum, self.value))
        return max(0, set_sum - self.value)


@dataclass(frozen=True, slots=True)
class Bundle:
    """A set of products sold together at a set price or a percentage off."""

    id: int
    name: str
    audience: Audience
    items: tuple[BundleItem, ...]
    price: BundlePrice
    max_applications: int | None = None
    priority: int = 0
    active: bool = True
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.starts_at, f"bundle {self.id} starts_at")
        require_aware(self.ends_at, f"bundle {self.id} ends_at")

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.priority, self.id)

    def requirements(self) -> tuple[tuple[str, int], ...]:
        """Return (product id, units per set), merging repeated products, in item order."""
        merged: dict[str, int] = {}
        for item in self.items:
            merged[item.product_id] = merged.get(item.product_id, 0) + item.quantity
        return tuple(merged.items())


# --------------------------------------------------------------------------- gift rules

GiftTriggerType = Literal["products", "subtotal"]


@dataclass(frozen=True, slots=True)
class GiftTrigger:
    """``products``: ``min_quantity`` units in total of ``product_ids``;
    ``subtotal``: subtotal after price rules and bundles at least ``min``."""

    type: GiftTriggerType
    product_ids: tuple[str, ...] = ()
    min_quantity: int = 1
    min: int = 0

    def __post_init__(self) -> None:
        if self.type not in ("products", "subtotal"):
            raise ValueError(f"unknown gift trigger {self.type!r}")


@dataclass(frozen=True, slots=True)
class Gift:
    product_id: str
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class GiftRule:
    """Adds a free product once when its trigger is met; ``name`` is the gift's label."""

    id: int
    name: str
    audience: Audience
    trigger: GiftTrigger
    gift: Gift
    active: bool = True
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.starts_at, f"gift rule {self.id} starts_at")
        require_aware(self.ends_at, f"gift rule {self.id} ends_at")


# --------------------------------------------------------------------------- benefit programmes

ConditionField = Literal[
    "shipping_city", "shipping_country", "carrier", "payment_method", "channel", "product_in_cart"
]
ConditionOp = Literal["is", "is_not", "any_of", "all_of"]
TierActionType = Literal["percent_off_order", "fixed_off_order", "free_shipping"]


@dataclass(frozen=True, slots=True)
class Condition:
    """``{"field", "op", "value"}`` of a benefit programme; ``value`` a str or a tuple."""

    field: ConditionField
    op: ConditionOp
    value: str | tuple[str, ...]
    #: The values' text keys (``text_key``), folded once when the rule set is built
    #: rather than for every cart.
    keys: frozenset[str] = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        values = (self.value,) if isinstance(self.value, str) else self.value
        object.__setattr__(self, "keys", frozenset(text_key(v) for v in values))


@dataclass(frozen=True, slots=True)
class TierAction:
    """A tier's benefit.

    ``percent_off_order``: ``value`` Decimal percent; ``fixed_off_order``: ``value``
    int minor units; ``free_shipping``: ``carriers`` (empty: any) and
    ``max_amount`` (None: the whole shipping price).
    """

    type: TierActionType
    value: int | Decimal | None = None
    carriers: tuple[str, ...] = ()
    max_amount: int | None = None

    def __post_init__(self) -> None:
        if self.type == "percent_off_order":
            if self.value is None:
                raise ValueError("percent_off_order needs a value")
            object.__setattr__(self, "value", to_percent(self.value))
        elif self.type == "fixed_off_order":
            if self.value is None:
                raise ValueError("fixed_off_order needs a value")
            object.__setattr__(self, "value", _as_amount(self.value, "fixed_off_order value"))
        elif self.type != "free_shipping":
            raise ValueError(f"unknown tier action {self.type!r}")

    @property
    def percent(self) -> Decimal:
        """The value of ``percent_off_order``."""
        if not isinstance(self.value, Decimal):
            raise TypeError(f"{self.type} has no percent value")
        return self.value

    @property
    def amount(self) -> int:
        """The value, in minor units, of ``fixed_off_order``."""
        if self.value is None or isinstance(self.value, Decimal):
            raise TypeError(f"{self.type} has no amount value")
        return self.value


@dataclass(frozen=True, slots=True)
class Tier:
    min_subtotal: int
    actions: tuple[TierAction, ...]


@dataclass(frozen=True, slots=True)
class BenefitProgramme:
    """Tiered cart benefits for an audience under conditions; it also decides
    whether the order earns loyalty points."""

    id: int
    name: str
    audience: Audience
    priority: int
    conditions: tuple[Condition, ...]
    tiers: tuple[Tier, ...]
    earns_loyalty_points: bool = True
    combinable_with_codes: bool = True
    active: bool = True
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.starts_at, f"benefit programme {self.id} starts_at")
        require_aware(self.ends_at, f"benefit programme {self.id} ends_at")

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.priority, self.id)

    def tier_for(self, subtotal: int) -> int | None:
        """Return the index of the highest tier whose ``min_subtotal`` ≤ ``subtotal``.

        "Highest" is the largest ``min_subtotal``; equal thresholds keep the
        earlier tier. None when no tier is reached.
        """
        best: int | None = None
        for index, tier in enumerate(self.tiers):
            if tier.min_subtotal <= subtotal and (
                best is None or tier.min_subtotal > self.tiers[best].min_subtotal
            ):
                best = index
        return best


# --------------------------------------------------------------------------- price lists


@dataclass(frozen=True, slots=True)
class PriceList:
    """A price list as the snapshot holds it: who it is for and when, not its entries.

    Its entries are many (up to 1,000,000); the caller loads those a cart can use
    (:meth:`RuleSet.price_lists_for`) and hands them to the engine as
    :data:`PriceEntries`.
    """

    id: int
    name: str
    audience: Audience
    priority: int = 0
    active: bool = True
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.starts_at, f"price list {self.id} starts_at")
        require_aware(self.ends_at, f"price list {self.id} ends_at")

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.priority, self.id)


#: A price list's entries as ``(min_quantity, price)`` pairs per product id; the engine
#: takes them by list id: ``{list id: {product id: ((min_quantity, price), ...)}}``.
PriceBreaks = tuple[tuple[int, int], ...]
PriceEntries = Mapping[int, Mapping[str, PriceBreaks]]


# --------------------------------------------------------------------------- offers

OfferDiscountType = Literal["percent", "free"]


@dataclass(frozen=True, slots=True)
class OfferTarget:
    """The units an offer's ``buy`` or ``get`` takes: lines whose product is one of
    ``product_ids`` or that are in one of ``category_ids``, ``quantity`` units a time."""

    quantity: int
    product_ids: frozenset[str] = frozenset()
    category_ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise ValueError("an offer's quantity must be >= 1")
        object.__setattr__(self, "product_ids", frozenset(self.product_ids))
        object.__setattr__(self, "category_ids", frozenset(self.category_ids))

    def matches(self, product_id: str, category_ids: Iterable[str]) -> bool:
        return product_id in self.product_ids or not self.category_ids.isdisjoint(category_ids)


@dataclass(frozen=True, slots=True)
class OfferDiscount:
    """What a get unit is given: ``percent`` (``value`` Decimal percent) or ``free``."""

    type: OfferDiscountType
    value: Decimal | None = None

    def __post_init__(self) -> None:
        if self.type == "percent":
            if self.value is None:
                raise ValueError("a percent offer needs a value")
            object.__setattr__(self, "value", to_percent(self.value))
        elif self.type != "free":
            raise ValueError(f"unknown offer discount {self.type!r}")

    def per_unit(self, unit_price: int) -> int:
        """The discount of one get unit: its percent rounded half-up, or all of it."""
        if self.type == "free" or self.value is None:
            return unit_price
        return min(unit_price, percent_of(unit_price, self.value))


@dataclass(frozen=True, slots=True)
class Offer:
    """Buy X get Y (contract §8): ``buy.quantity`` units bought give ``get.quantity``
    other units their ``discount``, as often as the cart allows, up to
    ``max_applications``."""

    id: int
    name: str
    audience: Audience
    buy: OfferTarget
    get: OfferTarget
    discount: OfferDiscount
    max_applications: int | None = None
    priority: int = 0
    active: bool = True
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.starts_at, f"offer {self.id} starts_at")
        require_aware(self.ends_at, f"offer {self.id} ends_at")

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.priority, self.id)


# --------------------------------------------------------------------------- the snapshot

_NEVER = float("-inf")
_FOREVER = float("inf")

# One indexed price rule: (priority, id, starts_at, ends_at as timestamps, rule).
# Plain tuples keep the per-line scan to integer and float comparisons.
_Entry = tuple[int, int, float, float, PriceRule]
_Entries = tuple[_Entry, ...]
_NO_ENTRIES: _Entries = ()


def _entry(rule: PriceRule) -> _Entry:
    starts = _NEVER if rule.starts_at is None else rule.starts_at.timestamp()
    ends = _FOREVER if rule.ends_at is None else rule.ends_at.timestamp()
    return (rule.priority, rule.id, starts, ends, rule)


@dataclass(frozen=True, slots=True, eq=False)
class _PriceTable:
    """The price rules of one audience key, by scope, each list sorted by (priority, id)."""

    products: Mapping[str, _Entries]
    categories: Mapping[str, _Entries]
    everything: _Entries


@dataclass(frozen=True, slots=True, eq=False)
class RuleSet:
    """An immutable, indexed snapshot of a shop's active rules.

    Build it with :meth:`build`. Inactive rules are dropped; windows
    (``starts_at``/``ends_at``) are checked per call because they depend on
    ``now``. Price rules are indexed by audience key (everyone, guests, each
    group, each segment) then by product, by category and "all products", each
    list sorted by ``(priority, id)``: choosing a line's rule costs a few dict
    look-ups and stops at the first rule in its window, whatever the number of
    rules.
    """

    price_tables: Mapping[AudienceKey, _PriceTable]
    bundles: tuple[Bundle, ...]
    gift_rules: tuple[GiftRule, ...]
    programmes: tuple[BenefitProgramme, ...]
    price_rule_count: int
    #: Active price lists and offers, each sorted by ``(priority, id)``.
    price_lists: tuple[PriceList, ...] = ()
    offers: tuple[Offer, ...] = ()
    #: Positions in ``offers`` by a product id or category id their ``buy`` names.
    offers_by_product: Mapping[str, tuple[int, ...]] = dataclass_field(default_factory=dict)
    offers_by_category: Mapping[str, tuple[int, ...]] = dataclass_field(default_factory=dict)
    #: The price rules for everyone merged with those of one group (or of guests), made the
    #: first time such a customer is priced: one table to look in per line instead of two.
    #: What it holds is derived from ``price_tables`` alone, so the snapshot's answers stay
    #: the same; only where they are looked up changes.
    _with_everyone: dict[AudienceKey, _PriceTable] = dataclass_field(
        default_factory=dict, init=False, repr=False
    )

    @classmethod
    def build(
        cls,
        price_rules: Iterable[PriceRule] = (),
        bundles: Iterable[Bundle] = (),
        gift_rules: Iterable[GiftRule] = (),
        programmes: Iterable[BenefitProgramme] = (),
        price_lists: Iterable[PriceList] = (),
        offers: Iterable[Offer] = (),
    ) -> RuleSet:
        """Index and sort the active rules once; the order given does not matter."""
        products: dict[AudienceKey, dict[str, list[_Entry]]] = {}
        categories: dict[AudienceKey, dict[str, list[_Entry]]] = {}
        everything: dict[AudienceKey, list[_Entry]] = {}
        count = 0
        for rule in price_rules:
            if not rule.active:
                continue
            count += 1
            entry = _entry(rule)
            for key in rule.audience.keys():
                if rule.scope.type == "all":
                    everything.setdefault(key, []).append(entry)
                    continue
                by_id = (products if rule.scope.type == "products" else categories).setdefault(
                    key, {}
                )
                for scope_id in set(rule.scope.ids):
                    by_id.setdefault(scope_id, []).append(entry)

        def ordered(entries: list[_Entry]) -> _Entries:
            return tuple(sorted(entries, key=_entry_key))

        keys = set(products) | set(categories) | set(everything)
        tables = {
            key: _PriceTable(
                products={i: ordered(e) for i, e in products.get(key, {}).items()},
                categories={i: ordered(e) for i, e in categories.get(key, {}).items()},
                everything=ordered(everything.get(key, [])),
            )
            for key in keys
        }
        sorted_offers = tuple(sorted((o for o in offers if o.active), key=_sort_key))
        by_product: dict[str, list[int]] = {}
        by_category: dict[str, list[int]] = {}
        for position, offer in enumerate(sorted_offers):
            for product_id in offer.buy.product_ids:
                by_product.setdefault(product_id, []).append(position)
            for category_id in offer.buy.category_ids:
                by_category.setdefault(category_id, []).append(position)
        return cls(
            price_tables=tables,
            bundles=tuple(sorted((b for b in bundles if b.active), key=_bundle_key)),
            gift_rules=tuple(sorted((g for g in gift_rules if g.active), key=_gift_key)),
            programmes=tuple(sorted((p for p in programmes if p.active), key=_programme_key)),
            price_rule_count=count,
            price_lists=tuple(sorted((p for p in price_lists if p.active), key=_sort_key)),
            offers=sorted_offers,
            offers_by_product={k: tuple(v) for k, v in by_product.items()},
            offers_by_category={k: tuple(v) for k, v in by_category.items()},
        )

    @classmethod
    def empty(cls) -> RuleSet:
        return cls.build()

    def price_rules_for(
        self,
        lines: Iterable[tuple[str, Iterable[str]]],
        audience_keys: Iterable[AudienceKey],
        now: datetime,
    ) -> list[PriceRule | None]:
        """Return the price rule of each (product id, category ids), or None.

        A line's rule is the one of lowest ``(priority, id)`` among the rules in
        their window whose scope covers the product, one of its categories or
        all products, and whose audience holds one of ``audience_keys``.
        """
        tables = [
            (t.everything, t.products.get, t.categories.get) for t in self._tables(audience_keys)
        ]
        moment = now.timestamp()
        chosen: list[PriceRule | None] = []
        for product_id, category_ids in lines:
            best: PriceRule | None = None
            best_priority = best_id = 0
            for everything, by_product, by_category in tables:
                candidates = [everything, by_product(product_id, _NO_ENTRIES)]
                for category_id in category_ids:
                    candidates.append(by_category(category_id, _NO_ENTRIES))
                for entries in candidates:
                    for priority, rule_id, starts, ends, rule in entries:
                        if best is not None and (
                            priority > best_priority
                            or (priority == best_priority and rule_id >= best_id)
                        ):
                            break  # sorted: nothing further in this list can win
                        if starts <= moment < ends:
                            best, best_priority, best_id = rule, priority, rule_id
                            break
            chosen.append(best)
        return chosen

    def _tables(self, audience_keys: Iterable[AudienceKey]) -> list[_PriceTable]:
        """The price tables of ``audience_keys``, everyone's merged with a group's (or with
        guests') when both have rules."""
        keys = [key for key in audience_keys if key in self.price_tables]
        if _EVERYONE in keys:
            partner = next((key for key in keys if key[0] in ("groups", "guests")), None)
            if partner is not None:
                merged = self._with_everyone.get(partner)
                if merged is None:
                    everyone = self.price_tables[_EVERYONE]
                    merged = _merged(everyone, self.price_tables[partner])
                    self._with_everyone[partner] = merged
                rest = [key for key in keys if key not in (_EVERYONE, partner)]
                return [merged, *(self.price_tables[key] for key in rest)]
        return [self.price_tables[key] for key in keys]

    def offers_for(self, lines: Iterable[tuple[str, Iterable[str]]]) -> tuple[Offer, ...]:
        """The offers, in ``(priority, id)`` order, that a cart of these (product id,
        category ids) can apply: a line for their ``buy`` and one for their ``get``. A few
        dict look-ups per line, whatever the number of offers."""
        products: set[str] = set()
        categories: set[str] = set()
        for product_id, category_ids in lines:
            products.add(product_id)
            categories.update(category_ids)
        found: set[int] = set()
        for product_id in products:
            found.update(self.offers_by_product.get(product_id, ()))
        for category_id in categories:
            found.update(self.offers_by_category.get(category_id, ()))
        return tuple(
            offer
            for offer in (self.offers[i] for i in sorted(found))
            if not offer.get.product_ids.isdisjoint(products)
            or not offer.get.category_ids.isdisjoint(categories)
        )

    def price_lists_for(self, customer: CustomerContext, now: datetime) -> tuple[PriceList, ...]:
        """The price lists in their window whose audience holds ``customer``, by
        ``(priority, id)``: the only ones whose entries a cart of theirs can use."""
        return tuple(
            p
            for p in self.price_lists
            if in_window(p.starts_at, p.ends_at, now) and p.audience.matches(customer)
        )

    def price_rule_for(
        self,
        product_id: str,
        category_ids: Iterable[str],
        audience_keys: Iterable[AudienceKey],
        now: datetime,
    ) -> PriceRule | None:
        """Return the price rule of one line (see :meth:`price_rules_for`)."""
        return self.price_rules_for([(product_id, category_ids)], audience_keys, now)[0]


def _entry_key(entry: _Entry) -> tuple[int, int]:
    return (entry[0], entry[1])


_EVERYONE: AudienceKey = ("all", 0)


def _merged(first: _PriceTable, second: _PriceTable) -> _PriceTable:
    """One table holding the rules of both, each list still sorted by (priority, id)."""

    def both(a: Mapping[str, _Entries], b: Mapping[str, _Entries]) -> dict[str, _Entries]:
        merged = dict(a)
        for key, entries in b.items():
            found = merged.get(key)
            merged[key] = (
                entries if found is None else tuple(sorted(found + entries, key=_entry_key))
            )
        return merged

    return _PriceTable(
        products=both(first.products, second.products),
        categories=both(first.categories, second.categories),
        everything=tuple(sorted(first.everything + second.everything, key=_entry_key)),
    )


def _bundle_key(bundle: Bundle) -> tuple[int, int]:
    return bundle.sort_key


def _gift_key(rule: GiftRule) -> int:
    return rule.id


def _programme_key(programme: BenefitProgramme) -> tuple[int, int]:
    return programme.sort_key


def _sort_key(rule: PriceList | Offer) -> tuple[int, int]:
    return rule.sort_key
