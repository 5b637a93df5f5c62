"""What prepare does with a feature store: write the run's records, read its splits back.

A run for day D writes at event time T = the end of D (:func:`airsage.features.base.as_of_for_day`):

1. the group is created unless it exists (same definition, or a clear error);
2. the ids live as of T before this write are read (the point-in-time query);
3. the run's records are written, with a deletion marker for each of those ids the run did
   not select, so a read as of T holds this run's rows and nothing older;
4. the splits are read back through the point-in-time query as of T and become the training
   channels: what training sees is by construction what ``airsage features query --as-of T``
   returns (oversampling, when configured, repeats rows of that read; it is never stored).

Steps 2-4 hold the lake lock ``feature-group-<group>``: two runs that read the live ids at
once would each miss the other's rows, and a read as of the later run's time would then hold
rows its model never saw. Runs of different days therefore publish one at a time (on aws
that includes the wait for the offline store, so the lock's wait is bounded by twice
``features.replication_timeout_seconds``).

What stays true only for runs in day order: a run for an older day that selects ids no
newer run has seen (its curated data changed since) leaves them live in reads as of the newer
runs' times, until those runs are rerun. Backfill in day order (the README's
``--max-active-runs 1``); a rerun of the same data selects the same ids and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airsage.config import Settings
from airsage.errors import StepFailed
from airsage.features.base import (
    RECORD_ID,
    SPLIT,
    FeatureGroupSpec,
    FeatureStore,
    FeatureStoreSettings,
    PublishResult,
    as_of_for_day,
    feature_records,
    format_event_time,
)
from airsage.lake.layout import SPLITS, partition_value
from airsage.prepare.base import FEATURE_COLUMNS

if TYPE_CHECKING:
    import datetime as dt_

    import pandas as pd

    from airsage.lake.base import Lake


def split_frames(read: pd.DataFrame, dtypes: Mapping[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    """A point-in-time read cut into the splits: prepare's columns (with ``dtypes`` when
    given, so a channel file has the types prepare's frames had), rows by id."""
    frames = {}
    for name in SPLITS:
        part = read.loc[read[SPLIT] == name, list(FEATURE_COLUMNS)]
        if dtypes:
            part = part.astype({column: dtypes[column] for column in FEATURE_COLUMNS})
        frames[name] = part.sort_values(RECORD_ID, kind="mergesort").reset_index(drop=True)
    return frames


def read_splits(store: FeatureStore, lake: Lake, spec: FeatureGroupSpec, as_of: dt_.datetime,
                dtypes: Mapping[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    """The splits live as of ``as_of``, as training channels hold them."""
    return split_frames(store.query(lake, spec, as_of), dtypes)


def publish_splits(
    settings: Settings, store: FeatureStore, lake: Lake, dataset: str, day: str,
    splits: Mapping[str, pd.DataFrame],
) -> tuple[dict[str, pd.DataFrame], PublishResult]:
    """Write the run's splits to the dataset's feature group and return them as the
    point-in-time read as of the run's time gives them back (see the module doc)."""
    spec = FeatureGroupSpec.for_dataset(settings, dataset)
    day = partition_value(day)
    as_of = as_of_for_day(day)
    records = feature_records(splits, format_event_time(as_of))
    store.ensure_group(lake, spec)
    dtypes = {str(column): dtype for column, dtype in next(iter(splits.values())).dtypes.items()}
    wait = 2 * FeatureStoreSettings.from_settings(settings).replication_timeout_seconds
    with lake.lock(f"feature-group-{spec.name}", timeout=wait):
        live = store.query(lake, spec, as_of)
        deleted = sorted(set(live[RECORD_ID].astype("int64").tolist())
                         - set(records[RECORD_ID].tolist()))
        written = store.write(lake, spec, day, records, deleted)
        read = read_splits(store, lake, spec, as_of, dtypes)
    expected = {name: sorted(splits[name][RECORD_ID].tolist()) for name in SPLITS}
    got = {name: sorted(read[name][RECORD_ID].tolist()) for name in SPLITS}
    if got != expected:
        differing = [name for name in SPLITS if got[name] != expected[name]]
        raise StepFailed(
            f"prepare: the point-in-time read of feature group {spec.name} as of "
            f"{format_event_time(as_of)} does not return what the run wrote (split(s) "
            f"{differing}: read {[len(got[n]) for n in differing]} rows, wrote "
            f"{[len(expected[n]) for n in differing]}); another writer at the same event time? "
            "rerun the prepare task")
    return read, PublishResult(written, format_event_time(as_of),
                               {name: len(read[name]) for name in SPLITS})
