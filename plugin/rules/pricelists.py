"""A price list's entries: one at a time, paged, imported and exported as CSV, and the
few a cart can use (contract §8).

A list may hold 1,000,000 entries. Nothing here reads a list whole: pages and the export
walk the primary key ``(price_list_id, product_id, min_quantity)``; the checkout reads the
entries of the lists that apply to the customer for the cart's products only
(:func:`entries_for`), through the same key, and the snapshot keeps what it read
(:func:`plugin.rules.snapshot.price_entries`): every change of entries bumps the shop's
``rules_version`` in the same transaction, like a change of rules.

The import streams the upload (never the whole file in memory), checks each line, and
writes batches: on PostgreSQL by ``COPY`` straight into the table inside a savepoint,
which the primary key refuses whole when the file repeats a (product, minimum); that
batch is then written again through a staging table, keeping the first line of each key.
The caller commits: the old entries go and the new ones come in one transaction.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, tuple_
from sqlalchemy.exc import IntegrityError

from plugin.db import copying, db, for_shop, get_for_shop
from plugin.errors import ApiError, ErrorCode
from plugin.limits import text_flaw
from plugin.paging import Page, paginate
from plugin.pricing import PriceEntries
from plugin.rules.models import PriceList, PriceListEntry
from plugin.shops.models import Shop
from plugin.shops.operations import bump_rules_version

#: Entries one list may hold (what the import accepts; lines past it are refused).
MAX_ENTRIES = 1_000_000
#: The largest ``min_quantity`` and price an imported line may carry.
MAX_MIN_QUANTITY = 10**9
MAX_PRICE = 10**15
#: The errors list stops here; ``errors_truncated`` says when more were found.
MAX_ERRORS = 1000
#: Lines written per batch (one COPY, or one executemany on SQLite).
BATCH_SIZE = 50_000
READ_SIZE = 64 * 1024
EXPORT_PAGE = 10_000
COLUMNS = ("product_id", "min_quantity", "price")
_SIMPLE_ID = re.compile(r"[A-Za-z0-9_.:/@#+-]{1,255}").fullmatch
_DIGITS = re.compile(r"[0-9]{1,16}").fullmatch
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# One at a time ---------------------------------------------------------------------------


def get_list(shop: Shop, list_id: int) -> PriceList:
    row: PriceList = get_for_shop(PriceList, shop.id, list_id)
    return row


def list_entries(shop: Shop, list_id: int, page: int, per_page: int) -> Page[Any]:
    get_list(shop, list_id)
    e = PriceListEntry
    query = (
        for_shop(e, shop.id)
        .where(e.price_list_id == list_id)
        .order_by(e.product_id, e.min_quantity)
    )
    return paginate(query, page, per_page)


def put_entry(shop: Shop, list_id: int, data: dict[str, Any]) -> PriceListEntry:
    """Set the price of (product, minimum) in the list: added, or its price replaced."""
    get_list(shop, list_id)
    e = PriceListEntry
    key = (list_id, data["product_id"], data["min_quantity"])
    found = db.session.get(e, key)
    if found is not None:
        found.price = data["price"]
        db.session.flush()
        bump_rules_version(shop)
        return found
    count = db.session.execute(
        for_shop(e, shop.id).where(e.price_list_id == list_id).with_only_columns(func.count())
    ).scalar_one()
    if count >= MAX_ENTRIES:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            f"A price list holds at most {MAX_ENTRIES} entries.",
            422,
            {"product_id": [f"This list holds {MAX_ENTRIES} entries already."]},
        )
    row = e(
        shop_id=shop.id,
        price_list_id=list_id,
        product_id=data["product_id"],
        min_quantity=data["min_quantity"],
        price=data["price"],
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:  # added meanwhile by another request: set its price
        found = db.session.get(e, key, populate_existing=True)
        assert found is not None
        found.price = data["price"]
        db.session.flush()
        bump_rules_version(shop)
        return found
    bump_rules_version(shop)
    return row


def delete_entry(shop: Shop, list_id: int, product_id: str, min_quantity: int) -> None:
    get_list(shop, list_id)
    e = PriceListEntry
    # The list is the shop's (get_list): its id names the shop's entries.
    gone = db.session.execute(
        delete(e).where(
            e.price_list_id == list_id,
            e.product_id == product_id,
            e.min_quantity == min_quantity,
        )
    ).rowcount
    if not gone:
        raise ApiError(
            ErrorCode.NOT_FOUND,
            f"The list has no entry for {product_id} from {min_quantity} units.",
            404,
        )
    bump_rules_version(shop)


# The checkout ----------------------------------------------------------------------------


def entries_for(shop_id: int, list_ids: Iterable[int], product_ids: Iterable[str]) -> PriceEntries:
    """The entries of these lists for these products: what one cart can use, read through
    the primary key (a cart of 500 lines against lists of 1,000,000 entries reads at most a
    few hundred rows)."""
    lists, products = sorted(set(list_ids)), sorted(set(product_ids))
    if not lists or not products:
        return {}
    e = PriceListEntry
    rows = db.session.execute(
        for_shop(e, shop_id)
        .with_only_columns(e.price_list_id, e.product_id, e.min_quantity, e.price)
        .where(e.price_list_id.in_(lists), e.product_id.in_(products))
    ).all()
    found: dict[int, dict[str, list[tuple[int, int]]]] = {}
    for list_id, product_id, minimum, price in rows:
        found.setdefault(list_id, {}).setdefault(product_id, []).append((minimum, price))
    return {
        list_id: {product: tuple(breaks) for product, breaks in by_product.items()}
        for list_id, by_product in found.items()
    }


# Import ----------------------------------------------------------------------------------


@dataclass
class ImportReport:
    imported: int = 0
    invalid: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_truncated: bool = False
    #: Lines taken so far (imported, or refused later as repeats): the MAX_ENTRIES count.
    accepted: int = 0

    def refuse(self, line: int, reason: str) -> None:
        self.invalid += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"line": line, "reason": reason})
        else:
            self.errors_truncated = True


class _ReadOnly(io.RawIOBase):
    """A raw binary stream over anything with ``read(size)`` (the server's input), after
    ``first`` (bytes already read from it)."""

    def __init__(self, source: Any, first: bytes = b"") -> None:
        self._source = source
        self._first = first

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._first:
            data, self._first = self._first[: len(buffer)], self._first[len(buffer) :]
        else:
            data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _columns(header: list[str] | None) -> tuple[int, int, int]:
    names = [name.strip().lower() for name in header or []]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "The CSV needs a header line: product_id,min_quantity,price.",
            422,
            {"file": [f"The first line must name the columns {', '.join(missing)}."]},
        )
    return names.index("product_id"), names.index("min_quantity"), names.index("price")


def _number(text: str, low: int, high: int) -> int | None:
    text = text.strip()
    if _DIGITS(text) is None:
        return None
    value = int(text)
    return value if low <= value <= high else None


def _parse(
    rows: Iterator[list[str]],
    reader: Any,
    columns: tuple[int, int, int],
    report: ImportReport,
    offset: int = 0,
) -> Iterator[list[tuple[int, str, int, int]]]:
    """Batches of checked lines ``(line, product_id, min_quantity, price)``; refused lines
    go to ``report`` with their reason (line numbers are ``offset`` plus the reader's).
    Past ``MAX_ENTRIES`` lines accepted (``report.accepted``), every line is refused."""
    p, m, c = columns
    width = max(columns) + 1
    batch: list[tuple[int, str, int, int]] = []
    for row in rows:
        line = offset + reader.line_num
        if len(row) < width:
            if any(cell.strip() for cell in row):
                report.refuse(line, f"A line has {len(COLUMNS)} columns: {', '.join(COLUMNS)}.")
            continue
        product = row[p].strip()
        if product.startswith("'") and product[1:2] in _FORMULA_STARTS:
            product = product[1:]  # our own export's escape of a formula-like id
        if _SIMPLE_ID(product) is None and (
            not product or len(product) > 255 or text_flaw(product) is not None
        ):
            report.refuse(line, "product_id must be 1 to 255 characters.")
            continue
        minimum = _number(row[m], 1, MAX_MIN_QUANTITY)
        if minimum is None:
            report.refuse(
                line, f"min_quantity must be a whole number from 1 to {MAX_MIN_QUANTITY}."
            )
            continue
        price = _number(row[c], 0, MAX_PRICE)
        if price is None:
            report.refuse(line, "price must be a whole number of minor units, 0 or more.")
            continue
        if report.accepted >= MAX_ENTRIES:
            report.refuse(line, f"A price list holds at most {MAX_ENTRIES} entries.")
            continue
        report.accepted += 1
        batch.append((line, product, minimum, price))
        if len(batch) >= BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def _copy_text(value: str) -> str:
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


_STAGE = "price_list_entries_stage"
_CREATE_STAGE = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (line bigint, product_id varchar(255), "
    "min_quantity bigint, price bigint) ON COMMIT DROP"
)
_INSERT_FIRST_OF_EACH = f"""
WITH ranked AS (
    SELECT line, product_id, min_quantity, price,
           row_number() OVER (PARTITION BY product_id, min_quantity ORDER BY line) AS n
    FROM {_STAGE}
), written AS (
    INSERT INTO price_list_entries (shop_id, price_list_id, product_id, min_quantity, price)
    SELECT %(shop)s, %(list)s, product_id, min_quantity, price FROM ranked WHERE n = 1
    ON CONFLICT DO NOTHING
    RETURNING product_id, min_quantity
)
SELECT r.line FROM ranked AS r
WHERE r.n > 1 OR NOT EXISTS (
    SELECT 1 FROM written AS w
    WHERE w.product_id = r.product_id AND w.min_quantity = r.min_quantity
)
ORDER BY r.line
"""


def _write_postgresql(
    shop_id: int, list_id: int, batch: list[tuple[int, str, int, int]]
) -> list[int]:
    """Write a batch; return the lines refused as repeats of an earlier (product, minimum)."""
    head = f"{shop_id}\t{list_id}\t"
    data = "".join(
        f"{head}{product if _SIMPLE_ID(product) else _copy_text(product)}\t{minimum}\t{price}\n"
        for _, product, minimum, price in batch
    )
    try:
        with db.session.begin_nested():
            with copying(
                db.session.connection(),
                "COPY price_list_entries (shop_id, price_list_id, product_id, min_quantity, price)"
                " FROM STDIN",
            ) as copy:
                copy.write(data)
        return []
    except IntegrityError:
        pass  # the file repeats a key: this batch again, the first line of each key kept
    connection = db.session.connection()
    connection.exec_driver_sql(_CREATE_STAGE)
    connection.exec_driver_sql(f"TRUNCATE {_STAGE}")
    staged = "".join(
        f"{line}\t{_copy_text(product)}\t{minimum}\t{price}\n"
        for line, product, minimum, price in batch
    )
    with copying(connection, f"COPY {_STAGE} FROM STDIN") as copy:
        copy.write(staged)
    refused = connection.exec_driver_sql(
        _INSERT_FIRST_OF_EACH, {"shop": shop_id, "list": list_id}
    ).scalars()
    return list(refused)


def _write_sqlite(
    shop_id: int, list_id: int, batch: list[tuple[int, str, int, int]], seen: set[tuple[str, int]]
) -> list[int]:
    refused: list[int] = []
    rows = []
    for line, product, minimum, price in batch:
        key = (product, minimum)
        if key in seen:
            refused.append(line)
            continue
        seen.add(key)
        rows.append((shop_id, list_id, product, minimum, price))
    db.session.connection().exec_driver_sql(
        "INSERT INTO price_list_entries (shop_id, price_list_id, product_id, min_quantity, price)"
        " VALUES (?, ?, ?, ?, ?)",
        rows,  # type: ignore[arg-type]
    )
    return refused


def _text_rows(source: Any, first: bytes = b"") -> tuple[Any, Any]:
    """A csv reader (and the reader, for its line numbers) over ``first`` then ``source``."""
    text = io.TextIOWrapper(
        io.BufferedReader(_ReadOnly(source, first), buffer_size=READ_SIZE),
        encoding="utf-8",
        errors="replace",
        newline="",
    )
    reader = csv.reader(text)
    return reader, reader


#: A block of plain lines (no quotes, ids of the simple alphabet, numbers in range): the
#: common file, checked by one regular expression and turned into COPY's format by two
#: byte replacements, without a Python step per line.
_PLAIN_BLOCK = re.compile(
    rb"(?:[A-Za-z0-9_.:/@#+-]{1,255},[1-9][0-9]{0,8},(?:0|[1-9][0-9]{0,14})\n)*"
).fullmatch
PLAIN_BLOCK_SIZE = 1024 * 1024


def _write_block_slowly(
    shop_id: int, list_id: int, block: bytes, line: int, report: ImportReport
) -> None:
    rows = csv.reader(io.StringIO(block.decode("utf-8", errors="replace"), newline=""))
    for batch in _parse(rows, rows, (0, 1, 2), report, offset=line):
        refused = _write_postgresql(shop_id, list_id, batch)
        report.imported += len(batch) - len(refused)
        for number in refused:
            report.refuse(number, "Repeats the product_id and min_quantity of an earlier line.")


def _import_plain_blocks(
    shop_id: int, list_id: int, source: Any, report: ImportReport
) -> tuple[bytes, int] | None:
    """Import the lines after the header block by block (PostgreSQL). A plain block goes
    by one COPY in a savepoint; any other block (a refused line, a repeat the primary key
    refuses) line by line. Returns None at the end, or, at a quote (a field that may span
    lines), the bytes not imported yet and the number of the last line imported: the csv
    reader takes it from there."""
    line = 1  # the header
    pending = b""
    prefix = f"{shop_id}\t{list_id}\t".encode()
    while True:
        chunk = source.read(PLAIN_BLOCK_SIZE)
        if chunk:
            data = pending + chunk
            cut = data.rfind(b"\n") + 1
            block, pending = data[:cut], data[cut:]
            if not block:
                continue
        else:
            block, pending = pending, b""
            if not block:
                return None
            if not block.endswith(b"\n"):
                block += b"\n"
        if b"\r" in block:
            block = block.replace(b"\r\n", b"\n")
        if b'"' in block or b"\r" in block:
            return block + pending, line
        count = block.count(b"\n")
        plain = report.accepted + count <= MAX_ENTRIES and _PLAIN_BLOCK(block) is not None
        copied = False
        if plain:
            data = prefix + block[:-1].replace(b"\n", b"\n" + prefix).replace(b",", b"\t")
            try:
                with db.session.begin_nested():
                    with copying(db.session.connection(), _COPY_ENTRIES) as copy:
                        copy.write(data + b"\n")
                copied = True
            except IntegrityError:
                pass  # a repeated key: this block line by line, the first of each key kept
        if copied:
            report.imported += count
            report.accepted += count
        else:
            _write_block_slowly(shop_id, list_id, block, line, report)
        line += count
        if not chunk:
            return None


_COPY_ENTRIES = (
    "COPY price_list_entries (shop_id, price_list_id, product_id, min_quantity, price) FROM STDIN"
)


def import_entries(shop: Shop, price_list: PriceList, stream: Any) -> ImportReport:
    """Replace the list's entries by those of a CSV upload (``product_id,min_quantity,price``
    with a header line), in the caller's transaction.

    Lines are the file's (the header is line 1). A line that is not valid, or repeats the
    (product, minimum) of an earlier line, is refused and reported; the others are imported.
    A file without the three columns is a 422 and changes nothing.
    """
    source = io.BufferedReader(_ReadOnly(stream), buffer_size=READ_SIZE)
    report = ImportReport()
    head = source.readline(64 * 1024)
    header = next(csv.reader([head.decode("utf-8-sig", errors="replace")]), None)
    columns = _columns(header)
    e = PriceListEntry
    # The list is the shop's: its id names the shop's entries.
    db.session.execute(delete(e).where(e.price_list_id == price_list.id))
    postgresql = db.session.connection().dialect.name == "postgresql"
    offset, first = 1, b""
    if postgresql and [n.strip().lower() for n in header or []] == list(COLUMNS):
        left = _import_plain_blocks(shop.id, price_list.id, source, report)
        if left is None:
            report.errors.sort(key=lambda error: error["line"])
            bump_rules_version(shop)
            return report
        first, offset = left
    rows, reader = _text_rows(source, first)
    seen: set[tuple[str, int]] = set()
    try:
        for batch in _parse(rows, reader, columns, report, offset=offset):
            if postgresql:
                refused = _write_postgresql(shop.id, price_list.id, batch)
            else:
                refused = _write_sqlite(shop.id, price_list.id, batch, seen)
            report.imported += len(batch) - len(refused)
            for line in refused:
                report.refuse(line, "Repeats the product_id and min_quantity of an earlier line.")
    except csv.Error as error:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "The file is not a readable CSV.",
            422,
            {"file": [f"Line {offset + reader.line_num}: {error}."]},
        ) from None
    report.errors.sort(key=lambda error: error["line"])
    bump_rules_version(shop)
    return report


# Export ----------------------------------------------------------------------------------


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def export_rows(shop: Shop, price_list: PriceList) -> Iterator[str]:
    """The list's entries as CSV text, a page of rows at a time, by (product, minimum):
    the header then ``product_id,min_quantity,price`` lines. A product id a spreadsheet
    would run as a formula is prefixed with ``'`` (the import takes it back)."""
    e = PriceListEntry
    shop_id, list_id = shop.id, price_list.id
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    yield out.getvalue()
    after: tuple[str, int] | None = None
    while True:
        query = (
            for_shop(e, shop_id)
            .with_only_columns(e.product_id, e.min_quantity, e.price)
            .where(e.price_list_id == list_id)
            .order_by(e.product_id, e.min_quantity)
            .limit(EXPORT_PAGE)
        )
        if after is not None:
            query = query.where(tuple_(e.product_id, e.min_quantity) > after)
        rows = db.session.execute(query).all()
        if not rows:
            return
        out.seek(0)
        out.truncate()
        writer.writerows((_cell(p), m, price) for p, m, price in rows)
        yield out.getvalue()
        after = (rows[-1][0], rows[-1][1])


def add_entries(shop: Shop, list_id: int, entries: Iterable[tuple[str, int, int]]) -> None:
    """Insert entries (product, minimum, price) as they are: tests and the bench seed."""
    rows = [
        {
            "shop_id": shop.id,
            "price_list_id": list_id,
            "product_id": p,
            "min_quantity": m,
            "price": c,
        }
        for p, m, c in entries
    ]
    if rows:
        db.session.execute(insert(PriceListEntry), rows)


__all__ = [
    "MAX_ENTRIES",
    "ImportReport",
    "add_entries",
    "delete_entry",
    "entries_for",
    "export_rows",
    "get_list",
    "import_entries",
    "list_entries",
    "put_entry",
]
