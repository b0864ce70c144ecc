"""Hostile CSV files for the code import (API: multipart and raw ``text/csv``; the admin
page's upload): never a 500, and a file without one valid code changes nothing. The body
may be up to 100 MiB, past the 1 MiB of other admin bodies."""

from __future__ import annotations

import io

import pytest

from admin_ui.session import CSRF_FIELD, SESSION_PARAM
from tests.conftest import auth
from tests.limits.conftest import open_admin, snapshot

HOSTILE_FILES: dict[str, bytes] = {
    "NUL in a code": b"code\nAB\x00CD\n",
    "NUL in the header": b"co\x00de\nABCD1234\n",
    "invalid UTF-8": b"code\n\xff\xfeABCD\n",
    "UTF-8 surrogate": b"code\n\xed\xa0\x80ABCD\n",
    "256-character code": b"code\n" + b"A" * 256 + b"\n",
    "a 2 MiB cell": b"code\n" + b"B" * (2 << 20) + b"\n",
    "a 2 MiB line of cells": b"code," + b"x," * (1 << 20) + b"\n",
    "numbers": b"code\n" + str(10**30).encode() + b"0" * 40 + b"\n-9223372036854775808.5\n",
    "formula": b"code\n=cmd|' /C calc'!A0\n",
    "no code column": b"name\nABCD\n",
    "empty": b"",
    "only a BOM": b"\xef\xbb\xbf",
    "unclosed quote": b'code\n"AB CD\n',
    "UTF-16": "code\nABCD1234\n".encode("utf-16"),
    "lone CR": b"code\rAB CD\r",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_api_import_of_hostile_files(app, client, world, name):
    url = f"/api/discounts/{world['discount_id']}/codes/import"
    before = snapshot(app)
    raw = client.post(url, data=HOSTILE_FILES[name], content_type="text/csv", headers=auth())
    multipart = client.post(
        url,
        data={"file": (io.BytesIO(HOSTILE_FILES[name]), "codes.csv")},
        content_type="multipart/form-data",
        headers=auth(),
    )
    for response in (raw, multipart):
        assert response.status_code < 500, (name, response.get_json())
        if response.status_code >= 400:
            assert set(response.get_json()["error"]) == {"code", "message", "details"}
        else:
            assert response.get_json()["imported"] == 0, name
    assert snapshot(app) == before


@pytest.mark.parametrize("name", ["NUL in a code", "invalid UTF-8", "a 2 MiB cell"])
def test_admin_page_import_of_hostile_files(app, client, world, name):
    session = open_admin(client)
    page = client.get(
        f"/admin/discounts/{world['discount_id']}/codes", query_string={SESSION_PARAM: session}
    ).get_data(as_text=True)
    csrf = page.split(f'name="{CSRF_FIELD}" value="', 1)[1].split('"', 1)[0]
    before = snapshot(app)
    response = client.post(
        f"/admin/discounts/{world['discount_id']}/codes/import",
        data={
            SESSION_PARAM: session,
            CSRF_FIELD: csrf,
            "file": (io.BytesIO(HOSTILE_FILES[name]), "codes.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code < 500
    assert snapshot(app) == before


def test_an_import_may_be_larger_than_other_bodies_up_to_100_mib(app, client, world):
    url = f"/api/discounts/{world['discount_id']}/codes/import"
    rows = b"".join(b"LIM%06d,%s\n" % (n, b"n" * 1000) for n in range(1500))  # ~1.5 MiB
    response = client.post(url, data=b"code,note\n" + rows, content_type="text/csv", headers=auth())
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["imported"] == 1500
    # Past 100 MiB: refused from the Content-Length alone, before a byte is read.
    before = snapshot(app)
    too_big = client.post(
        url,
        data=b"code\nABCD\n",
        content_type="text/csv",
        headers=auth(),
        environ_overrides={"CONTENT_LENGTH": str((100 << 20) + 1)},
    )
    assert too_big.status_code == 413
    assert too_big.get_json()["error"]["code"] == "payload_too_large"
    assert snapshot(app) == before
