"""Prepare a window of curated days into train/validation/test features (the labs' processing
job, over more than one day).

Order matters and is deliberate:

1. choose the window: the run's day and the curated days before it (``window_days``), or every
   curated day since ``window_since``; never a day after the run's, so a backfill of an old
   day trains on old data only;
2. per day, deduplicate ids, clean text, label; then across days keep one row per review id
   (the newest day's): a row that cannot be learnt from goes, and is counted;
3. refuse a window that cannot be stratified (a class missing or too small), naming the class;
4. hold out the evaluation set (the ``test`` split: a stable-hash share of review ids, the same
   in every window, see :func:`airsage.prepare.split.in_evaluation_set`), then undersample
   each side (the labs' default) and split the rest into train and validation; oversample the
   training split *after* splitting, because oversampling first would copy a review into
   validation and test;
5. the leakage guard, then the Great Expectations suite; only a dataset that passes is
   written, so a refused window never leaves features a training run could pick up.

The features are keyed by the run's day (``features/<dataset>/dt=<day>/``), so the training,
evaluation and registration steps of a run read one prefix whatever its window. Given a
feature store (``features.enabled``), the splits are written to the dataset's feature group and
the files under that prefix are its point-in-time read as of the run's time
(:mod:`airsage.features.publish`): training sees exactly what ``airsage features query`` returns.
"""

from __future__ import annotations

import datetime as dt_
import hashlib
import io
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from airsage.config import Settings
from airsage.errors import InputDataError
from airsage.lake.base import Lake
from airsage.lake.layout import SPLITS, LakeLayout, partition_value
from airsage.prepare import split as splitting
from airsage.prepare.base import (
    CURATED_FILE,
    FEATURE_COLUMNS,
    FEATURES_FILE,
    PREPARE_REPORT,
    PrepareOptions,
    PrepareResult,
    sentiment_of_rating,
)
from airsage.prepare.expectations import validate_splits
from airsage.prepare.text import clean_text

if TYPE_CHECKING:
    from airsage.features.base import FeatureStore

REPORT_FILE = "prepare.json"


def read_curated(lake: Lake, dataset: str, day: dt_.date | str) -> pd.DataFrame:
    """The curated Parquet of a day; a clear error when curation has not run."""
    key = LakeLayout(dataset).curated(day) + CURATED_FILE
    try:
        data = lake.read_bytes(key)
    except FileNotFoundError as exc:
        raise InputDataError(
            f"prepare: no curated data at {lake.uri(key)}; run the curate step for "
            f"{dataset} dt={partition_value(day)} first"
        ) from exc
    try:
        return pd.read_parquet(io.BytesIO(data))
    except Exception as exc:
        raise InputDataError(f"prepare: {lake.uri(key)} is not readable Parquet: {exc}") from exc


