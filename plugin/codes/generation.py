"""Random codes in bulk: feasibility first, then batched inserts against the unique index.

Codes are ``prefix + random part + suffix``. The random part is drawn with
``secrets`` from an alphabet without look-alike characters; the database's
unique index on (shop, code key) decides what is new: each batch is one
``INSERT ... ON CONFLICT DO NOTHING`` that tells how many rows it wrote, and
only the shortfall is drawn again. No code is ever looked up one by one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from sqlalchemy import func, select, text

from plugin.codes.models import CODE_UNASSIGNED, Code, Discount
from plugin.db import db, utcnow
from plugin.errors import ApiError, ErrorCode
from plugin.shops.models import Shop

#: No 0/O, 1/I/L: codes are read off screens and paper.
DEFAULT_CHARSET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
BATCH_SIZE = 10_000
#: SQLite binds at most 32766 variables per statement; 8 columns per row.
SQLITE_BATCH_SIZE = 4_000
#: Past this many codes a request answers 202 and runs as a job.
SYNC_LIMIT = 10_000

Progress = Callable[[int, int], None]


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
            Code.shop_id == shop.id,
            Code.code_key.like(pattern, escape="\\"),
            func.length(Code.code_key) == len(prefix) + length + len(suffix),
        )
    ).scalar_one()


def check_feasible(
    shop: Shop, count: int, length: int, prefix: str, suffix: str, charset: str | None
) -> None:
    """Refuse (422) asking for more than half of the codes still free in this shape.

    Past half, random draws collide so often that generation slows to a crawl.
    """
    space = len(alphabet(charset)) ** length
    free = space - existing_in_pattern(shop, prefix, suffix, length)
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


def _insert_batch(shop_id: int, discount_id: int, codes: list[str]) -> int:
    """Insert the codes no other row of the shop holds; return how many were written."""
    return len(insert_codes(shop_id, discount_id, codes))


def insert_codes(shop_id: int, discount_id: int, codes: list[str]) -> list[str]:
    """Insert codes into the pool unless the shop already has them; return the keys written."""
    bind = db.session.get_bind()
    now = utcnow()
    if bind.dialect.name == "postgresql":
        # Two array parameters, whatever the batch size: far below the bind limit.
        result = db.session.execute(
            text(
                "INSERT INTO codes (shop_id, discount_id, code, code_key, shared, status,"
                " times_used, created_at)"
                " SELECT :shop_id, :discount_id, c, lower(c), false, :status, 0, :now"
                " FROM unnest(CAST(:codes AS text[])) AS c"
                " ON CONFLICT (shop_id, code_key) DO NOTHING RETURNING code_key"
            ),
            {
                "shop_id": shop_id,
                "discount_id": discount_id,
                "status": CODE_UNASSIGNED,
                "now": now,
                "codes": codes,
            },
        )
        return list(result.scalars())
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    written: list[str] = []
    for start in range(0, len(codes), SQLITE_BATCH_SIZE):
        rows = [
            {
                "shop_id": shop_id,
                "discount_id": discount_id,
                "code": code,
                "code_key": code.lower(),
                "shared": False,
                "status": CODE_UNASSIGNED,
                "times_used": 0,
                "created_at": now,
            }
            for code in codes[start : start + SQLITE_BATCH_SIZE]
        ]
        statement = (
            sqlite_insert(Code).values(rows).on_conflict_do_nothing().returning(Code.code_key)
        )
        written.extend(db.session.execute(statement).scalars())
    return written


def generate_codes(
    shop: Shop,
    discount: Discount,
    count: int,
    length: int = 8,
    prefix: str = "",
    suffix: str = "",
    charset: str | None = None,
    progress: Progress | None = None,
    commit_each_batch: bool = False,
) -> int:
    """Add ``count`` new random codes to the discount's pool; return how many were made.

    ``progress(done, count)`` is called after each batch. With ``commit_each_batch``
    (jobs, the CLI) every batch is committed so progress is visible to others.
    """
    prefix, suffix = prefix or "", suffix or ""
    check_feasible(shop, count, length, prefix, suffix, charset)
    parts = RandomParts(alphabet(charset))
    shop_id, discount_id = shop.id, discount.id
    done = 0
    fruitless = 0
    while done < count:
        wanted = min(BATCH_SIZE, count - done)
        batch = {prefix + part + suffix for part in parts.draw(wanted, length)}
        written = _insert_batch(shop_id, discount_id, list(batch))
        done += written
        fruitless = fruitless + 1 if written == 0 else 0
        if fruitless >= 50:  # cannot happen below half the space; never loop forever
            raise ApiError(ErrorCode.CONFLICT, "The code space is exhausted.", 409)
        if commit_each_batch:
            db.session.commit()
        if progress is not None:
            progress(done, count)
    return done


__all__ = [
    "BATCH_SIZE",
    "DEFAULT_CHARSET",
    "SYNC_LIMIT",
    "RandomParts",
    "alphabet",
    "check_feasible",
    "generate_codes",
    "insert_codes",
]
