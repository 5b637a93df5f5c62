"""prepare_dataset end to end on a LocalLake: curated Parquet in, feature splits out."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from airsage.errors import GateFailedError, InputDataError
from airsage.lake.layout import SPLITS, LakeLayout
from airsage.lake.local import LocalLake
from airsage.prepare.base import FEATURE_COLUMNS, PrepareOptions, sentiment_of_rating
from airsage.prepare.prepare import prepare_dataset
from airsage.prepare.split import in_evaluation_set
from airsage.prepare.text import clean_text


def _split_frames(lake, result) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_parquet(io.BytesIO(lake.read_bytes(result.split_keys[name])))
        for name in SPLITS
    }


@pytest.fixture
def messy(make_reviews) -> pd.DataFrame:
    """A batch with the real world's mess: HTML, blank texts, a duplicated id, a bad rating."""
    frame = make_reviews({-1: 30, 0: 45, 1: 120})
    frame.loc[0, "review_text"] = "<p>Too&nbsp;itchy</p>\n\n returned"
    frame.loc[1, "review_text"] = "   "
    frame.loc[2, "review_text"] = None
    frame.loc[3, "rating"] = 9
    duplicate = frame.iloc[[10]].assign(review_text="a second copy of review 11")
    return pd.concat([frame, duplicate], ignore_index=True)


def test_prepare_writes_the_contract(settings, lake, curate, messy, day) -> None:
    curate(messy)
    result = prepare_dataset(settings, lake, "reviews", day)

    layout = LakeLayout("reviews")
    assert result.split_keys == {name: layout.features(day, name) + "part-0.parquet"
                                 for name in SPLITS}
    assert result.channels["train"] == layout.features(day, "train")
    frames = _split_frames(lake, result)
    for name, frame in frames.items():
        assert list(frame.columns) == list(FEATURE_COLUMNS)
        assert str(frame["review_id"].dtype) == "int64"
        assert set(frame["sentiment"]) == {-1, 0, 1}
        assert len(frame) == result.rows[name]
    assert result.dropped["undersampled"] == 192 - sum(result.rows.values())
    assert {k: v for k, v in result.dropped.items() if k != "undersampled"} == {
        "missing_id": 0, "duplicate_id": 1, "empty_text": 2, "invalid_rating": 1,
        "duplicate_across_days": 0}
    assert result.input_rows == 196
    # the evaluation set and the training pool are each undersampled to their rarest class
    for name in ("train", "test"):
        counts = set(result.class_counts[name].values())
        assert len(counts) == 1 and counts != {0}, result.class_counts
    assert result.window_days == (day,)
    assert result.evaluation_set["rows"] == result.rows["test"]
    assert result.evaluation_set["version"] == 1
    texts = pd.concat(frames.values())["review_text"]
    assert texts.map(clean_text).tolist() == texts.tolist()  # every text is already clean
    assert not texts.str.contains("<|\n|&nbsp;").any()
    assert result.expectations.success
    assert lake.exists(result.data_docs_key)
    assert json.loads(lake.read_bytes(result.report_key))["dataset_hash"] == result.dataset_hash


def test_splits_and_hash_do_not_depend_on_row_order(settings, tmp_path, curate, messy,
                                                     day) -> None:
    lakes = [LocalLake(root=tmp_path / "lake-a"), LocalLake(root=tmp_path / "lake-b")]
    curate(messy, target_lake=lakes[0], name="ordered")
    curate(messy.sample(frac=1.0, random_state=11), target_lake=lakes[1], name="shuffled")
    results = [prepare_dataset(settings, each, "reviews", day) for each in lakes]
    frames = [_split_frames(each, result) for each, result in zip(lakes, results, strict=True)]
    for name in SPLITS:
        pd.testing.assert_frame_equal(frames[0][name], frames[1][name])
    assert results[0].dataset_hash == results[1].dataset_hash


