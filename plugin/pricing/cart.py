"""What the engine prices: the cart of the pricing hook and who the customer is.

Field names are the JSON names of the pricing hook's request (contract §4), so a
caller fills them straight from the validated request body. The customer's
group and segments come from the extension's database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .values import quick_init

LineKind = Literal["product", "service"]
LINE_KINDS: frozenset[str] = frozenset({"product", "service"})


def normalise_code(typed: str) -> str:
    """Return the form codes are compared in: trimmed and upper-cased (codes ignore case)."""
    return typed.strip().upper()


@dataclass(frozen=True, slots=True)
class Address:
    """The delivery address of the shipping, as far as conditions need it."""

    city: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class Shipping:
    """The shipping chosen for the cart: carrier, price in minor units, address."""

    carrier: str | None
    price: int
    address: Address | None = None

    def __post_init__(self) -> None:
        if self.price < 0:
            raise ValueError(f"shipping price must be >= 0, not {self.price}")


@quick_init  # one per cart line: plugin/pricing/values.py
@dataclass(frozen=True, slots=True)
class Line:
    """One cart line; ``unit_price`` is the host's price in minor units."""

    id: str
    product_id: str
    kind: LineKind
    category_ids: tuple[str, ...]
    quantity: int
    unit_price: int

    def __post_init__(self) -> None:
        if self.kind not in LINE_KINDS:
            raise ValueError(f"line {self.id}: kind must be product or service, not {self.kind!r}")
        if self.quantity < 0:
            raise ValueError(f"line {self.id}: quantity must be >= 0, not {self.quantity}")
        if self.unit_price < 0:
            raise ValueError(f"line {self.id}: unit_price must be >= 0, not {self.unit_price}")


@dataclass(frozen=True, slots=True)
class Cart:
    """The pricing hook's request body. ``customer_id`` None means a guest."""

    cart_id: str
    currency: str
    customer_id: str | None
    channel: str
    payment_method: str | None
    shipping: Shipping | None
    lines: tuple[Line, ...]
    codes: tuple[str, ...] = ()

    def code_keys(self) -> tuple[str, ...]:
        """Return the distinct normalised codes to load, in request order."""
        return tuple(dict.fromkeys(normalise_code(c) for c in self.codes))


@dataclass(frozen=True, slots=True)
class Group:
    """The customer's group as shown in the answer."""

    id: int
    name: str
    colour: str


@dataclass(frozen=True, slots=True)
class Segment:
    """A segment the customer is in, as shown in the answer."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class CustomerContext:
    """Who is buying, loaded by the caller before pricing.

    A registered customer has ``customer_id`` and normally a group (the default
    group unless assigned to another) and the segments whose conditions they
    meet. A guest (``customer_id`` None) is in no group and no segment: for a
    guest, ``group`` and ``segments`` are ignored by every audience check.
    ``segment_ids`` is derived from ``segments``.
    """

    customer_id: str | None
    group: Group | None = None
    segments: tuple[Segment, ...] = ()
    segment_ids: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segment_ids", frozenset(s.id for s in self.segments))

    @classmethod
    def guest(cls) -> CustomerContext:
        """Return the context of a shopper who is not signed in."""
        return cls(customer_id=None)

    @property
    def is_guest(self) -> bool:
        return self.customer_id is None
