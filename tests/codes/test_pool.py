"""Code pools: generation, CSV import and export, assignment."""

from __future__ import annotations

import csv
import io
import re
import threading
import time

from plugin.codes.generation import DEFAULT_CHARSET
from plugin.jobs import run_pending
from tests.conftest import auth


def all_codes(client, discount_id, status=None):
    query = f"?per_page=1000&status={status}" if status else "?per_page=1000"
    items, page = [], 1
    while True:
        answer = client.get(
            f"/api/discounts/{discount_id}/codes{query}&page={page}", headers=auth()
        ).get_json()
        items += answer["items"]
        if len(items) >= answer["total"]:
            return items
        page += 1


def test_generate_shape_and_charset(client, make_discount):
    discount = make_discount()
    answer = client.post(
        f"/api/discounts/{discount['id']}/codes/generate",
        json={"count": 500, "length": 6, "prefix": "SUM-", "suffix": "_X"},
        headers=auth(),
    )
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json() == {"generated": 500, "warnings": []}
    codes = [c["code"] for c in all_codes(client, discount["id"])]
    assert len(codes) == 500 and len({c.lower() for c in codes}) == 500
    allowed = re.escape(DEFAULT_CHARSET)
    assert all(re.fullmatch(rf"SUM-[{allowed}]{{6}}_X", c) for c in codes)
    assert not any(ch in c[4:10] for c in codes for ch in "0O1IL")

    custom = client.post(
        f"/api/discounts/{discount['id']}/codes/generate",
        json={"count": 5, "length": 10, "charset": "ab"},
        headers=auth(),
    )
    assert custom.status_code == 201
    newest = [c["code"] for c in all_codes(client, discount["id"])][500:]
    assert all(re.fullmatch(r"[AB]{10}", c) for c in newest)


def test_generate_refuses_more_than_half_the_space(client, make_discount):
    discount = make_discount()
    url = f"/api/discounts/{discount['id']}/codes/generate"
    # 2 letters ** 4 = 16 codes in this shape: 8 is the most one may ask for.
    too_many = client.post(url, json={"count": 9, "length": 4, "charset": "AB"}, headers=auth())
    assert too_many.status_code == 422
    assert "count" in too_many.get_json()["error"]["details"]
    ok = client.post(url, json={"count": 8, "length": 4, "charset": "AB"}, headers=auth())
    assert ok.status_code == 201 and ok.get_json()["generated"] == 8
    assert ok.get_json()["warnings"]  # 8 of 16 codes: a guess finds one every other try
    # 8 of 16 are taken: 4 is now the most.
    again = client.post(url, json={"count": 5, "length": 4, "charset": "AB"}, headers=auth())
    assert again.status_code == 422
    bad = client.post(url, json={"count": 1, "prefix": "a b"}, headers=auth())
    assert bad.status_code == 422 and "prefix" in bad.get_json()["error"]["details"]


def test_large_generation_is_a_job(app, client, make_discount):
    discount = make_discount()
    answer = client.post(
        f"/api/discounts/{discount['id']}/codes/generate",
        json={"count": 10_001, "length": 8},
        headers=auth(),
    )
    assert answer.status_code == 202, answer.get_json()
    job = answer.get_json()
    assert job["status"] in ("queued", "running", "succeeded") and job["total"] == 10_001
    run_pending(app)  # what the runner of `customer-groups serve` does (off under TESTING)
    deadline = time.time() + 60
    while job["status"] not in ("succeeded", "failed") and time.time() < deadline:
        time.sleep(0.1)
        job = client.get(f"/api/jobs/{job['id']}", headers=auth()).get_json()
    assert job["status"] == "succeeded", job
    assert job["progress"] == 10_001
    assert job["result"] == {"generated": 10_001, "warnings": []}
    listed = client.get(f"/api/discounts/{discount['id']}/codes?per_page=1", headers=auth())
    assert listed.get_json()["total"] == 10_001


