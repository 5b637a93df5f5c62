"""Review text cleaning, shared by prepare and (through the same function) any job script.

Reviews arrive with HTML fragments, entities, odd unicode (full-width letters, non-breaking
spaces, curly quotes from phones) and runs of newlines. Training and serving must see the same
text, so there is exactly one cleaning function.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any

_TAG = re.compile(r"<[^>]{0,500}>")
_SPACE = re.compile(r"\s+")
# Control characters separate words (tabs, newlines); format characters (zero-width spaces,
# soft hyphens) and unassigned or private code points carry nothing and disappear.
_SEPARATING = frozenset({"Cc", "Zl", "Zp"})
_INVISIBLE = frozenset({"Cf", "Cs", "Co", "Cn"})


def _visible(char: str) -> str:
    category = unicodedata.category(char)
    if category in _SEPARATING:
        return " "
    return "" if category in _INVISIBLE else char


def clean_text(value: Any) -> str:
    """HTML tags and entities removed, unicode NFKC-normalised, whitespace collapsed.

    ``None`` and NaN become the empty string so that callers drop them with the same rule as
    texts that clean to nothing (a review of only ``<br/>`` is empty).
    """
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = str(value)
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    text = _TAG.sub(" ", text)
    text = unicodedata.normalize("NFKC", text)
    text = "".join(_visible(char) for char in text)
    return _SPACE.sub(" ", text).strip()
