"""Render a message template for a customer with their codes (``POST /api/render``).

Templates are Jinja2 run in :class:`ImmutableSandboxedEnvironment`: they see exactly two
names, ``customer`` (a plain dict: ``id``, ``first_name``, ``last_name``, ``email``,
``group``, ``points``) and ``coupon(discount)``; Jinja's default globals (``range``,
``cycler``, ...) are removed, underscore attributes and mutation are refused by the
sandbox. The render itself runs in a child process that the operating system stops at the
contract's limits (0.5 s of processing time, 64 KiB of output, bounded memory): see
:mod:`plugin.messages.sandbox`.

No database transaction is open while a template runs: the customer is loaded, the
session's read transaction ends (a caller that wrote something, such as a code handed out
before a message is rendered, commits it first: a render never commits), and each
``coupon(...)`` the template reaches is answered by a short read of its own while the
child waits. A shop renders at most
:data:`RENDERS_PER_SHOP` messages at once in one serving process (429 past that), so that
one shop's renders cannot take every request thread from the others.

``coupon("WELCOME")`` names a discount by its shared code, its name (both ignoring case)
or its id, and gives the code assigned to this customer from that discount's pool (the
newest one that is still usable). A customer without one gets nothing at all: the whole
message is not rendered (``rendered`` is null) and ``missing`` lists what was missing, so
that a sender never sends a message with a hole where the code should be.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select

from plugin.codes.lookup import code_key
from plugin.codes.models import CODE_ASSIGNED, Code, Discount
from plugin.customers.models import Customer
from plugin.db import db, name_key, reading, shop_scope, utcnow
from plugin.errors import ApiError, ErrorCode
from plugin.groups.models import Group
from plugin.messages import sandbox

FORMATS = ("html", "text")
MAX_TEMPLATE_LENGTH = 100_000
#: Renders of one shop at the same time in one serving process.
RENDERS_PER_SHOP = 2


@dataclass
class Rendered:
    rendered: str | None
    missing: list[str] = field(default_factory=list)


def _problem(message: str) -> ApiError:
    return ApiError(
        ErrorCode.VALIDATION_FAILED,
        "Some fields are not valid: template.",
        422,
        {"template": [message]},
    )


def customer_context(shop_id: int, customer: Customer) -> dict[str, Any]:
    group = db.session.execute(
        select(Group.name).where(Group.id == customer.group_id)
    ).scalar_one_or_none()
    return {
        "id": customer.external_id,
        "first_name": customer.first_name or "",
        "last_name": customer.last_name or "",
        "email": customer.email or "",
        "group": group or "",
        "points": customer.points,
    }


def find_discount(shop_id: int, ref: str | int) -> Discount | None:
    """The discount a template names: by shared code, then name (ignoring case), then id."""
    text = str(ref).strip()
    if "\x00" in text or not _encodable(text):
        return None  # no name or code holds such characters, and the database refuses them
    by_code = db.session.execute(
        select(Discount)
        .join(Code, Code.discount_id == Discount.id)
        .where(
            Code.shared.is_(True),
            Code.code_key == code_key(text),
        )
    ).scalar_one_or_none()
    if by_code is not None:
        return by_code
    by_name = db.session.execute(
        select(Discount).where(Discount.name_key == name_key(text))
    ).scalar_one_or_none()  # names are unique per shop (ignoring case)
    if by_name is not None:
        return by_name
    if text.isascii() and text.isdigit() and len(text) < 19:  # ids are 64-bit
        return db.session.execute(
            select(Discount).where(Discount.id == int(text))
        ).scalar_one_or_none()
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def customer_code(discount: Discount, customer_id: int) -> str | None:
    """The customer's usable code of ``discount``: assigned to them, not used up, not
    expired, from a discount that is active and not over. None otherwise."""
    now = utcnow()
    if not discount.active or (discount.ends_at is not None and discount.ends_at <= now):
        return None
    found: str | None = db.session.execute(
        select(Code.code)
        .where(
            Code.discount_id == discount.id,
            Code.assigned_customer_id == customer_id,
            Code.status == CODE_ASSIGNED,
            or_(Code.expires_at.is_(None), Code.expires_at > now),
        )
        .order_by(Code.assigned_at.desc(), Code.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return found


def render_message(shop_id: int, template: str, customer_id: str, fmt: str = "html") -> Rendered:
    """Render ``template`` for the customer; 422 for a template that cannot be rendered or
    that goes past a limit (named in ``details.template``).

    Ends the session's read transaction first, before even waiting for a render slot (see
    the module docstring): the request's own reads (its session token's shop) hold nothing
    while it waits or renders. A caller that wrote something commits it before (its
    boundary's unit of work); a render never commits."""
    if db.session.new or db.session.dirty or db.session.deleted:
        raise RuntimeError("Commit the unit of work before rendering: it would be lost.")
    db.session.rollback()
    with _render_slot(shop_id), shop_scope(shop_id):
        return _render_message(shop_id, template, customer_id, fmt)


def _render_message(shop_id: int, template: str, customer_id: str, fmt: str) -> Rendered:
    # Reads without a lock: nothing to keep, nothing held once each block ends.
    with reading():
        customer = db.session.execute(
            select(Customer).where(Customer.external_id == customer_id)
        ).scalar_one_or_none()
        if customer is None:
            raise ApiError(
                ErrorCode.VALIDATION_FAILED,
                "Some fields are not valid: customer_id.",
                422,
                {"customer_id": [f"Unknown customer {customer_id}."]},
            )
        context = customer_context(shop_id, customer)
        customer_pk = customer.id

    def lookup(ref: str | int) -> dict[str, Any]:
        with reading():
            discount = find_discount(shop_id, ref)
            if discount is None:
                return {"unknown": f"No discount has the code, name or id {str(ref).strip()!r}."}
            code = customer_code(discount, customer_pk)
        return {"code": code} if code is not None else {"missing": True}

    outcome = sandbox.render(template, fmt, context, lookup)
    if "problem" in outcome:
        raise _problem(outcome["problem"])
    if "unavailable" in outcome:
        raise ApiError(ErrorCode.UNAVAILABLE, outcome["unavailable"], 503)
    return Rendered(outcome["rendered"], outcome["missing"])


_busy: Counter[int] = Counter()
_busy_lock = threading.Lock()


@contextmanager
def _render_slot(shop_id: int) -> Iterator[None]:
    with _busy_lock:
        if _busy[shop_id] >= RENDERS_PER_SHOP:
            raise ApiError(
                ErrorCode.TOO_MANY_RENDERS,
                f"This shop is already rendering {RENDERS_PER_SHOP} messages; try again "
                "in a moment.",
                429,
            )
        _busy[shop_id] += 1
    try:
        yield
    finally:
        with _busy_lock:
            _busy[shop_id] -= 1
            if not _busy[shop_id]:
                del _busy[shop_id]
