"""Form plumbing shared by the rules, discounts, audiences and Try-a-cart pages.

Those forms have nested parts (a programme's tiers and each tier's actions, a bundle's
items, a cart's lines), so their fields are named by the API's own dotted paths
(``tiers.0.actions.1.type``): :func:`nested_form` turns the posted form back into that
shape, and the schema's 422 ``details`` (``tiers.1.min_subtotal``) name the very field to
show each message next to. Rows are added and removed with submit buttons (``_add`` /
``_remove``), which re-render the form unsaved: keyboard-usable and working without
JavaScript.

Money is typed and shown in major units of the shop's currency (``19.99``) and sent to
the operations in minor units (``1999``); Babel knows each currency's precision and
symbol.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask import request
from werkzeug.datastructures import MultiDict

from admin_ui.blueprint import format_money
from admin_ui.session import CSRF_FIELD, SESSION_PARAM
from plugin.errors import ApiError, ErrorCode
from plugin.groups.operations import list_groups
from plugin.limits import MAX_INTEGER
from plugin.money import exponent
from plugin.segments.operations import list_segments
from plugin.shops.models import Shop

T = TypeVar("T")

#: Form fields that are the page's plumbing, not the object's.
PLUMBING = frozenset({SESSION_PARAM, CSRF_FIELD, "_add", "_remove", "_action"})
_INDEX = re.compile(r"\.\d+(?=\.|$)")
#: Audience choices offered on a form: the API takes at most this many ids.
MAX_CHOICES = 1000


# Nested forms ---------------------------------------------------------------------------


def _pattern(name: str) -> str:
    return _INDEX.sub(".*", name)


def nested_form(form: MultiDict[str, str], multi: Iterable[str] = ()) -> dict[str, Any]:
    """The posted fields as nested dicts and lists of strings.

    ``multi`` names fields whose every value is kept as a list (checkbox sets), with
    ``*`` for a row index (``lines.*.category_ids``). Rows come back in index order, so
    a row's place in the list is its place on the page.
    """
    many = set(multi)
    root: dict[str, Any] = {}
    for name in form:
        if name in PLUMBING or name.startswith("_"):
            continue
        value: Any = form.getlist(name) if _pattern(name) in many else form.get(name, "")
        node = root
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[leaf] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_lists(node[key]) for key in sorted(node, key=int)]
    return {key: _lists(value) for key, value in node.items()}


def _get(data: Any, path: str) -> Any:
    """The value at a dotted path, or None."""
    node = data
    for part in path.split(".") if path else []:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


def edit_rows(data: dict[str, Any], blank: Mapping[str, Any]) -> str | None:
    """Apply the ``_add`` / ``_remove`` button that was pressed, if any.

    ``_add`` names a list (``tiers``, ``tiers.0.actions``) and appends a copy of
    ``blank[its pattern]``; ``_remove`` names a row (``tiers.1``). Returns the path of the
    row added, or of the list a row left (to focus it), or None when neither was pressed.
    """
    add, remove = request.form.get("_add"), request.form.get("_remove")
    if add and _pattern(add) in blank:
        parent_path, _, name = add.rpartition(".")
        parent = _get(data, parent_path)
        if not isinstance(parent, dict):
            return None
        rows = parent.get(name)
        if not isinstance(rows, list):
            rows = parent[name] = []
        rows.append(copy_form(blank[_pattern(add)]))
        return f"{add}.{len(rows) - 1}"
    if remove:
        container, _, index = remove.rpartition(".")
        rows = _get(data, container)
        if isinstance(rows, list) and index.isdigit() and int(index) < len(rows):
            del rows[int(index)]
            return container
    return None


def copy_form(value: Any) -> Any:
    """A deep copy of form values (dicts, lists, strings)."""
    if isinstance(value, dict):
        return {k: copy_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_form(v) for v in value]
    return value


def shaped(build: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a form-to-payload function; a form whose fields do not have the page's shape
    (only a hand-made request can send ``scope`` as text and ``scope.type`` too) is a 400,
    never a 500."""
    try:
        return build(*args, **kwargs)
    except (AttributeError, TypeError, KeyError, IndexError):
        raise ApiError(
            ErrorCode.INVALID_PAYLOAD,
            "This form does not match the page it came from: reload the page and try again.",
            400,
        ) from None


