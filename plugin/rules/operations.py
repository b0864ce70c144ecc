"""Create, change, delete and list the shop's pricing rules.

Every change bumps ``shops.rules_version`` with one set-based UPDATE in the same
transaction, so each worker process sees at its next pricing call that its snapshot
(:mod:`plugin.rules.snapshot`) is out of date; so does deleting a group or segment, which
takes it out of the rules' audiences (:mod:`plugin.rules.audience`). The caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from plugin.customers.models import Customer
from plugin.customers.operations import shop_moment
from plugin.db import check_name_free, db, for_shop, get_for_shop, name_key, unique_name
from plugin.errors import ApiError, ErrorCode
from plugin.groups.models import Group
from plugin.paging import Page, paginate
from plugin.rules.audience import audience_loaded
from plugin.rules.models import (
    BenefitProgramme,
    BenefitTier,
    Bundle,
    BundleItem,
    GiftRule,
    Offer,
    PriceList,
    PriceRule,
)
from plugin.segments.models import Segment
from plugin.shops.models import Shop
from plugin.shops.operations import bump_rules_version

RuleRow = PriceRule | Bundle | GiftRule | BenefitProgramme | PriceList | Offer


def _invalid(details: dict[str, list[str]]) -> ApiError:
    fields = ", ".join(sorted(details))
    return ApiError(
        ErrorCode.VALIDATION_FAILED, f"Some fields are not valid: {fields}.", 422, details
    )


def check_customers(shop: Shop, external_ids: list[str], field: str = "audience.ids") -> None:
    """422 unless every id is the host's id of a customer of this shop."""
    wanted = set(external_ids)
    found = set(
        db.session.execute(
            for_shop(Customer, shop.id)
            .with_only_columns(Customer.external_id)
            .where(Customer.external_id.in_(wanted))
        ).scalars()
    )
    missing = sorted(wanted - found)
    if missing:
        names = ", ".join(missing[:20])
        raise _invalid({field: [f"No customer of this shop has the id {names}."]})


def check_audience(shop: Shop, audience: dict[str, Any], field: str = "audience.ids") -> None:
    """422 unless every group or segment id of ``audience`` is one of this shop's."""
    model: type[Group] | type[Segment]
    if audience["type"] == "customers":
        check_customers(shop, audience["ids"], field)
        return
    if audience["type"] == "groups":
        model = Group
    elif audience["type"] == "segments":
        model = Segment
    else:
        return
    wanted = set(audience["ids"])
    found = set(db.session.execute(select(model.id).where(model.id.in_(wanted))).scalars())
    missing = sorted(wanted - found)
    if missing:
        kind = "group" if model is Group else "segment"
        names = ", ".join(str(i) for i in missing)
        raise _invalid({field: [f"No {kind} of this shop has the id {names}."]})


def _window(shop: Shop, row: Any, data: dict[str, Any]) -> None:
    if "starts_at" in data:
        row.starts_at = shop_moment(shop, data["starts_at"])
    if "ends_at" in data:
        row.ends_at = shop_moment(shop, data["ends_at"], end=True)
    if row.starts_at is not None and row.ends_at is not None and row.ends_at <= row.starts_at:
        raise _invalid({"ends_at": ["Must be after starts_at."]})


def _audience(shop: Shop, row: Any, data: dict[str, Any]) -> None:
    if "audience" in data:
        check_audience(shop, data["audience"])
        row.aim(data["audience"]["type"], data["audience"]["ids"])


