"""Balancing, splitting and the leakage guard: pure functions over pandas frames.

Every random choice is a stable hash of ``(seed, purpose, review_id)``, never a position in the
frame, so the same reviews give the same splits whatever order the lake listed them in, on any
machine and any pandas version. That makes a rerun reproducible and the dataset hash a lineage
fingerprint rather than an accident of file order.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping

import pandas as pd

from airsage.errors import InputDataError
from airsage.lake.layout import SPLITS
from airsage.prepare.base import SENTIMENT_LABELS, PrepareOptions

KEY = "review_id"
LABEL = "sentiment"


def stable_hash(seed: int, purpose: str, key: object) -> int:
    """A 64-bit hash of ``key`` that is the same in every process (unlike ``hash()``)."""
    digest = hashlib.blake2b(f"{seed}:{purpose}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _hash_order(frame: pd.DataFrame, seed: int, purpose: str) -> pd.DataFrame:
    """``frame`` sorted by the stable hash of its ids (ties, impossible in practice, by id)."""
    ranks = frame[KEY].map(lambda key: stable_hash(seed, purpose, key))
    return (
        frame.assign(_rank=ranks.astype("uint64"))
        .sort_values(["_rank", KEY], kind="mergesort")
        .drop(columns="_rank")
    )


def class_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Rows per sentiment label, every label present (zero when absent), keys as strings."""
    counts = frame[LABEL].value_counts()
    return {str(label): int(counts.get(label, 0)) for label in SENTIMENT_LABELS}


def require_classes(frame: pd.DataFrame, minimum: int, resource: str) -> None:
    """Refuse a batch that cannot be stratified: a class is missing or has too few rows."""
    counts = class_counts(frame)
    short = {label: count for label, count in counts.items() if count < minimum}
    if short:
        names = ", ".join(
            f"sentiment {label} has {count} row(s)" for label, count in short.items()
        )
        raise InputDataError(
            f"prepare: {resource} cannot be split into train/validation/test: {names}, "
            f"each class needs at least {minimum} (class counts {counts}); land more data for "
            "that class or combine partitions before preparing"
        )