def split_ids(text: Any) -> list[str]:
    """Ids typed in one box, separated by commas, spaces or new lines."""
    if isinstance(text, list):
        return [str(t).strip() for t in text if str(t).strip()]
    return [part for part in re.split(r"[\s,;]+", str(text or "")) if part]


def checked(data: Mapping[str, Any], name: str) -> bool:
    """A checkbox: present (any value but an explicit false) means ticked."""
    value = data.get(name)
    return value not in (None, "", "0", "false", "off", False)


class Converter:
    """Turns typed text into API values, collecting a message per bad field.

    A value that cannot be read is passed on as typed (so the schema refuses it too) and
    its message here, written for someone typing in a form, is the one shown.
    """

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.errors: dict[str, list[str]] = {}

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def money(self, path: str, text: Any, *, optional: bool = False) -> Any:
        """Major units (``19.99``) → minor units (``1999``); blank is None when optional."""
        raw = str(text if text is not None else "").strip()
        if not raw:
            if not optional:
                self.fail(path, "Enter an amount.")
            return None
        try:
            return self._in_range(path, to_minor(raw, self.currency), raw)
        except ValueError as err:
            self.fail(path, str(err))
            return raw

    def integer(self, path: str, text: Any, *, optional: bool = False) -> Any:
        raw = str(text if text is not None else "").strip()
        if not raw:
            if not optional:
                self.fail(path, "Enter a whole number.")
            return None
        try:
            return self._in_range(path, int(raw), raw)
        except ValueError:
            self.fail(path, "Enter a whole number, such as 3.")
            return raw

    def percent(self, path: str, text: Any) -> Any:
        raw = str(text if text is not None else "").strip()
        if not raw:
            self.fail(path, "Enter a percent, such as 10 or 12.5.")
            return None
        try:
            value = Decimal(raw.replace(",", "."))
        except InvalidOperation:
            self.fail(path, "Enter a percent, such as 10 or 12.5.")
            return raw
        if not value.is_finite():
            self.fail(path, "Enter a percent, such as 10 or 12.5.")
            return raw
        if abs(value) > MAX_INTEGER:
            return self._in_range(path, MAX_INTEGER + 1, raw)
        return int(value) if value == value.to_integral_value() else float(value)

    def _in_range(self, path: str, number: int, raw: str) -> Any:
        """The input limits (contract v2 §2): numbers within ±(2^53 − 1)."""
        if abs(number) > MAX_INTEGER:
            self.fail(path, f"Enter a number between -{MAX_INTEGER:,} and {MAX_INTEGER:,}.")
            return raw
        return number

    def day(self, path: str, text: Any) -> str | None:
        """A date input (``YYYY-MM-DD``) or None when blank."""
        raw = str(text if text is not None else "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw).isoformat()
        except ValueError:
            self.fail(path, "Enter a date (YYYY-MM-DD).")
            return raw


# Money ----------------------------------------------------------------------------------


def precision(currency: str) -> int:
    return exponent(currency)


def to_minor(text: str, currency: str) -> int:
    """``"19.99"`` EUR → ``1999``; refuses what is not an amount of this currency."""
    digits = precision(currency)
    cleaned = text.strip().replace(" ", "").replace("\u00a0", "")
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"Enter an amount in {currency}, such as {example(currency)}.") from None
    if not value.is_finite():
        raise ValueError(f"Enter an amount in {currency}, such as {example(currency)}.")
    if value < 0:
        raise ValueError("Enter 0 or more.")
    minor = value.scaleb(digits)
    if minor != minor.to_integral_value():
        places = "no decimals" if digits == 0 else f"at most {digits} decimals"
        raise ValueError(f"An amount in {currency} has {places}.")
    if minor > 10**15:
        raise ValueError("This amount is too large.")
    return int(minor)


