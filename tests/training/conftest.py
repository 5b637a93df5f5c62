"""Fixtures for the training tests: settings with an isolated home, a lake, features."""

from __future__ import annotations

from pathlib import Path

import pytest
from featuredata import DAY, write_features

from airsage.config import Settings, load_settings
from airsage.lake.local import LocalLake


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        environ={}, overrides={"home": str(tmp_path / "home"), "training": {"timeout_seconds": 600}}
    )


@pytest.fixture
def lake(tmp_path: Path) -> LocalLake:
    return LocalLake(root=tmp_path / "lake")


@pytest.fixture
def features(lake: LocalLake) -> dict[str, str]:
    return write_features(lake, "reviews", DAY, {"train": 300, "validation": 90, "test": 60})