def _plain(row: Any, data: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if name in data:
            setattr(row, name, data[name])


# How each kind maps its validated input onto columns ------------------------------------


def _apply_price_rule(shop: Shop, row: PriceRule, data: dict[str, Any]) -> None:
    _plain(row, data, ("name", "priority", "active"))
    _audience(shop, row, data)
    if "scope" in data:
        row.scope_type = data["scope"]["type"]
        row.scope_ids = list(data["scope"]["ids"])
    if "action" in data:
        row.action_type = data["action"]["type"]
        row.action_value = data["action"]["value"]
    _window(shop, row, data)


def _apply_bundle(shop: Shop, row: Bundle, data: dict[str, Any]) -> None:
    _plain(row, data, ("name", "priority", "active", "max_applications"))
    _audience(shop, row, data)
    _window(shop, row, data)
    if "price" in data:
        row.price_type = data["price"]["type"]
        row.price_value = data["price"]["value"]
    if "items" in data:
        if row.items:
            row.items.clear()
            db.session.flush()  # old items go before new ones take their positions
        row.items.extend(
            BundleItem(
                shop_id=shop.id,
                position=index,
                product_id=item["product_id"],
                quantity=item["quantity"],
            )
            for index, item in enumerate(data["items"])
        )


def _apply_gift_rule(shop: Shop, row: GiftRule, data: dict[str, Any]) -> None:
    _plain(row, data, ("name", "active"))
    _audience(shop, row, data)
    _window(shop, row, data)
    if "trigger" in data:
        trigger = data["trigger"]
        row.trigger_type = trigger["type"]
        row.trigger_product_ids = list(trigger["product_ids"])
        row.trigger_min_quantity = trigger["min_quantity"]
        row.trigger_min = trigger["min"]
    if "gift" in data:
        row.gift_product_id = data["gift"]["product_id"]
        row.gift_quantity = data["gift"]["quantity"]


def _apply_programme(shop: Shop, row: BenefitProgramme, data: dict[str, Any]) -> None:
    _plain(
        row,
        data,
        ("name", "priority", "active", "earns_loyalty_points", "combinable_with_codes"),
    )
    _audience(shop, row, data)
    _window(shop, row, data)
    if "conditions" in data:
        row.conditions = [dict(c) for c in data["conditions"]]
    if "tiers" in data:
        if row.tiers:
            row.tiers.clear()
            db.session.flush()  # old tiers go before new ones take their thresholds
        row.tiers.extend(
            BenefitTier(
                shop_id=shop.id,
                min_subtotal=tier["min_subtotal"],
                actions=[dict(a) for a in tier["actions"]],
            )
            for tier in data["tiers"]
        )


def _apply_price_list(shop: Shop, row: PriceList, data: dict[str, Any]) -> None:
    _plain(row, data, ("name", "priority", "active"))
    if "audience" in data:
        audience = data["audience"]
        check_audience(shop, audience)
        if audience["type"] == "customers":
            row.aim_at_customers(audience["ids"])
        else:
            row.aim(audience["type"], audience["ids"])
            row.customer_links = []
    _window(shop, row, data)


def _apply_offer(shop: Shop, row: Offer, data: dict[str, Any]) -> None:
    _plain(row, data, ("name", "priority", "active", "max_applications"))
    _audience(shop, row, data)
    if "buy" in data:
        row.buy_type, row.buy_ids = data["buy"]["type"], list(data["buy"]["ids"])
        row.buy_quantity = data["buy"]["quantity"]
    if "get" in data:
        row.get_type, row.get_ids = data["get"]["type"], list(data["get"]["ids"])
        row.get_quantity = data["get"]["quantity"]
        row.discount_type = data["get"]["discount"]["type"]
        row.discount_value = data["get"]["discount"]["value"]
    _window(shop, row, data)


@dataclass(frozen=True)
class Kind:
    """One resource of rules: its model, how input lands on it, what to load with it, and
    what the merchant calls one (in messages)."""

    model: type[Any]
    apply: Any
    children: Any = None
    what: str = field(kw_only=True)


PRICE_RULES = Kind(PriceRule, _apply_price_rule, what="price rule")
BUNDLES = Kind(Bundle, _apply_bundle, lambda: selectinload(Bundle.items), what="bundle")
GIFT_RULES = Kind(GiftRule, _apply_gift_rule, what="gift rule")
BENEFIT_PROGRAMMES = Kind(
    BenefitProgramme,
    _apply_programme,
    lambda: selectinload(BenefitProgramme.tiers),
    what="benefit programme",
)
PRICE_LISTS = Kind(
    PriceList,
    _apply_price_list,
    lambda: selectinload(PriceList.customer_links),
    what="price list",
)
OFFERS = Kind(Offer, _apply_offer, what="offer")


# Operations -----------------------------------------------------------------------------


def list_rules(shop: Shop, kind: Kind, page: int, per_page: int) -> Page[Any]:
    model = kind.model
    query = for_shop(model, shop.id).order_by(model.id).options(*audience_loaded(model))
    if kind.children is not None:
        query = query.options(kind.children())
    return paginate(query, page, per_page)


def get_rule(shop: Shop, kind: Kind, rule_id: int) -> Any:
    return get_for_shop(kind.model, shop.id, rule_id)


def _rename(shop: Shop, kind: Kind, row: Any, name: str) -> None:
    """Give ``row`` a name no other rule of its kind in the shop has (else 422)."""
    check_name_free(kind.model, shop.id, name, kind.what, exclude_id=row.id)
    row.name = name.strip()
    row.name_key = name_key(name)


def create_rule(shop: Shop, kind: Kind, data: dict[str, Any]) -> Any:
    row = kind.model(shop_id=shop.id)
    _rename(shop, kind, row, data["name"])
    kind.apply(shop, row, data)
    with unique_name(kind.what):
        db.session.add(row)
        db.session.flush()
    bump_rules_version(shop)
    return row


def update_rule(shop: Shop, kind: Kind, rule_id: int, data: dict[str, Any]) -> Any:
    """Change the fields given; a nested object (audience, scope, items, tiers...) is
    replaced whole."""
    row = get_for_shop(kind.model, shop.id, rule_id)
    if "name" in data:
        # Flushed on its own first, so that a lost race is this 422 and not an error of a
        # query that ``apply`` makes.
        _rename(shop, kind, row, data["name"])
        with unique_name(kind.what):
            db.session.flush()
    kind.apply(shop, row, data)
    db.session.flush()
    bump_rules_version(shop)
    return row


def delete_rule(shop: Shop, kind: Kind, rule_id: int) -> None:
    row = get_for_shop(kind.model, shop.id, rule_id)
    db.session.delete(row)
    db.session.flush()
    bump_rules_version(shop)
