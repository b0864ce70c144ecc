"""The shop's active rules as one engine :class:`RuleSet`, built once per process and version.

The snapshot lives in ``current_app.extensions["customer_groups"].pricing_cache`` keyed by
shop id, with the ``rules_version`` it was built from. Every pricing call already reads the
shop row, which carries ``rules_version``; the snapshot is rebuilt only when that version
moved, so a change made through any worker is seen by every worker at its next call. A
rebuild reads one query per kind of rule, its audience's links joined in. A lock per shop
lets one thread rebuild while the others wait for its result instead of rebuilding too.

Price lists hold up to 1,000,000 entries each: the snapshot holds their heads, and the
entries read so far, by product, for all its lists (:func:`price_entries`). A cart reads
the entries of the products not seen yet, in one indexed query; every change of entries
bumps ``rules_version`` too, so a cached entry is never older than the version read.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import Select, and_, select

from plugin.db import db, shop_scope
from plugin.pricing import (
    Audience,
    BenefitProgramme,
    Bundle,
    BundleItem,
    BundlePrice,
    Condition,
    Gift,
    GiftRule,
    GiftTrigger,
    Offer,
    OfferDiscount,
    OfferTarget,
    PriceAction,
    PriceBreaks,
    PriceEntries,
    PriceList,
    PriceRule,
    RuleSet,
    Scope,
    Tier,
    TierAction,
)
from plugin.rules import models
from plugin.rules.pricelists import entries_for
from plugin.shops.models import Shop

_PERCENT_ACTIONS = frozenset({"discount_percent", "increase_percent"})


#: Products whose entries a snapshot keeps; past it, it starts again empty.
MAX_CACHED_PRODUCTS = 200_000


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    rules: RuleSet
    #: Entries read so far, by product id then list id (every list of ``rules``); a
    #: product with no entry maps to an empty dict.
    entries: dict[str, dict[int, PriceBreaks]] = field(default_factory=dict)


_guard = threading.Lock()
_locks: dict[int, threading.Lock] = {}


def _lock_for(shop_id: int) -> threading.Lock:
    with _guard:
        return _locks.setdefault(shop_id, threading.Lock())


def _cache() -> dict[int, Snapshot]:
    cache: dict[int, Snapshot] = current_app.extensions["customer_groups"].pricing_cache
    return cache


class VersionedShop(Protocol):
    """What a snapshot needs of the shop row read by the request (a ``Shop``, or the
    pricing hook's facts read as columns)."""

    @property
    def id(self) -> int: ...

    @property
    def rules_version(self) -> int: ...


def rule_set(shop: Shop | VersionedShop) -> RuleSet:
    """The shop's rules at ``shop.rules_version`` (the shop row read by this request)."""
    return snapshot(shop).rules


def snapshot(shop: Shop | VersionedShop) -> Snapshot:
    """The shop's snapshot at ``shop.rules_version``, built when that version moved."""
    version = shop.rules_version or 0
    cache = _cache()
    found = cache.get(shop.id)
    if found is not None and found.version == version:
        return found
    with _lock_for(shop.id):
        found = cache.get(shop.id)  # another thread may have rebuilt it meanwhile
        if found is not None and found.version == version:
            return found
        made = Snapshot(version, load_rule_set(shop.id))
        # Never replace a newer snapshot with an older one (a slow request built it).
        current = cache.get(shop.id)
        if current is None or current.version <= version:
            cache[shop.id] = made
        return made


def price_entries(
    shop: Shop | VersionedShop, list_ids: Iterable[int], product_ids: Iterable[str]
) -> PriceEntries:
    """The entries of these lists for these products (list id → product id → breaks),
    from the snapshot's cache; the products it has not seen yet are read in one query
    through the entries' primary key, for all the snapshot's lists."""
    held = snapshot(shop)
    cached = held.entries
    products = set(product_ids)
    missing = [p for p in products if p not in cached]
    if missing:
        if len(cached) + len(missing) > MAX_CACHED_PRODUCTS:
            cached.clear()
        every = [p.id for p in held.rules.price_lists]
        found = entries_for(shop.id, every, missing)
        fresh: dict[str, dict[int, PriceBreaks]] = {p: {} for p in missing}
        for list_id, by_product in found.items():
            for product_id, breaks in by_product.items():
                fresh[product_id][list_id] = breaks
        cached.update(fresh)  # one dict update: threads see a product whole or not at all
    wanted = set(list_ids)
    result: dict[int, dict[str, PriceBreaks]] = {}
    for product_id in products:
        for list_id, breaks in cached.get(product_id, {}).items():
            if list_id in wanted:
                result.setdefault(list_id, {})[product_id] = breaks
    return result


def forget(shop_id: int) -> None:
    """Drop a shop's snapshot (shop redaction; tests)."""
    _cache().pop(shop_id, None)


def percent(basis_points: int) -> Decimal:
    """Basis points as the engine's Decimal percent: ``1250`` → ``Decimal("12.50")``."""
    return Decimal(basis_points).scaleb(-2)


def _audience(kind: str, ids: Any) -> Audience:
    if kind == "customers":
        return Audience("customers", customer_ids=frozenset(ids or ()))
    return Audience(kind, frozenset(ids or ()))  # type: ignore[arg-type]


def _with_audience(query: Select[Any], model: Any) -> Select[Any]:
    """``query`` of ``model`` with two more columns, ``audience_group_id`` and
    ``audience_segment_id``: one row per id of the audience (one row, both NULL, when it has
    none). Only the links of the row's own audience type are joined."""
    groups, segments = model.__audience_links__
    owner = next(iter(groups.__table__.primary_key.columns)).name
    return (
        query.add_columns(
            groups.group_id.label("audience_group_id"),
            segments.segment_id.label("audience_segment_id"),
        )
        .outerjoin(
            groups, and_(getattr(groups, owner) == model.id, model.audience_type == "groups")
        )
        .outerjoin(
            segments,
            and_(getattr(segments, owner) == model.id, model.audience_type == "segments"),
        )
    )


def _audience_id(row: Any) -> int | None:
    found: int | None = row.audience_group_id
    return found if found is not None else row.audience_segment_id


def load_rule_set(shop_id: int) -> RuleSet:
    """Read the shop's active rules (one query per kind) and build the engine's snapshot.

    Price lists come without their entries (up to 1,000,000 each): the checkout reads the
    entries a cart can use (:func:`plugin.rules.pricelists.entries_for`). Read in the
    shop's scope whatever the caller's: the snapshot is cached per shop."""
    with shop_scope(shop_id):
        return RuleSet.build(
            price_rules=_price_rules(shop_id),
            bundles=_bundles(shop_id),
            gift_rules=_gift_rules(shop_id),
            programmes=_programmes(shop_id),
            price_lists=_price_lists(shop_id),
            offers=_offers(shop_id),
        )


def _price_rules(shop_id: int) -> list[PriceRule]:
    m = models.PriceRule
    rows = db.session.execute(
        _with_audience(
            select(
                m.id,
                m.name,
                m.audience_type,
                m.scope_type,
                m.scope_ids,
                m.action_type,
                m.action_value,
                m.priority,
                m.starts_at,
                m.ends_at,
            ).where(m.active.is_(True)),
            m,
        )
    ).all()
    heads: dict[int, Any] = {}
    audiences: dict[int, set[int]] = defaultdict(set)
    for row in rows:
        heads.setdefault(row.id, row)
        if (target := _audience_id(row)) is not None:
            audiences[row.id].add(target)
    rules = []
    for rule_id, row in heads.items():
        value: int | Decimal = (
            percent(row.action_value) if row.action_type in _PERCENT_ACTIONS else row.action_value
        )
        rules.append(
            PriceRule(
                id=rule_id,
                name=row.name,
                audience=_audience(row.audience_type, audiences[rule_id]),
                scope=Scope(row.scope_type, tuple(row.scope_ids or ())),  # type: ignore[arg-type]
                action=PriceAction(row.action_type, value),  # type: ignore[arg-type]
                priority=row.priority,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
            )
        )
    return rules


def _bundles(shop_id: int) -> list[Bundle]:
    b, i = models.Bundle, models.BundleItem
    rows = db.session.execute(
        _with_audience(
            select(b, i.position, i.product_id, i.quantity)
            .join(i, i.bundle_id == b.id)
            .where(b.active.is_(True))
            .order_by(b.id, i.position),
            b,
        )
    ).all()
    # One row per item and audience id: items by position, ids in a set.
    items: dict[int, dict[int, BundleItem]] = defaultdict(dict)
    audiences: dict[int, set[int]] = defaultdict(set)
    heads: dict[int, models.Bundle] = {}
    for row in rows:
        bundle = row[0]
        heads[bundle.id] = bundle
        items[bundle.id][row.position] = BundleItem(row.product_id, row.quantity)
        if (target := _audience_id(row)) is not None:
            audiences[bundle.id].add(target)
    bundles = []
    for bundle_id, head in heads.items():
        value: int | Decimal = (
            percent(head.price_value) if head.price_type == "percent_off" else head.price_value
        )
        bundles.append(
            Bundle(
                id=bundle_id,
                name=head.name,
                audience=_audience(head.audience_type, audiences[bundle_id]),
                items=tuple(item for _, item in sorted(items[bundle_id].items())),
                price=BundlePrice(head.price_type, value),  # type: ignore[arg-type]
                max_applications=head.max_applications,
                priority=head.priority,
                starts_at=head.starts_at,
                ends_at=head.ends_at,
            )
        )
    return bundles


def _gift_rules(shop_id: int) -> list[GiftRule]:
    g = models.GiftRule
    rows = db.session.execute(_with_audience(select(g).where(g.active.is_(True)), g)).all()
    heads: dict[int, models.GiftRule] = {}
    audiences: dict[int, set[int]] = defaultdict(set)
    for row in rows:
        heads[row[0].id] = row[0]
        if (target := _audience_id(row)) is not None:
            audiences[row[0].id].add(target)
    return [
        GiftRule(
            id=rule_id,
            name=row.name,
            audience=_audience(row.audience_type, audiences[rule_id]),
            trigger=GiftTrigger(
                row.trigger_type,  # type: ignore[arg-type]
                product_ids=tuple(row.trigger_product_ids or ()),
                min_quantity=row.trigger_min_quantity,
                min=row.trigger_min,
            ),
            gift=Gift(row.gift_product_id, row.gift_quantity),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
        )
        for rule_id, row in heads.items()
    ]


def _tier_action(action: dict[str, Any]) -> TierAction:
    kind = action["type"]
    if kind == "percent_off_order":
        return TierAction(kind, percent(action["value"]))
    if kind == "fixed_off_order":
        return TierAction(kind, int(action["value"]))
    return TierAction(
        "free_shipping",
        carriers=tuple(action.get("carriers") or ()),
        max_amount=action.get("max_amount"),
    )


def _condition(data: dict[str, Any]) -> Condition:
    value = data["value"]
    return Condition(data["field"], data["op"], tuple(value) if isinstance(value, list) else value)


def _programmes(shop_id: int) -> list[BenefitProgramme]:
    p, t = models.BenefitProgramme, models.BenefitTier
    rows = db.session.execute(
        _with_audience(
            select(p, t.min_subtotal, t.actions)
            .join(t, t.programme_id == p.id)
            .where(p.active.is_(True))
            .order_by(p.id, t.min_subtotal),
            p,
        )
    ).all()
    # One row per tier and audience id: tiers by threshold (unique per programme).
    tiers: dict[int, dict[int, Tier]] = defaultdict(dict)
    audiences: dict[int, set[int]] = defaultdict(set)
    heads: dict[int, models.BenefitProgramme] = {}
    for row in rows:
        programme = row[0]
        heads[programme.id] = programme
        if row.min_subtotal not in tiers[programme.id]:
            tiers[programme.id][row.min_subtotal] = Tier(
                row.min_subtotal, tuple(_tier_action(a) for a in row.actions or ())
            )
        if (target := _audience_id(row)) is not None:
            audiences[programme.id].add(target)
    return [
        BenefitProgramme(
            id=programme_id,
            name=head.name,
            audience=_audience(head.audience_type, audiences[programme_id]),
            priority=head.priority,
            conditions=tuple(_condition(c) for c in head.conditions or ()),
            tiers=tuple(tier for _, tier in sorted(tiers[programme_id].items())),
            earns_loyalty_points=head.earns_loyalty_points,
            combinable_with_codes=head.combinable_with_codes,
            starts_at=head.starts_at,
            ends_at=head.ends_at,
        )
        for programme_id, head in heads.items()
    ]


def _price_lists(shop_id: int) -> list[PriceList]:
    m, c = models.PriceList, models.PriceListCustomer
    rows = db.session.execute(
        _with_audience(
            select(m.id, m.name, m.audience_type, m.priority, m.starts_at, m.ends_at, c.customer_id)
            .outerjoin(
                c,
                and_(
                    c.shop_id == m.shop_id,
                    c.price_list_id == m.id,
                    m.audience_type == "customers",
                ),
            )
            .where(m.active.is_(True)),
            m,
        )
    ).all()
    heads: dict[int, Any] = {}
    audiences: dict[int, set[Any]] = defaultdict(set)
    for row in rows:
        heads.setdefault(row.id, row)
        target = row.customer_id if row.customer_id is not None else _audience_id(row)
        if target is not None:
            audiences[row.id].add(target)
    return [
        PriceList(
            id=list_id,
            name=row.name,
            audience=_audience(row.audience_type, audiences[list_id]),
            priority=row.priority,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
        )
        for list_id, row in heads.items()
    ]


def _target(kind: str, ids: Any, quantity: int) -> OfferTarget:
    if kind == "products":
        return OfferTarget(quantity, product_ids=frozenset(ids or ()))
    return OfferTarget(quantity, category_ids=frozenset(ids or ()))


def _offers(shop_id: int) -> list[Offer]:
    o = models.Offer
    rows = db.session.execute(_with_audience(select(o).where(o.active.is_(True)), o)).all()
    heads: dict[int, models.Offer] = {}
    audiences: dict[int, set[int]] = defaultdict(set)
    for row in rows:
        heads[row[0].id] = row[0]
        if (target := _audience_id(row)) is not None:
            audiences[row[0].id].add(target)
    return [
        Offer(
            id=offer_id,
            name=head.name,
            audience=_audience(head.audience_type, audiences[offer_id]),
            buy=_target(head.buy_type, head.buy_ids, head.buy_quantity),
            get=_target(head.get_type, head.get_ids, head.get_quantity),
            discount=OfferDiscount("percent", percent(head.discount_value or 0))
            if head.discount_type == "percent"
            else OfferDiscount("free"),
            max_applications=head.max_applications,
            priority=head.priority,
            starts_at=head.starts_at,
            ends_at=head.ends_at,
        )
        for offer_id, head in heads.items()
    ]
