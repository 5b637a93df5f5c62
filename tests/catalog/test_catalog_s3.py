"""The local target's engines over a lake in an S3-compatible store (moto's server on
127.0.0.1, as MinIO in docker-compose): crawl, the catalog view, the Athena SQL checks, the
quality gate and curate read the landed files in place through DuckDB's httpfs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airsage.config import load_settings
from airsage.data.generator import GeneratorConfig, generate_batch, write_batch
from airsage.ingest import land_file
from airsage.targets import implementation

DAY = "2024-03-05"


@pytest.fixture
def s3_settings(s3_endpoint: str, s3_credentials: dict[str, str], tmp_path: Path) -> Any:
    import boto3

    bucket = f"lake-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return load_settings(environ={"AIRSAGE_HOME": str(tmp_path / "home"),
                                  "AIRSAGE_LAKE_ROOT": f"s3://{bucket}/team",
                                  "AIRSAGE__LAKE__ENDPOINT_URL": s3_endpoint})


def test_crawl_checks_gate_and_curate_read_an_s3_lake_in_place(s3_settings: Any, tmp_path: Path) -> None:
    lake = implementation("lake", s3_settings)
    frame = generate_batch(GeneratorConfig(rows=150, seed=4, day=DAY))
    land_file(lake, s3_settings.dataset("reviews"), write_batch(frame, tmp_path / "b.csv", "csv"), DAY)

    catalog = implementation("catalog", s3_settings)
    crawled = catalog.crawl(lake, "reviews", DAY)
    assert crawled.rows == 150 and crawled.location.startswith(lake.root + "/raw/reviews/")
    with catalog.connect() as con:  # a fresh connection: the view reads S3, not a local copy
        ids = [r[0] for r in con.execute("SELECT review_id FROM airsage.reviews ORDER BY 1").fetchall()]
    assert ids == sorted(frame["review_id"].tolist())

    checks = implementation("sql", s3_settings).run_checks(lake, "reviews", DAY)
    assert checks.results and all(r.passed for r in checks.results), checks

    relation = catalog.partition_relation(lake, "reviews", DAY)
    assert "s3://" in relation and str(tmp_path) not in relation
    report = implementation("quality", s3_settings).run(lake, "reviews", DAY, relation)
    assert report.rule_results and {r.result for r in report.rule_results} == {"PASS"}

    from airsage.prepare.curate import curate_partition

    curated = curate_partition(s3_settings, lake, "reviews", DAY, relation)
    assert curated.uri.startswith("s3://") and lake.exists(curated.uri.removeprefix(lake.root + "/"))


def test_a_file_missing_from_the_s3_lake_is_named(s3_settings: Any, tmp_path: Path) -> None:
    from airsage.errors import InputDataError
    from airsage.lake.layout import LakeLayout

    lake = implementation("lake", s3_settings)
    frame = generate_batch(GeneratorConfig(rows=120, seed=5, day=DAY))
    land_file(lake, s3_settings.dataset("reviews"), write_batch(frame, tmp_path / "c.csv", "csv"), DAY)
    for key in lake.list(LakeLayout("reviews").raw_partition(DAY)):
        if key.endswith(".csv"):
            lake.delete_prefix(key)
    with pytest.raises(InputDataError, match=r"s3://.*c\.csv does not exist"):
        implementation("catalog", s3_settings).crawl(lake, "reviews", DAY)
