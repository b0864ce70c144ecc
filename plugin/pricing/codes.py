"""Discount codes: the facts a caller loads per typed code, and why a code is refused.

The caller normalises each typed code with :func:`normalise_code`, loads what
the database knows about it into a :class:`CodeCandidate` (including counts of
redemptions, which only the database can know) and hands the engine a mapping
normalised code → candidate. A code missing from the mapping is ``unknown_code``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from .cart import Cart, CustomerContext, normalise_code
from .money import to_percent
from .rules import Audience, in_window, require_aware

__all__ = [
    "CodeCandidate",
    "CodeClass",
    "CodeReason",
    "CodeStatus",
    "Discount",
    "Minimum",
    "check_code",
    "index_codes",
    "normalise_code",
]

AppliesTo = Literal["products", "services"]
DiscountType = Literal["percent", "fixed", "free_shipping"]
#: The class of a code (contract §8): a cart carries at most one code of each.
CodeClass = Literal["order", "shipping"]
MinimumType = Literal["none", "amount", "quantity"]

#: Line kind covered by each ``applies_to``.
KIND_OF: dict[str, str] = {"products": "product", "services": "service"}


class CodeReason(StrEnum):
    """Stable reasons of a rejected code, in the order they are checked."""

    UNKNOWN_CODE = "unknown_code"
    INACTIVE = "inactive"
    NOT_STARTED = "not_started"
    EXPIRED = "expired"
    USAGE_LIMIT_REACHED = "usage_limit_reached"
    ASSIGNED_TO_ANOTHER_CUSTOMER = "assigned_to_another_customer"
    GUEST_NOT_ALLOWED = "guest_not_allowed"
    CUSTOMER_NOT_ELIGIBLE = "customer_not_eligible"
    ALREADY_USED_BY_CUSTOMER = "already_used_by_customer"
    PAYMENT_METHOD_NOT_ALLOWED = "payment_method_not_allowed"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    CARRIER_NOT_ALLOWED = "carrier_not_allowed"
    NO_ELIGIBLE_LINES = "no_eligible_lines"
    MINIMUM_NOT_MET = "minimum_not_met"
    NOT_COMBINABLE = "not_combinable"
    ONE_CODE_PER_ORDER = "one_code_per_order"
    NOT_COMBINABLE_WITH_CODE = "not_combinable_with_code"


class CodeStatus(StrEnum):
    APPLIED = "applied"
    REJECTED = "rejected"


_MESSAGES: dict[str, str] = {
    CodeReason.UNKNOWN_CODE: "We don't recognise this code",
    CodeReason.INACTIVE: "This code is not active",
    CodeReason.NOT_STARTED: "This code is not valid yet",
    CodeReason.EXPIRED: "This code has expired",
    CodeReason.USAGE_LIMIT_REACHED: "This code has reached its usage limit",
    CodeReason.ASSIGNED_TO_ANOTHER_CUSTOMER: "This code belongs to another customer",
    CodeReason.GUEST_NOT_ALLOWED: "Please sign in to use this code",
    CodeReason.CUSTOMER_NOT_ELIGIBLE: "This code is not available for your account",
    CodeReason.ALREADY_USED_BY_CUSTOMER: "You have already used this code",
    CodeReason.PAYMENT_METHOD_NOT_ALLOWED: "This code can't be used with this payment method",
    CodeReason.CHANNEL_NOT_ALLOWED: "This code can't be used here",
    CodeReason.CARRIER_NOT_ALLOWED: "This code can't be used with this delivery option",
    CodeReason.NO_ELIGIBLE_LINES: "Your cart has nothing this code applies to",
    CodeReason.MINIMUM_NOT_MET: "Your cart doesn't reach this code's minimum yet",
    CodeReason.NOT_COMBINABLE: "This code can't be combined with your current benefits",
    CodeReason.ONE_CODE_PER_ORDER: "Only one code of this kind can be used per order",
    CodeReason.NOT_COMBINABLE_WITH_CODE: "This code can't be combined with your other code",
    "too_many_attempts": "Too many attempts, please try again later",
}
_DEFAULT_MESSAGE = "This code can't be used right now"


def applied_message(discount: Discount) -> str:
    return f"{discount.name} applied"


def rejection_message(reason: str, discount: Discount | None = None) -> str:
    """Return a sentence a shopper can read for a rejection ``reason``."""
    if reason == CodeReason.MINIMUM_NOT_MET and discount is not None:
        if discount.minimum.type == "quantity":
            return f"Add at least {discount.minimum.value} items to use this code"
    if reason == CodeReason.NO_ELIGIBLE_LINES and discount is not None:
        return f"Your cart has no {discount.applies_to} this code applies to"
    return _MESSAGES.get(reason, _DEFAULT_MESSAGE)


@dataclass(frozen=True, slots=True)
class Minimum:
    """``none``; ``amount`` (minor units of the covered lines); ``quantity`` (their units)."""

    type: MinimumType = "none"
    value: int = 0


@dataclass(frozen=True, slots=True)
class Discount:
    """A discount as the merchant set it up (one shared code or a pool of codes).

    ``value``: a Decimal percent for ``percent``, minor units for ``fixed``, and
    for ``free_shipping`` the most it takes off shipping (None or 0: all of it).
    Empty ``carriers``/``payment_methods``/``channels`` mean any.
    ``uses_per_customer`` (None: unlimited) is how often one customer may use it;
    ``once_per_customer`` is its alias for 1 (contract §8). A code stays beside a code
    of the other class only when both are ``combinable_with_other_codes``.
    """

    id: int
    name: str
    applies_to: AppliesTo
    type: DiscountType
    value: int | Decimal | None = None
    carriers: tuple[str, ...] = ()
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    usage_limit: int | None = None
    once_per_customer: bool = False
    audience: Audience = Audience()
    minimum: Minimum = Minimum()
    payment_methods: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    active: bool = True
    uses_per_customer: int | None = None
    combinable_with_other_codes: bool = False

    def __post_init__(self) -> None:
        require_aware(self.starts_at, f"discount {self.id} starts_at")
        if self.uses_per_customer is None and self.once_per_customer:
            object.__setattr__(self, "uses_per_customer", 1)
        if self.uses_per_customer is not None and self.uses_per_customer < 1:
            raise ValueError(f"discount {self.id}: uses_per_customer must be >= 1")
        if self.once_per_customer and self.uses_per_customer != 1:
            raise ValueError(f"discount {self.id}: once_per_customer means uses_per_customer 1")
        object.__setattr__(self, "once_per_customer", self.uses_per_customer == 1)
        require_aware(self.ends_at, f"discount {self.id} ends_at")
        if self.applies_to not in KIND_OF:
            raise ValueError(f"discount {self.id}: unknown applies_to {self.applies_to!r}")
        if self.type == "percent":
            if self.value is None:
                raise ValueError(f"discount {self.id}: a percent discount needs a value")
            object.__setattr__(self, "value", to_percent(self.value))
        elif self.type in ("fixed", "free_shipping"):
            if self.type == "fixed" and self.value is None:
                raise ValueError(f"discount {self.id}: a fixed discount needs a value")
            if self.value is not None:
                if int(self.value) != self.value:
                    raise ValueError(f"discount {self.id}: value must be whole minor units")
                object.__setattr__(self, "value", int(self.value))
        else:
            raise ValueError(f"discount {self.id}: unknown type {self.type!r}")

    @property
    def line_kind(self) -> str:
        return KIND_OF[self.applies_to]

    @property
    def code_class(self) -> CodeClass:
        """``shipping`` for a free-shipping code, ``order`` for a percent or fixed one."""
        return "shipping" if self.type == "free_shipping" else "order"

    @property
    def percent(self) -> Decimal:
        """The value of a ``percent`` discount."""
        if not isinstance(self.value, Decimal):
            raise TypeError(f"a {self.type} discount has no percent value")
        return self.value

    @property
    def amount(self) -> int | None:
        """The value in minor units of a ``fixed`` or ``free_shipping`` discount."""
        if isinstance(self.value, Decimal):
            raise TypeError(f"a {self.type} discount has no amount value")
        return self.value


@dataclass(frozen=True, slots=True)
class CodeCandidate:
    """What the database knows about one typed code.

    ``code`` is the normalised code. ``times_used`` counts redemptions held or
    confirmed; ``customer_uses`` counts this customer's (``used_by_customer``: the
    customer has used up the discount's ``uses_per_customer``, however counted);
    ``assigned_customer_id`` is set for a pool code given to one customer;
    ``blocked_reason`` (e.g. ``too_many_attempts``) is reported as given, before
    any other check.
    """

    code: str
    found: bool
    discount: Discount | None = None
    times_used: int = 0
    used_by_customer: bool = False
    assigned_customer_id: str | None = None
    blocked_reason: str | None = None
    customer_uses: int = 0

    def used_up_by_customer(self) -> bool:
        """Whether the customer may not use the discount again (``already_used_by_customer``)."""
        limit = None if self.discount is None else self.discount.uses_per_customer
        if limit is None:
            return False
        return self.used_by_customer or self.customer_uses >= limit


def _allowed(value: str | None, allowed: tuple[str, ...]) -> bool:
    if not allowed:
        return True
    return value is not None and value.casefold() in {a.casefold() for a in allowed}


def check_code(
    candidate: CodeCandidate | None,
    *,
    cart: Cart,
    customer: CustomerContext,
    line_bases: Sequence[int],
    now: datetime,
) -> str | None:
    """Return why the code cannot apply (the first failing check), or None when valid.

    ``line_bases`` are the lines' subtotals after price rules and bundles, in cart
    order; minimum amounts are checked on those of the lines the code covers.
    ``one_code_per_order``, ``not_combinable_with_code`` and ``not_combinable`` depend
    on the other codes and on the programme, so the engine decides them.
    """
    if candidate is not None and candidate.blocked_reason:
        return candidate.blocked_reason
    if candidate is None or not candidate.found or candidate.discount is None:
        return CodeReason.UNKNOWN_CODE
    discount = candidate.discount
    if not discount.active:
        return CodeReason.INACTIVE
    if discount.starts_at is not None and now < discount.starts_at:
        return CodeReason.NOT_STARTED
    if not in_window(None, discount.ends_at, now):
        return CodeReason.EXPIRED
    if discount.usage_limit is not None and candidate.times_used >= discount.usage_limit:
        return CodeReason.USAGE_LIMIT_REACHED
    assigned = candidate.assigned_customer_id
    if customer.is_guest:
        if assigned is not None or discount.uses_per_customer is not None:
            return CodeReason.GUEST_NOT_ALLOWED
        if not discount.audience.matches(customer):
            return CodeReason.GUEST_NOT_ALLOWED
    else:
        if assigned is not None and assigned != customer.customer_id:
            return CodeReason.ASSIGNED_TO_ANOTHER_CUSTOMER
        if not discount.audience.matches(customer):
            return CodeReason.CUSTOMER_NOT_ELIGIBLE
        if candidate.used_up_by_customer():
            return CodeReason.ALREADY_USED_BY_CUSTOMER
    if not _allowed(cart.payment_method, discount.payment_methods):
        return CodeReason.PAYMENT_METHOD_NOT_ALLOWED
    if not _allowed(cart.channel, discount.channels):
        return CodeReason.CHANNEL_NOT_ALLOWED
    if discount.type == "free_shipping" and discount.carriers:
        carrier = cart.shipping.carrier if cart.shipping is not None else None
        if not _allowed(carrier, discount.carriers):
            return CodeReason.CARRIER_NOT_ALLOWED
    covered = [
        i
        for i, line in enumerate(cart.lines)
        if line.kind == discount.line_kind and line.quantity > 0
    ]
    if not covered:
        return CodeReason.NO_ELIGIBLE_LINES
    minimum = discount.minimum
    if minimum.type == "amount" and sum(line_bases[i] for i in covered) < minimum.value:
        return CodeReason.MINIMUM_NOT_MET
    if minimum.type == "quantity" and sum(cart.lines[i].quantity for i in covered) < minimum.value:
        return CodeReason.MINIMUM_NOT_MET
    return None


def index_codes(candidates: Iterable[CodeCandidate]) -> dict[str, CodeCandidate]:
    """Return the mapping :func:`price_cart` expects, keyed by normalised code."""
    return {normalise_code(c.code): c for c in candidates}
