"""Fixtures: settings whose home is a temp dir, and a local lake beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from airsage.config import Settings, load_settings
from airsage.lake.local import LocalLake


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, overrides={
        "home": str(tmp_path / "home"),
        "ingest": {"source": "generator", "generator": {"rows_per_day": 200, "seed": 7}},
    })


@pytest.fixture
def lake(tmp_path: Path) -> LocalLake:
    return LocalLake(root=tmp_path / "lake")
