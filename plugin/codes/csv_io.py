"""CSV import and export of a discount's codes, both streamed.

The importer reads the upload line by line (never the whole file in memory)
and inserts in batches against the unique index; the exporter pages through
the codes by id and escapes cells a spreadsheet would run as formulas.

The upload is whatever the server hands over: a multipart part, Werkzeug's stream of the
body, or the WSGI server's own input object (gunicorn's, which has ``read`` but is no
``io`` stream). ``readable_stream`` makes any of them one that ``io.TextIOWrapper`` reads.
"""

from __future__ import annotations

import csv
import io
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import select

from plugin.codes.generation import BATCH_SIZE, CodeBatch, insert_new_codes
from plugin.codes.models import Code, Discount
from plugin.codes.schemas import CODE_PATTERN
from plugin.customers.models import Customer
from plugin.db import db
from plugin.errors import ApiError, ErrorCode
from plugin.fields import iso_timestamp
from plugin.shops.models import Shop

#: The errors list stops here; ``errors_truncated`` says when more were found.
MAX_ERRORS = 1000
#: Bytes asked of the upload at a time.
READ_SIZE = 64 * 1024
EXPORT_COLUMNS = ["code", "status", "assigned_customer_id", "assigned_at", "times_used"]
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    invalid: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_truncated: bool = False

    def error(self, line: int, code: str, reason: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"line": line, "code": code, "reason": reason})
        else:
            self.errors_truncated = True


def _header_index(header: list[str] | None) -> int:
    names = [name.strip().lower() for name in header or []]
    if "code" not in names:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "The CSV needs a header line with a 'code' column.",
            422,
            {"file": [f"The first line must name a 'code' column, not {header or []!r}."]},
        )
    return names.index("code")


class _ReadOnly(io.RawIOBase):
    """A raw binary stream over anything with ``read(size)``; closing it leaves the source
    open (the server owns its input)."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        return size


def readable_stream(source: Any) -> IO[bytes]:
    """``source`` (any object with ``read(size)`` returning bytes) as a buffered binary
    stream, read ``READ_SIZE`` bytes at a time."""
    return io.BufferedReader(_ReadOnly(source), buffer_size=READ_SIZE)


Batch = dict[str, tuple[int, str]]  # code key → (line, code as typed)


def _read_batches(
    reader: Any, column: int, report: ImportReport, put: Callable[[Batch | None], bool]
) -> None:
    """Parse rows into batches of distinct valid codes; invalid rows and codes repeated
    within a batch go to ``report``. ``put`` hands a batch over (None: the end) and
    answers False when the importer gave up."""
    valid = CODE_PATTERN.fullmatch  # the whole of code_problem's rule, in one call
    batch: Batch = {}
    for row in reader:
        # The common row (one valid code) takes a handful of C calls: 1M lines in ~1 s.
        code = row[column].strip() if column < len(row) else ""
        if code.startswith("'-") and valid(code[1:]) is not None:
            code = code[1:]  # our own export escapes a leading "-": take it back as it was
        if valid(code) is None:
            if not any(cell.strip() for cell in row):
                continue  # a blank line
            report.invalid += 1
            report.error(reader.line_num, code[:100], "invalid")
            continue
        key = code.lower()
        if key in batch:
            report.duplicates += 1
            report.error(reader.line_num, code, "duplicate")
            continue
        batch[key] = (reader.line_num, code)
        if len(batch) >= BATCH_SIZE:
            if not put(batch):
                return
            batch = {}
    if batch and not put(batch):
        return
    put(None)


def import_codes(shop: Shop, discount: Discount, stream: Any) -> ImportReport:
    """Add the codes of a CSV upload to the discount's pool, in one transaction.

    Line numbers are the file's (the header is line 1). A code already held by
    any discount of the shop, or repeated in the file, is a duplicate; a code
    outside 1–64 characters of ``A–Z a–z 0–9 _ -`` is invalid. ``stream`` is anything
    with ``read(size)`` (see the module docstring). A thread parses
    the next batch while the database writes the last one: at most three batches
    are in memory, whatever the size of the file.
    """
    text = io.TextIOWrapper(
        readable_stream(stream), encoding="utf-8-sig", errors="replace", newline=""
    )
    reader = csv.reader(text)
    try:
        column = _header_index(next(reader, None))
    except csv.Error as error:
        raise _unreadable(reader.line_num, error) from None
    parsed, written = ImportReport(), ImportReport()  # one per thread, added up at the end
    shop_id, discount_id = shop.id, discount.id
    Parsed = tuple[Batch, CodeBatch]
    batches: queue.Queue[Parsed | BaseException | None] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: Parsed | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                batches.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def hand_over(batch: Batch | None) -> bool:
        if batch is None:
            return put(None)
        # Sorted and encoded here, so the writer only writes.
        codes = CodeBatch(shop_id, discount_id, (code for _, code in batch.values()))
        return put((batch, codes))

    def parse() -> None:
        try:
            _read_batches(reader, column, parsed, hand_over)
        except BaseException as error:  # handed to the importer, raised there
            put(error)

    parser = threading.Thread(target=parse, name="codes-csv-import", daemon=True)
    parser.start()
    # Try the cheap plain COPY while batches come clean; after one that held codes
    # already taken (a file imported twice), expect more and skip straight to ON CONFLICT.
    clean = True
    try:
        while (item := batches.get()) is not None:
            if isinstance(item, csv.Error):
                raise _unreadable(reader.line_num, item)
            if isinstance(item, BaseException):
                raise item
            batch, codes = item
            taken = insert_new_codes(shop_id, discount_id, codes, optimistic=clean)
            clean = not taken
            written.imported += len(batch) - len(taken)
            written.duplicates += len(taken)
            for line, code in sorted(batch[key] for key in taken):
                written.error(line, code, "duplicate")
    except BaseException:
        db.session.rollback()
        raise
    finally:
        stop.set()
        parser.join()
    errors = sorted(parsed.errors + written.errors, key=lambda error: error["line"])
    return ImportReport(
        imported=written.imported,
        duplicates=parsed.duplicates + written.duplicates,
        invalid=parsed.invalid,
        errors=errors[:MAX_ERRORS],
        errors_truncated=(
            parsed.errors_truncated or written.errors_truncated or len(errors) > MAX_ERRORS
        ),
    )


def _unreadable(line: int, error: csv.Error) -> ApiError:
    return ApiError(
        ErrorCode.VALIDATION_FAILED,
        "The file is not a CSV we can read; nothing was imported.",
        422,
        {"file": [f"Line {line}: {error}."]},
    )


def escape_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: formula starters get a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def export_rows(shop: Shop, discount: Discount, page_size: int = 5000) -> Iterator[str]:
    """The pool as CSV text, a page of rows at a time (keyset paging by id)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    yield buffer.getvalue()
    discount_id = discount.id
    last_id = 0
    while True:
        rows = db.session.execute(
            select(
                Code.id,
                Code.code,
                Code.status,
                Customer.external_id,
                Code.assigned_at,
                Code.times_used,
            )
            .outerjoin(Customer, Customer.id == Code.assigned_customer_id)
            .where(
                Code.discount_id == discount_id,
                Code.shared.is_(False),
                Code.id > last_id,
            )
            .order_by(Code.id)
            .limit(page_size)
        ).all()
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        for code_id, code, status, customer, assigned_at, times_used in rows:
            writer.writerow(
                [
                    escape_cell(code),
                    escape_cell(status),
                    escape_cell(customer),
                    escape_cell(iso_timestamp(assigned_at)),
                    escape_cell(times_used),
                ]
            )
            last_id = code_id
        yield buffer.getvalue()
