"""Redemptions: a code used by an order, held at checkout, confirmed when paid, or released.

Limits are the database's job (contract §4a): the usage limit is a conditional
``UPDATE codes SET times_used = times_used + 1 WHERE ... times_used < limit``
whose row count decides, and once-per-customer is a partial unique index on
redemptions (discount, customer) over held and confirmed rows. Each attempt runs
in a SAVEPOINT so that losing rolls back only that attempt, never the caller's
transaction.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from plugin.codes.lookup import code_key as key_of
from plugin.codes.lookup import code_usage_limit
from plugin.codes.models import (
    CODE_ASSIGNED,
    CODE_REDEEMED,
    CODE_UNASSIGNED,
    CONFIRMED,
    COUNTING,
    EXPIRED,
    HELD,
    RELEASED,
    Code,
    CodeAttempt,
    CodeBlock,
    Discount,
    Redemption,
)
from plugin.customers.models import Customer
from plugin.db import (
    SHOP_PARAM,
    built,
    db,
    insert_ignoring_conflict,
    run_built,
    shop_param,
    utcnow,
)
from plugin.pricing.codes import CodeReason
from plugin.shops.models import Shop

USAGE_LIMIT_REACHED = str(CodeReason.USAGE_LIMIT_REACHED)
ALREADY_USED_BY_CUSTOMER = str(CodeReason.ALREADY_USED_BY_CUSTOMER)
UNKNOWN_CODE = str(CodeReason.UNKNOWN_CODE)

#: The brute-force guard's settings (``CUSTOMER_GROUPS_CODE_ATTEMPT_LIMIT`` and the five
#: after it) are declared with every other setting in plugin/config.py.
#: Attempts older than this are deleted when holds are expired (the window is far shorter).
ATTEMPTS_KEPT = timedelta(days=1)


@dataclass(frozen=True)
class AttemptVerdict:
    """What the brute-force guard decided after counting unknown codes."""

    blocked: bool = False
    #: Seconds to hold the answer back (after the transaction ends).
    slow_down: float = 0.0


class _Lost(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _customer_row_id(shop: Shop, customer_id: int | str | None) -> int | None:
    if customer_id is None or isinstance(customer_id, int):
        return customer_id
    return db.session.execute(
        select(Customer.id).where(Customer.external_id == customer_id)
    ).scalar_one_or_none()


def _hold_days() -> int:
    return int(current_app.config["CUSTOMER_GROUPS_REDEMPTION_HOLD_DAYS"])


def _take_use(code_id: int, limit: int | None, shared: bool) -> bool:
    """Count one more use of a code unless its limit is reached; True when counted."""
    statement = update(Code).where(Code.id == code_id)
    if limit is not None:
        statement = statement.where(Code.times_used < limit)
    values: dict[str, Any] = {"times_used": Code.times_used + 1}
    if not shared:
        values["status"] = CODE_REDEEMED
    written = db.session.execute(
        statement.values(**values).returning(Code.id).execution_options(synchronize_session=False)
    ).first()
    return written is not None


def _give_back_uses(counts: Counter[int]) -> None:
    """Take back released or expired uses, then put unused pool codes back in their state."""
    if not counts:
        return
    by_amount: dict[int, list[int]] = {}
    for code_id, amount in counts.items():
        by_amount.setdefault(amount, []).append(code_id)
    for amount, ids in by_amount.items():
        db.session.execute(
            update(Code)
            .where(Code.id.in_(ids))
            .values(times_used=Code.times_used - amount)
            .execution_options(synchronize_session=False)
        )
    db.session.execute(
        update(Code)
        .where(Code.id.in_(list(counts)), Code.shared.is_(False), Code.times_used == 0)
        .values(
            status=case((Code.assigned_customer_id.is_(None), CODE_UNASSIGNED), else_=CODE_ASSIGNED)
        )
        .execution_options(synchronize_session=False)
    )


def _find_code(shop: Shop, key: str) -> tuple[Code, Discount] | None:
    row = db.session.execute(
        select(Code, Discount)
        .join(Discount, Discount.id == Code.discount_id)
        .where(Code.code_key == key)
    ).first()
    return (row[0], row[1]) if row else None


def _existing(shop: Shop, order_id: str, discount_id: int | None = None) -> Redemption | None:
    """The order's redemption of ``discount_id``; without one, the order's first (an order
    carries one redemption per discount: an order code and a shipping code at most)."""
    query = select(Redemption).where(Redemption.order_external_id == order_id)
    if discount_id is not None:
        query = query.where(Redemption.discount_id == discount_id)
    return db.session.execute(query.order_by(Redemption.id).limit(1)).scalar_one_or_none()


def _free_customer_use(discount: Discount, customer_row_id: int | None) -> int | None:
    """The number of the customer's next use of a discount with ``uses_per_customer``:
    the lowest number of 1..limit that no counting use holds; None when the discount has
    no such limit (or the buyer is a guest). The unique
    index ``uq_redemptions_customer_use`` is what decides: two checkouts that pick the same
    number race for it and one loses (then it looks again). 0 when every number is held."""
    limit = discount.uses_per_customer or (1 if discount.once_per_customer else None)
    if limit is None or customer_row_id is None:
        return None
    held = set(
        db.session.execute(
            select(Redemption.customer_use).where(
                Redemption.discount_id == discount.id,
                Redemption.customer_id == customer_row_id,
                Redemption.customer_use.is_not(None),
                Redemption.status.in_(COUNTING),
                Redemption.flagged.is_(False),
            )
        ).scalars()
    )
    return next((n for n in range(1, limit + 1) if n not in held), 0)


def redeem_code(
    shop: Shop,
    code: str,
    order_id: str,
    customer_id: int | str | None,
    status: str = HELD,
    now: datetime | None = None,
    amount: int | None = None,
) -> str | None:
    """Use ``code`` for ``order_id`` in the caller's transaction; None when it worked,
    else the reason it lost (``usage_limit_reached``, ``already_used_by_customer``,
    ``unknown_code``). Repeating for the same order changes nothing and answers None.
    ``amount``: what the code took off the order as the redeem hook priced it (None keeps
    what an earlier hold of the order recorded, or 0).
    """
    now = now or utcnow()
    found = _find_code(shop, key_of(code))
    if found is None:
        return UNKNOWN_CODE
    code_row, discount = found
    previous = _existing(shop, order_id, discount.id)
    if previous is not None and previous.status in COUNTING:
        return None
    customer_row_id = _customer_row_id(shop, customer_id)
    code_id, shared = code_row.id, code_row.shared
    limit = code_usage_limit(discount, shared)
    # A racing checkout may take the customer's use number first: look again, at most
    # once per number the limit allows (each loss means one more number held).
    for _ in range((discount.uses_per_customer or 1) + 1):
        customer_use = _free_customer_use(discount, customer_row_id)
        if customer_use == 0:
            return ALREADY_USED_BY_CUSTOMER
        try:
            with db.session.begin_nested():
                if not _take_use(code_id, limit, shared):
                    raise _Lost(USAGE_LIMIT_REACHED)
                _record(
                    shop, code_row, discount, order_id, customer_row_id, status, now, previous,
                    amount=amount, customer_use=customer_use,
                )  # fmt: skip
        except _Lost as lost:
            return lost.reason
        except IntegrityError:
            # A partial unique index: this customer already holds that use of the discount
            # (or a racing call for the same order won: then it is ours already).
            if _existing(shop, order_id, discount.id) is not None:
                return None
            if customer_use is None:
                return ALREADY_USED_BY_CUSTOMER
            continue
        return None
    return ALREADY_USED_BY_CUSTOMER


def _record(
    shop: Shop,
    code: Code,
    discount: Discount,
    order_id: str,
    customer_row_id: int | None,
    status: str,
    now: datetime,
    previous: Redemption | None,
    flagged: bool = False,
    amount: int | None = None,
    customer_use: int | None = None,
) -> None:
    values: dict[str, Any] = {
        "code_id": code.id,
        "discount_id": discount.id,
        "customer_id": customer_row_id,
        "once_per_customer": discount.once_per_customer,
        "customer_use": customer_use,
        "status": status,
        "flagged": flagged,
        "created_at": now,
        "expires_at": now + timedelta(days=_hold_days()) if status == HELD else None,
        "confirmed_at": now if status == CONFIRMED else None,
        "released_at": None,
    }
    if amount is not None:
        values["amount"] = amount
    if previous is not None:
        # An expired or released hold of this order is used again (e.g. paid late).
        db.session.execute(
            update(Redemption)
            .where(Redemption.id == previous.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        db.session.expire(previous)
    else:
        db.session.execute(
            Redemption.__table__.insert().values(
                shop_id=shop.id, order_external_id=order_id, **values
            )
        )


def redeem(shop: Shop, code_key: str, order_id: str, customer_id: int | str | None) -> bool:
    """Hold one use of the code for the order; False when a limit refused it."""
    return redeem_code(shop, code_key, order_id, customer_id) is None


def order_redemption(claimed_by: Any = None) -> Any:
    """``SELECT`` the status and code of an order's first redemption (as :func:`_existing`),
    for the shop ``:b_shop`` (``shop_param``), or the shop of the column ``claimed_by`` (a
    join: the claim of the statement it goes in), and the order ``:b_order``: what
    :func:`confirm_for_order`
    looks at first. A caller that runs it inside a statement of its own (the ingest path,
    beside the customer's upsert) hands the row it read to :func:`confirm_for_order`, which
    then reads nothing again."""
    redemptions = Redemption.__table__.c
    shop = shop_param(redemptions) if claimed_by is None else redemptions.shop_id == claimed_by
    return (
        select(redemptions.status, redemptions.code_id)
        .where(shop, redemptions.order_external_id == bindparam("b_order"))
        .order_by(redemptions.id)
        .limit(1)
    )


def _codes_by_key(dialect: str) -> Any:
    codes = Code.__table__.c
    return select(codes.code_key, codes.code).where(
        shop_param(codes), codes.code_key.in_(bindparam("b_keys", expanding=True))
    )


@dataclass(frozen=True, slots=True)
class OrderRedemption:
    """The row :func:`order_redemption` read: ``status`` None when the order has none."""

    status: str | None
    code_id: int | None


def confirm_for_order(
    shop: Shop,
    order_external_id: str,
    codes: list[str],
    customer_row_id: int | None,
    read: OrderRedemption | None = None,
) -> None:
    """``order/paid``: confirm the order's held redemption, or record the use now.

    An order whose code never went through the redeem hook is recorded all the
    same; when it went past the usage limit or the customer's one use, it is
    counted anyway and flagged for the merchant. ``read``: the order's first redemption
    as :func:`order_redemption` read it earlier in this transaction, if it was.
    """
    now = utcnow()
    previous: Any
    if read is None:
        previous = run_built(
            built("order_redemption", lambda _: order_redemption()),
            {SHOP_PARAM: shop.id, "b_order": order_external_id},
        ).first()
    else:
        previous = read if read.status is not None else None
    if previous is not None and previous.status == HELD:
        db.session.execute(
            update(Redemption)
            # Every code the order holds (an order code and a shipping code, contract §8).
            .where(Redemption.order_external_id == order_external_id, Redemption.status == HELD)
            .values(status=CONFIRMED, confirmed_at=now, expires_at=None)
            .execution_options(synchronize_session=False)
        )
        return
    if previous is not None and previous.status == CONFIRMED:
        return
    code: str | None = None
    if previous is not None:  # its hold expired or was released: use that code again
        code = db.session.execute(
            select(Code.code).where(Code.id == previous.code_id)
        ).scalar_one_or_none()
    else:
        keys = [key_of(c) for c in codes if c and c.strip()]
        if keys:
            known = dict(
                run_built(
                    built("codes_by_key", _codes_by_key), {SHOP_PARAM: shop.id, "b_keys": keys}
                ).all()
            )
            code = next((known[k] for k in keys if k in known), None)
    if code is None:
        return
    if redeem_code(shop, code, order_external_id, customer_row_id, CONFIRMED, now) is None:
        return
    # Past a limit: the order is paid, so count it and flag it for the merchant.
    found = _find_code(shop, key_of(code))
    assert found is not None
    code_row, discount = found
    db.session.execute(
        update(Code)
        .where(Code.id == code_row.id)
        .values(
            times_used=Code.times_used + 1,
            **({} if code_row.shared else {"status": CODE_REDEEMED}),
        )
        .execution_options(synchronize_session=False)
    )
    _record(
        shop,
        code_row,
        discount,
        order_external_id,
        customer_row_id,
        CONFIRMED,
        now,
        _existing(shop, order_external_id, discount.id),
        flagged=True,
    )


def release_for_order(shop: Shop, order_external_id: str) -> bool:
    """``order/cancelled`` or ``order/refunded``: give the order's use back."""
    released = db.session.execute(
        update(Redemption)
        .where(
            Redemption.order_external_id == order_external_id,
            Redemption.status.in_(COUNTING),
        )
        .values(status=RELEASED, released_at=utcnow())
        .returning(Redemption.code_id)
        .execution_options(synchronize_session=False)
    ).scalars()
    counts = Counter(released)
    _give_back_uses(counts)
    return bool(counts)


def expire_holds(now: datetime | None = None) -> int:
    """Expire every hold past its time (all shops); return how many expired.

    Also prunes the brute-force guard's old attempts and ended blocks."""
    now = now or utcnow()
    expired = db.session.execute(
        update(Redemption)
        .where(Redemption.status == HELD, Redemption.expires_at <= now)
        .values(status=EXPIRED)
        .returning(Redemption.code_id)
        .execution_options(synchronize_session=False)
    ).scalars()
    counts = Counter(expired)
    _give_back_uses(counts)
    # The same periodic sweep keeps the brute-force guard's tables small.
    prune_attempts(now)
    return sum(counts.values())


def record_unknown_attempts(
    shop: Shop, subjects: list[str], codes: list[str], now: datetime | None = None
) -> AttemptVerdict:
    """Count unknown codes typed at either hook; slow a subject down, then block it.

    Each distinct unknown code counts once per subject (``customer:{id}``, ``cart:{id}``,
    ``ip:{address}``, see :func:`plugin.codes.lookup.attempt_subjects`) within
    ``CUSTOMER_GROUPS_CODE_ATTEMPT_WINDOW`` seconds: the same typo priced again writes
    nothing. A subject with ``CUSTOMER_GROUPS_CODE_ATTEMPT_LIMIT`` distinct unknown codes
    in the window is refused every code (``too_many_attempts``) for
    ``CUSTOMER_GROUPS_CODE_BLOCK_SECONDS``; from ``CUSTOMER_GROUPS_CODE_SLOW_AFTER`` of
    them on, its answers are slowed down first (when this call counted something new).

    Writes in the caller's transaction, only when some pair (subject, code) is new in
    the window. Two racing calls may both write the same pair: the count is of distinct
    codes, so it still counts once.
    """
    keys = sorted({key_of(c)[:64] for c in codes if c and c.strip()})
    if not subjects or not keys:
        return AttemptVerdict()
    now = now or utcnow()
    config = current_app.config
    limit = config["CUSTOMER_GROUPS_CODE_ATTEMPT_LIMIT"]
    window = timedelta(seconds=config["CUSTOMER_GROUPS_CODE_ATTEMPT_WINDOW"])
    block_for = timedelta(seconds=config["CUSTOMER_GROUPS_CODE_BLOCK_SECONDS"])
    slow_after = config["CUSTOMER_GROUPS_CODE_SLOW_AFTER"]
    in_window = (
        CodeAttempt.subject.in_(subjects),
        CodeAttempt.attempted_at > now - window,
    )
    seen = {
        (subject, key)
        for subject, key in db.session.execute(
            select(CodeAttempt.subject, CodeAttempt.code_key).where(
                *in_window, CodeAttempt.code_key.in_(keys)
            )
        )
    }
    new = [
        {"shop_id": shop.id, "subject": subject, "code_key": key, "attempted_at": now}
        for subject in subjects
        for key in keys
        if (subject, key) not in seen
    ]
    if not new:
        return AttemptVerdict()
    db.session.execute(CodeAttempt.__table__.insert(), new)
    counts = db.session.execute(
        select(CodeAttempt.subject, func.count(CodeAttempt.code_key.distinct()))
        .where(*in_window)
        .group_by(CodeAttempt.subject)
    ).all()
    blocked = False
    most = 0
    for subject, count in counts:
        most = max(most, count)
        if count < limit:
            continue
        blocked = True
        until = now + block_for
        if not insert_ignoring_conflict(
            CodeBlock.__table__, {"shop_id": shop.id, "subject": subject, "blocked_until": until}
        ):
            db.session.execute(
                update(CodeBlock).where(CodeBlock.subject == subject).values(blocked_until=until)
            )
    if blocked or most < slow_after:
        return AttemptVerdict(blocked=blocked)
    slow_down = min(
        config["CUSTOMER_GROUPS_CODE_SLOW_DOWN_FIRST"] * 2 ** (most - slow_after),
        config["CUSTOMER_GROUPS_CODE_SLOW_DOWN_MAX"],
    )
    return AttemptVerdict(slow_down=slow_down)


def prune_attempts(now: datetime | None = None) -> int:
    """Delete attempts older than a day and blocks that have ended (all shops)."""
    now = now or utcnow()
    deleted = db.session.execute(
        delete(CodeAttempt).where(CodeAttempt.attempted_at < now - ATTEMPTS_KEPT)
    ).rowcount
    db.session.execute(delete(CodeBlock).where(CodeBlock.blocked_until <= now))
    return int(deleted or 0)


__all__ = [
    "AttemptVerdict",
    "OrderRedemption",
    "confirm_for_order",
    "expire_holds",
    "order_redemption",
    "prune_attempts",
    "record_unknown_attempts",
    "redeem",
    "redeem_code",
    "release_for_order",
]
