"""The aws validate step's request and collect, pure (no Airflow, no AWS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airsage.config import INCLUDE_DIR, load_settings
from airsage.errors import GateFailedError
from airsage.lake.local import LocalLake
from airsage.sql.athena import render
from airsage.sql.aws import (
    ValidateRequest,
    collect_validate,
    finish_validate,
    result_rows,
    validate_request,
)

DAY = "2024-04-01"
CHECKS = INCLUDE_DIR / "sql" / "reviews" / "checks"


@pytest.fixture
def aws_config(tmp_path: Path) -> Any:
    return load_settings(environ={}, overrides={
        "target": "aws", "home": str(tmp_path / "home"), "lake": {"root": "s3://airsage-lake/prod"},
        "aws": {"athena_workgroup": "airsage"},
    })


def result_set(value: str | None, type_: str = "bigint") -> dict[str, Any]:
    """GetQueryResults' ResultSet: the header row, then one row with one value."""
    return {"ResultSetMetadata": {"ColumnInfo": [{"Name": "_col0", "Label": "_col0", "Type": type_}]},
            "Rows": [{"Data": [{"VarCharValue": "_col0"}]},
                     {"Data": [{"VarCharValue": value}] if value is not None else [{}]}]}


def test_request_holds_exactly_the_shipped_sql_for_the_day(aws_config) -> None:
    request = validate_request(aws_config, "reviews", DAY)
    shipped = sorted(CHECKS.glob("*.sql"))
    assert [q.name for q in request.queries] == [p.stem for p in shipped]
    for query, path in zip(request.queries, shipped, strict=True):
        assert query.query == render(path.read_text(encoding="utf-8"), ds=DAY,
                                     database="airsage", table="reviews").rstrip()
        assert DAY in query.query
    assert request.workgroup == "airsage"
    assert request.output_location == f"s3://airsage-lake/prod/reports/athena/reviews/dt={DAY}/"
    call = request.calls()[0]
    assert (call.service, call.operation) == ("athena", "StartQueryExecution")


def test_configured_output_location_wins_and_must_be_s3(aws_config) -> None:
    from airsage.errors import ConfigurationError

    custom = aws_config.with_overrides({"aws": {"athena_output": "s3://results/athena"}})
    assert validate_request(custom, "reviews", DAY).output_location == "s3://results/athena/"
    with pytest.raises(ConfigurationError, match="s3:// URI"):
        validate_request(aws_config.with_overrides({"aws": {"athena_output": "/tmp/x"}}), "reviews", DAY)


def test_request_round_trips_through_json(aws_config) -> None:
    request = validate_request(aws_config, "reviews", DAY)
    assert ValidateRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request


def test_result_rows_drop_the_header_and_type_the_values() -> None:
    assert result_rows(result_set("0")) == [[0]]
    assert result_rows(result_set("0.5", "double")) == [[0.5]]
    assert result_rows(result_set(None)) == [[None]]


def test_collect_judges_like_the_local_engine(aws_config, tmp_path) -> None:
    request = validate_request(aws_config, "reviews", DAY)
    passing = {"partition_not_empty": "60"}
    outcomes = {q.name: {"state": "SUCCEEDED", "result_set": result_set(passing.get(q.name, "0"))}
                for q in request.queries}
    report = collect_validate(request, outcomes)
    assert report.passed, [r.to_dict() for r in report.failed]
    lake = LocalLake(root=tmp_path / "lake")
    finished = finish_validate(lake, report)
    assert json.loads(lake.read_bytes(finished.report_key))["passed"] is True


def test_a_failing_value_an_athena_error_and_a_missing_result_fail_the_gate(aws_config, tmp_path) -> None:
    request = validate_request(aws_config, "reviews", DAY)
    outcomes: dict[str, Any] = {q.name: {"state": "SUCCEEDED", "result_set": result_set("0")}
                                for q in request.queries}
    outcomes["partition_not_empty"] = {"state": "SUCCEEDED", "result_set": result_set("60")}
    outcomes["rating_in_range"] = {"state": "SUCCEEDED", "result_set": result_set("3")}
    outcomes["age_plausible"] = {"state": "FAILED", "error": "COLUMN_NOT_FOUND: age"}
    del outcomes["text_has_words"]
    report = collect_validate(request, outcomes)
    by_name = {r.name: r for r in report.failed}
    assert by_name["rating_in_range"].outcome == "FAIL" and by_name["rating_in_range"].measured == 3
    assert "COLUMN_NOT_FOUND" in by_name["age_plausible"].error
    assert by_name["text_has_words"].outcome == "ERROR"
    lake = LocalLake(root=tmp_path / "lake")
    with pytest.raises(GateFailedError) as caught:
        finish_validate(lake, report)
    assert caught.value.gate == "sql"
    assert caught.value.resource == f"airsage.reviews dt={DAY}"
    rating = next(f for f in caught.value.failures if f.check == "rating_in_range")
    assert (rating.measured, rating.expected) == (3, "= 0")
    assert lake.exists(f"reports/sql/reviews/dt={DAY}/results.json")
