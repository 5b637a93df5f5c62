"""The aws target's crawl step: a Glue crawler over the dataset's raw prefix.

- :func:`crawl_request` (pure) names the crawler, its S3 target (a lake key under the lake's
  S3 root), the Glue database and table, the schema-change policy and the tags. The crawler
  configuration maps one-to-one onto ``CreateCrawler`` / ``UpdateCrawler``; the run is
  ``StartCrawler`` (the provider's ``GlueCrawlerCreateOperator`` or
  ``GlueCrawlerUpdateOperator``, then ``GlueCrawlerRunOperator``, deferrable).
- :func:`collect_crawl` (pure) judges what the crawler wrote: the Glue table's columns are
  compared with the dataset's contract by the same :func:`compare_schema` and
  :func:`enforce_policy` as the local crawler, so a schema change fails with the same message.
- :class:`GlueCatalog` is the I/O around them: read the crawler, table and partition back
  through the provider's hooks (credentials from the Airflow connection or the default chain).
"""

from __future__ import annotations

import datetime as dt_
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airsage.awsconf import AwsSettings, ServiceCall, ServiceReader
from airsage.catalog.base import CrawlResult, compare_schema, enforce_policy, schema_policy
from airsage.config import Settings
from airsage.errors import InputDataError
from airsage.lake.layout import LakeLayout, partition_value

if TYPE_CHECKING:
    from airsage.lake.base import Lake

PARTITION_COLUMN = "dt"
# Glue (Hive) type -> the contract's type vocabulary (DuckDB / Athena names)
GLUE_TYPES = {
    "bigint": "BIGINT", "int": "INTEGER", "integer": "INTEGER", "smallint": "SMALLINT",
    "tinyint": "TINYINT", "string": "VARCHAR", "varchar": "VARCHAR", "char": "VARCHAR",
    "double": "DOUBLE", "float": "FLOAT", "boolean": "BOOLEAN", "date": "DATE",
    "timestamp": "TIMESTAMP", "decimal": "DECIMAL",
}
# types whose values cast into each other without loss of meaning (as the local crawler allows)
FAMILIES = {
    "BIGINT": "integer", "INTEGER": "integer", "SMALLINT": "integer", "TINYINT": "integer",
    "HUGEINT": "integer", "VARCHAR": "string", "DOUBLE": "float", "FLOAT": "float",
    "REAL": "float", "DECIMAL": "float", "BOOLEAN": "boolean", "DATE": "date",
    "TIMESTAMP": "timestamp",
}


def contract_type(glue_type: str) -> str:
    """``bigint`` -> ``BIGINT``, ``varchar(20)`` -> ``VARCHAR``; unknown types upper-cased."""
    base = glue_type.strip().lower().split("(", 1)[0]
    return GLUE_TYPES.get(base, glue_type.strip().upper())


