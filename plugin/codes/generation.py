"""Random codes in bulk: feasibility first, then batched inserts against the unique index.

Codes are ``prefix + random part + suffix``. The random part is drawn with
``secrets`` from an alphabet without look-alike characters; the database's
unique index on (shop, code key) decides what is new, and only the shortfall
of a batch is drawn again. No code is ever looked up one by one from Python.

On PostgreSQL a batch is sorted by key (see :class:`CodeBatch`) and copied
(``COPY ... FROM STDIN``) straight into ``codes`` inside a savepoint, when a clash
with a code already held is unlikely (a big code space, a fresh import): COPY is
the cheapest way in. If the unique index refuses one of its codes, the savepoint
is rolled back and the batch is copied into a temporary staging table and written
with one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING``, which tells
which codes were new (ON CONFLICT's speculative insertion, or checking every code
first, costs the server about a quarter more per row, so it is only the fallback).
Either way nothing is lost or written twice, whatever other writers do meanwhile.
On SQLite (whose writer lock is held from the first statement of a transaction,
see ``plugin.db``) the taken codes are selected first and the rest inserted with
``executemany``.

Codes that are easy to guess (contract §2, "Guessing codes"): generating answers a
warning (never a refusal) when one random guess of a code of this shape would succeed
more often than once in a million. The odds are the codes of this shape the shop will
hold once these are made (the ones asked for plus those it holds already, of any
discount: a guess that finds any of them finds a discount) over the size of the code
space, ``alphabet ** length`` with the alphabet folded to one case since codes compare
ignoring case. The prefix and suffix are taken as known to the guesser (they are the
same on every code), so they add nothing to the space.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from plugin.codes.models import CODE_UNASSIGNED, Code, Discount
from plugin.codes.schemas import GenerateIn
from plugin.db import copying, db, utcnow
from plugin.errors import ApiError, ErrorCode, validation_error
from plugin.shops.models import Shop

#: No 0/O, 1/I/L: codes are read off screens and paper.
DEFAULT_CHARSET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
#: Codes per batch: one COPY and one INSERT on PostgreSQL, one progress report.
BATCH_SIZE = 50_000
#: Keys per ``IN (...)`` on SQLite (older builds bind at most 999 variables).
SQLITE_LOOKUP_SIZE = 500
#: Past this many codes a request answers 202 and runs as a job.
SYNC_LIMIT = 10_000
#: Batches in a row that add nothing before giving up (cannot happen below half the space).
MAX_FRUITLESS_BATCHES = 50
#: A random guess may find a code at most once in this many tries before generating warns.
GUESS_ODDS = 1_000_000

Progress = Callable[[int, int], None]

#: What a bulk write sends; the other columns take their server defaults (unassigned).
_COPIED = "(shop_id, discount_id, code, code_key)"
_COPY_CODES = f"COPY codes {_COPIED} FROM STDIN"
#: The same rows, when some may be taken already: staged, then inserted skipping those.
_STAGE = "cg_code_rows"
_CREATE_STAGE = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE}"
    " (shop_id integer, discount_id integer, code text, code_key text) ON COMMIT DELETE ROWS"
)
_INSERT_IGNORING = (
    f"INSERT INTO codes {_COPIED} SELECT * FROM {_STAGE}"
    " ON CONFLICT (shop_id, code_key) DO NOTHING RETURNING code_key"
)


def alphabet(charset: str | None) -> str:
    """The distinct characters of ``charset`` ignoring case (codes compare ignoring case)."""
    if not charset:
        return DEFAULT_CHARSET
    return "".join(dict.fromkeys(charset.upper()))


def _like_escape(text_: str) -> str:
    return text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def existing_in_pattern(shop: Shop, prefix: str, suffix: str, length: int) -> int:
    """How many codes of the shop already have this shape (they use up the code space)."""
    pattern = _like_escape(prefix.lower()) + "%" + _like_escape(suffix.lower())
    return db.session.execute(
        select(func.count()).where(
            Code.code_key.like(pattern, escape="\\"),
            func.length(Code.code_key) == len(prefix) + length + len(suffix),
        )
    ).scalar_one()


def code_space(length: int, charset: str | None) -> int:
    """How many different random parts of ``length`` characters there are (ignoring case)."""
    return len(alphabet(charset)) ** length


def guess_warnings(codes_of_shape: int, length: int, charset: str | None) -> list[str]:
    """The warning when ``codes_of_shape`` codes in the space of ``length`` characters of
    ``charset`` let one random guess succeed more often than once in ``GUESS_ODDS``."""
    space = code_space(length, charset)
    if codes_of_shape <= 0 or codes_of_shape * GUESS_ODDS <= space:
        return []
    size = len(alphabet(charset))
    safe = length
    while codes_of_shape * GUESS_ODDS > size**safe:
        safe += 1
    return [
        f"Easy to guess: with {codes_of_shape:,} codes of this shape among the {space:,} "
        f"possible ({length} random characters of {size}, ignoring case), one random guess "
        f"finds a code once in {space // codes_of_shape:,} tries, more often than once in a "
        f"million. Use at least {safe} random characters, or more different characters."
    ]


def density_warnings(
    shop: Shop,
    count: int,
    length: int = 8,
    prefix: str | None = "",
    suffix: str | None = "",
    charset: str | None = None,
    made_already: int = 0,
) -> list[str]:
    """The warnings of generating ``count`` codes of this shape (:func:`guess_warnings`),
    counting the codes of the same shape the shop holds already; ``made_already`` of the
    ``count`` are among those (a job that resumed)."""
    held = existing_in_pattern(shop, prefix or "", suffix or "", length) - made_already
    return guess_warnings(held + count, length, charset)


def check_feasible(
    shop: Shop, count: int, length: int, prefix: str, suffix: str, charset: str | None
) -> None:
    """Refuse (422) asking for more than half of the codes still free in this shape.

    Past half, random draws collide so often that generation slows to a crawl.
    """
    space = len(alphabet(charset)) ** length
    _refuse_unless_feasible(count, space - existing_in_pattern(shop, prefix, suffix, length))


def _refuse_unless_feasible(count: int, free: int) -> None:
    if count > free // 2:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "Some fields are not valid: count.",
            422,
            {
                "count": [
                    f"{count} codes is more than half of the {free} still free with this "
                    f"length and alphabet; make the codes longer or ask for fewer."
                ]
            },
        )


class RandomParts:
    """Draw random strings over an alphabet from ``secrets`` bytes, uniformly.

    Bytes at or above the largest multiple of the alphabet size are dropped
    (rejection sampling), so no character is more likely than another.
    """

    def __init__(self, charset: str) -> None:
        self.charset = charset
        size = len(charset)
        if not 2 <= size <= 256:
            raise ValueError("an alphabet needs 2 to 256 characters")
        cutoff = 256 - 256 % size
        self.table = bytes(ord(charset[b % size]) if b < cutoff else 0 for b in range(256))
        self.rejected = bytes(range(cutoff, 256))

    def draw(self, how_many: int, length: int) -> list[str]:
        needed = how_many * length
        chars = b""
        while len(chars) < needed:
            raw = secrets.token_bytes(int((needed - len(chars)) * 1.2) + 16)
            chars += raw.translate(self.table, self.rejected)
        text_ = chars[:needed].decode("ascii")
        return [text_[i : i + length] for i in range(0, needed, length)]


# Writing codes ---------------------------------------------------------------------------


def _unique_by_key(codes: Iterable[str]) -> dict[str, str]:
    """Code key → the code as given, first one wins (a batch must not repeat a key)."""
    by_key: dict[str, str] = {}
    for code in codes:
        by_key.setdefault(code.lower(), code)
    return by_key


class CodeBatch:
    """Distinct codes of one discount (by key; the first one given wins), in key order,
    with the rows PostgreSQL's COPY takes.

    Key order lets the unique index take the batch in one sweep over its leaf pages
    instead of at random places: about a fifth of the server's work for a million codes.
    Codes therefore get their ids, and are handed out (lowest id first), in key order
    within each batch of ``BATCH_SIZE``, batches in the order given: a file of numbered
    cards keeps its order; a file in no order of its own, or drawn codes, go out in key
    order. Keeping the given order instead (ids from the sequence, sent with each row)
    measured about 6 s more per million codes, for codes that are interchangeable.

    Made off the writing thread where it can be (the generator's drawing thread, the
    importer's parsing thread), so the database never waits for it.
    """

    def __init__(self, shop_id: int, discount_id: int, codes: Iterable[str]) -> None:
        by_key = _unique_by_key(codes)
        self.owner = (shop_id, discount_id)
        self.keys = sorted(by_key)
        self.codes = [by_key[key] for key in self.keys]
        # Codes are [A-Za-z0-9_-] only (checked by the callers): nothing to escape for COPY.
        head = f"{shop_id}\t{discount_id}\t"
        self.copy_data = "".join(
            [
                head + code + "\t" + key + "\n"
                for code, key in zip(self.codes, self.keys, strict=True)
            ]
        ).encode("ascii")

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self.codes)


def _insert_postgresql(batch: CodeBatch, optimistic: bool) -> set[str]:
    data = batch.copy_data
    if optimistic:
        try:
            with db.session.begin_nested():
                # COPY straight into codes: the cheapest way in. One taken code fails it
                # whole (the unique index), and the savepoint takes it back.
                with copying(db.session.connection(), _COPY_CODES) as copy:
                    copy.write(data)
            return set()
        except IntegrityError:
            pass  # one of them was taken: write the batch again, skipping those
    connection = db.session.connection()
    connection.exec_driver_sql(_CREATE_STAGE)
    connection.exec_driver_sql(f"TRUNCATE {_STAGE}")
    with copying(connection, f"COPY {_STAGE} FROM STDIN") as copy:
        copy.write(data)
    written = set(connection.exec_driver_sql(_INSERT_IGNORING).scalars())
    return set(batch.keys) - written


def _insert_sqlite(batch: CodeBatch) -> set[str]:
    # Driver-level SQL: compiling and binding row by row through SQLAlchemy cost
    # more than SQLite's own work. created_at is converted once, as the column would.
    connection = db.session.connection()
    created = Code.__table__.c.created_at.type.bind_processor(connection.dialect)
    shop_id, discount_id = batch.owner
    keys = batch.keys
    taken: set[str] = set()
    for start in range(0, len(keys), SQLITE_LOOKUP_SIZE):
        chunk = keys[start : start + SQLITE_LOOKUP_SIZE]
        marks = ", ".join("?" * len(chunk))
        found = connection.exec_driver_sql(
            f"SELECT code_key FROM codes WHERE shop_id = ? AND code_key IN ({marks})",
            (shop_id, *chunk),
        )
        taken.update(found.scalars())
    now = utcnow()
    stamp = created(now) if created else now
    rows = [
        (shop_id, discount_id, code, key, False, CODE_UNASSIGNED, 0, stamp)
        for key, code in zip(batch.keys, batch.codes, strict=True)
        if key not in taken
    ]
    if rows:
        # The transaction holds SQLite's writer lock since its first statement
        # (BEGIN IMMEDIATE): no other writer can take a code between the two steps.
        connection.exec_driver_sql(
            "INSERT INTO codes (shop_id, discount_id, code, code_key, shared, status, times_used,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return taken


def insert_new_codes(
    shop_id: int, discount_id: int, codes: Iterable[str] | CodeBatch, optimistic: bool = True
) -> set[str]:
    """Add ``codes`` to the discount's pool in the caller's transaction; return the keys
    the shop already held (those are not written). Codes must already be valid
    (1–64 of ``A–Z a–z 0–9 _ -``); a key repeated in ``codes`` is written once.

    ``optimistic``: the caller expects no clash, so PostgreSQL first tries the cheaper
    plain INSERT (pass False when clashes are likely: it would be wasted work)."""
    if not isinstance(codes, CodeBatch) or codes.owner != (shop_id, discount_id):
        codes = CodeBatch(shop_id, discount_id, codes)
    if not codes:
        return set()
    if db.session.get_bind().dialect.name == "postgresql":
        return _insert_postgresql(codes, optimistic)
    return _insert_sqlite(codes)


def insert_codes(shop_id: int, discount_id: int, codes: list[str]) -> list[str]:
    """Insert codes into the pool unless the shop already has them; return the keys written."""
    batch = CodeBatch(shop_id, discount_id, codes)
    taken = insert_new_codes(shop_id, discount_id, batch)
    return [key for key in batch.keys if key not in taken]


# Generating codes -------------------------------------------------------------------------


def _check_shape(count: int, length: int, prefix: str, suffix: str, charset: str | None) -> None:
    """The checks of the API's ``GenerateIn`` for every caller (the CLI and jobs too)."""
    try:
        GenerateIn().load(
            {
                "count": count,
                "length": length,
                "prefix": prefix,
                "suffix": suffix,
                "charset": charset,
            }
        )
    except ValidationError as err:
        raise validation_error(err, ErrorCode.VALIDATION_FAILED, 422) from err


def generate_codes(
    shop: Shop,
    discount: Discount,
    count: int,
    length: int = 8,
    prefix: str = "",
    suffix: str = "",
    charset: str | None = None,
    progress: Progress | None = None,
    after_batch: Callable[[], None] | None = None,
) -> int:
    """Add ``count`` new random codes to the discount's pool; return how many were made.

    ``progress(done, count)`` is called after each batch, then ``after_batch()``: the
    boundary's own (a job or the CLI passes the session's commit, so each batch is its own
    transaction and progress is visible to others; this operation commits nothing).
    """
    prefix, suffix = prefix or "", suffix or ""
    _check_shape(count, length, prefix, suffix, charset)
    held = existing_in_pattern(shop, prefix, suffix, length)
    _refuse_unless_feasible(count, len(alphabet(charset)) ** length - held)
    # Expected clashes per batch with the codes held (and those this call adds): when
    # well under one, try each batch as a plain INSERT first.
    optimistic = BATCH_SIZE * (held + count) / len(alphabet(charset)) ** length < 0.1
    parts = RandomParts(alphabet(charset))

    shop_id, discount_id = shop.id, discount.id

    def draw(wanted: int) -> CodeBatch:
        codes = (prefix + part + suffix for part in parts.draw(wanted, length))
        return CodeBatch(shop_id, discount_id, codes)

    done = 0
    fruitless = 0
    # A thread draws (and sorts) the next batch while the database writes this one.
    # It draws as if this batch will land in full; a clash makes the batch after that
    # one take up the shortfall, so no more than ``count`` codes are ever written.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="codes-draw") as drawer:
        upcoming: Future[CodeBatch] | None = drawer.submit(draw, min(BATCH_SIZE, count))
        while done < count:
            if upcoming is None:
                upcoming = drawer.submit(draw, min(BATCH_SIZE, count - done))
            batch = upcoming.result()
            ahead = min(BATCH_SIZE, count - done - len(batch))
            upcoming = drawer.submit(draw, ahead) if ahead > 0 else None
            taken = insert_new_codes(shop_id, discount_id, batch, optimistic)
            written = len(batch) - len(taken)
            done += written
            fruitless = fruitless + 1 if written == 0 else 0
            if fruitless >= MAX_FRUITLESS_BATCHES:
                raise ApiError(ErrorCode.CONFLICT, "The code space is exhausted.", 409)
            if after_batch is not None:
                after_batch()
            if progress is not None:
                progress(done, count)
    return done


__all__ = [
    "BATCH_SIZE",
    "DEFAULT_CHARSET",
    "CodeBatch",
    "SYNC_LIMIT",
    "RandomParts",
    "GUESS_ODDS",
    "alphabet",
    "check_feasible",
    "code_space",
    "density_warnings",
    "generate_codes",
    "guess_warnings",
    "insert_codes",
    "insert_new_codes",
]
