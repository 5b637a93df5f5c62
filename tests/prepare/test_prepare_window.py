"""Training on a window of curated days: which days, one row per review, a fixed evaluation set."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pandas as pd
import pytest
from conftest import relation_for

from airsage.errors import ConfigurationError, InputDataError
from airsage.lake.layout import SPLITS
from airsage.prepare.base import PrepareOptions
from airsage.prepare.curate import curate_partition
from airsage.prepare.prepare import prepare_dataset, window_days
from airsage.prepare.split import in_evaluation_set

DAYS = ["2024-05-01", "2024-05-02", "2024-05-04", "2024-05-05"]  # 05-03 was never curated


@pytest.fixture
def curated_days(settings, lake, make_reviews, tmp_path: Path) -> dict[str, pd.DataFrame]:
    """Four curated days of 200 fresh reviews each (ids 1000 * day-index onwards)."""
    frames = {}
    for index, day in enumerate(DAYS):
        frame = make_reviews({-1: 40, 0: 50, 1: 110}, seed=index, start_id=1000 * (index + 1))
        path = tmp_path / f"{day}.csv"
        frame.assign(dt=day).to_csv(path, index=False)
        curate_partition(settings, lake, "reviews", day, relation_for(path))
        frames[day] = frame
    return frames


def splits_of(lake, result) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(io.BytesIO(lake.read_bytes(result.split_keys[name])))
            for name in SPLITS}


def test_window_days_are_the_curated_days_up_to_the_run(lake, curated_days) -> None:
    three = PrepareOptions(window_days=3)
    assert window_days(lake, "reviews", "2024-05-05", three) == ["2024-05-04", "2024-05-05"]
    assert window_days(lake, "reviews", "2024-05-04", PrepareOptions(window_days=4)) == [
        "2024-05-01", "2024-05-02", "2024-05-04"]
    # a backfill of an old day never reads a later day
    assert window_days(lake, "reviews", "2024-05-02", PrepareOptions(window_days=30)) == [
        "2024-05-01", "2024-05-02"]
    since = PrepareOptions(window_since="2024-05-02")
    assert window_days(lake, "reviews", "2024-05-05", since) == [
        "2024-05-02", "2024-05-04", "2024-05-05"]
    with pytest.raises(InputDataError, match="after the run's day"):
        window_days(lake, "reviews", "2024-05-01", since)


def test_window_options_are_validated(settings) -> None:
    with pytest.raises(ConfigurationError, match="window_days must be at least 1"):
        PrepareOptions(window_days=0)
    with pytest.raises(ConfigurationError, match="window_since 'last week' is not a date"):
        PrepareOptions.from_settings(settings, window_since="last week")
    assert PrepareOptions.from_settings(settings).window_days == 7  # the shipped config
    assert PrepareOptions.from_settings(settings, window_days=2).window_days == 2


def test_a_window_reads_every_day_and_drops_cross_day_duplicates(
        settings, lake, make_reviews, curated_days, tmp_path: Path) -> None:
    # 2024-05-06 re-lands 30 reviews of 2024-05-05 (edited) next to 100 new ones
    repeated = curated_days["2024-05-05"].head(30).assign(review_text="edited again, love it")
    fresh = make_reviews({-1: 20, 0: 30, 1: 50}, seed=9, start_id=9000)
    path = tmp_path / "06.csv"
    pd.concat([repeated, fresh]).assign(dt="2024-05-06").to_csv(path, index=False)
    curate_partition(settings, lake, "reviews", "2024-05-06", relation_for(path))

    options = PrepareOptions.from_settings(settings, window_days=3, balance="none")
    result = prepare_dataset(settings, lake, "reviews", "2024-05-06", options=options)
    assert result.window_days == ("2024-05-04", "2024-05-05", "2024-05-06")
    assert result.input_rows == 200 + 200 + 130
    assert result.dropped["duplicate_across_days"] == 30
    frames = splits_of(lake, result)
    everything = pd.concat(frames.values())
    assert len(everything) == 200 + 200 + 100  # each review once
    assert everything["review_id"].is_unique  # no review id in two splits
    # the newest day's copy of a re-landed review is the one kept
    kept = everything.set_index("review_id").loc[repeated["review_id"], "review_text"]
    assert set(kept) == {"edited again, love it"}
    assert set(everything["review_id"]) >= set(fresh["review_id"])
    assert result.evaluation_set["days"] == list(result.window_days)


def test_the_evaluation_set_is_never_in_any_training_window(settings, lake, curated_days) -> None:
    seen_training: set[int] = set()
    evaluation: set[int] = set()
    for day, days in (("2024-05-02", 2), ("2024-05-04", 2), ("2024-05-05", 7)):
        options = PrepareOptions.from_settings(settings, window_days=days)
        result = prepare_dataset(settings, lake, "reviews", day, options=options)
        frames = splits_of(lake, result)
        seen_training |= set(frames["train"]["review_id"]) | set(frames["validation"]["review_id"])
        test_ids = set(frames["test"]["review_id"])
        evaluation |= test_ids
        assert result.evaluation_set["rows"] == len(test_ids) > 0
        share = options.splits["test"]
        every = pd.concat(curated_days[d] for d in result.window_days)["review_id"]
        held = set(every[in_evaluation_set(every, share, options.evaluation_version)])
        assert test_ids <= held  # undersampled, but only ever from the held-out ids
    assert evaluation and not evaluation & seen_training
    # a new version draws a different set
    ids = pd.Series(range(1, 5001))
    first, second = (set(ids[in_evaluation_set(ids, 0.1, version)]) for version in (1, 2))
    assert first != second and 400 < len(first) < 600


def test_drifted_newest_days_enter_the_window(settings, lake, curated_days) -> None:
    """The run for the newest day trains on it: a retraining after drift sees the new data."""
    options = PrepareOptions.from_settings(settings, window_days=2)
    result = prepare_dataset(settings, lake, "reviews", "2024-05-05", options=options)
    frames = splits_of(lake, result)
    newest = set(curated_days["2024-05-05"]["review_id"])
    assert newest & set(frames["train"]["review_id"])
    assert (dt.date.fromisoformat(result.window_days[-1])
            == dt.date.fromisoformat("2024-05-05"))
