"""How segment conditions compare texts: one key, made in Python, for both sides.

Customer tags, cities and countries are stored next to their key (``customer_tags.tag_key``,
``customers.city_key``, ``customers.country_key``), written whenever the text is, and
a condition's value goes through the very same :func:`text_key`. The SQL compiler then
compares keys with ``=`` and the Python evaluator with ``==``: no database ``lower()``,
whose folding depends on the engine (ASCII only on SQLite) and on the database's locale
(on PostgreSQL), so both paths agree on every customer, whatever the script.
"""

from __future__ import annotations

import unicodedata

#: Keys are cut to this many characters, the width of the key columns (folding can make a
#: text longer: "ß" becomes "ss", "ﬃ" becomes "ffi"). Texts are at most 255 characters,
#: so only texts that grow past it are cut, on both sides alike.
KEY_LENGTH = 255


def text_key(value: str) -> str:
    """The key a text compares by: compatibility-normalised (NFKC), case-folded, trimmed.

    "Straße", "STRASSE" and "strasse" share a key, as do "ÉVRY" and "évry" whether the
    accent is one code point or a combining one, and "ﬁ" and "fi". Folding is the same
    in every language: the Turkish dotless "ı" stays apart from "i", and "İ" folds to
    "i" with a combining dot above.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    return folded.strip()[:KEY_LENGTH].rstrip()


def optional_text_key(value: str | None) -> str | None:
    """:func:`text_key` of a text that may be missing (a customer without a city)."""
    return None if value is None else text_key(value)
