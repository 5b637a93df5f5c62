"""The Great Expectations suite: passes good splits, refuses bad ones, keeps its Data Docs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from airsage.errors import GateFailedError
from airsage.lake.layout import LakeLayout
from airsage.prepare import split as splitting
from airsage.prepare.base import FEATURE_COLUMNS, PrepareOptions
from airsage.prepare.expectations import validate_splits


@pytest.fixture
def good_splits(make_reviews) -> dict[str, pd.DataFrame]:
    frame = make_reviews({-1: 40, 0: 40, 1: 40})
    frame = frame.assign(sentiment=frame["rating"].map({1: -1, 2: -1, 3: 0, 4: 1, 5: 1}))
    return splitting.split_stratified(frame.loc[:, list(FEATURE_COLUMNS)], PrepareOptions())


def test_suite_passes_good_splits_and_writes_data_docs(lake, good_splits, day) -> None:
    result = validate_splits(lake, "reviews", day, good_splits, PrepareOptions())
    assert result.success and result.failed == 0
    assert result.evaluated >= 12
    assert result.data_docs_key == LakeLayout("reviews").report("data-docs", day, "index.html")
    html = lake.read_bytes(result.data_docs_key).decode()
    assert "<html" in html.lower()
    docs = list(lake.list(LakeLayout("reviews").report("data-docs", day, "")))
    assert any("/validations/" in key and key.endswith(".html") for key in docs)
    stored = json.loads(lake.read_bytes(result.result_key))
    assert stored["success"] is True
    assert json.dumps(result.to_dict())


def test_suite_refuses_ids_duplicated_after_splitting(lake, good_splits, day) -> None:
    duplicated = good_splits["train"].iloc[[0, 1]]
    bad = {**good_splits, "test": pd.concat([good_splits["test"], duplicated])}
    with pytest.raises(GateFailedError) as caught:
        validate_splits(lake, "reviews", day, bad, PrepareOptions())
    error = caught.value
    assert error.gate == "expectations"
    checks = {failure.check: failure for failure in error.failures}
    unique = checks["expect_column_values_to_be_unique(review_id)"]
    assert unique.measured["unexpected_count"] == 4
    assert error.report_uri and error.report_uri.endswith("index.html")
    # The refused run still leaves its report behind.
    assert lake.exists(LakeLayout("reviews").report("data-docs", day, "index.html"))


def test_suite_refuses_a_split_without_a_class_and_bad_labels(lake, good_splits, day) -> None:
    test = good_splits["test"]
    bad = {**good_splits, "test": test[test["sentiment"] != -1]}
    bad["train"] = bad["train"].assign(
        sentiment=bad["train"]["sentiment"].where(bad["train"].index != 0, 2)
    )
    with pytest.raises(GateFailedError) as caught:
        validate_splits(lake, "reviews", day, bad, PrepareOptions())
    checks = {failure.check: failure for failure in caught.value.failures}
    missing = checks['expect_column_distinct_values_to_equal_set(sentiment) where split=="test"']
    assert missing.measured == {"missing": [-1]}
    assert "expect_column_values_to_be_in_set(sentiment)" in checks


def test_suite_refuses_skewed_split_proportions(lake, good_splits, day) -> None:
    train = good_splits["train"]
    moved = train.iloc[:30]
    skewed = {
        "train": train.iloc[30:],
        "validation": pd.concat([good_splits["validation"], moved]),
        "test": good_splits["test"],
    }
    with pytest.raises(GateFailedError) as caught:
        validate_splits(lake, "reviews", day, skewed, PrepareOptions())
    (failure,) = caught.value.failures
    assert failure.check == "expect_column_kl_divergence_to_be_less_than(split)"
    assert failure.measured > 0.01
    assert "validation=0.300" in failure.message
