"""The aws crawl step's request and collect, pure (no Airflow, no AWS); tests/aws runs them on moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airsage.catalog.aws import CrawlRequest, collect_crawl, crawl_request
from airsage.catalog.local import LocalCatalog
from airsage.config import load_settings
from airsage.data.generator import GeneratorConfig, write_defective_batch
from airsage.errors import GateFailedError, InputDataError
from airsage.ingest import land_file

DAY = "2024-04-01"
ROLE = "arn:aws:iam::123456789012:role/airsage-glue"
GLUE_TYPE = {"BIGINT": "bigint", "VARCHAR": "string"}


@pytest.fixture
def aws_config(tmp_path: Path) -> Any:
    return load_settings(environ={}, overrides={
        "target": "aws", "home": str(tmp_path / "home"), "lake": {"root": "s3://airsage-lake/prod"},
        "aws": {"role_arn": ROLE, "tags": {"project": "airsage", "team": "ml"}},
    })


def glue_table(columns: dict[str, str]) -> dict[str, Any]:
    """A Glue table as GetTable describes it (crawler-written: Hive types, dt partition key)."""
    return {"Name": "reviews", "DatabaseName": "airsage",
            "StorageDescriptor": {"Columns": [{"Name": n, "Type": t} for n, t in columns.items()],
                                  "Location": "s3://airsage-lake/prod/raw/reviews/"},
            "PartitionKeys": [{"Name": "dt", "Type": "string"}],
            "Parameters": {"classification": "csv", "recordCount": "60"}}


def contract_columns(settings: Any) -> dict[str, str]:
    return {n: GLUE_TYPE[t] for n, t in settings.dataset("reviews").columns.items()}


CRAWLED = {"LastCrawl": {"Status": "SUCCEEDED", "LogGroup": "/aws-glue/crawlers"}}
PARTITION = {"Values": [DAY], "StorageDescriptor": {
    "Location": f"s3://airsage-lake/prod/raw/reviews/dt={DAY}/"}}


def test_request_names_the_crawler_its_s3_target_role_and_tags(aws_config) -> None:
    request = crawl_request(aws_config, "reviews", DAY)
    config = request.crawler_config()
    assert config["Name"] == "airsage-airsage-reviews"
    assert config["Targets"]["S3Targets"][0]["Path"] == "s3://airsage-lake/prod/raw/reviews/"
    assert config["Role"] == ROLE and config["DatabaseName"] == "airsage"
    assert config["Tags"] == {"project": "airsage", "team": "ml"}
    assert request.raw_prefix == "raw/reviews/"  # a lake key, not a path
    assert [c.operation for c in request.calls()][1] == "StartCrawler"


def test_request_is_json_safe_and_round_trips(aws_config) -> None:
    request = crawl_request(aws_config, "reviews", DAY)
    assert CrawlRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request


def test_request_refuses_a_lake_that_is_not_s3(settings) -> None:
    from airsage.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="s3:// URI"):
        crawl_request(settings, "reviews", DAY)


def test_collect_accepts_the_contract_schema(aws_config) -> None:
    request = crawl_request(aws_config, "reviews", DAY)
    result = collect_crawl(request, CRAWLED, glue_table(contract_columns(aws_config)), PARTITION)
    assert result.changes == () and result.rows == 60 and result.formats == ("csv",)
    assert result.location.endswith(f"dt={DAY}/")


@pytest.mark.parametrize("kind,change", [
    ("missing_column", lambda cols: cols.pop("age")),
    ("extra_column", lambda cols: cols.update(size_ordered="string")),
])
def test_a_schema_change_fails_with_the_local_crawlers_message(aws_config, settings, lake, tmp_path,
                                                               kind, change) -> None:
    """The same defect, crawled locally (DuckDB) and judged from a Glue table, fails the same way."""
    land_file(lake, settings.dataset("reviews"),
              write_defective_batch(kind, tmp_path / "b.csv", GeneratorConfig(rows=60, seed=3, day=DAY)),
              DAY)
    with pytest.raises(GateFailedError) as local:
        LocalCatalog(settings).crawl(lake, "reviews", DAY)
    columns = contract_columns(aws_config)
    change(columns)
    with pytest.raises(GateFailedError) as aws:
        collect_crawl(crawl_request(aws_config, "reviews", DAY), CRAWLED, glue_table(columns), PARTITION)
    assert aws.value.gate == local.value.gate == "schema"
    assert aws.value.resource == local.value.resource
    assert [f.to_dict() for f in aws.value.failures] == [f.to_dict() for f in local.value.failures]


def test_a_retyped_column_fails_and_a_castable_type_does_not(aws_config) -> None:
    request = crawl_request(aws_config, "reviews", DAY)
    columns = contract_columns(aws_config)
    columns["age"] = "int"  # castable into BIGINT: not a change, as locally
    assert collect_crawl(request, CRAWLED, glue_table(columns), PARTITION).changes == ()
    columns["rating"] = "string"
    with pytest.raises(GateFailedError) as caught:
        collect_crawl(request, CRAWLED, glue_table(columns), PARTITION)
    [failure] = caught.value.failures
    assert failure.check == "schema.retyped:rating"
    assert (failure.measured, failure.expected) == ("VARCHAR", "BIGINT")


def test_log_policy_returns_warnings_instead(aws_config) -> None:
    settings = aws_config.with_overrides({"catalog": {"schema_change_policy": "log"}})
    columns = contract_columns(settings)
    columns.pop("age")
    result = collect_crawl(crawl_request(settings, "reviews", DAY), CRAWLED, glue_table(columns), PARTITION)
    assert any("'age'" in w for w in result.warnings)


def test_a_failed_crawl_or_a_missing_partition_is_refused(aws_config) -> None:
    request = crawl_request(aws_config, "reviews", DAY)
    table = glue_table(contract_columns(aws_config))
    failed = {"LastCrawl": {"Status": "FAILED", "ErrorMessage": "Access denied"}}
    with pytest.raises(InputDataError, match="FAILED: Access denied"):
        collect_crawl(request, failed, table, PARTITION)
    with pytest.raises(InputDataError, match=f"dt={DAY} is not in the Glue catalog"):
        collect_crawl(request, CRAWLED, table, None)
