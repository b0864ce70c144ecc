"""Input limits (contract v2 §2, "Input limits"): what no input may hold, checked where it
arrives so that nothing past them reaches an operation, a database or a date calculation.

- JSON nests at most :data:`MAX_DEPTH` levels (an object or array is a level). The depth is
  measured on the text before parsing, without recursion, so a body 100,000 levels deep
  costs two string scans and never the stack; only bodies at most
  :data:`_PARSED_DEPTH` deep are parsed, which lets the refusal of one slightly too deep
  name the place where it went too deep.
- Strings, keys included, hold no NUL and no lone surrogate (neither can be stored in
  PostgreSQL text nor encoded as UTF-8).
- Numbers lie within ±:data:`MAX_INTEGER` (2^53 − 1, what a JSON number keeps exactly
  everywhere); ``NaN`` and ``Infinity`` are not JSON and are refused where they stand.
- Dates lie between :data:`FIRST_DAY` and :data:`LAST_DAY`, and moments between
  :data:`FIRST_MOMENT` and :data:`LAST_MOMENT` (UTC): one day inside years 1900 and 9999,
  so that converted to any shop's time zone (offsets stay under a day) they still fall
  within years 1900–9999, and "the day after" a date is still a date.

Each refusal is :class:`InputRejected` with ``details`` naming every field path found
(``customer.points``, ``lines.0.quantity``); the edges answer it as 400
``invalid_payload`` (host requests) or 422 (admin API, admin pages).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Any

from plugin.errors import ApiError, ErrorCode

MAX_INTEGER = 2**53 - 1
#: The largest id the extension creates (32-bit serial columns), and the largest count kept
#: in a 32-bit column: PostgreSQL compares such a column with a parameter cast to its type,
#: so a larger number there is a 500, not a row that is not found.
MAX_SERIAL = 2**31 - 1
MAX_DEPTH = 32
#: Bodies up to this deep are parsed (C recursion far below Python's limit) so that a
#: refusal can name the field; deeper ones are refused from the text alone.
_PARSED_DEPTH = 64
#: At most this many fields are named in one refusal.
MAX_DETAILS = 20

FIRST_DAY = date(1900, 1, 2)
LAST_DAY = date(9999, 12, 30)
FIRST_MOMENT = datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=UTC)
LAST_MOMENT = datetime.combine(LAST_DAY, datetime.max.time(), tzinfo=UTC)

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
# A string, or what is left of an unterminated one: every '"' starts a match, so cutting
# strings out is linear whatever the text (a failed match retried at each later quote
# would make a 1 MiB body of escaped quotes quadratic).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DELTA = {"[": 1, "{": 1, "]": -1, "}": -1}

NUL_MESSAGE = "Must not contain NUL characters."
SURROGATE_MESSAGE = "Must not contain lone surrogates (not valid Unicode)."
INTEGER_MESSAGE = f"Must lie between -{MAX_INTEGER} and {MAX_INTEGER}."
FINITE_MESSAGE = "Must be a finite number (NaN and Infinity are not JSON)."
DEPTH_MESSAGE = f"JSON may nest at most {MAX_DEPTH} levels deep."
DATE_MESSAGE = f"Must lie between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}."


class InputRejected(Exception):
    """Input past the limits: ``details`` is ``{"field.path": [messages]}``."""

    def __init__(self, details: dict[str, list[str]], message: str | None = None) -> None:
        self.details = dict(list(details.items())[:MAX_DETAILS])
        self.message = message or (
            f"Some fields are beyond the input limits: {', '.join(sorted(self.details))}."
        )
        super().__init__(self.message)


def text_flaw(text: str) -> str | None:
    """Why ``text`` cannot be stored (a NUL, a lone surrogate), or None."""
    found = _BAD_TEXT.search(text)
    if found is None:
        return None
    return NUL_MESSAGE if found.group() == "\x00" else SURROGATE_MESSAGE


def clean_text(text: str) -> str:
    """``text`` without its NULs and lone surrogates (what a lenient field keeps)."""
    return _BAD_TEXT.sub("", text)


def number_flaw(value: Any) -> str | None:
    """Why a number is out of range (beyond ±2^53 − 1, or not finite), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return FINITE_MESSAGE
    return None if -MAX_INTEGER <= value <= MAX_INTEGER else INTEGER_MESSAGE


def saturate(value: int) -> int:
    """``value`` held within ±(2^53 − 1): what a running figure keeps instead of overflowing."""
    return max(-MAX_INTEGER, min(MAX_INTEGER, value))


def printable_key(key: str) -> str:
    """A key fit to name in ``details`` (its NULs and lone surrogates spelled out)."""
    return _BAD_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", key)


