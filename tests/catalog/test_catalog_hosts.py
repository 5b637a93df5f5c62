"""The local catalog shared by hosts through a lake in S3 (moto's server): crawls from
processes with airsage homes of their own ("hosts") all end in one catalog in the lake."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from airsage.catalog.local import CACHE_DIR, CATALOG_FILE, LocalCatalog
from airsage.config import load_settings
from airsage.data.generator import GeneratorConfig, generate_batch, write_batch
from airsage.ingest import land_file
from airsage.lake.layout import LakeLayout
from airsage.lake.local import lake_for_root

DAYS = {"host-a": ["2024-05-01", "2024-05-03"], "host-b": ["2024-05-02", "2024-05-04"]}


def _rows(day: str) -> int:
    return 30 + int(day[-2:])


@pytest.fixture
def shared(s3_endpoint: str, s3_credentials: dict[str, str], tmp_path: Path) -> dict[str, str]:
    import boto3

    bucket = f"cat-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return {"AIRSAGE_LAKE_ROOT": f"s3://{bucket}/team", "AIRSAGE__LAKE__ENDPOINT_URL": s3_endpoint}


def _host(shared: dict[str, str], home: Path) -> Any:
    return load_settings(environ={**shared, "AIRSAGE_HOME": str(home)})


def _land(settings: Any, day: str, scratch: Path) -> None:
    frame = generate_batch(GeneratorConfig(rows=_rows(day), seed=int(day[-2:]), day=day))
    land_file(lake_for_root(settings), settings.dataset("reviews"),
              write_batch(frame, scratch / f"{day}.csv"), day)


def _crawl_days(shared: dict[str, str], home: str, days: list[str]) -> list[int]:
    """One host's crawls (run in its own process)."""
    settings = _host(shared, Path(home))
    lake, catalog = lake_for_root(settings), LocalCatalog(settings)
    return [catalog.crawl(lake, "reviews", day).rows for day in days]


def test_two_hosts_crawling_different_days_all_end_in_the_lakes_catalog(
        shared: dict[str, str], tmp_path: Path) -> None:
    lander = _host(shared, tmp_path / "lander")
    for day in sorted(d for days in DAYS.values() for d in days):
        _land(lander, day, tmp_path)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        rows = pool.starmap(_crawl_days, [(shared, str(tmp_path / host), days)
                                          for host, days in DAYS.items()])
    assert rows == [[_rows(day) for day in days] for days in DAYS.values()]

    reader = LocalCatalog(_host(shared, tmp_path / "host-c"))  # a third host: never crawled
    everything = sorted(d for days in DAYS.values() for d in days)
    assert [p["dt"] for p in reader.partitions("reviews")] == everything
    with reader.connect() as con:
        counted = dict(con.execute("SELECT dt, count(*) FROM airsage.reviews GROUP BY dt").fetchall())
    assert counted == {day: _rows(day) for day in everything}
    assert lake_for_root(lander).exists(LakeLayout.catalog())
    assert not any((tmp_path / host / CATALOG_FILE).exists() for host in DAYS)  # not per host
    assert not lake_for_root(lander).exists(LakeLayout.lock("catalog"))


def test_a_reader_downloads_the_catalog_only_when_it_changed(
        shared: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = _host(shared, tmp_path / "host-a")
    for day in DAYS["host-a"]:
        _land(writer, day, tmp_path)
    lake = lake_for_root(writer)
    reader = LocalCatalog(_host(shared, tmp_path / "host-b"))
    from airsage.errors import InputDataError

    with pytest.raises(InputDataError, match=r"s3://.*catalog/airsage\.duckdb does not exist"):
        reader.connect()
    LocalCatalog(writer).crawl(lake, "reviews", DAYS["host-a"][0])

    downloads: list[str] = []
    real = reader._s3_lake.download_versioned

    def counting(key: str, destination: Path) -> str | None:
        downloads.append(key)
        return real(key, destination)

    monkeypatch.setattr(reader._s3_lake, "download_versioned", counting)  # the reader's only
    assert [p["dt"] for p in reader.partitions("reviews")] == DAYS["host-a"][:1]
    reader.connect().close()
    assert downloads == [LakeLayout.catalog()]  # the second read reused this host's copy

    LocalCatalog(writer).crawl(lake, "reviews", DAYS["host-a"][1])
    assert [p["dt"] for p in reader.partitions("reviews")] == DAYS["host-a"]
    assert len(downloads) == 2
    copies = list((tmp_path / "host-b" / CACHE_DIR).glob("catalog-*.duckdb"))
    assert len(copies) == 2  # one per version; a superseded one is pruned after a while


def test_a_refused_crawl_leaves_the_lakes_catalog_and_frees_the_lock(
        shared: dict[str, str], tmp_path: Path) -> None:
    from airsage.errors import GateFailedError

    settings = _host(shared, tmp_path / "host-a")
    lake = lake_for_root(settings)
    first, second = DAYS["host-a"]
    _land(settings, first, tmp_path)
    without_age = generate_batch(GeneratorConfig(rows=40, seed=2, day=second)).drop(columns=["age"])
    land_file(lake, settings.dataset("reviews"), write_batch(without_age, tmp_path / "b.csv"), second)
    catalog = LocalCatalog(settings)
    catalog.crawl(lake, "reviews", first)
    before = lake.etag(LakeLayout.catalog())
    with pytest.raises(GateFailedError, match="age"):
        catalog.crawl(lake, "reviews", second)  # schema_change_policy fail, inside the write
    assert lake.etag(LakeLayout.catalog()) == before
    assert not lake.exists(LakeLayout.lock("catalog"))
    other_host = LocalCatalog(_host(shared, tmp_path / "host-b"))
    assert [p["dt"] for p in other_host.partitions("reviews")] == [first]
    assert not [p for p in (tmp_path / "host-a" / CACHE_DIR).iterdir() if p.name.startswith(".")]
