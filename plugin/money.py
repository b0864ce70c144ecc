"""Money written out: one way for people, one way for machines, from integer minor units.

Amounts are integers in the currency's minor unit everywhere (contract: ``1999`` is
19.99 EUR); this module is the only place they become text.

- **For people** (every admin page): :func:`format_money`, Babel's currency format of the
  shop's locale (``Shop.locale``, from ``app/installed``; ``en`` when the host sends none):
  ``€1,234.56`` in ``en``, ``1 234,56 €`` in ``fr-FR``. A negative amount (a discount)
  is passed as a negative number and written with the locale's own minus sign
  (``-€4.00`` in ``en``): no template puts a sign of its own in front of an amount.
- **For machines** (CSV exports, the API): :func:`plain_amount`, a plain decimal in major
  units whatever the locale: ``.`` as the point, no grouping, ``-`` for a negative,
  exactly the currency's digits (``1234.56``, ``-4.00``, ``1500`` for JPY), with the
  currency in a column of its own. A spreadsheet reads it as a number in every locale,
  and a program never has to undo a symbol or a thousands separator.
"""

from __future__ import annotations

from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision

#: The locale of a shop whose host sent none.
DEFAULT_LOCALE = "en"
#: Longest locale identifier kept (BCP 47 tags in practice stay far below).
LOCALE_LENGTH = 35


def exponent(currency: str) -> int:
    """Digits after the point of ``currency`` (2 for EUR, 0 for JPY), per Babel; 2 for a
    code Babel does not know."""
    try:
        return int(get_currency_precision(currency.upper()))
    except Exception:  # Babel answers 2 for unknown codes; say so rather than guess
        return 2


def parse_locale(name: str) -> str | None:
    """``fr-FR`` / ``fr_FR`` → ``fr_FR``; None when Babel knows no such locale."""
    text = name.strip().replace("-", "_")
    if not text or len(text) > LOCALE_LENGTH:
        return None
    try:
        return str(Locale.parse(text))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def format_money(amount: int | None, currency: str, locale: str | None = None) -> str:
    """Minor units for people: ``format_money(-400, "EUR")`` → ``-€4.00``; ``—`` for none."""
    if amount is None:
        return "—"
    major = Decimal(int(amount)).scaleb(-exponent(currency))
    return str(format_currency(major, currency.upper(), locale=locale or DEFAULT_LOCALE))


def plain_amount(amount: int | None, currency: str) -> str:
    """Minor units for machines: ``plain_amount(-400, "EUR")`` → ``-4.00``; ``""`` for none."""
    if amount is None:
        return ""
    digits = exponent(currency)
    return f"{Decimal(int(amount)).scaleb(-digits):.{digits}f}"
