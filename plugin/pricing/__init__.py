"""The pure pricing engine of Customer Groups (contract §4, the pricing hook).

No Flask, no SQL, no I/O: frozen dataclasses in (:class:`Cart`,
:class:`CustomerContext`, a :class:`RuleSet` snapshot, code facts), a frozen
:class:`PricingResult` out, whose ``to_dict()`` is the hook's JSON answer.
"""

from .allocation import allocate
from .cart import Address, Cart, CustomerContext, Group, Line, Segment, Shipping
from .codes import (
    CodeCandidate,
    CodeReason,
    CodeStatus,
    Discount,
    Minimum,
    index_codes,
    normalise_code,
)
from .engine import price_cart, rule_unit_price
from .money import ROUNDING_MODE, percent_of, round_half_up, to_percent
from .result import (
    Adjustment,
    CodeResult,
    CustomerResult,
    GiftResult,
    LineResult,
    PricingResult,
    ProgrammeResult,
    ShippingResult,
)
from .rules import (
    Audience,
    BenefitProgramme,
    Bundle,
    BundleItem,
    BundlePrice,
    Condition,
    Gift,
    GiftRule,
    GiftTrigger,
    PriceAction,
    PriceRule,
    RuleSet,
    Scope,
    Tier,
    TierAction,
)

__all__ = [
    "ROUNDING_MODE",
    "Address",
    "Adjustment",
    "Audience",
    "BenefitProgramme",
    "Bundle",
    "BundleItem",
    "BundlePrice",
    "Cart",
    "CodeCandidate",
    "CodeReason",
    "CodeResult",
    "CodeStatus",
    "Condition",
    "CustomerContext",
    "CustomerResult",
    "Discount",
    "Gift",
    "GiftResult",
    "GiftRule",
    "GiftTrigger",
    "Group",
    "Line",
    "LineResult",
    "Minimum",
    "PriceAction",
    "PriceRule",
    "PricingResult",
    "ProgrammeResult",
    "RuleSet",
    "Scope",
    "Segment",
    "Shipping",
    "ShippingResult",
    "Tier",
    "TierAction",
    "allocate",
    "index_codes",
    "normalise_code",
    "percent_of",
    "price_cart",
    "round_half_up",
    "rule_unit_price",
    "to_percent",
]
