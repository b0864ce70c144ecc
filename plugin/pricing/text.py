"""The key texts compare by, in rule conditions (the engine) and segment conditions alike.

Pure (standard library only), so the pricing engine can use it; ``plugin.customers.keys``
explains how segments store it next to each text.
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
