"""The aws target's validate step: the shipped Athena SQL checks, run by Athena as they are.

- :func:`validate_request` (pure) renders every check of ``include/sql/<dataset>/checks/`` for
  the day (the same Jinja rendering as locally, no transpiling) and names the workgroup and
  the output location (``aws.athena_output``, else the lake's ``reports/athena/`` key).
  Each query is one ``StartQueryExecution`` (the provider's ``AthenaOperator``, deferrable).
- :func:`collect_validate` (pure) reads each query's ``GetQueryResults`` answer and judges it
  with the same :class:`~airsage.sql.checks.Expectation` as the local engine; the report
  and the gate's error are the local ones (:func:`airsage.sql.checks.judge_value`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from airsage.awsconf import AwsSettings, ServiceCall, ServiceReader
from airsage.config import INCLUDE_DIR, Settings
from airsage.errors import ConfigurationError, InputDataError
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout, partition_value
from airsage.sql.athena import render
from airsage.sql.checks import (
    Expectation,
    SqlCheckReport,
    SqlCheckResult,
    judge_value,
    load_checks,
    raise_if_failed,
)

REPORT_KIND = "sql"
REPORT_FILE = "results.json"
ATHENA_RESULTS_KIND = "athena"
INTEGER_TYPES = ("tinyint", "smallint", "integer", "int", "bigint")
FLOAT_TYPES = ("double", "float", "real")


@dataclass(frozen=True)
class AthenaQuery:
    """One check as Athena runs it: the shipped SQL rendered for the day."""

    name: str
    query: str
    expected: str
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "query": self.query, "expected": self.expected,
                "description": self.description}


@dataclass(frozen=True)
class ValidateRequest:
    """Every check of one day's partition; outputs go to ``output_location`` (S3)."""

    dataset: str
    day: str
    database: str
    table: str
    workgroup: str
    output_location: str
    queries: tuple[AthenaQuery, ...]

    def query(self, name: str) -> AthenaQuery:
        for query in self.queries:
            if query.name == name:
                return query
        raise KeyError(f"no check named {name!r}; checks: {[q.name for q in self.queries]}")

    def calls(self) -> tuple[ServiceCall, ...]:
        return tuple(
            ServiceCall("athena", "StartQueryExecution", {
                "QueryString": q.query, "QueryExecutionContext": {"Database": self.database},
                "ResultConfiguration": {"OutputLocation": self.output_location},
                "WorkGroup": self.workgroup, "check": q.name, "expect": q.expected})
            for q in self.queries
        )

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "day": self.day, "database": self.database,
                "table": self.table, "workgroup": self.workgroup,
                "output_location": self.output_location,
                "queries": [q.to_dict() for q in self.queries]}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ValidateRequest:
        return cls(**{**raw, "queries": tuple(AthenaQuery(**q) for q in raw["queries"])})


def checks_dir(settings: Settings, dataset: str) -> Path:
    folder = Path(str(settings.section("sql").get("checks_dir") or "sql"))
    return (folder if folder.is_absolute() else INCLUDE_DIR / folder) / dataset / "checks"


def validate_request(settings: Settings, dataset: str, day: str) -> ValidateRequest:
    """The Athena queries of ``dataset``'s checks for ``day`` (reads the shipped SQL files)."""
    settings.dataset(dataset)
    aws = AwsSettings.from_settings(settings)
    day = partition_value(day)
    folder = checks_dir(settings, dataset)
    checks = load_checks(folder)
    if not checks:
        raise InputDataError(
            f"sql: no checks in {folder}; ship at least one assertion query (a gate without "
            "checks would pass anything)")
    params = {"database": aws.database, "ds": day, "table": dataset}
    output = aws.athena_output.rstrip("/") + "/" if aws.athena_output else aws.uri(
        f"reports/{ATHENA_RESULTS_KIND}/{dataset}/dt={day}/")
    if not output.startswith("s3://"):
        raise ConfigurationError(f"aws.athena_output must be an s3:// URI, got {output!r}")
    return ValidateRequest(
        dataset=dataset, day=day, database=aws.database, table=dataset,
        workgroup=aws.athena_workgroup, output_location=output,
        # trailing whitespace dropped: Airflow's template rendering of AthenaOperator.query
        # drops the final newline, and Athena must receive the text the request names
        queries=tuple(AthenaQuery(c.name, render(c.template, **params).rstrip(), str(c.expectation),
                                  c.description) for c in checks),
    )


