"""The kinds of rule as resources: their path under ``/api``, their name, their
operations and schemas (shared by the admin API and the admin pages)."""

from __future__ import annotations

from dataclasses import dataclass

from marshmallow import Schema

from plugin.rules import operations
from plugin.rules.operations import Kind
from plugin.rules.schemas import (
    BenefitProgrammeIn,
    BenefitProgrammeOut,
    BenefitProgrammePage,
    BundleIn,
    BundleOut,
    BundlePage,
    GiftRuleIn,
    GiftRuleOut,
    GiftRulePage,
    OfferIn,
    OfferOut,
    OfferPage,
    PriceListIn,
    PriceListOut,
    PriceListPage,
    PriceRuleIn,
    PriceRuleOut,
    PriceRulePage,
)


@dataclass(frozen=True)
class Resource:
    path: str
    what: str
    kind: Kind
    schema_in: type[Schema]
    schema_out: type[Schema]
    page: type[Schema]


RESOURCES = (
    Resource(
        "price-rules",
        "price rule",
        operations.PRICE_RULES,
        PriceRuleIn,
        PriceRuleOut,
        PriceRulePage,
    ),
    Resource("bundles", "bundle", operations.BUNDLES, BundleIn, BundleOut, BundlePage),
    Resource(
        "gift-rules", "gift rule", operations.GIFT_RULES, GiftRuleIn, GiftRuleOut, GiftRulePage
    ),
    Resource(
        "benefit-programmes",
        "benefit programme",
        operations.BENEFIT_PROGRAMMES,
        BenefitProgrammeIn,
        BenefitProgrammeOut,
        BenefitProgrammePage,
    ),
    Resource(
        "price-lists",
        "price list",
        operations.PRICE_LISTS,
        PriceListIn,
        PriceListOut,
        PriceListPage,
    ),
    Resource("offers", "offer", operations.OFFERS, OfferIn, OfferOut, OfferPage),
)