def example(currency: str) -> str:
    digits = precision(currency)
    return "20" if digits == 0 else "19." + "9" * digits


def major(amount: Any, currency: str) -> str:
    """Minor units as a form value in major units (``1999`` → ``"19.99"``)."""
    if amount is None or amount == "":
        return ""
    if isinstance(amount, str):
        return amount  # as typed, shown back after an error
    digits = precision(currency)
    return f"{Decimal(int(amount)).scaleb(-digits):.{digits}f}"


def money(amount: int | None, currency: str) -> str:
    """Minor units for people (``-400`` EUR → ``-€4.00`` in ``en``): the admin's one way,
    :func:`admin_ui.blueprint.format_money`, in the shop's locale."""
    return format_money(amount, currency)


# Dates ----------------------------------------------------------------------------------


def shop_day(shop: Shop, value: str | datetime | None, *, end: bool = False) -> str:
    """A stored moment as the shop's calendar day for a date input.

    An end is stored as the start of the next day (``ends_at: 2026-03-31`` holds all of the
    31st), so it shows as the day before that midnight.
    """
    if value is None or value == "":
        return ""
    moment = (
        datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    )
    local = moment.astimezone(ZoneInfo(shop.timezone))
    if end and local.time() == datetime.min.time():
        local -= timedelta(days=1)
    return local.date().isoformat()


# Audiences of rules and discounts -------------------------------------------------------


def audience_choices(shop: Shop) -> dict[str, list[Any]]:
    """The shop's groups and segments to tick in an audience fieldset."""
    groups = list_groups(shop, 1, MAX_CHOICES)["items"]
    segments = list_segments(shop, 1, MAX_CHOICES)["items"]
    return {
        "groups": groups,
        "segments": segments,
        "group_options": [(group.id, group.name) for group in groups],
        "segment_options": [(segment.id, segment.name) for segment in segments],
    }


def audience_in(conv: Converter, raw: Any) -> dict[str, Any]:
    """``audience.type`` plus the ticked ``audience.group_ids`` or ``audience.segment_ids``."""
    raw = raw if isinstance(raw, dict) else {}
    kind = str(raw.get("type") or "all")
    ids: list[Any] = []
    if kind in ("groups", "segments"):
        chosen = raw.get("group_ids" if kind == "groups" else "segment_ids") or []
        for value in chosen if isinstance(chosen, list) else [chosen]:
            try:
                ids.append(int(value))
            except ValueError:
                conv.fail("audience.ids", "Pick from the list.")
    return {"type": kind, "ids": ids}


def audience_form(audience: Mapping[str, Any] | None) -> dict[str, Any]:
    """An API audience as form values."""
    audience = audience or {"type": "all", "ids": []}
    ids = [str(i) for i in audience.get("ids") or []]
    kind = audience.get("type", "all")
    return {
        "type": kind,
        "group_ids": ids if kind == "groups" else [],
        "segment_ids": ids if kind == "segments" else [],
    }


AUDIENCE_MULTI = ("audience.group_ids", "audience.segment_ids")


def audience_label(audience: Mapping[str, Any], choices: Mapping[str, list[Any]]) -> str:
    """``Groups: VIP, Wholesale`` for a list (names stay text: the template escapes them)."""
    kind = audience.get("type", "all")
    if kind == "all":
        return "Everyone"
    if kind == "guests":
        return "Guests"
    known = {row.id: row.name for row in choices.get(kind, [])}
    names = [known.get(i, f"#{i}") for i in audience.get("ids") or []]
    return f"{kind.title()}: {', '.join(names)}"
