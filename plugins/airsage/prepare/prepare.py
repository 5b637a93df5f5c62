"""Prepare one curated partition into train/validation/test features (the labs' processing job).

Order matters and is deliberate:

1. deduplicate ids, clean text, label: a row that cannot be learnt from goes, and is counted;
2. refuse a batch that cannot be stratified (a class missing or too small), naming the class;
3. undersample (the labs' default) *before* splitting, oversample the training split *after*
   it, because oversampling first would copy a review into validation and test;
4. split, then the leakage guard, then the Great Expectations suite; only a dataset that
   passes is written, so a refused batch never leaves features a training run could pick up.
"""

from __future__ import annotations

import datetime as dt_
import hashlib
import io
import json
from collections.abc import Mapping

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
) -> PrepareResult:
    """Write ``features/<dataset>/dt=<day>/<split>/part-0.parquet`` for the three splits.

    Raises InputDataError for a batch that cannot be prepared (no curated file, a class
    missing or too small, leakage) and GateFailedError(gate="expectations") when the Great
    Expectations suite refuses the result; in both cases no features are left for the day.
    """
    options = options or PrepareOptions.from_settings(settings)
    day_value = partition_value(day)
    layout = LakeLayout(dataset)
    resource = f"{dataset} dt={day_value}"
    lake.delete_prefix(layout.features(day_value))

    curated = read_curated(lake, dataset, day_value)
    input_rows = len(curated)
    frame, dropped = clean_rows(curated, settings, dataset, options)
    splitting.require_classes(frame, options.min_rows_per_class(), resource)

    if options.balance == "undersample":
        balanced = splitting.undersample(frame, options.seed)
        dropped["undersampled"] = len(frame) - len(balanced)
        frame = balanced
    if options.time_column:
        splits = splitting.split_time_ordered(frame, options, options.time_column)
    else:
        splits = splitting.split_stratified(frame, options)
    splitting.check_leakage(splits, resource, options.time_column)

    expectations = validate_splits(lake, dataset, day_value, splits, options)

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
    )
    lake.write_bytes(result.report_key, json.dumps(result.to_dict(), indent=2).encode())
    return result
