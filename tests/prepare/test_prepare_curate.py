"""Curating a partition: typed columns, the sentiment label, the day filter, reruns."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from airsage.errors import InputDataError
from airsage.lake.layout import LakeLayout
from airsage.prepare.curate import curate_partition

LABEL_OF_RATING = {1: -1, 2: -1, 3: 0, 4: 1, 5: 1}


def _read(lake, key: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(lake.read_bytes(key)))


def test_curate_adds_sentiment_and_types(curate, lake, make_reviews, day) -> None:
    frame = make_reviews({-1: 3, 0: 2, 1: 5})
    frame.loc[0, "rating"] = 7  # out of range: kept, but without a label
    result = curate(frame)

    assert result.key == LakeLayout("reviews").curated(day) + "reviews.parquet"
    curated = _read(lake, result.key).set_index("review_id")
    assert result.rows == len(curated) == 10
    assert result.unlabelled == 1
    assert result.sentiment_counts == {"-1": 2, "0": 2, "1": 5}
    for row in frame.itertuples():
        label = curated.loc[row.review_id, "sentiment"]
        if row.rating in LABEL_OF_RATING:
            assert label == LABEL_OF_RATING[row.rating]
        else:
            assert pd.isna(label)
    assert str(curated.index.dtype).lower() == "int64"
    assert str(curated["dt"].iloc[0])[:10] == day


def test_curate_keeps_only_the_day_and_rerun_overwrites(curate, lake, make_reviews) -> None:
    frame = make_reviews({-1: 2, 0: 2, 1: 2})
    other_day = make_reviews({1: 4}, start_id=100).assign(dt="2024-05-02")
    first = curate(pd.concat([frame, other_day]))
    assert first.rows == 6

    second = curate(make_reviews({1: 3}, start_id=500))
    assert second.key == first.key
    assert sorted(_read(lake, second.key)["review_id"]) == [500, 501, 502]


def test_curate_refuses_missing_columns(curate, make_reviews) -> None:
    with pytest.raises(InputDataError, match="class_name"):
        curate(make_reviews({1: 3}).drop(columns=["class_name"]))


def test_curate_refuses_an_empty_partition(curate, make_reviews) -> None:
    with pytest.raises(InputDataError, match="no rows"):
        curate(make_reviews({1: 3}).assign(dt="2024-04-30"))


def test_curate_real_sample(settings, lake, sample_relation, day) -> None:
    result = curate_partition(settings, lake, "reviews", day, sample_relation)
    assert result.rows == 1000
    assert result.unlabelled == 0
    assert sum(result.sentiment_counts.values()) == 1000
