"""The local feature store: point-in-time reads return what was true at T, nothing later.

The store is the real one (Parquet files in a lake directory, DuckDB running the shared SQL);
records are written as a prepare run writes them, with explicit event times.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from airsage.features.base import (
    FEATURE_NAMES,
    FeatureGroupSpec,
    FeatureStoreError,
    as_of_for_day,
    feature_records,
    format_event_time,
    parse_as_of,
)
from airsage.features.local import LocalFeatureStore
from airsage.features.query import ATHENA, DUCKDB, point_in_time_sql
from airsage.lake.layout import LakeLayout


def _split(ids: list[int], text: str, sentiment: int = 1) -> pd.DataFrame:
    return pd.DataFrame({
        "review_id": pd.Series(ids, dtype="int64"), "review_text": [f"{text} {i}" for i in ids],
        "sentiment": sentiment, "rating": 5 if sentiment == 1 else 1, "age": 30,
        "division_name": "General", "department_name": "Tops", "class_name": "Knits"})


def _write(store: LocalFeatureStore, lake, spec, day: str, splits: dict[str, pd.DataFrame],
           deleted: list[int] | None = None) -> None:
    records = feature_records(splits, format_event_time(as_of_for_day(day)))
    store.write(lake, spec, day, records, deleted or [])


@pytest.fixture
def store(settings) -> LocalFeatureStore:
    return LocalFeatureStore(settings)


@pytest.fixture
def spec(settings) -> FeatureGroupSpec:
    return FeatureGroupSpec.for_dataset(settings, "reviews")


def test_a_later_write_does_not_leak_into_an_earlier_read(store, lake, spec) -> None:
    assert store.ensure_group(lake, spec) is True
    _write(store, lake, spec, "2024-05-01", {"train": _split([1, 2, 3], "first"),
                                             "test": _split([4], "first")})
    _write(store, lake, spec, "2024-05-02", {"train": _split([2, 3, 5], "second"),
                                             "test": _split([4], "second")})

    first = store.query(lake, spec, as_of_for_day("2024-05-01"))
    assert first["review_id"].tolist() == [1, 2, 3, 4]
    assert set(first["review_text"]) == {"first 1", "first 2", "first 3", "first 4"}
    assert list(first.columns) == list(FEATURE_NAMES)
    assert set(first["event_time"]) == {"2024-05-02T00:00:00Z"}

    second = store.query(lake, spec, as_of_for_day("2024-05-02"))
    # 1 was not rewritten on the 2nd and no marker deleted it: its 1st-day record is still live
    assert second["review_id"].tolist() == [1, 2, 3, 4, 5]
    assert second.set_index("review_id").loc[2, "review_text"] == "second 2"
    assert second.set_index("review_id").loc[1, "review_text"] == "first 1"

    # between the two runs' times: the first run's state; before it: nothing
    assert store.query(lake, spec, dt.datetime(2024, 5, 2, 12, tzinfo=dt.UTC))[
        "review_text"].tolist() == ["first 1", "first 2", "first 3", "first 4"]
    assert store.query(lake, spec, dt.datetime(2024, 5, 1, 23, 59, 59, tzinfo=dt.UTC)).empty
    assert store.query(lake, spec, as_of_for_day("2024-05-02"), "test")["review_text"].tolist() == [
        "second 4"]


def test_a_deletion_marker_hides_the_record_from_its_time_on(store, lake, spec) -> None:
    store.ensure_group(lake, spec)
    _write(store, lake, spec, "2024-05-01", {"train": _split([1, 2], "first")})
    _write(store, lake, spec, "2024-05-02", {"train": _split([2], "second")}, deleted=[1])

    assert store.query(lake, spec, as_of_for_day("2024-05-01"))["review_id"].tolist() == [1, 2]
    assert store.query(lake, spec, as_of_for_day("2024-05-02"))["review_id"].tolist() == [2]
    # a record written again after its deletion is live again
    _write(store, lake, spec, "2024-05-03", {"validation": _split([1, 2], "third")})
    third = store.query(lake, spec, as_of_for_day("2024-05-03"))
    assert third["review_id"].tolist() == [1, 2] and set(third["split"]) == {"validation"}


def test_a_rerun_overwrites_its_own_writes_only(store, lake, spec) -> None:
    store.ensure_group(lake, spec)
    _write(store, lake, spec, "2024-05-01", {"train": _split([1, 2], "first")})
    _write(store, lake, spec, "2024-05-02", {"train": _split([3], "second")})
    _write(store, lake, spec, "2024-05-01", {"train": _split([1], "rerun")})

    files = sorted(lake.list(LakeLayout.feature_group_data(spec.store_prefix, spec.name)))
    assert files == [f"feature-store/airsage-reviews/data/dt={d}/part-0.parquet"
                     for d in ("2024-05-01", "2024-05-02")]
    assert store.query(lake, spec, as_of_for_day("2024-05-01"))["review_text"].tolist() == ["rerun 1"]
    assert store.query(lake, spec, as_of_for_day("2024-05-02"))["review_id"].tolist() == [1, 3]


def test_same_event_time_the_newest_invocation_wins(store, lake, spec) -> None:
    """SageMaker's tie-break: same record id and event time -> the later api_invocation_time."""
    from airsage.features.local import offline_bytes, offline_frame

    store.ensure_group(lake, spec)
    event = format_event_time(as_of_for_day("2024-05-01"))
    older = offline_frame(spec, feature_records({"train": _split([7], "older")}, event), [], event,
                          dt.datetime(2024, 5, 2, 1, tzinfo=dt.UTC))
    newer = offline_frame(spec, feature_records({"train": _split([7], "newer")}, event), [], event,
                          dt.datetime(2024, 5, 2, 2, tzinfo=dt.UTC))
    for name, frame in (("a", newer), ("b", older)):  # file order must not matter
        lake.write_bytes(f"{spec.offline_prefix}data/dt={name}/part-0.parquet",
                         offline_bytes(spec, frame))
    assert store.query(lake, spec, as_of_for_day("2024-05-01"))["review_text"].tolist() == ["newer 7"]


