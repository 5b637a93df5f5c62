"""Athena SQL checks: templates, transpilation, every shipped query, and the gate's verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airsage.catalog.local import LocalCatalog
from airsage.config import INCLUDE_DIR
from airsage.data.generator import GeneratorConfig, generate_batch, write_batch
from airsage.errors import ConfigurationError, GateFailedError, InputDataError
from airsage.ingest import land_file
from airsage.lake.layout import LakeLayout
from airsage.sql import render, transpile_athena
from airsage.sql.checks import Expectation, SqlCheck, load_checks
from airsage.sql.local import DuckDBSqlEngine
from airsage.targets import resolve

DAY = "2024-05-01"
SHIPPED = sorted((INCLUDE_DIR / "sql" / "reviews" / "checks").glob("*.sql"))


def crawled(settings, lake, tmp_path: Path, frame=None, day: str = DAY) -> None:
    frame = generate_batch(GeneratorConfig(rows=50, day=day)) if frame is None else frame
    path = write_batch(frame, tmp_path / day / "batch.csv")
    land_file(lake, settings.dataset("reviews"), path, day)
    LocalCatalog(settings).crawl(lake, "reviews", day)


def test_registered_in_targets() -> None:
    assert resolve("sql", "local") is DuckDBSqlEngine


def test_transpile_maps_athena_functions_to_duckdb() -> None:
    sql = transpile_athena(
        "SELECT count_if(regexp_like(t, '^a')), approx_distinct(x), cardinality(array_agg(y)) "
        "FROM s.t WHERE dt = '2024-01-01'"
    )
    assert "REGEXP_MATCHES" in sql and "APPROX_COUNT_DISTINCT" in sql
    assert "cardinality" not in sql.lower()


def test_transpile_refuses_broken_sql_and_several_statements() -> None:
    with pytest.raises(ConfigurationError, match="not valid Athena SQL"):
        transpile_athena("SELECT FROM WHERE (")
    with pytest.raises(ConfigurationError, match="exactly one"):
        transpile_athena("SELECT 1; SELECT 2")


def test_render_fills_placeholders_and_refuses_unknown_ones() -> None:
    assert render("dt = '{{ ds }}'", ds="2024-01-01") == "dt = '2024-01-01'"
    with pytest.raises(ConfigurationError, match="undefined parameter"):
        render("{{ database }}.{{ table }}", database="airsage")


@pytest.mark.parametrize("text,holds,fails", [
    ("0", [0], [1, None, "0"]),
    ("> 0", [1, 2.5], [0, None]),
    ("<= 10", [10, -1], [11]),
    ("!= 3", [2], [3]),
    ("between 1 and 5", [1, 5, 3.2], [0, 6]),
])
def test_expectations(text, holds, fails) -> None:
    expectation = Expectation.parse(text)
    assert all(expectation.holds(v) for v in holds)
    assert not any(expectation.holds(v) for v in fails)


def test_a_check_without_expectation_is_a_configuration_error(tmp_path) -> None:
    path = tmp_path / "bad.sql"
    path.write_text("SELECT 1\n")
    with pytest.raises(ConfigurationError, match="expect"):
        SqlCheck.from_file(path)
    path.write_text("-- expect: lots\nSELECT 1\n")
    with pytest.raises(ConfigurationError, match="lots"):
        SqlCheck.from_file(path)


def test_the_required_checks_are_shipped() -> None:
    names = {check.name for check in load_checks(SHIPPED[0].parent)}
    assert {"rating_in_range", "review_id_not_null", "age_plausible", "partition_not_empty",
            "feedback_count_non_negative"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_query_transpiles_and_runs(settings, lake, tmp_path, path: Path) -> None:
    crawled(settings, lake, tmp_path)
    check = SqlCheck.from_file(path)
    engine = DuckDBSqlEngine(settings)
    frame = engine.query(check.template, ds=DAY, table="reviews")
    assert frame.shape == (1, 1)
    assert check.expectation.holds(frame.iloc[0, 0].item()), path.stem


def test_run_checks_passes_and_writes_results(settings, lake, tmp_path) -> None:
    crawled(settings, lake, tmp_path)
    report = DuckDBSqlEngine(settings).run_checks(lake, "reviews", DAY)
    assert report.passed and len(report.results) == len(SHIPPED)
    stored = json.loads(lake.read_bytes(LakeLayout("reviews").report("sql", DAY, "results.json")))
    assert stored["passed"] is True
    assert {c["name"] for c in stored["checks"]} == {p.stem for p in SHIPPED}
    counts = {r.name: r.measured for r in report.results}
    assert counts["partition_not_empty"] == 50


def test_a_failing_assertion_names_query_expected_and_actual(settings, lake, tmp_path) -> None:
    frame = generate_batch(GeneratorConfig(rows=50, day=DAY))
    frame.loc[frame.index[:3], "rating"] = [0, 6, 9]
    frame.loc[frame.index[3], "age"] = 150
    crawled(settings, lake, tmp_path, frame)
    crawled(settings, lake, tmp_path, day="2024-05-02")  # other days do not count
    with pytest.raises(GateFailedError) as caught:
        DuckDBSqlEngine(settings).run_checks(lake, "reviews", DAY)
    error = caught.value
    assert error.gate == "sql" and "reviews dt=2024-05-01" in error.resource
    failures = {f.check: f for f in error.failures}
    assert set(failures) == {"rating_in_range", "age_plausible"}
    assert failures["rating_in_range"].measured == 3
    assert failures["rating_in_range"].expected == "= 0"
    assert "rating < 1 OR rating > 5" in failures["rating_in_range"].message
    assert "rating_in_range: measured 3, expected = 0" in str(error)
    stored = json.loads(Path(error.report_uri).read_text())
    assert stored["passed"] is False


def test_a_query_that_errors_fails_closed(settings, lake, tmp_path) -> None:
    folder = tmp_path / "sqldir" / "reviews" / "checks"
    folder.mkdir(parents=True)
    (folder / "broken.sql").write_text(
        "-- expect: 0\nSELECT count(no_such_column) FROM {{ database }}.{{ table }}\n"
    )
    settings = settings.with_overrides({"sql": {"checks_dir": str(tmp_path / "sqldir")}})
    crawled(settings, lake, tmp_path)
    with pytest.raises(GateFailedError, match="broken: measured 'ERROR: "):
        DuckDBSqlEngine(settings).run_checks(lake, "reviews", DAY)


def test_run_checks_needs_a_crawled_partition(settings, lake, tmp_path) -> None:
    crawled(settings, lake, tmp_path)
    with pytest.raises(InputDataError, match="run the crawl step"):
        DuckDBSqlEngine(settings).run_checks(lake, "reviews", "2024-05-09")


def test_a_header_only_batch_fails_once_with_a_clear_reason(settings, lake, tmp_path) -> None:
    """Not one failure per check with "measured None": one failure that says it is empty."""
    frame = generate_batch(GeneratorConfig(rows=50, day=DAY)).head(0)
    crawled(settings, lake, tmp_path, frame)
    with pytest.raises(GateFailedError) as caught:
        DuckDBSqlEngine(settings).run_checks(lake, "reviews", DAY)
    (failure,) = caught.value.failures
    assert failure.check == "partition_not_empty"
    assert failure.measured == 0
    assert "no rows" in str(caught.value) and "header" in str(caught.value)
    report = json.loads(lake.read_bytes(LakeLayout("reviews").report("sql", DAY, "results.json")))
    skipped = [c for c in report["checks"] if c["outcome"] == "SKIPPED"]
    assert len(skipped) == len(SHIPPED) - 1
    assert all("the partition has no rows" in c["error"] for c in skipped)