@dataclass(frozen=True)
class CrawlRequest:
    """One day's crawl, as the Glue crawler runs it (keys are lake keys, not paths)."""

    dataset: str
    day: str
    crawler_name: str
    database: str
    table: str
    role: str
    lake_root: str
    raw_prefix: str
    policy: str
    columns: tuple[tuple[str, str], ...]
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def s3_target(self) -> str:
        return f"{self.lake_root}/{self.raw_prefix}"

    @property
    def resource(self) -> str:
        """How a refusal names what it refused (the local crawler's wording)."""
        return f"{self.database}.{self.table} dt={self.day}"

    def crawler_config(self) -> dict[str, Any]:
        """``CreateCrawler`` / ``UpdateCrawler`` parameters. The table keeps what the files
        hold (UPDATE_IN_DATABASE), so the policy is judged on the crawled schema; manifests
        (``_manifest.json``) are not data and are excluded."""
        return {
            "Name": self.crawler_name,
            "Role": self.role,
            "DatabaseName": self.database,
            "Description": f"airsage: {self.dataset} raw partitions ({self.raw_prefix})",
            "Targets": {"S3Targets": [{"Path": self.s3_target,
                                       "Exclusions": ["**/_*"]}]},
            "SchemaChangePolicy": {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "LOG"},
            "RecrawlPolicy": {"RecrawlBehavior": "CRAWL_EVERYTHING"},
            "Configuration": json.dumps({
                "Version": 1.0,
                "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}},
                "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"},
            }, sort_keys=True),
            "Tags": dict(self.tags),
        }

    def calls(self) -> tuple[ServiceCall, ...]:
        config = self.crawler_config()
        return (
            ServiceCall("glue", "CreateCrawler | UpdateCrawler",
                        {"Name": config["Name"], "Role": config["Role"],
                         "DatabaseName": config["DatabaseName"],
                         "S3Target": self.s3_target, "Tags": config["Tags"]}),
            ServiceCall("glue", "StartCrawler", {"Name": self.crawler_name}),
            ServiceCall("glue", "GetTable", {"DatabaseName": self.database, "Name": self.table}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "day": self.day, "crawler_name": self.crawler_name,
                "database": self.database, "table": self.table, "role": self.role,
                "lake_root": self.lake_root, "raw_prefix": self.raw_prefix, "policy": self.policy,
                "columns": [list(c) for c in self.columns], "tags": [list(t) for t in self.tags]}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CrawlRequest:
        return cls(**{**raw, "columns": tuple(tuple(c) for c in raw["columns"]),
                      "tags": tuple(tuple(t) for t in raw.get("tags", ()))})


def crawl_request(settings: Settings, dataset: str, day: str) -> CrawlRequest:
    """The crawl of ``dataset`` for ``day`` (pure: settings in, request out)."""
    aws = AwsSettings.from_settings(settings)
    aws.require_s3()
    spec = settings.dataset(dataset)
    return CrawlRequest(
        dataset=dataset,
        day=partition_value(day),
        crawler_name=f"airsage-{aws.database}-{dataset}",
        database=aws.database,
        table=dataset,
        role=aws.role_arn,
        lake_root=aws.lake_root,
        raw_prefix=LakeLayout(dataset).raw_prefix(),
        policy=schema_policy(settings.section("catalog")),
        columns=tuple((name, type_.upper()) for name, type_ in spec.columns.items()),
        tags=aws.tags,
    )


def collect_crawl(request: CrawlRequest, crawler: Mapping[str, Any], table: Mapping[str, Any],
                  partition: Mapping[str, Any] | None) -> CrawlResult:
    """Judge the crawl from Glue's answers (``GetCrawler``'s Crawler, ``GetTable``'s Table,
    ``GetPartition``'s Partition or None when the day has none). Raises
    :class:`InputDataError` when the crawl failed or did not register the day, and the
    schema gate's :class:`GateFailedError` (policy ``fail``) on a contract change."""
    last = crawler.get("LastCrawl") or {}
    if last.get("Status") != "SUCCEEDED":
        raise InputDataError(
            f"crawl: Glue crawler {request.crawler_name} last crawl is {last.get('Status') or 'absent'}"
            f"{': ' + last['ErrorMessage'] if last.get('ErrorMessage') else ''}; see its CloudWatch "
            f"log group {last.get('LogGroup', '/aws-glue/crawlers')}")
    if partition is None:
        raise InputDataError(
            f"crawl: {request.resource} is not in the Glue catalog after the crawl; check that "
            f"{request.s3_target}dt={request.day}/ holds the landed files")
    descriptor = table.get("StorageDescriptor") or {}
    partition_keys = {c["Name"] for c in table.get("PartitionKeys") or []}
    found = {c["Name"]: contract_type(c["Type"]) for c in descriptor.get("Columns") or []
             if c["Name"] not in partition_keys}
    expected = dict(request.columns)
    retyped = {name: f"the Glue table types it {found[name]}" for name, type_ in expected.items()
               if name in found and FAMILIES.get(found[name], found[name]) != FAMILIES.get(type_, type_)}
    changes = compare_schema(found, expected, retyped=retyped)
    parameters = table.get("Parameters") or {}
    warnings = enforce_policy(request.policy, request.resource, changes)
    if "recordCount" not in parameters:
        warnings += ("Glue reported no recordCount for the table; rows is 0",)
    return CrawlResult(
        dataset=request.dataset,
        database=request.database,
        table=request.table,
        day=request.day,
        location=str((partition.get("StorageDescriptor") or {}).get("Location")
                     or f"{request.s3_target}dt={request.day}/"),
        files=(),
        formats=tuple(filter(None, [parameters.get("classification")])),
        rows=int(parameters.get("recordCount", 0)),
        columns=tuple((*request.columns, (PARTITION_COLUMN, "VARCHAR"))),
        inferred=tuple(("glue", name, type_) for name, type_ in found.items()),
        changes=changes,
        warnings=warnings,
        partition_created=True,
        table_created=False,
    )


CRAWL_POLL_SECONDS, CRAWL_TIMEOUT_SECONDS = 15.0, 3600.0  # the blocking crawl's wait


class GlueCatalog(ServiceReader):
    """Reads a crawl's outcome back from Glue (the provider's hooks; credentials from the
    Airflow connection ``aws.conn_id`` or, when it is empty, the default chain)."""

    def _connect(self) -> Any:
        from airflow.providers.amazon.aws.hooks.glue_crawler import GlueCrawlerHook

        return GlueCrawlerHook(aws_conn_id=self.aws.conn_id or None,
                               region_name=self.aws.region).glue_client

    def crawler_exists(self, name: str) -> bool:
        try:
            self.client.get_crawler(Name=name)
        except self.client.exceptions.EntityNotFoundException:
            return False
        return True

    def observe(self, request: CrawlRequest) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
        """The crawler, the table and the day's partition, as Glue describes them."""
        crawler = self.client.get_crawler(Name=request.crawler_name)["Crawler"]
        try:
            table = self.client.get_table(DatabaseName=request.database, Name=request.table)["Table"]
        except self.client.exceptions.EntityNotFoundException:
            raise InputDataError(
                f"crawl: Glue crawler {request.crawler_name} wrote no table {request.database}."
                f"{request.table}; check that {request.s3_target} holds the landed files") from None
        try:
            partition = self.client.get_partition(
                DatabaseName=request.database, TableName=request.table,
                PartitionValues=[request.day])["Partition"]
        except self.client.exceptions.EntityNotFoundException:
            partition = None
        return crawler, table, partition

    def collect(self, request: CrawlRequest) -> CrawlResult:
        return collect_crawl(request, *self.observe(request))

    def crawl(self, lake: Lake, dataset: str, day: dt_.date | str) -> CrawlResult:
        """Create or update the crawler, run it and judge what it wrote, blocking (the CLI;
        the DAG runs the same request through the provider's deferred operators). A crawl
        already running is waited for, not started twice."""
        import contextlib
        import time

        from airsage.errors import StepFailed

        request = crawl_request(self.settings, dataset, partition_value(day))
        config = request.crawler_config()
        if self.crawler_exists(request.crawler_name):
            self.client.update_crawler(**{k: v for k, v in config.items() if k != "Tags"})
        else:
            self.client.create_crawler(**config)
        with contextlib.suppress(self.client.exceptions.CrawlerRunningException):
            self.client.start_crawler(Name=request.crawler_name)
        deadline = time.monotonic() + CRAWL_TIMEOUT_SECONDS
        while True:
            crawler = self.client.get_crawler(Name=request.crawler_name)["Crawler"]
            if crawler.get("State") == "READY":
                break
            if time.monotonic() > deadline:
                raise StepFailed(f"crawl: Glue crawler {request.crawler_name} still "
                                 f"{crawler.get('State')} after {CRAWL_TIMEOUT_SECONDS:.0f} s")
            time.sleep(CRAWL_POLL_SECONDS)
        last = crawler.get("LastCrawl") or {}
        if last.get("Status") not in (None, "SUCCEEDED"):
            raise StepFailed(f"crawl: Glue crawler {request.crawler_name} ended {last.get('Status')}: "
                             f"{last.get('ErrorMessage') or 'no reason given'}")
        return self.collect(request)

    def partition_relation(self, lake: Lake, dataset: str, day: dt_.date | str) -> str:
        """The day's landed files as a DuckDB relation with airsage's names and types, for the
        steps that run on the worker (curate). It reads the raw files under the dataset's
        contract, exactly as the local catalog does — the Glue table serves Athena — so the
        two targets curate the same rows."""
        from airsage.catalog.local import partition_relation

        return partition_relation(self.settings, lake, dataset, day)
