"""Deequ's DQDL evaluation cases (awslabs/deequ), as data: tests/quality/upstream/.

``deequ_dqdl_cases.json`` restates the Scala specs of ``src/test/scala/com/amazon/deequ/dqdl``
(EvaluateDataQualitySpec, ColumnDataTypeSpec, DataFreshnessSpec): each case has the frame the
spec builds, its reference frames by alias, the rule, the outcome Deequ asserts and the metrics
it asserts. Here each case runs through the local gate (DuckDB) and must come out the same.
Cases airsage cannot match carry an ``xfail`` reason in the data.
"""

from __future__ import annotations

import datetime as dt_
import json
from pathlib import Path
from typing import Any

import pytest

from airsage.quality import dqdl
from airsage.quality.compiler import quote_ident, sql_string
from airsage.quality.local import DuckDBQualityGate

DATA = json.loads((Path(__file__).parent / "upstream" / "deequ_dqdl_cases.json")
                  .read_text(encoding="utf-8"))
NOW = dt_.datetime(2024, 6, 15, 12, 0, 0)


def _literal(value: Any, sql_type: str) -> str:
    if value is None:
        return f"CAST(NULL AS {sql_type})"
    if isinstance(value, dict):  # a time relative to the test's fixed now
        hours = value.get("hours_ago", 0) + 24 * value.get("days_ago", 0)
        value = (NOW - dt_.timedelta(hours=hours)).isoformat(sep=" ")
    text = sql_string(value) if isinstance(value, str) else repr(value)
    return f"CAST({text} AS {sql_type})"


def relation(name: str) -> str:
    """The frame as a DuckDB relation with the spec's column names and types."""
    frame = DATA["frames"][name]
    columns: dict[str, str] = frame["columns"]
    if not columns:
        pytest.fail("a frame without columns cannot be a DuckDB relation")
    names = ", ".join(quote_ident(c) for c in columns)
    if not frame["rows"]:
        select = ", ".join(f"CAST(NULL AS {t}) AS {quote_ident(c)}" for c, t in columns.items())
        return f"(SELECT {select} WHERE false)"
    rows = ", ".join(
        "(" + ", ".join(_literal(v, t) for v, t in zip(row, columns.values(), strict=True)) + ")"
        for row in frame["rows"])
    return f"(SELECT * FROM (VALUES {rows}) AS t({names}))"


def _cases() -> list[Any]:
    params = []
    for i, case in enumerate(DATA["cases"]):
        marks = [pytest.mark.xfail(reason=case["xfail"], strict=True)] if "xfail" in case else []
        params.append(pytest.param(case, id=f"{case['from']}:{i}", marks=marks))
    return params


@pytest.mark.parametrize("case", _cases())
def test_deequ_dqdl_case(gate: DuckDBQualityGate, case: dict[str, Any]) -> None:
    references = {alias: relation(frame) for alias, frame in case.get("references", {}).items()}
    report = gate.evaluate(relation(case["frame"]), dqdl.parse(f"Rules = [ {case['rule']} ]"),
                           now=NOW, references=references)
    (result,) = report.rule_results
    assert result.result == case["outcome"], result.evaluation_message
    metrics = result.evaluated_metrics
    for key, expected in case.get("metrics", {}).items():
        assert key in metrics, sorted(metrics)
        if isinstance(expected, list):
            low, high = expected
            assert low <= metrics[key] <= high
        else:
            assert metrics[key] == pytest.approx(expected)
    for key in case.get("metric_keys", []):
        assert key in metrics, sorted(metrics)
    if "message" in case:
        assert case["message"] in result.evaluation_message


def test_case_count_is_what_was_ported() -> None:
    """Guards the data file against silent truncation: the number reported in the note."""
    assert len(DATA["cases"]) == 260