@pytest.mark.parametrize("balance", ["none", "oversample"])
def test_balance_strategies(settings, lake, curate, make_reviews, day, balance) -> None:
    curate(make_reviews({-1: 20, 0: 40, 1: 100}))
    options = PrepareOptions.from_settings(settings, balance=balance)
    result = prepare_dataset(settings, lake, "reviews", day, options=options)
    frames = _split_frames(lake, result)
    batch = make_reviews({-1: 20, 0: 40, 1: 100})
    batch["sentiment"] = batch["rating"].map(sentiment_of_rating)
    held = batch[in_evaluation_set(batch["review_id"], options.splits["test"], 1)]
    expected_test = {str(label): int((held["sentiment"] == label).sum()) for label in (-1, 0, 1)}
    assert result.class_counts["test"] == expected_test  # natural class mix, hash-chosen ids
    pool = {label: count - expected_test[str(label)]
            for label, count in {-1: 20, 0: 40, 1: 100}.items()}
    # validation takes 0.05 / (0.85 + 0.05) of each class of the rest, rounded half up
    validation = {str(label): int(count / 18 + 0.5) for label, count in pool.items()}
    assert result.class_counts["validation"] == validation
    train = {str(label): pool[label] - validation[str(label)] for label in pool}
    if balance == "none":
        assert result.class_counts["train"] == train
        assert result.oversampled_rows == 0
    else:
        most = max(train.values())
        assert result.class_counts["train"] == {label: most for label in train}
        assert result.oversampled_rows == 3 * most - sum(train.values())
        # copies stay inside train: no held-out review is ever repeated into it
        train_ids = set(frames["train"]["review_id"])
        for name in ("validation", "test"):
            assert not train_ids & set(frames[name]["review_id"])
    assert "undersampled" not in result.dropped


def test_missing_class_fails_before_anything_is_written(settings, lake, curate, make_reviews,
                                                        day) -> None:
    curate(make_reviews({-1: 30, 0: 30, 1: 100}))
    prepare_dataset(settings, lake, "reviews", day)
    assert list(lake.list(LakeLayout("reviews").features(day)))

    curate(make_reviews({-1: 5, 1: 100}))
    with pytest.raises(InputDataError) as caught:
        prepare_dataset(settings, lake, "reviews", day)
    message = str(caught.value)
    assert "sentiment -1 has 5 row(s)" in message
    assert "sentiment 0 has 0 row(s)" in message
    assert "'1': 100" in message
    # the earlier run's features are gone: a refused day leaves nothing to train on
    assert not list(lake.list(LakeLayout("reviews").features(day)))


def test_time_ordered_split_trains_on_the_past(settings, lake, curate, make_reviews,
                                               day) -> None:
    interleaved = make_reviews({-1: 30, 0: 30, 1: 60}).sample(frac=1.0, random_state=2)
    curate(interleaved.assign(review_id=range(1, len(interleaved) + 1)))
    options = PrepareOptions.from_settings(settings, balance="none", time_column="review_id")
    result = prepare_dataset(settings, lake, "reviews", day, options=options)
    frames = _split_frames(lake, result)
    assert frames["train"]["review_id"].max() < frames["validation"]["review_id"].min()
    # the evaluation set is hash-chosen, never time-ordered: the same ids in every window
    held = in_evaluation_set(pd.Series(range(1, 121)), options.splits["test"], 1)
    assert frames["test"]["review_id"].tolist() == [i + 1 for i in held[held].index]
    assert result.rows["validation"] == int((120 - result.rows["test"]) / 18 + 0.5)


def test_time_ordered_split_without_every_class_late_is_refused(settings, lake, curate,
                                                                make_reviews, day) -> None:
    # ids grouped by class: the latest rows (the validation split) are all positive
    curate(make_reviews({-1: 30, 0: 30, 1: 60}))
    options = PrepareOptions.from_settings(settings, balance="none", time_column="review_id")
    with pytest.raises(GateFailedError) as caught:
        prepare_dataset(settings, lake, "reviews", day, options=options)
    checks = [failure.check for failure in caught.value.failures]
    assert 'expect_column_distinct_values_to_equal_set(sentiment) where split=="validation"' in checks
    assert not list(lake.list(LakeLayout("reviews").features(day)))


def test_prepare_without_curated_data_says_what_to_run(settings, lake, day) -> None:
    with pytest.raises(InputDataError, match="run the curate step"):
        prepare_dataset(settings, lake, "reviews", day)


def test_prepare_real_sample(settings, lake, sample_relation, day) -> None:
    from airsage.prepare.curate import curate_partition

    curate_partition(settings, lake, "reviews", day, sample_relation)
    result = prepare_dataset(settings, lake, "reviews", day,
                             options=PrepareOptions.from_settings(settings, balance="none"))
    assert result.dropped["empty_text"] == 42
    totals = {label: sum(counts[label] for counts in result.class_counts.values())
              for label in ("-1", "0", "1")}
    assert totals == {"-1": 97, "0": 124, "1": 737}  # the sample README's counts
