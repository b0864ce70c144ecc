"""One corpus of hostile input (contract v2 §2, "Input limits"), for every endpoint.

Importable on its own (no app, no Flask): the suite under ``tests/limits`` sends it
through Flask's test client, and the served suite can send the very same cases over
HTTP. What is here:

- the values: :data:`LIMIT_VALUES` are refused wherever they stand (400 host, 422
  admin, naming the field) and change nothing; :data:`DATE_VALUES` likewise where a
  date is expected; :data:`EDGE_VALUES` (2^31, −(2^53 − 1), 10,000 characters) and
  :data:`ODD_VALUES` (empty strings, 256-character ids, wrong types) may be accepted or
  refused by each field's own rules, but never answer a 500;
  :data:`RAW_BODIES` are bodies refused as a whole (100,000 levels deep, NaN, not
  JSON);
- :func:`body_cases`, every case for one valid baseline body: each value at each field
  (leaves and containers), a hostile key in each object, JSON 33 levels deep under each
  object, the raw bodies;
- :func:`query_cases` and :func:`form_cases` for query strings and posted forms;
- baselines: a valid body per webhook topic (:data:`WEBHOOK_PAYLOADS`, for the
  customers, orders and codes made by :func:`seed_webhooks`), the hooks' carts, and
  the admin API's bodies by route (:data:`ADMIN_BODIES`, ids filled in from
  :func:`seed_admin`, which makes them through the API);
- :func:`verdict`, which tells what is wrong with an answer to a case, or None.

A customer snapshot (``customer/created``, ``customer/updated``) is the one documented
clean-up: flaws in its fields other than ``id`` are cleaned or dropped and the customer
kept (README, "Customer fields"); pass ``cleaned=CUSTOMER_FIELDS`` for those topics.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

MAX_INTEGER = 2**53 - 1
#: A string value written into the JSON text as it is (see :func:`dumps`).
_LITERAL_PREFIX = "__LITERAL__"

#: Refused wherever they stand.
LIMIT_VALUES: dict[str, Any] = {
    "NUL": "a\x00b",
    "only NUL": "\x00",
    "lone surrogate": "a\ud800b",
    "lone low surrogate": "\udc00",
    "2^53": 2**53,
    "2^63-1": 2**63 - 1,
    "2^63": 2**63,
    "-2^63": -(2**63),
    "10^20": 10**20,
    "10^30": 10**30,
    "5000 digits": _LITERAL_PREFIX + "9" * 5000,
    "huge float": 1e308,
    "-huge float": -1e308,
    "NaN": _LITERAL_PREFIX + "NaN",
    "Infinity": _LITERAL_PREFIX + "Infinity",
    "-Infinity": _LITERAL_PREFIX + "-Infinity",
    "1e400": _LITERAL_PREFIX + "1e400",
}

#: Refused where a date is expected (ISO text outside years 1900–9999 in any time zone).
DATE_VALUES: dict[str, str] = {
    "0001 +14:00": "0001-01-01T00:00:00+14:00",
    "9999 -14:00": "9999-12-31T23:59:59-14:00",
    "0001-01-01": "0001-01-01",
    "9999-12-31": "9999-12-31",
    "1899 UTC": "1899-12-31T12:00:00Z",
}

#: Accepted or refused by each field's own rules; never a 500. Every field gets these:
#: past a 32-bit column, at the bounds of the integer range, past a text column.
EDGE_VALUES: dict[str, Any] = {
    "2^31": 2**31,
    "-(2^53-1)": -MAX_INTEGER,
    "10,000 chars": "y" * 10_000,
}

#: Accepted or refused by each field's own rules; never a 500 (each field a few, in turn).
ODD_VALUES: dict[str, Any] = {
    "2^31-1": 2**31 - 1,
    "-2^31-1": -(2**31) - 1,
    "2^53-1": MAX_INTEGER,
    "-1": -1,
    "0": 0,
    "1.5": 1.5,
    "empty string": "",
    "spaces": "   ",
    "256 chars": "x" * 256,
    "number as text": "12",
    "big number as text": "9223372036854775808",
    "date as text 0001": "0001-01-01T00:00:00+14:00",
    "true": True,
    "null": None,
    "list": [],
    "list of lists": [[1]],
    "object": {},
    "emoji": "\U0001f600",
    "right-to-left": "\u202eevil",
}

_DEEP_100K = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
_DEEP_33 = b'{"a":' + b"[" * 32 + b"]" * 32 + b"}"

#: Bodies refused as a whole.
RAW_BODIES: dict[str, bytes] = {
    "100,000 deep": _DEEP_100K,
    "100,000 deep objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "33 deep": _DEEP_33,
    "NaN body": b"NaN",
    "not JSON": b"{not json",
    "invalid UTF-8": b'{"a": "\xff\xfe"}',
    "UTF-8 surrogate": b'{"a": "\xed\xa0\x80"}',
    "array": b"[]",
    "string": b'"text"',
    "truncated": b'{"a": [1, 2',
}

_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ].*)?$")


# Bodies ------------------------------------------------------------------------------------


def dumps(value: Any) -> bytes:
    """JSON as hosts might send it: lone surrogates escaped, ``__LITERAL__x`` written as ``x``
    (NaN, Infinity, 1e400 are not JSON values Python would produce)."""
    text = json.dumps(value, ensure_ascii=True)
    text = re.sub(r'"__LITERAL__([^"]*)"', r"\1", text)
    return text.encode()


@dataclass(frozen=True)
class Case:
    """One hostile request body (or query, or form) and what it must get.

    ``expect``: ``refused`` (4xx naming ``path`` in ``details``, nothing changed),
    ``refused_whole`` (4xx, nothing changed), ``cleaned`` (2xx, the value cleaned or
    dropped: a customer snapshot's field), ``not_500`` (anything below 500)."""

    label: str
    path: str
    expect: str
    body: bytes = b""
    value: Any = None


def paths(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every field path of a JSON value (containers and leaves), with its value."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{prefix}.{key}" if prefix else str(key)
            yield where, item
            yield from paths(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            where = f"{prefix}.{index}" if prefix else str(index)
            yield where, item
            yield from paths(item, where)


def objects(value: Any, prefix: str = "") -> Iterator[str]:
    """The path of every object in a JSON value ('' for the root)."""
    if isinstance(value, dict):
        yield prefix
    for where, item in paths(value, prefix):
        if isinstance(item, dict):
            yield where


def set_path(body: Any, path: str, value: Any) -> Any:
    """A copy of ``body`` with ``value`` at ``path`` (a new key when it is not there)."""
    copied = copy.deepcopy(body)
    *parents, leaf = path.split(".")
    node = copied
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value
    return copied


def node_at(body: Any, parents: list[str]) -> Any:
    """The object or list at ``parents`` in ``body``, or None when it is not there (a
    generated change may have replaced a container by a scalar)."""
    node: Any = body
    for part in parents:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node if isinstance(node, dict | list) else None


def put_in_place(body: Any, path: str, value: Any) -> None:
    """Put a copy of ``value`` at ``path`` of ``body`` when its parent is there.

    A copy: the corpus's values ({}, []) are shared by every test of the process; put in
    place, a later change or drop of the example wrote into them (once a dict holding
    itself, which failed this and the next corpus test of the process)."""
    value = copy.deepcopy(value)
    *parents, leaf = path.split(".")
    node = node_at(body, parents)
    if isinstance(node, list) and leaf.isdigit() and int(leaf) < len(node):
        node[int(leaf)] = value
    elif isinstance(node, dict):
        node[leaf] = value


def drop_in_place(body: Any, path: str) -> None:
    """Remove the key at ``path`` of ``body`` when its object is there."""
    *parents, leaf = path.split(".")
    node = node_at(body, parents)
    if isinstance(node, dict):
        node.pop(leaf, None)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def spread(values: dict[str, Any], index: int, width: int | None) -> list[tuple[str, Any]]:
    """The values the ``index``-th field gets: all of them (``width`` None), or ``width`` of
    them in turn, so that consecutive fields together get every value."""
    items = list(values.items())
    if width is None or width >= len(items):
        return items
    start = index * width
    return [items[(start + offset) % len(items)] for offset in range(width)]


#: How many values of each list one field gets (``full=False``); every value still lands
#: on some field of every body with at least five fields.
LIMIT_WIDTH = 4
ODD_WIDTH = 4
FORM_WIDTH = 3


def body_cases(
    baseline: dict[str, Any],
    cleaned: Callable[[str], bool] = lambda path: False,
    odd: bool = True,
    keys: bool = True,
    full: bool = False,
) -> Iterator[Case]:
    """The hostile cases for one valid ``baseline`` body.

    ``cleaned(path)``: the field is cleaned instead of refused (a customer snapshot; what
    each field's cleaning does is tested field by field in ``test_customer_fields``).
    ``odd``: also the values that may be accepted (containers: null and wrong types).
    ``keys``: also hostile keys and deep values added to each object (leave out where an
    unknown key with an ordinary value would be accepted and do harm). ``full``: every
    value at every field (the cartesian product) instead of the values in turn (each
    field a few of them, :func:`spread`), which costs about four times as many requests
    for what the parser refuses the same way wherever it stands."""
    for index, (path, original) in enumerate(paths(baseline)):
        container = isinstance(original, dict | list)
        width = None if full else LIMIT_WIDTH
        for name, value in spread(LIMIT_VALUES, index, width):
            expect = "cleaned" if cleaned(path) else "refused"
            yield Case(f"{path} = {name}", path, expect, dumps(set_path(baseline, path, value)))
        if isinstance(original, str) and _DATE_LIKE.match(original):
            for name, value in DATE_VALUES.items():
                expect = "cleaned" if cleaned(path) else "refused"
                body = dumps(set_path(baseline, path, value))
                yield Case(f"{path} = {name}", path, expect, body)
        if odd and container:
            # A whole object or list replaced: by nothing, or by the wrong type.
            for name in ("null", "true", "empty string"):
                body = dumps(set_path(baseline, path, ODD_VALUES[name]))
                yield Case(f"{path} = {name}", path, "not_500", body)
        elif odd:
            width = None if full else ODD_WIDTH
            for name, value in [*EDGE_VALUES.items(), *spread(ODD_VALUES, index, width)]:
                body = dumps(set_path(baseline, path, value))
                yield Case(f"{path} = {name}", path, "not_500", body)
    if keys:
        for where in objects(baseline):
            for name, key in (("NUL key", "k\x00"), ("surrogate key", "k\ud800")):
                path = f"{where}.{key}" if where else key
                named = path.replace("\x00", "\\u0000").replace("\ud800", "\\ud800")
                # An unknown key is dropped where the fields are cleaned.
                expect = "cleaned" if cleaned(path) else "refused"
                body = dumps(set_path(baseline, path, 1))
                yield Case(f"{where or '(root)'}: {name}", named, expect, body)
            path = f"{where}.deep" if where else "deep"
            body = dumps(set_path(baseline, path, _nested(40)))
            yield Case(f"{where or '(root)'}: 40 deep", path, "refused", body)
    for name, raw in RAW_BODIES.items():
        yield Case(name, "", "refused_whole", raw)


def query_cases(names: list[str]) -> Iterator[Case]:
    """Hostile values for each query parameter (``body`` is the query string)."""
    values: dict[str, tuple[str, str]] = {
        "NUL": ("a%00b", "refused"),
        "2^63": (str(2**63), "not_500"),
        "10^30": (str(10**30), "not_500"),
        "5000 digits": ("9" * 5000, "not_500"),
        "-1": ("-1", "not_500"),
        "0": ("0", "not_500"),
        "empty": ("", "not_500"),
        "1e400": ("1e400", "not_500"),
        "NaN": ("NaN", "not_500"),
        "256 chars": ("x" * 256, "not_500"),
        "UTF-8 surrogate": ("%ED%A0%80", "not_500"),
        "date 0001": ("0001-01-01T00:00:00%2B14:00", "not_500"),
    }
    for name in names:
        for label, (text, expect) in values.items():
            if name in ("page", "per_page"):
                expect = "refused"  # positive whole numbers, page × per_page within 2^53 - 1
            yield Case(f"?{name}={label}", name, expect, f"{name}={text}".encode())
    # page × per_page past the range, each one alone being fine
    if "page" in names and "per_page" in names:
        yield Case(
            "page × per_page", "page", "refused", f"page={2**53 // 1000 + 1}&per_page=1000".encode()
        )
    yield Case("?NUL name", "a\\u0000", "refused", b"a%00=1")


#: What a form field gets besides a NUL (refused): text past every bound.
FORM_VALUES: dict[str, str] = {
    "2^63": str(2**63),
    "10^30": str(10**30),
    "-2^63": str(-(2**63)),
    "5000 digits": "9" * 5000,
    "1e400": "1e400",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "date 0001": "0001-01-01",
    "date 9999": "9999-12-31",
    "empty": "",
    "256 chars": "x" * 256,
    "10,000 chars": "y" * 10_000,
    "-1": "-1",
    "99999999999999999999.99": "99999999999999999999.99",
}


def form_cases(fields: dict[str, str], plumbing: set[str], full: bool = False) -> Iterator[Case]:
    """Hostile values for each field of a posted form (``value`` is the whole form): a NUL
    in every field, and the :data:`FORM_VALUES` in turn (all of them with ``full``)."""
    for index, name in enumerate(name for name in fields if name not in plumbing):
        yield Case(f"{name} = NUL", name, "refused", value={**fields, name: "a\x00b"})
        for label, text in spread(FORM_VALUES, index, None if full else FORM_WIDTH):
            yield Case(f"{name} = {label}", name, "not_500", value={**fields, name: text})
    yield Case("NUL field name", "x\\u0000", "refused", value={**fields, "x\x00": "1"})


# Judging an answer --------------------------------------------------------------------------


def names_path(details: dict[str, Any], path: str) -> bool:
    """Whether ``details`` names ``path`` (or a field inside it)."""
    return any(key == path or key.startswith(f"{path}.") for key in details)


def verdict(case: Case, status: int, answer: Any) -> str | None:
    """What is wrong with ``status`` and the JSON ``answer`` (None when not JSON) for
    ``case``, or None when it is what the contract asks."""
    if status >= 500:
        return f"{case.label}: {status}"
    if case.expect == "not_500":
        return None
    if case.expect == "cleaned":
        return None if 200 <= status < 300 else f"{case.label}: {status}, not cleaned"
    if not 400 <= status < 500:
        return f"{case.label}: {status}, not refused"
    error = (answer or {}).get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict) or not {"code", "message", "details"} <= set(error):
        return f"{case.label}: {status} without the error shape"
    if case.expect == "refused" and status != 404 and not names_path(error["details"], case.path):
        return f"{case.label}: {status} does not name {case.path}: {error['details']}"
    return None


# Baselines ---------------------------------------------------------------------------------

SHOP = "lumen.example"


def customer_snapshot(customer_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": customer_id,
        "email": f"{customer_id}@example.com",
        "phone": "+33612345678",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "registered_at": "2026-01-15T10:00:00Z",
        "tags": ["vip", "newsletter"],
        "points": 120,
        "accepts_marketing": True,
        "type": "business",
        "default_address": {"city": "Paris", "country": "FR", "zip": "75001"},
        "dropship_partner": {"id": "dp_1", "registered_at": "2025-06-01"},
        **fields,
    }


def order(order_id: str, customer_id: str | None = "lim_c1", **fields: Any) -> dict[str, Any]:
    return {
        "id": order_id,
        "customer_id": customer_id,
        "placed_at": "2026-03-01T10:00:00Z",
        "currency": "EUR",
        "total": 3998,
        "lines": [{"product_id": "p1", "kind": "product", "quantity": 2, "unit_price": 1999}],
        "discount_codes": ["LIMITS10"],
        "shipping": {"carrier": "royal_mail", "address": {"city": "Paris", "country": "FR"}},
        "payment_method": "paypal",
        "channel": "web",
        **fields,
    }


#: A valid body per webhook topic, for the state :func:`seed_webhooks` makes. Destructive
#: topics name customers and orders that do not exist, so an accepted odd case harms none.
WEBHOOK_PAYLOADS: dict[str, dict[str, Any]] = {
    "app/installed": {
        "shop": {
            "domain": SHOP,
            "name": "Lumen",
            "currency": "EUR",
            "timezone": "Europe/Paris",
            "api_url": f"https://{SHOP}/api",
            "access_token": "tok",
        }
    },
    "app/uninstalled": {},
    "shop/redact": {},
    "customers/redact": {"customer_id": "lim_nobody"},
    "customers/data_request": {"customer_id": "lim_c1"},
    "customer/created": {"customer": customer_snapshot("lim_c2")},
    "customer/updated": {"customer": customer_snapshot("lim_c1")},
    "customer/deleted": {"customer": {"id": "lim_nobody"}},
    "customer/subscribed": {"customer_id": "lim_c1", "channel": "sms"},
    "order/paid": {"order": order("lim_o2")},
    "order/cancelled": {"order": {"id": "lim_o_nobody"}},
    "order/refunded": {"order": {"id": "lim_o_nobody"}},
    "product/created": {
        "product": {
            "id": "lim_p2",
            "title": "Lantern",
            "kind": "product",
            "category_ids": ["lim_cat1"],
            "price": 2500,
            "active": True,
        }
    },
    "product/updated": {
        "product": {
            "id": "lim_p2",
            "title": "Lantern, brass",
            "kind": "product",
            "category_ids": [],
            "price": 2700,
            "active": False,
        }
    },
    "product/deleted": {"product_id": "lim_p_nobody"},
    "category/created": {"category": {"id": "lim_cat2", "title": "Lights", "parent_id": None}},
    "category/updated": {
        "category": {"id": "lim_cat2", "title": "Lamps", "parent_id": "lim_cat1"}
    },
    "category/deleted": {"category_id": "lim_cat_nobody"},
}

#: Topics whose ordinary unknown keys would be accepted and do harm (uninstall, redact).
DESTRUCTIVE_TOPICS = ("app/uninstalled", "shop/redact")


def CUSTOMER_FIELDS(path: str) -> bool:  # noqa: N802  (a constant in use)
    """The fields a customer snapshot cleans instead of refusing: all but its id."""
    head, _, rest = path.partition(".")
    return head == "customer" and bool(rest) and rest.partition(".")[0] != "id"


def cart(cart_id: str = "lim_k1", **fields: Any) -> dict[str, Any]:
    return {
        "cart_id": cart_id,
        "currency": "EUR",
        "customer_id": "lim_c1",
        "channel": "web",
        "payment_method": "paypal",
        "shipping": {"carrier": "royal_mail", "price": 500, "address": {"city": "Paris"}},
        "lines": [
            {
                "id": "l1",
                "product_id": "p1",
                "kind": "product",
                "category_ids": ["shoes"],
                "quantity": 2,
                "unit_price": 1999,
            }
        ],
        "codes": [],
        "client_ip": "203.0.113.7",
        **fields,
    }


HOOK_PAYLOADS: dict[str, dict[str, Any]] = {
    "/hooks/cart/price": cart(),
    "/hooks/checkout/redeem": cart("lim_k2", order_id="lim_o3"),
}

Send = Callable[[str, str, Any], tuple[int, Any]]
"""``send(method, path, json_body)`` → ``(status, json answer)``, path under ``/api``."""


def seed_webhooks() -> list[tuple[str, dict[str, Any]]]:
    """The webhooks (topic, payload) that make the state the baselines name."""
    return [
        ("customer/created", {"customer": customer_snapshot("lim_c1")}),
        ("order/paid", {"order": order("lim_o1")}),
    ]


def seed_admin(send: Send) -> dict[str, Any]:
    """Make, through the admin API, one of everything the admin bodies refer to; returns
    the ids by path parameter name (``group_id``, ``discount_id``, ``rule_id`` …)."""

    def made(method: str, path: str, body: Any, status: int = 201) -> Any:
        got, answer = send(method, path, fill(body, ids))
        assert got == status, (method, path, got, answer)
        return answer

    ids: dict[str, Any] = {"customer_id": "lim_c1"}
    ids["group_id"] = made("POST", "/groups", {"name": "Limits VIP", "colour": "#8E24AA"})["id"]
    # Seeded under other names than the baselines, which must stay valid to create.
    segment = {**ADMIN_BODIES[("post", "/api/segments")], "name": "Limits seeded segment"}
    ids["segment_id"] = made("POST", "/segments", segment)["id"]
    discount = {**ADMIN_BODIES[("post", "/api/discounts")], "name": "Limits seeded pool"}
    ids["discount_id"] = made("POST", "/discounts", discount)["id"]
    made("POST", f"/discounts/{ids['discount_id']}/codes/generate", {"count": 5})
    for path in ("price-rules", "bundles", "gift-rules", "benefit-programmes", "price-lists",
                 "offers"):  # fmt: skip
        rule = {**ADMIN_BODIES[("post", f"/api/{path}")], "name": f"Limits seeded {path}"}
        ids[f"{path}:rule_id"] = made("POST", f"/{path}", rule)["id"]
    ids["list_id"] = ids["price-lists:rule_id"]
    entry = {"product_id": "p1", "min_quantity": 2, "price": 1900}
    made("POST", f"/price-lists/{ids['list_id']}/entries", entry, status=200)
    automation = {**ADMIN_BODIES[("post", "/api/automations")], "name": "Limits seeded"}
    ids["automation_id"] = made("POST", "/automations", automation)["id"]
    audience = {**ADMIN_BODIES[("post", "/api/audiences")], "name": "Limits seeded"}
    ids["audience_id"] = made("POST", "/audiences", audience)["id"]
    return ids


def fill(body: Any, ids: dict[str, Any]) -> Any:
    """``body`` with ``"{name}"`` strings replaced by ``ids[name]``."""
    if isinstance(body, dict):
        return {key: fill(value, ids) for key, value in body.items()}
    if isinstance(body, list):
        return [fill(value, ids) for value in body]
    if isinstance(body, str) and body.startswith("{") and body.endswith("}"):
        return ids.get(body[1:-1], body)
    return body


_PRICE_RULE = {
    "name": "Limits -10%",
    "audience": {"type": "groups", "ids": ["{group_id}"]},
    "scope": {"type": "products", "ids": ["p_rule"]},
    "action": {"type": "discount_percent", "value": 10},
    "priority": 1,
    "active": True,
}
_BUNDLE = {
    "name": "Limits pair",
    "audience": {"type": "all"},
    "items": [{"product_id": "p_b1", "quantity": 1}, {"product_id": "p_b2", "quantity": 1}],
    "price": {"type": "fixed_total", "value": 1500},
    "max_applications": 3,
    "priority": 1,
    "active": True,
}
_GIFT_RULE = {
    "name": "Limits tote",
    "audience": {"type": "all"},
    "trigger": {"type": "products", "product_ids": ["p_g"], "min_quantity": 2},
    "gift": {"product_id": "p_tote", "quantity": 1},
    "active": True,
}
_PROGRAMME = {
    "name": "Limits tiers",
    "audience": {"type": "all"},
    "priority": 1,
    "conditions": [],
    "tiers": [{"min_subtotal": 100000, "actions": [{"type": "free_shipping"}]}],
    "earns_loyalty_points": False,
    "combinable_with_codes": True,
    "active": True,
}
_SEGMENT = {
    "name": "Limits loyal",
    "match": "all",
    "conditions": [
        {"field": "total_order_count", "op": "gte", "value": 1},
        {"field": "registration_date", "op": "after", "value": "2025-01-01"},
        {"field": "available_points", "op": "gte", "value": 100},
        {"field": "last_order_date", "op": "after", "value": "-30d"},
        {"field": "customer_tag", "op": "has", "value": "vip"},
    ],
}

#: A valid body per admin API route that takes one, ids as ``"{name}"`` (see :func:`fill`).
#: Routes missing here get a body made from their OpenAPI schema.
_PRICE_LIST = {
    "name": "Limits trade",
    "audience": {"type": "customers", "ids": ["lim_c1"]},
    "priority": 1,
    "active": True,
    "starts_at": "2026-01-01",
    "ends_at": "2026-12-31T23:00:00Z",
}
_OFFER = {
    "name": "Limits 2+1",
    "audience": {"type": "groups", "ids": ["{group_id}"]},
    "buy": {"category_ids": ["shoes"], "quantity": 2},
    "get": {"product_ids": ["p1"], "quantity": 1, "discount": {"type": "percent", "value": 50}},
    "max_applications": 3,
    "priority": 0,
    "active": True,
}

ADMIN_BODIES: dict[tuple[str, str], Any] = {
    ("post", "/api/groups"): {"name": "Limits group", "colour": "#123456"},
    ("patch", "/api/groups/{group_id}"): {"name": "Limits group 2", "colour": "#654321"},
    ("post", "/api/groups/{group_id}/customers"): {"customer_ids": ["lim_c1"]},
    ("post", "/api/segments"): _SEGMENT,
    ("patch", "/api/segments/{segment_id}"): {**_SEGMENT, "name": "Limits loyal 2"},
    ("post", "/api/segments/preview"): {"match": "all", "conditions": _SEGMENT["conditions"]},
    ("post", "/api/price-rules"): {**_PRICE_RULE, "name": "Limits -10% b"},
    ("patch", "/api/price-rules/{rule_id}"): _PRICE_RULE,
    ("post", "/api/bundles"): {**_BUNDLE, "name": "Limits pair b"},
    ("patch", "/api/bundles/{rule_id}"): _BUNDLE,
    ("post", "/api/gift-rules"): {**_GIFT_RULE, "name": "Limits tote b"},
    ("patch", "/api/gift-rules/{rule_id}"): _GIFT_RULE,
    ("post", "/api/benefit-programmes"): {**_PROGRAMME, "name": "Limits tiers b"},
    ("patch", "/api/benefit-programmes/{rule_id}"): _PROGRAMME,
    ("post", "/api/price-lists"): {**_PRICE_LIST, "name": "Limits trade b"},
    ("patch", "/api/price-lists/{rule_id}"): _PRICE_LIST,
    ("post", "/api/price-lists/{list_id}/entries"): {
        "product_id": "p1",
        "min_quantity": 10,
        "price": 1800,
    },
    ("post", "/api/offers"): {**_OFFER, "name": "Limits 2+1 b"},
    ("patch", "/api/offers/{rule_id}"): _OFFER,
    ("post", "/api/discounts"): {
        "name": "Limits pool",
        "type": "percent",
        "value": 10,
        "usage_limit": 100,
        "starts_at": "2026-01-01",
        "ends_at": "2026-12-31T23:00:00Z",
    },
    ("patch", "/api/discounts/{discount_id}"): {"value": 15, "usage_limit": 50},
    ("post", "/api/discounts/{discount_id}/codes/generate"): {
        "count": 3,
        "length": 8,
        "prefix": "LIM-",
    },
    ("post", "/api/discounts/{discount_id}/codes/assign"): {"customer_id": "lim_c1"},
    ("post", "/api/automations"): {
        "name": "Limits welcome",
        "trigger": {"type": "customer_created"},
        "action": {"type": "give_coupon", "discount_id": "{discount_id}", "expires_after_days": 30},
    },
    ("patch", "/api/automations/{automation_id}"): {"active": False},
    ("post", "/api/audiences"): {
        "name": "Limits audience",
        "source": {"type": "group", "id": "{group_id}"},
        "destination": {
            "type": "attentive",
            "credentials": {"api_key": "att_key_0123456789zz"},
            "base_url": "https://attentive.example/",
        },
        "mapping": {"identifier": "phone", "properties": {"first_name": "first_name"}},
        "schedule": "manual",
    },
    ("patch", "/api/audiences/{audience_id}"): {"schedule": "daily"},
    ("post", "/api/events/retry"): {"status": "dead"},
    ("post", "/api/price-preview"): cart(),
    ("post", "/api/render"): {"template": "Hi {{ customer.first_name }}", "customer_id": "lim_c1"},
}


def example_body(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    """A body made from an OpenAPI schema (for a route with no entry in ADMIN_BODIES):
    each property with a plain value of its type, enough for the hostile values to land
    on every field."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return example_body(components.get(name, {}), components, depth)
    for key in ("allOf", "anyOf", "oneOf"):
        if schema.get(key):
            return example_body(schema[key][0], components, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        if depth > 4:
            return {}
        return {
            name: example_body(prop, components, depth + 1)
            for name, prop in (schema.get("properties") or {}).items()
            if not prop.get("readOnly")
        }
    if kind == "array":
        return [example_body(schema.get("items") or {}, components, depth + 1)]
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if schema.get("format") in ("date", "date-time"):
        return "2026-03-01T10:00:00Z"
    return "text"
