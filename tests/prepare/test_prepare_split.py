"""Balancing, splitting and the leakage guard, on in-memory frames."""

from __future__ import annotations

import pandas as pd
import pytest

from airsage.errors import ConfigurationError, InputDataError
from airsage.prepare import split as splitting
from airsage.prepare.base import PrepareOptions


def _labelled(make_reviews, counts: dict[int, int], **kwargs) -> pd.DataFrame:
    frame = make_reviews(counts, **kwargs)
    return frame.assign(sentiment=frame["rating"].map({1: -1, 2: -1, 3: 0, 4: 1, 5: 1}))


def _ids(splits: dict[str, pd.DataFrame]) -> dict[str, list[int]]:
    return {name: part["review_id"].tolist() for name, part in splits.items()}


def test_split_is_independent_of_row_order(make_reviews) -> None:
    frame = _labelled(make_reviews, {-1: 40, 0: 60, 1: 200})
    options = PrepareOptions(seed=7)
    first = splitting.split_stratified(frame, options)
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    second = splitting.split_stratified(shuffled, options)
    assert _ids(first) == _ids(second)
    other_seed = splitting.split_stratified(frame, PrepareOptions(seed=8))
    assert _ids(other_seed) != _ids(first)


def test_split_proportions_and_stratification(make_reviews) -> None:
    frame = _labelled(make_reviews, {-1: 40, 0: 60, 1: 200})
    splits = splitting.split_stratified(frame, PrepareOptions())
    assert sum(len(part) for part in splits.values()) == len(frame)
    expected = {
        "-1": {"train": 36, "validation": 2, "test": 2},
        "0": {"train": 54, "validation": 3, "test": 3},
        "1": {"train": 180, "validation": 10, "test": 10},
    }
    for name, part in splits.items():
        counts = splitting.class_counts(part)
        assert {label: counts[label] for label in expected} == {
            label: expected[label][name] for label in expected
        }
        assert part["review_id"].is_monotonic_increasing


def test_leakage_guard_catches_an_id_in_two_splits(make_reviews) -> None:
    frame = _labelled(make_reviews, {-1: 40, 0: 40, 1: 40})
    splits = splitting.split_stratified(frame, PrepareOptions())
    splitting.check_leakage(splits, "reviews test")
    leaked = splits["train"].iloc[[0]]
    splits["test"] = pd.concat([splits["test"], leaked], ignore_index=True)
    with pytest.raises(InputDataError, match=r"1 review id\(s\) are in both train and test"):
        splitting.check_leakage(splits, "reviews test")


def test_time_ordered_split_and_its_guard(make_reviews) -> None:
    frame = _labelled(make_reviews, {-1: 40, 0: 40, 1: 40})
    frame = frame.assign(event_time=pd.date_range("2024-05-01", periods=len(frame), freq="h")[::-1])
    splits = splitting.split_time_ordered(frame, PrepareOptions(), "event_time")
    assert splits["train"]["event_time"].max() <= splits["test"]["event_time"].min()
    splitting.check_leakage(splits, "reviews test", "event_time")

    late = splits["test"].iloc[[0]].assign(review_id=10_000)
    splits["train"] = pd.concat([splits["train"], late], ignore_index=True)
    with pytest.raises(InputDataError, match="time leakage"):
        splitting.check_leakage(splits, "reviews test", "event_time")


def test_undersample_and_oversample(make_reviews) -> None:
    frame = _labelled(make_reviews, {-1: 25, 0: 30, 1: 90})
    under = splitting.undersample(frame, seed=1)
    assert splitting.class_counts(under) == {"-1": 25, "0": 25, "1": 25}
    assert under["review_id"].is_unique
    assert set(under["review_id"]) <= set(frame["review_id"])
    shuffled = frame.sample(frac=1.0, random_state=5)
    assert sorted(splitting.undersample(shuffled, seed=1)["review_id"]) == sorted(
        under["review_id"]
    )

    over = splitting.oversample(frame, seed=1)
    assert splitting.class_counts(over) == {"-1": 90, "0": 90, "1": 90}
    assert set(over["review_id"]) == set(frame["review_id"])
    for _, rows in over.groupby("sentiment"):
        repeats = rows.groupby("review_id").size()
        assert repeats.max() - repeats.min() <= 1  # round-robin, not a lucky few copied often


def test_missing_class_is_named_with_counts(make_reviews) -> None:
    frame = _labelled(make_reviews, {0: 30, 1: 90})
    with pytest.raises(InputDataError) as caught:
        splitting.require_classes(frame, PrepareOptions().min_rows_per_class(), "reviews 2024")
    message = str(caught.value)
    assert "sentiment -1 has 0 row(s)" in message
    assert "at least 20" in message
    assert "'0': 30" in message and "'1': 90" in message


def test_options_validate_their_values(settings) -> None:
    assert PrepareOptions.from_settings(settings).balance == "undersample"
    assert PrepareOptions.from_settings(settings, balance="oversample", seed=3).seed == 3
    with pytest.raises(ConfigurationError, match="balance 'smote'"):
        PrepareOptions.from_settings(settings, balance="smote")
    with pytest.raises(ConfigurationError, match="sum to 1"):
        PrepareOptions(splits={"train": 0.8, "validation": 0.05, "test": 0.05})
    with pytest.raises(ConfigurationError, match="exactly train, validation, test"):
        PrepareOptions(splits={"train": 0.9, "test": 0.1})
