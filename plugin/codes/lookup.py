"""What the database knows about the codes of one cart, for the pure pricing engine.

:func:`code_candidates` answers for all codes of a cart at once: one query for
the codes and their discounts, one for the customer's own redemptions (only
when a once-per-customer discount is among them) and one for an attempt block;
never one query per code.

Who typed a code (contract §2, "Guessing codes") is counted under up to three
subjects: the cart (``cart:{cart_id}``), the customer when known
(``customer:{external id}``) and the shopper's address when the host sends
``client_ip`` (``ip:{address}``). An IPv6 address counts as its /64 (one
subscriber's network: a guesser there has 2^64 addresses to rotate through),
and an IPv4 address written as IPv6 (``::ffff:203.0.113.7``) as that IPv4
address, so the two spellings of one shopper are one subject.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from plugin.codes.models import COUNTING, Code, CodeBlock, Redemption
from plugin.codes.models import Discount as DiscountRow
from plugin.customers.models import Customer
from plugin.db import db, utcnow
from plugin.pricing.codes import CodeCandidate, Discount, Minimum, normalise_code
from plugin.pricing.rules import Audience
from plugin.shops.models import Shop

TOO_MANY_ATTEMPTS = "too_many_attempts"
#: The longest code we store; anything longer cannot be one of ours.
MAX_CODE_LENGTH = 64


def code_key(typed: str) -> str:
    """The form a code is stored and compared in: trimmed, lower-cased."""
    return typed.strip().lower()


def address_subject(client_ip: str) -> str:
    """The subject of a shopper's address: ``ip:`` and the IPv4 address, or the IPv6
    address's /64 network (``ip:2001:db8:1:2::/64``). ``client_ip`` must be a valid
    address (the cart schema checks it); a zone (``%eth0``) is left out."""
    address = ipaddress.ip_address(client_ip)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"ip:{address.ipv4_mapped}"
        network = ipaddress.IPv6Network((int(address) >> 64 << 64, 64))
        return f"ip:{network}"
    return f"ip:{address}"


def attempt_subjects(
    customer_external_id: str | None, cart_id: str | None, client_ip: str | None = None
) -> list[str]:
    """Who typed the codes, as the brute-force guard counts them: the customer (when
    known), the cart and the shopper's address (when the host sent it)."""
    subjects = []
    if customer_external_id:
        subjects.append(f"customer:{customer_external_id}")
    if cart_id:
        subjects.append(f"cart:{cart_id}")
    if client_ip:
        subjects.append(address_subject(client_ip))
    return subjects


def unknown_codes(candidates: Mapping[str, CodeCandidate]) -> list[str]:
    """The typed codes the shop does not have, that the brute-force guard counts: not
    those refused because their typist is blocked already (they are not looked at)."""
    return [
        code
        for code, candidate in candidates.items()
        if not candidate.found and candidate.blocked_reason is None
    ]


def code_usage_limit(row: DiscountRow, shared: bool) -> int | None:
    """How many uses one code allows: the discount's limit for its shared code; one for
    a pool code (an individual code is single-use, whatever the discount's limit)."""
    return row.usage_limit if shared else 1


def to_engine_discount(
    row: DiscountRow, code_expires_at: datetime | None = None, shared: bool = True
) -> Discount:
    """The engine's frozen view of a discount through one of its codes: the code's own
    expiry shortens the window, and a pool code is single-use."""
    value: int | Decimal | None = row.value
    if row.type == "percent" and row.value is not None:
        value = Decimal(row.value) / 100  # basis points → percent
    ends_at = row.ends_at
    if code_expires_at is not None and (ends_at is None or code_expires_at < ends_at):
        ends_at = code_expires_at
    return Discount(
        id=row.id,
        name=row.name,
        applies_to=row.applies_to,  # type: ignore[arg-type]
        type=row.type,  # type: ignore[arg-type]
        value=value,
        carriers=tuple(row.carriers or ()),
        starts_at=row.starts_at,
        ends_at=ends_at,
        usage_limit=code_usage_limit(row, shared),
        uses_per_customer=row.uses_per_customer or (1 if row.once_per_customer else None),
        combinable_with_other_codes=row.combinable_with_other_codes,
        audience=Audience(row.audience_type, frozenset(row.audience_ids or ())),  # type: ignore[arg-type]
        minimum=Minimum(row.minimum_type, row.minimum_value or 0),  # type: ignore[arg-type]
        payment_methods=tuple(row.payment_methods or ()),
        channels=tuple(row.channels or ()),
        active=row.active,
    )