def athena_value(cell: Mapping[str, Any], type_: str) -> Any:
    """A ``GetQueryResults`` cell as a Python value, by the column's Athena type."""
    if "VarCharValue" not in cell:
        return None
    text = cell["VarCharValue"]
    base = type_.lower().split("(", 1)[0]
    try:
        if base in INTEGER_TYPES:
            return int(text)
        if base in FLOAT_TYPES:
            return float(text)
        if base == "decimal":
            value = Decimal(text)
            return int(value) if value == value.to_integral_value() else float(value)
        if base == "boolean":
            return text.lower() == "true"
    except (ValueError, InvalidOperation):
        return text
    return text


def result_rows(result_set: Mapping[str, Any]) -> list[list[Any]]:
    """The data rows of a ``GetQueryResults`` ``ResultSet`` (Athena repeats the header as the
    first row of the first page; it is dropped when it equals the column labels)."""
    columns = result_set.get("ResultSetMetadata", {}).get("ColumnInfo") or []
    rows = result_set.get("Rows") or []
    labels = [c.get("Label") or c.get("Name") for c in columns]
    if rows and [d.get("VarCharValue") for d in rows[0].get("Data", [])] == labels:
        rows = rows[1:]
    types = [c.get("Type", "varchar") for c in columns]
    return [[athena_value(cell, types[i] if i < len(types) else "varchar")
             for i, cell in enumerate(row.get("Data", []))] for row in rows]


def collect_validate(request: ValidateRequest, outcomes: Mapping[str, Mapping[str, Any]]) -> SqlCheckReport:
    """Judge each check from its query's outcome: ``{"state": "SUCCEEDED", "result_set": ...}``
    or ``{"state": "FAILED", "error": ...}``. A check with no outcome is an ERROR (fail closed)."""
    results = []
    for query in request.queries:
        outcome = outcomes.get(query.name)
        expectation = Expectation.parse(query.expected, query.name)
        if outcome is None:
            results.append(SqlCheckResult(query.name, query.expected, None, "ERROR", query.query,
                                          description=query.description,
                                          error="no Athena query result was collected"))
        elif outcome.get("state") != "SUCCEEDED":
            results.append(SqlCheckResult(
                query.name, query.expected, None, "ERROR", query.query,
                description=query.description,
                error=f"Athena query {outcome.get('state')}: {outcome.get('error') or 'no reason given'}"))
        else:
            rows = result_rows(outcome["result_set"])
            results.append(judge_value(query.name, expectation, rows, query.query,
                                       description=query.description))
    key = LakeLayout(request.dataset).report(REPORT_KIND, request.day, REPORT_FILE)
    return SqlCheckReport(request.dataset, request.day, request.database, tuple(results), key)


def finish_validate(lake: Lake, report: SqlCheckReport) -> SqlCheckReport:
    """Persist the report as the local engine does, then raise if any check failed."""
    key = report.report_key or LakeLayout(report.dataset).report(REPORT_KIND, report.day, REPORT_FILE)
    report = SqlCheckReport(report.dataset, report.day, report.database, report.results,
                            key, lake.uri(key))
    lake.write_bytes(key, json.dumps(report.to_dict(), indent=2).encode())
    raise_if_failed(report)
    return report


class AthenaSqlEngine(ServiceReader):
    """Reads the queries' outcomes back from Athena (the provider's hook)."""

    def _connect(self) -> Any:
        from airflow.providers.amazon.aws.hooks.athena import AthenaHook

        return AthenaHook(aws_conn_id=self.aws.conn_id or None,
                          region_name=self.aws.region).get_conn()

    def outcome(self, execution_id: str) -> dict[str, Any]:
        execution = self.client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
        status = execution.get("Status") or {}
        state = status.get("State")
        if state != "SUCCEEDED":
            return {"state": state, "error": status.get("StateChangeReason"), "id": execution_id}
        pages = self.client.get_paginator("get_query_results").paginate(QueryExecutionId=execution_id)
        rows: list[Any] = []
        metadata: dict[str, Any] = {}
        for page in pages:
            metadata = metadata or page["ResultSet"].get("ResultSetMetadata", {})
            rows.extend(page["ResultSet"].get("Rows") or [])
        return {"state": state, "id": execution_id,
                "result_set": {"Rows": rows, "ResultSetMetadata": metadata}}
