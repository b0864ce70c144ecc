"""Render a message template for a customer with their codes (``POST /api/render``).

Templates are Jinja2 run in :class:`ImmutableSandboxedEnvironment`: they see exactly two
names, ``customer`` (a plain dict: ``id``, ``first_name``, ``last_name``, ``email``,
``group``, ``points``) and ``coupon(discount)``; Jinja's default globals (``range``,
``cycler``, ...) are removed, underscore attributes and mutation are refused by the
sandbox, and string or list repetition and powers are capped so a template cannot
allocate without bound.

``coupon("WELCOME")`` names a discount by its shared code, its name (both ignoring case)
or its id, and gives the code assigned to this customer from that discount's pool (the
newest one that is still usable). A customer without one gets nothing at all: the whole
message is not rendered (``rendered`` is null) and ``missing`` lists what was missing, so
that a sender never sends a message with a hole where the code should be.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError

from plugin.codes.lookup import code_key
from plugin.codes.models import CODE_ASSIGNED, Code, Discount
from plugin.customers.models import Customer
from plugin.db import db, name_key, utcnow
from plugin.errors import ApiError, ErrorCode
from plugin.groups.models import Group
from plugin.shops.models import Shop

FORMATS = ("html", "text")
MAX_TEMPLATE_LENGTH = 100_000
#: The most characters a message may come to.
MAX_OUTPUT = 1_000_000
#: The longest string or list a template may build by repetition, the largest power.
MAX_REPEAT = 10_000
MAX_EXPONENT = 100


class MessageEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, with ``*`` and ``**`` checked so a template cannot exhaust memory."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"Powers above {MAX_EXPONENT} are not allowed in messages.")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    if len(seq) * times > MAX_REPEAT:
                        raise SecurityError(
                            f"Repeating to more than {MAX_REPEAT} items is not allowed."
                        )
        return super().call_binop(context, operator, left, right)


def _environment(autoescape: bool) -> MessageEnvironment:
    env = MessageEnvironment(autoescape=autoescape, undefined=StrictUndefined)
    env.globals.clear()  # only what we pass in: no range, cycler, joiner, namespace, lipsum
    return env


@dataclass
class Rendered:
    rendered: str | None
    missing: list[str] = field(default_factory=list)


class _UnknownDiscount(Exception):
    pass


def _problem(message: str) -> ApiError:
    return ApiError(
        ErrorCode.VALIDATION_FAILED,
        "Some fields are not valid: template.",
        422,
        {"template": [message]},
    )


def customer_context(shop: Shop, customer: Customer) -> dict[str, Any]:
    group = db.session.execute(
        select(Group.name).where(Group.shop_id == shop.id, Group.id == customer.group_id)
    ).scalar_one_or_none()
    return {
        "id": customer.external_id,
        "first_name": customer.first_name or "",
        "last_name": customer.last_name or "",
        "email": customer.email or "",
        "group": group or "",
        "points": customer.points,
    }


def find_discount(shop: Shop, ref: str | int) -> Discount:
    """The discount a template names: by shared code, then name (ignoring case), then id."""
    if isinstance(ref, bool) or not isinstance(ref, str | int):
        raise _UnknownDiscount(f"coupon() takes a discount's code, name or id, not {ref!r}.")
    text = str(ref).strip()
    by_code = db.session.execute(
        select(Discount)
        .join(Code, Code.discount_id == Discount.id)
        .where(
            Code.shop_id == shop.id,
            Code.shared.is_(True),
            Code.code_key == code_key(text),
        )
    ).scalar_one_or_none()
    if by_code is not None:
        return by_code
    by_name = db.session.execute(
        select(Discount).where(Discount.shop_id == shop.id, Discount.name_key == name_key(text))
    ).scalar_one_or_none()  # names are unique per shop (ignoring case)
    if by_name is not None:
        return by_name
    if text.isdigit():
        by_id = db.session.execute(
            select(Discount).where(Discount.shop_id == shop.id, Discount.id == int(text))
        ).scalar_one_or_none()
        if by_id is not None:
            return by_id
    raise _UnknownDiscount(f"No discount has the code, name or id {text!r}.")


def customer_code(discount: Discount, customer: Customer) -> str | None:
    """The customer's usable code of ``discount``: assigned to them, not used up, not
    expired, from a discount that is active and not over. None otherwise."""
    now = utcnow()
    if not discount.active or (discount.ends_at is not None and discount.ends_at <= now):
        return None
    found: str | None = db.session.execute(
        select(Code.code)
        .where(
            Code.discount_id == discount.id,
            Code.assigned_customer_id == customer.id,
            Code.status == CODE_ASSIGNED,
            or_(Code.expires_at.is_(None), Code.expires_at > now),
        )
        .order_by(Code.assigned_at.desc(), Code.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return found


def render_message(shop: Shop, template: str, customer_id: str, fmt: str = "html") -> Rendered:
    """Render ``template`` for the customer; 422 for a template that cannot be rendered."""
    customer = db.session.execute(
        select(Customer).where(Customer.shop_id == shop.id, Customer.external_id == customer_id)
    ).scalar_one_or_none()
    if customer is None:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "Some fields are not valid: customer_id.",
            422,
            {"customer_id": [f"Unknown customer {customer_id}."]},
        )
    env = _environment(autoescape=fmt == "html")
    try:
        compiled = env.from_string(template)
    except TemplateSyntaxError as err:
        raise _problem(f"Line {err.lineno}: {err.message}") from None
    missing: list[str] = []
    discounts: dict[Any, Discount] = {}

    def coupon(ref: Any) -> str:
        key = ref if isinstance(ref, int) and not isinstance(ref, bool) else str(ref)
        if key not in discounts:
            discounts[key] = find_discount(shop, ref)
        code = customer_code(discounts[key], customer)
        if code is None:
            if str(ref) not in missing:
                missing.append(str(ref))
            return ""
        return code

    text = _render(compiled.generate, customer=customer_context(shop, customer), coupon=coupon)
    if missing:
        return Rendered(None, missing)
    return Rendered(text, [])


def _render(generate: Callable[..., Any], **context: Any) -> str:
    parts: list[str] = []
    size = 0
    try:
        for chunk in generate(**context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise _problem(f"The message is longer than {MAX_OUTPUT} characters.")
            parts.append(chunk)
    except (ApiError, SQLAlchemyError):
        raise
    except _UnknownDiscount as err:
        raise _problem(str(err)) from None
    except SecurityError as err:
        raise _problem(f"Not allowed in a message: {err}") from None
    except TemplateError as err:
        raise _problem(err.message or type(err).__name__) from None
    except Exception as err:  # the template's own mistake (1/0, "a" + 1, ...)
        raise _problem(f"The template failed: {type(err).__name__}: {err}") from None
    return "".join(parts)
