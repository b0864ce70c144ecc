"""The limits themselves (``plugin.limits``, ``plugin.fields``), without an app."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime

import pytest
from marshmallow import ValidationError

from plugin.fields import HostId, StrictInteger, Timestamp
from plugin.limits import (
    _STRING,
    MAX_DEPTH,
    MAX_INTEGER,
    InputRejected,
    moment_flaw,
    nesting_depth,
    parse_json,
    saturate,
    scan,
)
from plugin.paging import PageParams
from tests.limits import corpus


def _rejected(body: bytes) -> dict:
    with pytest.raises(InputRejected) as caught:
        parse_json(body)
    return caught.value.details


def test_32_levels_are_fine_33_are_refused_naming_where():
    assert parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    details = _rejected(b'{"a": {"b": ' + b"[" * 31 + b"]" * 31 + b"}}")
    assert list(details) == ["a.b" + ".0" * 30]


@pytest.mark.parametrize("name", ["100,000 deep", "100,000 deep objects"])
def test_100000_levels_are_refused_without_recursion(name):
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # parsing recursively would fail far sooner than this
    try:
        details = _rejected(corpus.RAW_BODIES[name])
    finally:
        sys.setrecursionlimit(limit)
    assert details == {"_body": [f"JSON may nest at most {MAX_DEPTH} levels deep."]}


def test_brackets_inside_strings_do_not_count():
    text = '{"a": "' + "[" * 60 + '\\"{{{"}'
    assert nesting_depth(text) == 1
    assert parse_json(text.encode()) == {"a": "[" * 60 + '"{{{'}


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (b'{"a": "x\\u0000"}', "a", "NUL"),
        (b'{"a": ["\\ud800"]}', "a.0", "surrogate"),
        (b'{"a": {"b\\u0000": 1}}', "a.b\\u0000", "NUL"),
        (b'{"a": 9007199254740992}', "a", "between"),
        (b'{"a": -9007199254740992}', "a", "between"),
        (b'{"a": 1e400}', "a", "finite"),
        (b'{"a": [NaN]}', "a.0", "finite"),
        (b'{"a": -Infinity}', "a", "finite"),
        (b'{"a": 1e300}', "a", "between"),
        (b'{"a": ' + b"9" * 5000 + b"}", "a", "between"),
        (b'{"a": "\xed\xa0\x80"}', "a", "surrogate"),
    ],
)
def test_text_and_numbers_past_the_limits_are_named(body, path, message):
    details = _rejected(body)
    assert list(details) == [path]
    assert message in details[path][0]


def test_within_the_limits_is_untouched():
    body = b'{"a": 9007199254740991, "b": -9007199254740991, "c": 1.5, "d": "\\ud83d\\ude00"}'
    assert parse_json(body) == {"a": MAX_INTEGER, "b": -MAX_INTEGER, "c": 1.5, "d": "\U0001f600"}


def test_not_json():
    for body in (b"{not json", b"", b'{"a": "\xff"}', b"[1,"):
        assert _rejected(body) == {"_body": ["Not JSON."]}


def test_scan_tolerates_what_a_schema_cleans_but_never_depth():
    value = {"customer": {"name": "\x00", "id": "\x00", "deep": [[[1]]]}}
    tolerated = scan(value, tolerate=lambda path: path == "customer.name")
    assert list(tolerated) == ["customer.id"]


def test_saturate():
    assert saturate(2**63) == MAX_INTEGER
    assert saturate(-(2**63)) == -MAX_INTEGER
    assert saturate(12) == 12


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "1899-12-31T23:00:00-02:00",
        "1900-01-01T12:00:00Z",
        "9999-12-31T00:00:00Z",
        "0001-01-01",
        "9999-12-31",
        "1899-12-31",
    ],
)
def test_dates_outside_years_1900_to_9999_in_any_zone_are_refused(text):
    with pytest.raises(ValidationError):
        Timestamp().deserialize(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1900-01-02T00:00:00Z", datetime(1900, 1, 2, tzinfo=UTC)),
        ("9999-12-30", date(9999, 12, 30)),
        ("2026-03-01T10:00:00+14:00", datetime(2026, 2, 28, 20, tzinfo=UTC)),
    ],
)
def test_dates_inside_the_range(text, value):
    assert Timestamp().deserialize(text) == value


def test_moment_flaw_never_overflows():
    assert moment_flaw(datetime.fromisoformat("0001-01-01T00:00:00+14:00")) is not None
    assert moment_flaw(datetime.fromisoformat("9999-12-31T23:59:59.999999-14:00")) is not None
    assert moment_flaw(datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_integers_and_ids():
    with pytest.raises(ValidationError):
        StrictInteger().deserialize(2**53)
    assert StrictInteger().deserialize(MAX_INTEGER) == MAX_INTEGER
    for bad in ("a\x00", "\ud800", "", "x" * 256, 2**63):
        with pytest.raises(ValidationError):
            HostId().deserialize(bad)


def test_page_times_per_page_stays_in_range():
    assert PageParams().load({"page": "9007199254740", "per_page": "1000"})["page"] > 0
    for args in ({"page": "9007199254741", "per_page": "1000"}, {"page": "0"}, {"page": "-1"}):
        with pytest.raises(ValidationError):
            PageParams().load(args)


@pytest.mark.parametrize(
    "text",
    ['["' + '\\"' * 1000, '["' + '\\"' * 1000 + "\\", '"' + "\\" * 1001, '"' * 1001, '"a\nb'],
)
def test_cutting_strings_out_never_retries(text):
    # Every quote starts a match (a string, or the rest of an unterminated one): a failed
    # match retried at each later quote made a 1 MiB body of escaped quotes quadratic.
    for at in (i for i, char in enumerate(text) if char == '"'):
        assert _STRING.match(text, at) is not None
