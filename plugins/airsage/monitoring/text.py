"""Text-derived features: normalised length, token count and out-of-vocabulary rate.

A review's raw text cannot be compared between intervals directly (almost every value is
unique), so the monitor compares distributions of numbers derived from it. All three are
computed on the *normalised* token stream (lower-cased alphanumeric tokens), so that the
prepare step's cleaning (punctuation, whitespace, case) does not by itself look like drift
between the cleaned training text and the raw text clients send.

The out-of-vocabulary rate of a training row is computed leave-one-out: a token of the row
counts as unknown when it occurs fewer than ``min_count`` times in the *other* rows. That is
what a fresh review from the same distribution would see against the full vocabulary; without
it every training row would have a rate of exactly 0 and any live traffic would look drifted.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

TOKEN_PATTERN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
TOKENIZER = "lowercase, regex [a-z0-9]+(?:'[a-z]+)?"


def tokenize(text: Any) -> list[str]:
    """Lower-cased word tokens; missing values have none."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return []
    return TOKEN_PATTERN.findall(str(text).lower())


def build_vocabulary(token_lists: Iterable[Sequence[str]], min_count: int) -> dict[str, int]:
    """Tokens seen at least ``min_count`` times, with their counts (rarer ones are noise)."""
    counts: Counter[str] = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    return {token: count for token, count in sorted(counts.items()) if count >= min_count}


def text_features(
    texts: Sequence[Any], vocabulary: Mapping[str, int] | None, *, min_count: int,
    leave_one_out: bool = False,
) -> dict[str, list[float | None]]:
    """Per text: normalised length, token count and OOV rate (``None`` where undefined).

    With ``leave_one_out`` the texts are the ones the vocabulary was built from (the
    baseline), and each text's own tokens are discounted before the lookup.
    """
    lengths: list[float | None] = []
    token_counts: list[float | None] = []
    oov_rates: list[float | None] = []
    vocabulary = vocabulary or {}
    for text in texts:
        if text is None or (isinstance(text, float) and math.isnan(text)):
            lengths.append(None)
            token_counts.append(None)
            oov_rates.append(None)
            continue
        tokens = tokenize(text)
        lengths.append(float(len(" ".join(tokens))))
        token_counts.append(float(len(tokens)))
        if not tokens:
            oov_rates.append(None)
            continue
        own = Counter(tokens) if leave_one_out else None
        unknown = 0
        for token in tokens:
            seen = vocabulary.get(token, 0)
            if own is not None:
                seen -= own[token]
            if seen < min_count:
                unknown += 1
        oov_rates.append(unknown / len(tokens))
    return {"length": lengths, "tokens": token_counts, "oov_rate": oov_rates}

