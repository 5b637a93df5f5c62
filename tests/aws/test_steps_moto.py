"""The aws data plane's steps against moto's Glue and Athena (server mode, 127.0.0.1)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_helpers import client

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
