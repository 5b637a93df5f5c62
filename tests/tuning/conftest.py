"""Fixtures for the tuning tests; the features builder is shared with tests/training."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from airsage.config import Settings, load_settings
from airsage.lake.local import LocalLake

TRAINING_TESTS = Path(__file__).resolve().parents[1] / "training"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"tuning_tests_{name}", TRAINING_TESTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


featuredata = _load("featuredata")
DAY = featuredata.DAY


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        environ={},
        overrides={"home": str(tmp_path / "home"), "tuning": {"seed": 3},
                   "training": {"timeout_seconds": 600}},
    )


@pytest.fixture
def lake(tmp_path: Path) -> LocalLake:
    return LocalLake(root=tmp_path / "lake")


@pytest.fixture
def features(lake: LocalLake) -> dict[str, str]:
    return featuredata.write_features(lake, "reviews", DAY, {"train": 240, "validation": 120})
