"""A CSV import reads any upload that has ``read(size)``, as a WSGI server hands it over.

gunicorn's request body has ``read``, ``readline`` and iteration but is no ``io`` stream
(no ``readable``), and Werkzeug passes it on as it is when the server says the input is
terminated: reading it through ``io.TextIOWrapper`` directly was a 500 under
``customer-groups serve`` (issue 11). ``tests/served/test_routes.py`` imports raw CSV bodies
through the real server; this checks the importer alone, in small reads.
"""

from __future__ import annotations

from sqlalchemy import func, select

from plugin.codes.csv_io import READ_SIZE, import_codes
from plugin.codes.models import Code, Discount
from plugin.db import db
from plugin.shops.models import Shop
from tests.conftest import SHOP


class ServerInput:
    """Like gunicorn's ``Body``: ``read(size)`` only, and it records the sizes asked for."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.asked: list[int] = []

    def read(self, size: int | None = None) -> bytes:
        self.asked.append(-1 if size is None else size)
        size = len(self.data) if size is None or size < 0 else size
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk


def test_an_input_with_only_read_is_imported_in_bounded_reads(app, make_discount):
    discount_id = make_discount(name="Streamed")["id"]
    lines = [f"S-{n:06d}" for n in range(20_000)]
    body = ServerInput(("\ufeffcode\r\n" + "\r\n".join(lines) + "\r\nbad code!\r\n").encode())
    with app.app_context():
        shop = db.session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
        report = import_codes(shop, db.session.get(Discount, discount_id), body)
        stored = db.session.execute(
            select(func.count()).select_from(Code).where(Code.discount_id == discount_id)
        ).scalar_one()
    assert (report.imported, report.duplicates, report.invalid) == (20_000, 0, 1)
    assert report.errors == [{"line": 20_002, "code": "bad code!", "reason": "invalid"}]
    assert stored == 20_000
    # Never "everything at once": every read asks for a bounded number of bytes.
    assert body.asked and all(0 < size <= READ_SIZE for size in body.asked)
