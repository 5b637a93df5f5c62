"""The aws data plane's steps against moto's Glue and Athena (server mode, 127.0.0.1)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_helpers import REGION, ROLE, client

from airsage.catalog.aws import GlueCatalog, crawl_request
from airsage.errors import InputDataError

DAY = "2024-04-01"
GLUE_TYPE = {"BIGINT": "bigint", "VARCHAR": "string"}
PARTITION = {"Values": [DAY], "StorageDescriptor": {
    "Location": f"s3://airsage-lake/prod/raw/reviews/dt={DAY}/"}}


def glue_table(settings: Any, drop: str | None = None) -> dict[str, Any]:
    """The table a crawl of the contract's files writes (moto's crawler writes none)."""
    columns = {n: GLUE_TYPE[t] for n, t in settings.dataset("reviews").columns.items() if n != drop}
    return {"Name": "reviews",
            "StorageDescriptor": {"Columns": [{"Name": n, "Type": t} for n, t in columns.items()],
                                  "Location": "s3://airsage-lake/prod/raw/reviews/"},
            "PartitionKeys": [{"Name": "dt", "Type": "string"}],
            "Parameters": {"classification": "csv", "recordCount": "60"}}


def test_glue_catalog_collects_what_the_crawler_wrote(aws_env, aws_settings) -> None:
    """Against moto: the crawler is created from the request and run; moto's crawler writes no
    table (a measured gap), so the test creates the table and partition a crawl would write."""
    glue = client("glue")
    request = crawl_request(aws_settings, "reviews", DAY)
    glue.create_database(DatabaseInput={"Name": "airsage"})
    glue.create_crawler(**request.crawler_config())
    glue.start_crawler(Name=request.crawler_name)
    glue.create_table(DatabaseName="airsage", TableInput=glue_table(aws_settings))
    catalog = GlueCatalog(aws_settings)
    with pytest.raises(InputDataError, match="is not in the Glue catalog"):
        catalog.collect(request)
    glue.create_partition(DatabaseName="airsage", TableName="reviews", PartitionInput=PARTITION)
    result = catalog.collect(request)
    assert result.changes == () and result.day == DAY
    assert glue.get_crawler(Name=request.crawler_name)["Crawler"]["Targets"]["S3Targets"][0]["Path"] \
        == "s3://airsage-lake/prod/raw/reviews/"
    arn = f"arn:aws:glue:us-east-1:123456789012:crawler/{request.crawler_name}"
    assert glue.get_tags(ResourceArn=arn)["Tags"] == {"project": "airsage", "team": "ml"}


def test_the_blocking_crawl_creates_then_updates_runs_and_judges_and_curate_reads_the_day(
        aws_env, aws_settings, tmp_path, monkeypatch) -> None:
    """``GlueCatalog.crawl`` (the CLI's crawl on aws): the crawler is created the first time
    and updated afterwards (moto_ext bumps its Version), run to READY and judged; the day's
    relation reads the landed files from moto's S3 with the contract's names."""
    import duckdb

    from airsage.config import load_settings
    from airsage.data.generator import GeneratorConfig, generate_batch, write_batch
    from airsage.ingest import land_file
    from airsage.lake.aws import S3Lake
    from airsage.lake.base import configure_duckdb

    # DuckDB's httpfs reaches moto through the lake's endpoint URL (boto3 through AWS_ENDPOINT_URL)
    aws_settings = load_settings(environ={}, overrides={
        "target": "aws", "home": str(tmp_path / "home"),
        "lake": {"root": aws_settings.lake_root, "endpoint_url": aws_env.url},
        "aws": {"role_arn": ROLE, "region": REGION, "tags": {"project": "airsage", "team": "ml"}}})
    lake = S3Lake(aws_settings)
    frame = generate_batch(GeneratorConfig(rows=40, seed=3, day=DAY))
    land_file(lake, aws_settings.dataset("reviews"), write_batch(frame, tmp_path / "b.csv", "csv"), DAY)
    glue = client("glue")
    glue.create_database(DatabaseInput={"Name": "airsage"})
    glue.create_table(DatabaseName="airsage", TableInput=glue_table(aws_settings))
    glue.create_partition(DatabaseName="airsage", TableName="reviews", PartitionInput=PARTITION)
    catalog = GlueCatalog(aws_settings)
    name = crawl_request(aws_settings, "reviews", DAY).crawler_name
    monkeypatch.setattr("airsage.catalog.aws.CRAWL_POLL_SECONDS", 0.1)

    first = catalog.crawl(lake, "reviews", DAY)
    version = glue.get_crawler(Name=name)["Crawler"]["Version"]
    second = catalog.crawl(lake, "reviews", DAY)
    assert first.day == second.day == DAY and first.changes == ()
    assert glue.get_crawler(Name=name)["Crawler"]["Version"] == version + 1  # updated, not recreated
    assert glue.get_crawler(Name=name)["Crawler"]["State"] == "READY"

    relation = catalog.partition_relation(lake, "reviews", DAY)
    with configure_duckdb(duckdb.connect(), lake) as con:
        ids = sorted(r[0] for r in con.execute(f"SELECT review_id FROM {relation}").fetchall())
    assert ids == sorted(int(i) for i in frame["review_id"])