def blocked_until(shop: Shop, subjects: Iterable[str], now: datetime) -> datetime | None:
    """The end of the longest block on any of ``subjects``, or None."""
    subjects = list(subjects)
    if not subjects:
        return None
    until = db.session.execute(
        select(func.max(CodeBlock.blocked_until)).where(
            CodeBlock.subject.in_(subjects),
            CodeBlock.blocked_until > now,
        )
    ).scalar_one_or_none()
    return until


def code_candidates(
    shop: Shop,
    codes: list[str],
    customer_id: int | str | None,
    *,
    cart_id: str | None = None,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> dict[str, CodeCandidate]:
    """Map each typed code's normalised form (:func:`normalise_code`) to what we know of it.

    ``customer_id`` is our customer row id (int) or the host's customer id (str);
    None is a guest. Unknown codes map to ``found=False``. When the cart, the
    customer or the address (``client_ip``) is blocked by the brute-force guard, every
    code carries ``blocked_reason="too_many_attempts"``, codes that exist included, so
    a blocked guesser learns nothing. Read-only: counting is the caller's
    (:func:`plugin.codes.redemption.record_unknown_attempts`).
    """
    now = now or utcnow()
    typed_by_key: dict[str, str] = {}
    for typed in codes:
        if typed and typed.strip():
            typed_by_key.setdefault(code_key(typed), normalise_code(typed))
    if not typed_by_key:
        return {}

    customer_row_id: int | None = None
    customer_external_id: str | None = None
    if isinstance(customer_id, int) and not isinstance(customer_id, bool):
        customer_row_id = customer_id
    elif customer_id:
        customer_external_id = str(customer_id)

    assigned = Customer.__table__.alias("assigned_customer")
    keys = [k for k in typed_by_key if len(k) <= MAX_CODE_LENGTH]
    rows = []
    if keys:
        rows = db.session.execute(
            select(Code, DiscountRow, assigned.c.external_id)
            .join(DiscountRow, DiscountRow.id == Code.discount_id)
            .outerjoin(assigned, assigned.c.id == Code.assigned_customer_id)
            .where(Code.code_key.in_(keys))
        ).all()

    used: dict[int, int] = {}  # discount id → the customer's counting uses
    once_ids = {
        discount.id
        for _, discount, _ in rows
        if discount.once_per_customer or discount.uses_per_customer is not None
    }
    if once_ids and (customer_row_id is not None or customer_external_id is not None):
        query = select(Redemption.discount_id, func.count()).where(
            Redemption.discount_id.in_(once_ids),
            Redemption.status.in_(COUNTING),
        )
        if customer_row_id is not None:
            query = query.where(Redemption.customer_id == customer_row_id)
        else:
            query = query.join(Customer, Customer.id == Redemption.customer_id).where(
                Customer.external_id == customer_external_id
            )
        used = {d: n for d, n in db.session.execute(query.group_by(Redemption.discount_id))}

    if customer_external_id is None and customer_row_id is not None:
        customer_external_id = db.session.execute(
            select(Customer.external_id).where(Customer.id == customer_row_id)
        ).scalar_one_or_none()
    block = blocked_until(shop, attempt_subjects(customer_external_id, cart_id, client_ip), now)
    blocked_reason = TOO_MANY_ATTEMPTS if block is not None else None

    found: dict[str, CodeCandidate] = {}
    for code, discount, assigned_external_id in rows:
        normalised = typed_by_key[code.code_key]
        found[normalised] = CodeCandidate(
            code=normalised,
            found=True,
            discount=to_engine_discount(discount, code.expires_at, code.shared),
            times_used=code.times_used,
            customer_uses=used.get(discount.id, 0),
            assigned_customer_id=assigned_external_id,
            blocked_reason=blocked_reason,
        )
    for normalised in typed_by_key.values():
        if normalised not in found:
            found[normalised] = CodeCandidate(
                code=normalised, found=False, blocked_reason=blocked_reason
            )
    return found