def test_unknown_group_and_bad_as_of_are_clear_errors(store, lake, spec, settings) -> None:
    with pytest.raises(FeatureStoreError, match="feature group airsage-reviews does not exist"):
        store.query(lake, spec, as_of_for_day("2024-05-01"))
    with pytest.raises(FeatureStoreError, match="as-of 'yesterday' is not a date or time"):
        parse_as_of("yesterday")
    with pytest.raises(FeatureStoreError, match="is not a date or time"):
        parse_as_of("2024-13-45")
    store.ensure_group(lake, spec)
    with pytest.raises(FeatureStoreError, match="unknown split 'holdout'"):
        store.query(lake, spec, as_of_for_day("2024-05-01"), "holdout")


def test_an_existing_group_with_another_schema_is_refused(store, lake, spec) -> None:
    import dataclasses

    assert store.ensure_group(lake, spec) is True
    assert store.ensure_group(lake, spec) is False  # idempotent
    changed = dataclasses.replace(spec, features=(*spec.features[:-2], ("event_time", "Fractional")))
    with pytest.raises(FeatureStoreError, match=r"another schema: feature 'event_time' is String, "
                       r"expected Fractional; feature 'split' \(String\) is not in airsage's"):
        store.ensure_group(lake, changed)


def test_as_of_forms() -> None:
    assert parse_as_of("2024-05-01") == dt.datetime(2024, 5, 2, tzinfo=dt.UTC)
    assert parse_as_of("2024-05-01T12:30:00Z") == dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    assert parse_as_of("2024-05-01T14:30:00+02:00") == dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    assert parse_as_of("2024-05-01T12:30") == dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)


def test_one_sql_shape_two_dialects() -> None:
    """Only the event-time parsing and the table differ between DuckDB and Athena."""
    as_of = as_of_for_day("2024-05-01")
    local = point_in_time_sql('"feature_group"', as_of, DUCKDB, split="train")
    athena = point_in_time_sql('"airsage"."airsage_reviews"', as_of, ATHENA, split="train")
    normalised = (athena.replace('"airsage"."airsage_reviews"', '"feature_group"')
                  .replace("from_iso8601_timestamp(\"event_time\")", 'CAST("event_time" AS TIMESTAMPTZ)')
                  .replace("from_iso8601_timestamp('2024-05-02T00:00:00Z')",
                           "CAST('2024-05-02T00:00:00Z' AS TIMESTAMPTZ)"))
    assert normalised == local
    assert 'ORDER BY from_iso8601_timestamp("event_time") DESC, "api_invocation_time" DESC, ' \
           '"write_time" DESC' in athena
    assert "AND \"split\" = 'train'" in athena