def scan(
    value: Any, path: str = "", tolerate: Callable[[str], bool] | None = None
) -> dict[str, list[str]]:
    """Every place in ``value`` (parsed JSON, a form, a dict from an in-process host) past
    the limits, as ``details``. ``tolerate(path)`` may exempt the text and numbers at a
    path whose schema cleans them itself (a customer snapshot); depth is never exempt.

    Iterative, so a deep structure built in Python cannot blow the stack either."""
    problems: dict[str, list[str]] = {}
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack and len(problems) < MAX_DETAILS:
        node, where, depth = stack.pop()
        if isinstance(node, dict | list | tuple):
            depth += 1
            if depth > MAX_DEPTH:
                problems.setdefault(where or "_body", []).append(DEPTH_MESSAGE)
                continue
            items: Iterable[tuple[str, Any]]
            if isinstance(node, dict):
                items = []
                for key, item in node.items():
                    name = str(key)
                    child = f"{where}.{printable_key(name)}" if where else printable_key(name)
                    flaw = text_flaw(name)
                    if flaw and not (tolerate and tolerate(child)):
                        problems.setdefault(child, []).append(f"Field name: {flaw}")
                    items.append((child, item))
            else:
                items = [
                    (f"{where}.{index}" if where else str(index), item)
                    for index, item in enumerate(node)
                ]
            stack.extend((item, child, depth) for child, item in reversed(list(items)))
            continue
        if isinstance(node, str):
            flaw = text_flaw(node)
        else:
            flaw = number_flaw(node)
        if flaw and not (tolerate and tolerate(where)):
            problems.setdefault(where or "_body", []).append(flaw)
    return problems


def nesting_depth(text: str) -> int:
    """How deep ``text`` (JSON) nests: strings cut out, then a running count of brackets,
    all at C speed (about 0.1 s for 1 MiB of brackets) and without recursion."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_DELTA.__getitem__, brackets)), default=0)


def _parse_int(digits: str) -> int:
    # Python refuses to convert more than 4,300 digits (a ValueError that would read as
    # "not JSON"); anything that long is out of range anyway, and named as such.
    if len(digits) > 40:
        return -(10**40) if digits.startswith("-") else 10**40
    return int(digits)


NOT_JSON = "Not JSON."


def parse_json(body: bytes | str, tolerate: Callable[[str], bool] | None = None) -> Any:
    """``body`` parsed, or :class:`InputRejected`: not JSON (``_body``), too deep, or holding
    text or numbers past the limits (each path named)."""
    try:
        text = (
            body.decode(json.detect_encoding(body), "surrogatepass")
            if isinstance(body, bytes)
            else body
        )
    except (UnicodeDecodeError, LookupError):
        raise InputRejected({"_body": [NOT_JSON]}, "The body is not JSON.") from None
    if nesting_depth(text) > _PARSED_DEPTH:
        raise InputRejected({"_body": [DEPTH_MESSAGE]}, "The body nests too deep.")
    try:
        # NaN and Infinity (not JSON, but Python reads them) become floats refused by name.
        data = json.loads(text, parse_int=_parse_int)
    except (ValueError, RecursionError):
        raise InputRejected({"_body": [NOT_JSON]}, "The body is not JSON.") from None
    problems = scan(data, tolerate=tolerate)
    if problems:
        raise InputRejected(problems)
    return data


def day_flaw(day: date) -> str | None:
    """Why a date is out of range, or None."""
    return None if FIRST_DAY <= day <= LAST_DAY else DATE_MESSAGE


def moment_flaw(moment: datetime) -> str | None:
    """Why an aware date-time is out of range (judged in UTC, overflow included), or None."""
    offset = moment.utcoffset() or timedelta(0)
    # Compared as local time minus the bounds, never converted: a conversion can overflow.
    naive = moment.replace(tzinfo=None)
    if naive - FIRST_MOMENT.replace(tzinfo=None) < offset:
        return DATE_MESSAGE
    if naive - LAST_MOMENT.replace(tzinfo=None) > offset:
        return DATE_MESSAGE
    return None


def parse_json_object(body: bytes, tolerate: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """A host request's body as a JSON object within the input limits (depth, text,
    numbers), or 400 ``invalid_payload`` naming each place past them; ``tolerate`` names
    the places left to a schema that cleans them (see :func:`parse_json`)."""
    try:
        data = parse_json(body or b"{}", tolerate=tolerate)
    except InputRejected as err:
        raise ApiError(ErrorCode.INVALID_PAYLOAD, err.message, 400, err.details) from None
    if not isinstance(data, dict):
        raise ApiError(
            ErrorCode.INVALID_PAYLOAD,
            "The body must be a JSON object.",
            400,
            {"_body": ["Must be an object."]},
        )
    return data
