"""How segment conditions compare texts: one key, made in Python, for both sides.

Customer tags, cities and countries are stored next to their key (``customer_tags.tag_key``,
``customers.city_key``, ``customers.country_key``), written whenever the text is, and
a condition's value goes through the very same :func:`text_key`. The SQL compiler then
compares keys with ``=`` and the Python evaluator with ``==``: no database ``lower()``,
whose folding depends on the engine (ASCII only on SQLite) and on the database's locale
(on PostgreSQL), so both paths agree on every customer, whatever the script.
"""

from __future__ import annotations

from plugin.pricing.text import KEY_LENGTH, text_key

__all__ = ["KEY_LENGTH", "optional_text_key", "text_key"]


def optional_text_key(value: str | None) -> str | None:
    """:func:`text_key` of a text that may be missing (a customer without a city)."""
    return None if value is None else text_key(value)
