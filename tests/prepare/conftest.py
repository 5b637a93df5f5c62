"""Fixtures for the prepare tests: settings, a lake in tmp_path and small review batches."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from airsage.config import Settings
from airsage.lake.local import LocalLake
from airsage.prepare.curate import curate_partition

DAY = "2024-05-01"

_WORDS = {
    -1: ["awful", "itchy", "returned", "cheap", "tore", "disappointing"],
    0: ["okay", "fine", "average", "runs", "small", "decent"],
    1: ["love", "gorgeous", "perfect", "flattering", "soft", "wonderful"],
}
_RATINGS = {-1: (1, 2), 0: (3,), 1: (4, 5)}


def _make_reviews(counts: dict[int, int], *, seed: int = 0, start_id: int = 1) -> pd.DataFrame:
    """Rows in airsage's columns (plus dt) with ``counts[sentiment]`` reviews per class."""
    rng = random.Random(seed)
    rows = []
    review_id = start_id
    for sentiment, count in counts.items():
        for _ in range(count):
            words = rng.choices(_WORDS[sentiment], k=6)
            rows.append(
                {
                    "review_id": review_id,
                    "clothing_id": rng.randint(1, 1200),
                    "age": rng.randint(18, 80),
                    "title": "",
                    "review_text": " ".join(words),
                    "rating": rng.choice(_RATINGS[sentiment]),
                    "recommended_ind": int(sentiment >= 0),
                    "positive_feedback_count": rng.randint(0, 20),
                    "division_name": rng.choice(["General", "General Petite", "Initmates"]),
                    "department_name": rng.choice(["Tops", "Dresses", "Bottoms"]),
                    "class_name": rng.choice(["Knits", "Blouses", "Dresses", "Pants"]),
                    "dt": DAY,
                }
            )
            review_id += 1
    return pd.DataFrame(rows)


def relation_for(path: Path) -> str:
    """A FROM-able relation over a CSV, as the catalog helper would hand one over."""
    return f"read_csv('{path.as_posix()}', header=true)"


@pytest.fixture
def make_reviews() -> Callable[..., pd.DataFrame]:
    """``make_reviews({-1: n, 0: n, 1: n}, seed=0, start_id=1)``: a synthetic batch for DAY."""
    return _make_reviews


@pytest.fixture
def day() -> str:
    return DAY


@pytest.fixture
def sample_relation(shared_sample: Path) -> str:
    """The shared 1k real sample as a relation in airsage's columns (skips when absent)."""
    columns = {
        "column00": "review_id", "Clothing ID": "clothing_id", "Age": "age", "Title": "title",
        "Review Text": "review_text", "Rating": "rating", "Recommended IND": "recommended_ind",
        "Positive Feedback Count": "positive_feedback_count", "Division Name": "division_name",
        "Department Name": "department_name", "Class Name": "class_name",
    }
    selects = ", ".join(f'"{source}" AS {target}' for source, target in columns.items())
    return f"(SELECT {selects}, DATE '{DAY}' AS dt FROM {relation_for(shared_sample)})"


@pytest.fixture
def curate(
    settings: Settings, lake: LocalLake, tmp_path: Path
) -> Callable[..., object]:
    """Write a frame as a raw CSV and curate it into ``lake`` for ``DAY``."""

    def _curate(frame: pd.DataFrame, *, target_lake: LocalLake | None = None, name: str = "raw"):
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        return curate_partition(settings, target_lake or lake, "reviews", DAY, relation_for(path))

    return _curate