def test_import_counts_and_line_numbers(client, make_discount):
    first = make_discount(code="TAKEN")
    discount = make_discount(name="Pool")
    body = "code,note\nAAA111,x\nbad code,\n\nbbb222\naaa111,again\nTAKEN\n" + "z" * 65 + "\n"
    answer = client.post(
        f"/api/discounts/{discount['id']}/codes/import",
        data=body.encode(),
        headers={**auth(), "Content-Type": "text/csv"},
    )
    assert answer.status_code == 200, answer.get_json()
    report = answer.get_json()
    assert (report["imported"], report["duplicates"], report["invalid"]) == (2, 2, 2)
    assert sorted((e["line"], e["reason"]) for e in report["errors"]) == [
        (3, "invalid"),
        (6, "duplicate"),
        (7, "duplicate"),
        (8, "invalid"),
    ]
    assert {c["code"] for c in all_codes(client, discount["id"])} == {"AAA111", "bbb222"}
    assert first["code"] == "TAKEN"

    multipart = client.post(
        f"/api/discounts/{discount['id']}/codes/import",
        data={"file": (io.BytesIO(b"\xef\xbb\xbfCode\nCCC333\n"), "codes.csv")},
        headers=auth(),
        content_type="multipart/form-data",
    )
    assert multipart.get_json()["imported"] == 1

    wrong = client.post(
        f"/api/discounts/{discount['id']}/codes/import",
        data=b"coupon\nAAA\n",
        headers={**auth(), "Content-Type": "text/csv"},
    )
    assert wrong.status_code == 422 and wrong.get_json()["error"]["code"] == "validation_failed"


def test_export_escapes_formulas(client, make_discount):
    discount = make_discount()
    client.post(
        f"/api/discounts/{discount['id']}/codes/import",
        data=b"code\n-cmd\nplain\n",
        headers={**auth(), "Content-Type": "text/csv"},
    )
    client.post(
        f"/api/discounts/{discount['id']}/codes/assign",
        json={"customer_id": "=HYPERLINK(1)"},
        headers=auth(),
    )
    answer = client.get(f"/api/discounts/{discount['id']}/codes/export", headers=auth())
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert rows[0] == ["code", "status", "assigned_customer_id", "assigned_at", "times_used"]
    assert rows[1][:3] == ["'-cmd", "assigned", "'=HYPERLINK(1)"]
    assert rows[1][4] == "0" and rows[1][3].endswith("Z")
    assert rows[2] == ["plain", "unassigned", "", "", "0"]


def test_assign_hands_out_each_code_once(app, client, make_discount):
    discount = make_discount()
    client.post(
        f"/api/discounts/{discount['id']}/codes/import",
        data=b"code\nONE\nTWO\n",
        headers={**auth(), "Content-Type": "text/csv"},
    )
    url = f"/api/discounts/{discount['id']}/codes/assign"
    results = []

    def assign(customer):
        with app.test_client() as own:
            results.append(own.post(url, json={"customer_id": customer}, headers=auth()))

    threads = [threading.Thread(target=assign, args=(f"c_{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results) == [200, 200]
    given = {r.get_json()["code"]: r.get_json()["assigned_customer_id"] for r in results}
    assert set(given) == {"ONE", "TWO"} and set(given.values()) == {"c_0", "c_1"}
    assert all(r.get_json()["status"] == "assigned" for r in results)

    empty = client.post(url, json={"customer_id": "c_3"}, headers=auth())
    assert empty.status_code == 409 and empty.get_json()["error"]["code"] == "pool_empty"
    assigned = all_codes(client, discount["id"], status="assigned")
    assert len(assigned) == 2


def test_codes_go_out_in_key_order_within_a_batch_and_batches_in_file_order(
    client, make_discount, monkeypatch
):
    """Batches are written in key order for the unique index (plugin.codes.generation
    CodeBatch): codes get their ids, and go out, in key order within a batch, batches in
    the file's order. A file of numbered cards keeps its order."""
    from plugin.codes import csv_io

    monkeypatch.setattr(csv_io, "BATCH_SIZE", 3)
    discount = make_discount()
    lines = ["card-03", "CARD-01", "card-02", "card-06", "card-04", "Card-05", "card-07"]
    imported = client.post(
        f"/api/discounts/{discount['id']}/codes/import",
        data=("code\n" + "\n".join(lines) + "\n").encode(),
        headers={**auth(), "Content-Type": "text/csv"},
    )
    assert imported.get_json()["imported"] == 7
    given = [
        client.post(
            f"/api/discounts/{discount['id']}/codes/assign",
            json={"customer_id": f"c_{number}"},
            headers=auth(),
        ).get_json()["code"]
        for number in range(7)
    ]
    assert given == ["CARD-01", "card-02", "card-03", "card-04", "Card-05", "card-06", "card-07"]
