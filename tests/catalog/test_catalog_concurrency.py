"""Crawls from several processes at once (parallel runs, Celery workers sharing a home)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

from airsage.catalog.local import LocalCatalog
from airsage.data.generator import GeneratorConfig, generate_batch, write_batch
from airsage.ingest import land_file

DAYS = [f"2024-05-{day:02d}" for day in range(1, 7)]


def _crawl(settings: Any, lake_root: str, day: str) -> int:
    from airsage.lake.local import LocalLake

    return LocalCatalog(settings).crawl(LocalLake(root=lake_root), "reviews", day).rows


def test_parallel_crawls_all_register_and_a_reader_never_waits(settings, lake, tmp_path: Path) -> None:
    for index, day in enumerate(DAYS):
        frame = generate_batch(GeneratorConfig(rows=40 + index, seed=index, day=day))
        land_file(lake, settings.dataset("reviews"), write_batch(frame, tmp_path / f"{day}.csv"), day)
    catalog = LocalCatalog(settings)
    catalog.crawl(lake, "reviews", DAYS[0])
    reader = catalog.connect(read_only=True)  # held open for the whole test: no crawl waits on it
    try:
        with multiprocessing.get_context("spawn").Pool(len(DAYS) - 1) as pool:
            rows = pool.starmap(_crawl, [(settings, lake.root, day) for day in DAYS[1:]])
        assert rows == [40 + index for index in range(1, len(DAYS))]
        assert reader.execute("SELECT count(DISTINCT dt) FROM airsage.reviews").fetchone()[0] == 1
    finally:
        reader.close()
    assert [p["dt"] for p in catalog.partitions("reviews")] == DAYS
    with catalog.connect() as con:
        counted = dict(con.execute("SELECT dt, count(*) FROM airsage.reviews GROUP BY dt").fetchall())
    assert counted == {day: 40 + index for index, day in enumerate(DAYS)}
    leftovers = sorted(p.name for p in catalog.path.parent.iterdir() if p.name.endswith((".tmp", ".wal")))
    assert leftovers == []


def test_a_crawl_refused_while_writing_leaves_the_catalog_as_it_was(settings, lake, tmp_path: Path) -> None:
    import pytest

    from airsage.errors import GateFailedError

    first, second = DAYS[0], DAYS[1]
    frame = generate_batch(GeneratorConfig(rows=40, seed=1, day=first))
    land_file(lake, settings.dataset("reviews"), write_batch(frame, tmp_path / "a.csv"), first)
    without_age = generate_batch(GeneratorConfig(rows=40, seed=2, day=second)).drop(columns=["age"])
    land_file(lake, settings.dataset("reviews"), write_batch(without_age, tmp_path / "b.csv"), second)
    catalog = LocalCatalog(settings)
    catalog.crawl(lake, "reviews", first)
    before = catalog.path.read_bytes()
    with pytest.raises(GateFailedError, match="age"):
        catalog.crawl(lake, "reviews", second)  # schema_change_policy fail, inside the write
    assert catalog.path.read_bytes() == before
    assert [p["dt"] for p in catalog.partitions("reviews")] == [first]
    assert not [p for p in catalog.path.parent.iterdir() if p.name.endswith((".tmp", ".wal"))]
