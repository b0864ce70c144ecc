"""How the catalogue is searched: by title or id, ignoring case and accents.

Titles and ids are stored next to a key made here in Python (:func:`search_key`), and a
search term goes through the very same function; the database then only compares keys
with ``LIKE``, so SQLite (whose ``lower()`` folds ASCII only) and PostgreSQL (whose folding
depends on the database's locale) find the same rows.
"""

from __future__ import annotations

import unicodedata

#: The width of the key columns: folding can lengthen a text ("ß" → "ss").
SEARCH_KEY_LENGTH = 1024


def search_key(value: str) -> str:
    """``value`` decomposed (NFKD), without its combining marks, case-folded, recomposed.

    "Crème Brûlée", "CREME BRULEE" and "creme brulee" share a key, whether an accent is one
    code point or a combining one; "Straße" matches "strasse"; "ﬁ" matches "fi".
    """
    decomposed = unicodedata.normalize("NFKD", value)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    folded = unicodedata.normalize("NFKC", bare.casefold())
    return " ".join(folded.split())[:SEARCH_KEY_LENGTH]
