"""Fixtures of the quality gate tests: settings in a temp home, a gate, small relations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airsage.config import Settings, load_settings
from airsage.lake.local import LocalLake
from airsage.quality.local import DuckDBQualityGate


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, overrides={"home": str(tmp_path / "home")})


@pytest.fixture
def gate(settings: Settings) -> DuckDBQualityGate:
    return DuckDBQualityGate(settings)


@pytest.fixture
def lake(tmp_path: Path) -> LocalLake:
    return LocalLake(root=tmp_path / "lake")


def csv_relation(path: Path, settings: Settings, dt: str = "2024-01-01") -> str:
    """The public file's header mapped to airsage's names, plus the partition column dt.

    DuckDB names the file's unnamed index column ``column00``; it is the ``column0`` of
    ``source_columns`` (the review id).
    """
    import duckdb

    mapping = dict(settings.dataset("reviews").source_columns)
    header = [r[0] for r in duckdb.sql(
        f"DESCRIBE SELECT * FROM read_csv('{path}', header=true)").fetchall()]
    items = []
    for name in header:
        target = mapping.get(name)
        if target is None and re.fullmatch(r"column0+", name):
            target = mapping.get("column0")
        target = target or name
        items.append(f'"{name}" AS "{target}"')
    return (f"(SELECT {', '.join(items)}, DATE '{dt}' AS dt "
            f"FROM read_csv('{path}', header=true))")


@pytest.fixture
def csv_relation_of(settings: Settings):
    """``csv_relation`` bound to the test's settings: a CSV file of the public layout -> SQL."""
    return lambda path: csv_relation(path, settings)


@pytest.fixture
def sample_relation(settings: Settings, shared_sample: Path) -> str:
    """The real 1k-row sample as the catalog would expose it (skips when absent)."""
    return csv_relation(shared_sample, settings)