def clean_rows(
    frame: pd.DataFrame, settings: Settings, dataset: str, options: PrepareOptions
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Contract columns only, one row per id, clean non-empty text, a sentiment; and the drops."""
    spec = settings.dataset(dataset)
    frame = frame.rename(
        columns={spec.primary_key: "review_id", spec.text_column: "review_text",
                 spec.label_column: "rating"}
    )
    keep = [column for column in FEATURE_COLUMNS if column != "sentiment"]
    if options.time_column and options.time_column not in keep:
        keep.append(options.time_column)
    missing = [column for column in keep if column not in frame.columns]
    if missing:
        raise InputDataError(
            f"prepare: curated {dataset} data lacks column(s) {missing} "
            f"(it has {sorted(frame.columns)}); re-run curate for this partition"
        )
    frame = frame.loc[:, keep]
    dropped: dict[str, int] = {}

    has_id = frame["review_id"].notna()
    dropped["missing_id"] = int((~has_id).sum())
    frame = frame[has_id].astype({"review_id": "int64"})
    # Which duplicate survives must not depend on row order: the smallest row wins.
    frame = frame.sort_values(keep, kind="mergesort", na_position="last")
    deduplicated = frame.drop_duplicates("review_id", keep="first")
    dropped["duplicate_id"] = len(frame) - len(deduplicated)
    frame = deduplicated

    cleaned = frame["review_text"].map(clean_text).astype("string")
    long_enough = cleaned.str.len() >= options.min_text_length
    dropped["empty_text"] = int((~long_enough).sum())
    frame = frame.assign(review_text=cleaned)[long_enough]

    sentiment = frame["rating"].map(sentiment_of_rating)
    labelled = sentiment.notna()
    dropped["invalid_rating"] = int((~labelled).sum())
    frame = frame[labelled].assign(sentiment=sentiment[labelled].astype("int64"))
    frame = frame.astype({"rating": "int64", "review_text": "string"})
    return frame.reset_index(drop=True), dropped


DAY_COLUMN = "_window_day"


def window_days(lake: Lake, dataset: str, day: dt_.date | str, options: PrepareOptions) -> list[str]:
    """The curated days a run for ``day`` trains on, oldest first; ``day`` itself must be one.

    ``window_since`` takes every curated day from that date to ``day``; otherwise the
    ``window_days`` calendar days ending at ``day`` (days without curated data are skipped:
    a quarantined day never enters a window).
    """
    layout = LakeLayout(dataset)
    end = dt_.date.fromisoformat(partition_value(day))
    if options.window_since is not None:
        start = dt_.date.fromisoformat(options.window_since)
        if start > end:
            raise InputDataError(
                f"prepare: window_since {options.window_since} is after the run's day "
                f"{end.isoformat()}; choose a date on or before it"
            )
    else:
        start = end - dt_.timedelta(days=int(options.window_days) - 1)
    chosen = []
    current = start
    while current <= end:
        if current == end or lake.exists(layout.curated(current) + CURATED_FILE):
            chosen.append(current.isoformat())
        current += dt_.timedelta(days=1)
    return chosen


def read_window(
    settings: Settings, lake: Lake, dataset: str, days: list[str], options: PrepareOptions
) -> tuple[pd.DataFrame, dict[str, int], int]:
    """Cleaned, labelled rows of every day, one per review id; the drops; the input rows.

    A review id landed on two days keeps the newest day's row (the latest version of the
    review); the older copies are counted as ``duplicate_across_days``.
    """
    frames: list[pd.DataFrame] = []
    dropped: dict[str, int] = {}
    input_rows = 0
    for day in days:
        curated = read_curated(lake, dataset, day)
        input_rows += len(curated)
        rows, day_dropped = clean_rows(curated, settings, dataset, options)
        for reason, count in day_dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
        frames.append(rows.assign(**{DAY_COLUMN: day}))
    frame = pd.concat(frames, ignore_index=True)
    newest_first = frame.sort_values([DAY_COLUMN, "review_id"], ascending=[False, True],
                                      kind="mergesort")
    unique = newest_first.drop_duplicates("review_id", keep="first")
    dropped["duplicate_across_days"] = len(frame) - len(unique)
    unique = unique.drop(columns=DAY_COLUMN).sort_values("review_id", kind="mergesort")
    return unique.reset_index(drop=True), dropped, input_rows


def _ids_sha256(frame: pd.DataFrame) -> str:
    ids = ",".join(str(i) for i in sorted(frame["review_id"].astype("int64").tolist()))
    return hashlib.sha256(ids.encode()).hexdigest()


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.loc[:, list(FEATURE_COLUMNS)].to_parquet(buffer, index=False, engine="pyarrow")
    return buffer.getvalue()


def dataset_hash(files: Mapping[str, bytes]) -> str:
    """sha256 over each split's name and bytes in split order: the lineage fingerprint."""
    digest = hashlib.sha256()
    for name in SPLITS:
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def prepare_dataset(
    settings: Settings,
    lake: Lake,
    dataset: str,
    day: dt_.date | str,
    *,
    options: PrepareOptions | None = None,
    features: FeatureStore | None = None,
) -> PrepareResult:
    """Write ``features/<dataset>/dt=<day>/<split>/part-0.parquet`` for the three splits,
    drawn from the window of curated days ending at ``day`` (see the module doc).

    Raises InputDataError for a window that cannot be prepared (no curated file for the day,
    a class missing or too small, leakage) and GateFailedError(gate="expectations") when the
    Great Expectations suite refuses the result; in both cases no features are left for the day.
    With ``features`` (the target's feature store) the validated splits go to the feature
    group first and the written files are its point-in-time read as of the run's time.
    """
    options = options or PrepareOptions.from_settings(settings)
    day_value = partition_value(day)
    layout = LakeLayout(dataset)
    lake.delete_prefix(layout.features(day_value))

    days = window_days(lake, dataset, day_value, options)
    resource = (f"{dataset} dt={day_value}" if len(days) == 1
                else f"{dataset} window {days[0]}..{days[-1]} ({len(days)} days)")
    frame, dropped, input_rows = read_window(settings, lake, dataset, days, options)
    splitting.require_classes(frame, options.min_rows_per_class(), resource)

    held_out = splitting.in_evaluation_set(
        frame["review_id"], options.splits["test"], options.evaluation_version
    )
    evaluation, pool = frame[held_out], frame[~held_out]
    if options.balance == "undersample":
        balanced_pool = splitting.undersample(pool, options.seed)
        balanced_evaluation = splitting.undersample(evaluation, options.seed)
        dropped["undersampled"] = (len(pool) - len(balanced_pool)
                                   + len(evaluation) - len(balanced_evaluation))
        pool, evaluation = balanced_pool, balanced_evaluation
    splits = {**splitting.split_training_pool(pool, options),
              "test": evaluation.sort_values("review_id", kind="mergesort").reset_index(drop=True)}
    splitting.check_leakage(splits, resource, options.time_column, ordered=("train", "validation"))

    total = sum(len(part) for part in splits.values())
    test_share = len(splits["test"]) / total if total else options.splits["test"]
    expectations = validate_splits(lake, dataset, day_value, splits, options,
                                   test_share=test_share)

    feature_store: dict[str, Any] = {}
    if features is not None:
        from airsage.features.publish import publish_splits

        splits, published = publish_splits(settings, features, lake, dataset, day_value, splits)
        feature_store = published.to_dict()

    oversampled_rows = 0
    if options.balance == "oversample":
        train = splitting.oversample(splits["train"], options.seed)
        oversampled_rows = len(train) - len(splits["train"])
        splits = {**splits, "train": train.sort_values("review_id", kind="mergesort")}

    files = {name: _parquet_bytes(splits[name]) for name in SPLITS}
    split_keys: dict[str, str] = {}
    for name in SPLITS:
        split_keys[name] = layout.features(day_value, name) + FEATURES_FILE
        lake.write_bytes(split_keys[name], files[name])

    result = PrepareResult(
        dataset=dataset,
        day=day_value,
        split_keys=split_keys,
        channels={name: layout.features(day_value, name) for name in SPLITS},
        rows={name: len(splits[name]) for name in SPLITS},
        class_counts={name: splitting.class_counts(splits[name]) for name in SPLITS},
        input_rows=input_rows,
        dropped=dropped,
        oversampled_rows=oversampled_rows,
        dataset_hash=dataset_hash(files),
        expectations=expectations,
        data_docs_key=expectations.data_docs_key,
        report_key=layout.report(PREPARE_REPORT, day_value, REPORT_FILE),
        options=options,
        window_days=tuple(days),
        evaluation_set={
            "version": options.evaluation_version,
            "share": options.splits["test"],
            "days": list(days),
            "rows": len(splits["test"]),
            "key": split_keys["test"],
            "ids_sha256": _ids_sha256(splits["test"]),
        },
        feature_store=feature_store,
    )
    lake.write_bytes(result.report_key, json.dumps(result.to_dict(), indent=2).encode())
    return result