def undersample(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Keep as many rows of each class as the rarest class has (the labs' balancing)."""
    target = min(class_counts(frame).values())
    parts = [
        _hash_order(frame[frame[LABEL] == label], seed, "undersample").head(target)
        for label in SENTIMENT_LABELS
    ]
    return pd.concat(parts, ignore_index=True)


def oversample(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Repeat rows of the smaller classes until each has as many as the largest.

    Rows are repeated round-robin in hash order (each repeated at most once more than any
    other), which is sampling with replacement made deterministic. Apply it to the training
    split only: oversampling before splitting copies a review into validation and test.
    """
    target = max(class_counts(frame).values())
    parts = []
    for label in SENTIMENT_LABELS:
        rows = _hash_order(frame[frame[LABEL] == label], seed, "oversample")
        if rows.empty:
            continue
        repeats = -(-target // len(rows))
        parts.append(pd.concat([rows] * repeats, ignore_index=True).head(target))
    return pd.concat(parts, ignore_index=True)


def _split_sizes(rows: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """Validation and test get round-half-up of their share; train takes the rest."""
    sizes = {name: int(rows * fractions[name] + 0.5) for name in SPLITS if name != "train"}
    sizes["train"] = rows - sum(sizes.values())
    return sizes


def split_stratified(frame: pd.DataFrame, options: PrepareOptions) -> dict[str, pd.DataFrame]:
    """Split each class by the splits' fractions, in stable-hash order; sorted by id."""
    assigned: dict[str, list[pd.DataFrame]] = {name: [] for name in SPLITS}
    for label in SENTIMENT_LABELS:
        rows = _hash_order(frame[frame[LABEL] == label], options.seed, "split")
        sizes = _split_sizes(len(rows), options.splits)
        start = 0
        for name in ("test", "validation", "train"):
            assigned[name].append(rows.iloc[start : start + sizes[name]])
            start += sizes[name]
    return {name: _canonical(pd.concat(parts)) for name, parts in assigned.items()}


def split_time_ordered(
    frame: pd.DataFrame, options: PrepareOptions, time_column: str
) -> dict[str, pd.DataFrame]:
    """Earliest rows train, then validation, latest test (ties broken by id)."""
    if time_column not in frame.columns:
        raise InputDataError(
            f"prepare: time_column {time_column!r} is not a column of the curated data "
            f"(columns: {sorted(frame.columns)}); unset prepare.time_column or name a column"
        )
    rows = frame.sort_values([time_column, KEY], kind="mergesort")
    sizes = _split_sizes(len(rows), options.splits)
    result, start = {}, 0
    for name in ("train", "validation", "test"):
        result[name] = _canonical(rows.iloc[start : start + sizes[name]])
        start += sizes[name]
    return result


EVALUATION_PURPOSE = "evaluation"
_HASH_RANGE = float(2**64)


def in_evaluation_set(review_ids: pd.Series, share: float, version: int) -> pd.Series:
    """True for the review ids of the held-out evaluation set (version ``version``).

    Membership is a stable hash of the id alone, so a review is in the set on every day and
    in every window it appears in, and a model of this version never trains on it: that is
    what makes the champion's and the candidate's scores on it comparable. Bumping
    ``version`` draws a new set (and makes older models' scores incomparable).
    """
    if not 0.0 < share < 1.0:
        raise InputDataError(f"prepare: the evaluation share must lie in (0, 1), got {share}")
    return review_ids.map(
        lambda key: stable_hash(version, EVALUATION_PURPOSE, key) / _HASH_RANGE < share
    ).astype(bool)


def split_training_pool(
    frame: pd.DataFrame, options: PrepareOptions
) -> dict[str, pd.DataFrame]:
    """Train and validation from the rows outside the evaluation set, in their proportion.

    Stratified in stable-hash order per class, or time-ordered (the latest rows validate)
    when ``options.time_column`` is set.
    """
    share = options.splits["validation"] / (options.splits["train"] + options.splits["validation"])
    if options.time_column:
        if options.time_column not in frame.columns:
            raise InputDataError(
                f"prepare: time_column {options.time_column!r} is not a column of the curated "
                f"data (columns: {sorted(frame.columns)}); unset prepare.time_column or name one"
            )
        rows = frame.sort_values([options.time_column, KEY], kind="mergesort")
        cut = len(rows) - int(len(rows) * share + 0.5)
        return {"train": _canonical(rows.iloc[:cut]), "validation": _canonical(rows.iloc[cut:])}
    parts: dict[str, list[pd.DataFrame]] = {"train": [], "validation": []}
    for label in SENTIMENT_LABELS:
        rows = _hash_order(frame[frame[LABEL] == label], options.seed, "split")
        validation = int(len(rows) * share + 0.5)
        parts["validation"].append(rows.iloc[:validation])
        parts["train"].append(rows.iloc[validation:])
    return {name: _canonical(pd.concat(chunks)) for name, chunks in parts.items()}


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by id: the written file depends on the rows, never on how they were gathered."""
    return frame.sort_values(KEY, kind="mergesort").reset_index(drop=True)


def check_leakage(
    splits: Mapping[str, pd.DataFrame],
    resource: str,
    time_column: str | None = None,
    ordered: tuple[str, ...] = SPLITS,
) -> None:
    """Raise when a review id sits in two splits, or (time-ordered) a split of ``ordered``
    reaches past the next one (the hash-held-out evaluation set is not time-ordered).

    Duplicates inside one split are not leakage (oversampling makes them on purpose); the
    Great Expectations suite checks uniqueness separately.
    """
    names = [name for name in SPLITS if name in splits]
    ids = {name: set(splits[name][KEY].tolist()) for name in names}
    for index, first in enumerate(names):
        for second in names[index + 1 :]:
            shared = ids[first] & ids[second]
            if shared:
                sample = sorted(shared)[:5]
                raise InputDataError(
                    f"prepare: leakage guard failed for {resource}: {len(shared)} review id(s) "
                    f"are in both {first} and {second} (e.g. {sample}), expected 0; the split "
                    "must be recomputed from deduplicated data"
                )
    if time_column is None:
        return
    later = {second: first for first, second in itertools.pairwise(ordered)}
    for name, earlier in later.items():
        if splits[earlier].empty or splits[name].empty:
            continue
        latest = splits[earlier][time_column].max()
        earliest = splits[name][time_column].min()
        if latest > earliest:
            raise InputDataError(
                f"prepare: time leakage for {resource}: {earlier} holds a row at {latest}, later "
                f"than the earliest {name} row at {earliest}; a time-ordered split needs every "
                f"{earlier} row at or before every {name} row"
            )
