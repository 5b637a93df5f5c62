"""Fixtures for the evaluation tests: isolated settings, a lake with a test split, models."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from evaldata import build_model, make_features, upload_model, write_split

from airsage.config import Settings, load_settings
from airsage.lake.local import LocalLake

BIAS = {
    "facet": "division_name", "facet_values": ["Initmates"], "facet_threshold": None,
    "label": "sentiment", "label_values": [1], "group": None,
    "post_training_thresholds": {"DPPL": {"warn": 0.15, "fail": 0.25},
                                 "DI": {"warn": 0.2, "fail": 0.35}},
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        environ={},
        overrides={"home": str(tmp_path / "home"),
                   "evaluation": {"bootstrap_samples": 50, "attribution_samples": 10},
                   "bias": BIAS},
    )


@pytest.fixture
def lake(tmp_path: Path) -> LocalLake:
    return LocalLake(root=tmp_path / "lake")


@pytest.fixture(scope="module")
def train_frame() -> pd.DataFrame:
    return make_features(240, seed=1)


@pytest.fixture(scope="module")
def test_frame() -> pd.DataFrame:
    return make_features(90, seed=2)


@pytest.fixture(scope="module")
def good_model(train_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory):
    return build_model(train_frame, tmp_path_factory.mktemp("good"))


@pytest.fixture
def staged(lake: LocalLake, test_frame: pd.DataFrame, good_model) -> str:
    """The test split and the good model in the lake; returns the model's lake key."""
    write_split(lake, test_frame, "test")
    return upload_model(lake, good_model[1], "train-good")
