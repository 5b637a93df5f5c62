"""prepare with a feature store: training's channels are the point-in-time read as of the run.

Real curated days in a lake directory, the real prepare step and the local store; the
channel files are compared with what ``airsage features query --as-of`` returns.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import pandas as pd
import pytest

from airsage.cli import main
from airsage.features.base import FeatureGroupSpec, as_of_for_day
from airsage.features.local import LocalFeatureStore
from airsage.features.publish import read_splits
from airsage.lake.layout import SPLITS
from airsage.prepare.base import FEATURE_COLUMNS, PrepareOptions
from airsage.prepare.curate import curate_partition
from airsage.prepare.prepare import prepare_dataset
from airsage.training.step import feature_channels

DAYS = ("2024-05-01", "2024-05-02", "2024-05-03")
_WORDS = {-1: ["awful", "itchy", "returned"], 0: ["okay", "fine", "average"],
          1: ["love", "gorgeous", "perfect"]}
_RATINGS = {-1: (1, 2), 0: (3,), 1: (4, 5)}


def _reviews(day_index: int) -> pd.DataFrame:
    """200 reviews a day; each day repeats 50 ids of the day before (a review edited later)."""
    rng = random.Random(day_index)
    start = 1000 * (day_index + 1) - (50 if day_index else 0)
    rows = []
    for offset, sentiment in enumerate([-1] * 40 + [0] * 50 + [1] * 110):
        rows.append({
            "review_id": start + offset, "clothing_id": rng.randint(1, 1200),
            "age": rng.randint(18, 80), "title": "",
            "review_text": " ".join(rng.choices(_WORDS[sentiment], k=5)) + f" day{day_index}",
            "rating": rng.choice(_RATINGS[sentiment]), "recommended_ind": int(sentiment >= 0),
            "positive_feedback_count": 0,
            "division_name": rng.choice(["General", "General Petite"]),
            "department_name": rng.choice(["Tops", "Dresses"]), "class_name": "Knits",
            "dt": DAYS[day_index]})
    return pd.DataFrame(rows)


@pytest.fixture
def curated(settings, lake, tmp_path: Path) -> None:
    for index, day in enumerate(DAYS):
        path = tmp_path / f"{day}.csv"
        _reviews(index).to_csv(path, index=False)
        curate_partition(settings, lake, "reviews", day, f"read_csv('{path.as_posix()}', header=true)")


def _channel_frames(lake, day: str) -> dict[str, pd.DataFrame]:
    frames = {}
    for split in SPLITS:
        keys = [key for key in lake.list(f"features/reviews/dt={day}/{split}/")]
        frames[split] = pd.concat([pd.read_parquet(io.BytesIO(lake.read_bytes(k))) for k in keys])
    return frames


def test_channels_are_the_point_in_time_read_and_stay_so(settings, lake, curated) -> None:
    store = LocalFeatureStore(settings)
    spec = FeatureGroupSpec.for_dataset(settings, "reviews")
    options = PrepareOptions.from_settings(settings, window_days=2)
    first = prepare_dataset(settings, lake, "reviews", DAYS[0], options=options, features=store)
    seen_first = _channel_frames(lake, DAYS[0])
    second = prepare_dataset(settings, lake, "reviews", DAYS[1], options=options, features=store)
    third = prepare_dataset(settings, lake, "reviews", DAYS[2], options=options, features=store)

    assert first.feature_store["event_time"] == "2024-05-02T00:00:00Z"
    assert first.feature_store["deleted"] == 0
    # the 2nd run's window re-selects (undersampling) part of the 1st's ids: the rest are deleted
    assert second.feature_store["deleted"] > 0
    assert third.feature_store["records"] == sum(third.rows.values())
    for day, result in ((DAYS[0], first), (DAYS[1], second), (DAYS[2], third)):
        as_of = as_of_for_day(day)
        pit = read_splits(store, lake, spec, as_of)
        channels = _channel_frames(lake, day)
        for split in SPLITS:
            left = channels[split].reset_index(drop=True)
            right = pit[split].astype(left.dtypes.to_dict())
            pd.testing.assert_frame_equal(left, right, check_dtype=True)
            assert len(left) == result.rows[split]
        assert set(feature_channels(lake, "reviews", day)) == {"train", "validation"}
    # two later runs wrote to the store; what the first run's model saw has not changed
    for split in SPLITS:
        pd.testing.assert_frame_equal(_channel_frames(lake, DAYS[0])[split], seen_first[split])
        assert read_splits(store, lake, spec, as_of_for_day(DAYS[0]))[split]["review_id"].tolist() \
            == seen_first[split]["review_id"].tolist()


def test_the_store_changes_no_byte_of_the_splits(settings, lake, curated, tmp_path) -> None:
    """Same window with and without the store: the same files, the same lineage hash."""
    options = PrepareOptions.from_settings(settings, window_days=3)
    without = prepare_dataset(settings, lake, "reviews", DAYS[2], options=options)
    plain = {split: lake.read_bytes(key) for split, key in without.split_keys.items()}
    with_store = prepare_dataset(settings, lake, "reviews", DAYS[2], options=options,
                                 features=LocalFeatureStore(settings))
    assert with_store.dataset_hash == without.dataset_hash
    assert {split: lake.read_bytes(key) for split, key in with_store.split_keys.items()} == plain
    assert with_store.expectations.success and with_store.evaluation_set == without.evaluation_set


def test_oversampling_repeats_rows_of_the_read_and_is_not_stored(settings, lake, curated) -> None:
    store = LocalFeatureStore(settings)
    spec = FeatureGroupSpec.for_dataset(settings, "reviews")
    options = PrepareOptions.from_settings(settings, window_days=1, balance="oversample")
    result = prepare_dataset(settings, lake, "reviews", DAYS[0], options=options, features=store)
    train = _channel_frames(lake, DAYS[0])["train"]
    stored = read_splits(store, lake, spec, as_of_for_day(DAYS[0]))["train"]
    assert result.oversampled_rows > 0 and len(train) == len(stored) + result.oversampled_rows
    assert set(train["review_id"]) == set(stored["review_id"])
    assert stored["review_id"].is_unique


def test_features_query_cli_answers_what_the_model_saw(settings, lake, curated, tmp_path,
                                                       monkeypatch, capsys) -> None:
    monkeypatch.setenv("AIRSAGE_HOME", str(settings.home))
    monkeypatch.setenv("AIRSAGE__LAKE__ROOT", str(lake.root))
    store = LocalFeatureStore(settings)
    options = PrepareOptions.from_settings(settings, window_days=1)
    prepare_dataset(settings, lake, "reviews", DAYS[0], options=options, features=store)
    prepare_dataset(settings, lake, "reviews", DAYS[1], options=options, features=store)

    out = tmp_path / "train.parquet"
    assert main(["features", "query", "--as-of", DAYS[0], "--split", "train", "--out", str(out)]) == 0
    answered = pd.read_parquet(out)
    channel = _channel_frames(lake, DAYS[0])["train"]
    assert answered["review_id"].tolist() == channel["review_id"].tolist()
    assert answered.loc[:, list(FEATURE_COLUMNS)].astype(channel.dtypes.to_dict()).equals(
        channel.reset_index(drop=True))
    assert "airsage-reviews as of 2024-05-02T00:00:00Z" in capsys.readouterr().out

    assert main(["features", "query", "--as-of", "not-a-time"]) == 2
    assert "as-of 'not-a-time' is not a date or time" in capsys.readouterr().err
    monkeypatch.setenv("AIRSAGE__FEATURES__FEATURE_GROUP", "other-{dataset}")
    assert main(["features", "query", "--as-of", DAYS[0]]) == 2
    assert "feature group other-reviews does not exist" in capsys.readouterr().err


def test_the_prepare_task_hands_the_targets_store_unless_disabled(settings) -> None:
    from airsage.airflow.tasks import _feature_store

    assert isinstance(_feature_store(settings), LocalFeatureStore)
    assert _feature_store(settings.with_overrides({"features": {"enabled": False}})) is None


def test_runs_publish_one_at_a_time(settings, lake) -> None:
    """While another run holds the group's lake lock, a run waits, then says who holds it."""
    from airsage.features.publish import publish_splits
    from airsage.lake.lock import LockTimeout

    quick = settings.with_overrides({"features": {"replication_timeout_seconds": 1}})
    split = pd.DataFrame({"review_id": [1], "review_text": ["love it"], "sentiment": [1],
                          "rating": [5], "age": [30], "division_name": ["General"],
                          "department_name": ["Tops"], "class_name": ["Knits"]})
    splits = {"train": split, "validation": split.iloc[0:0], "test": split.iloc[0:0]}
    store = LocalFeatureStore(quick)
    with lake.lock("feature-group-airsage-reviews"), pytest.raises(LockTimeout):
        publish_splits(quick, store, lake, "reviews", DAYS[0], splits)
    read, published = publish_splits(quick, store, lake, "reviews", DAYS[0], splits)
    assert read["train"]["review_id"].tolist() == [1] and published.rows["train"] == 1
