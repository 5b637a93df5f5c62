"""DuckDBQualityGate.run: configured ruleset, reports in the lake, history, gate failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airsage.config import Settings
from airsage.errors import ConfigurationError, GateFailedError, InputDataError
from airsage.lake.local import LocalLake
from airsage.quality.dqdl import DQDLSyntaxError
from airsage.quality.local import DuckDBQualityGate
from airsage.targets import resolve


def relation(rows: int, *, null_every: int = 0) -> str:
    text = f"CASE WHEN {null_every} > 0 AND i % {null_every} = 0 THEN NULL ELSE 'ok' END"
    return f"(SELECT i AS id, {text} AS txt FROM range({rows}) t(i))"


@pytest.fixture
def small_gate(settings: Settings, tmp_path: Path) -> DuckDBQualityGate:
    ruleset = tmp_path / "small.dqdl"
    ruleset.write_text('Rules = [\n  RowCount > 0,\n  IsPrimaryKey "id",\n'
                       '  Completeness "txt" >= 0.9\n]\n')
    # Small relations: the default size floor (100 rows) is tested on its own below.
    return DuckDBQualityGate(settings.with_overrides(
        {"quality": {"ruleset": str(ruleset), "size": {"min_rows": 5}}}))


def test_registered_for_the_local_target() -> None:
    assert resolve("quality", "local") is DuckDBQualityGate


def test_passing_run_writes_report_and_metrics(small_gate: DuckDBQualityGate,
                                               lake: LocalLake) -> None:
    report = small_gate.run(lake, "reviews", "2024-03-10", relation(50))
    assert report.outcome == "PASS"
    results = json.loads(lake.read_bytes("reports/quality/reviews/dt=2024-03-10/results.json"))
    assert results["Outcome"] == "PASS" and results["Day"] == "2024-03-10"
    names = [r["Name"] for r in results["RuleResults"]]
    assert names == ["Rule_1", "Rule_2", "Rule_3", "Size floor RowCount", "Anomaly RowCount"]
    assert "not enough history" in results["RuleResults"][-1]["EvaluationMessage"]
    metrics = json.loads(lake.read_bytes(
        "reports/quality-metrics/reviews/dt=2024-03-10/metrics.json"))
    assert metrics["metrics"]["Dataset.*.RowCount"] == 50
    assert metrics["metrics"]["Column.txt.Completeness"] == 1.0


def test_failed_gate_raises_after_writing_its_report(small_gate: DuckDBQualityGate,
                                                     lake: LocalLake) -> None:
    with pytest.raises(GateFailedError) as info:
        small_gate.run(lake, "reviews", "2024-03-10", relation(50, null_every=5))
    error = info.value
    assert error.gate == "quality" and error.resource == "reviews dt=2024-03-10"
    (failure,) = error.failures
    assert failure.check == 'Completeness "txt" >= 0.9'
    assert failure.measured == pytest.approx(0.8)
    assert failure.expected == ">= 0.9"
    assert "Rule_3 FAIL" in failure.message
    assert error.report_uri == lake.uri("reports/quality/reviews/dt=2024-03-10/results.json")
    written = json.loads(Path(error.report_uri).read_text())
    assert written["Outcome"] == "FAIL" and written["RulesFailed"] == 1
    assert lake.exists("reports/quality-metrics/reviews/dt=2024-03-10/metrics.json")
    assert 'Completeness "txt" >= 0.9' in str(error)


def test_row_count_anomaly_against_earlier_days_only(small_gate: DuckDBQualityGate,
                                                     lake: LocalLake) -> None:
    for day in ("2024-03-01", "2024-03-02", "2024-03-03"):
        small_gate.run(lake, "reviews", day, relation(100))
    # a later day (itself an anomaly, persisted all the same) must not influence 2024-03-04
    with pytest.raises(GateFailedError, match="ratio 10 is above 5"):
        small_gate.run(lake, "reviews", "2024-03-06", relation(1000))
    with pytest.raises(GateFailedError) as info:
        small_gate.run(lake, "reviews", "2024-03-04", relation(10))
    (failure,) = [f for f in info.value.failures if "Anomaly" in f.message]
    assert failure.check == "RowCount ratio to the mean of the previous 7 day(s) >= 0.2 and <= 5"
    assert failure.expected == "ratio to the mean of the previous 7 day(s) >= 0.2 and <= 5"
    assert failure.measured == pytest.approx(0.1)
    assert "Anomaly RowCount FAIL" in failure.message and "below 0.2" in failure.message
    # a rerun of the same day with the usual volume passes and overwrites that day's file
    report = small_gate.run(lake, "reviews", "2024-03-04", relation(90))
    assert report.result("Anomaly RowCount").result == "PASS"
    days = [k for k in lake.list("reports/quality-metrics/reviews/")]
    assert len(days) == 5


def test_dynamic_rules_and_detect_anomalies_read_the_lake_history(
    small_gate: DuckDBQualityGate, settings: Settings, lake: LocalLake, tmp_path: Path,
) -> None:
    for day in ("2024-03-01", "2024-03-02", "2024-03-03"):
        small_gate.run(lake, "reviews", day, relation(100))
    ruleset = tmp_path / "dynamic.dqdl"
    ruleset.write_text('Rules = [\n  RowCount >= avg(last(3)) * 0.8,\n'
                       '  DetectAnomalies "RowCount"\n]\n')
    gate = DuckDBQualityGate(settings.with_overrides(  # small batches: no size floor here
        {"quality": {"ruleset": str(ruleset), "size": {"min_rows": 1}}}))
    with pytest.raises(GateFailedError) as info:
        gate.run(lake, "reviews", "2024-03-04", relation(90))
    (failure,) = info.value.failures  # 90 >= 0.8 * 100 passes; 90 after three 100s is odd
    assert failure.check == 'DetectAnomalies "RowCount"'
    assert "anomaly against the mean 100" in failure.message
    report = gate.run(lake, "reviews", "2024-03-05", relation(100))
    assert report.result("Rule_1").measured == 100


def test_reference_datasets_come_from_the_rulesets_data_sources(
    settings: Settings, lake: LocalLake, tmp_path: Path,
) -> None:
    ruleset = tmp_path / "compare.dqdl"
    ruleset.write_text('DataSources = { "Primary": "reviews", "AdditionalDataSources": '
                       '[ "yesterday" ] }\nRules = [ RowCountMatch "yesterday" >= 0.5 ]\n')
    gate = DuckDBQualityGate(settings.with_overrides(  # small batches: no size floor here
        {"quality": {"ruleset": str(ruleset), "size": {"min_rows": 1}}}))
    assert gate.reference_datasets() == ("yesterday",)
    report = gate.run(lake, "reviews", "2024-03-10", relation(60),
                      references={"yesterday": relation(100)})
    assert report.result("Rule_1").evaluated_metrics == {"Dataset.yesterday.RowCountMatch": 0.6}
    with pytest.raises(GateFailedError, match="not found in additional data sources"):
        gate.run(lake, "reviews", "2024-03-11", relation(60))


def test_a_refused_batch_does_not_move_the_next_days_anomaly_baseline(
    small_gate: DuckDBQualityGate, lake: LocalLake
) -> None:
    for day in ("2024-03-01", "2024-03-02", "2024-03-03"):
        small_gate.run(lake, "reviews", day, relation(100))
    # a huge batch with nulls: refused, so its 1000 rows must not raise tomorrow's mean
    with pytest.raises(GateFailedError):
        small_gate.run(lake, "reviews", "2024-03-04", relation(1000, null_every=2))
    stored = json.loads(lake.read_bytes("reports/quality-metrics/reviews/dt=2024-03-04/metrics.json"))
    assert stored["accepted"] is False and stored["refused_by"] == "quality"
    assert stored["metrics"]["Dataset.*.RowCount"] == 1000  # kept for the report
    report = small_gate.run(lake, "reviews", "2024-03-05", relation(100))
    anomaly = report.result("Anomaly RowCount")
    assert anomaly.evaluated_metrics["Dataset.*.RowCount.TrailingMean"] == pytest.approx(100)
    assert anomaly.measured == pytest.approx(1.0)


def test_a_batch_quarantined_by_a_later_gate_leaves_the_history(
    small_gate: DuckDBQualityGate, lake: LocalLake
) -> None:
    from airsage.lake.quarantine import quarantine

    for day, rows in (("2024-03-01", 100), ("2024-03-02", 100), ("2024-03-03", 100),
                      ("2024-03-04", 400)):
        small_gate.run(lake, "reviews", day, relation(rows))
    quarantine(lake, "reviews", "2024-03-04", step="bias_gate", reason="biased")
    report = small_gate.run(lake, "reviews", "2024-03-05", relation(100))
    assert report.result("Anomaly RowCount").evaluated_metrics[
        "Dataset.*.RowCount.TrailingMean"] == pytest.approx(100)


def test_size_floor_refuses_a_tiny_first_batch(settings: Settings, lake: LocalLake,
                                               tmp_path: Path) -> None:
    """No history at all: the default floor (100 rows) still refuses a 12-row batch."""
    gate = DuckDBQualityGate(settings)
    assert gate.quality.size.min_rows == 100
    ruleset = _write(tmp_path, 'Rules = [ RowCount > 0 ]\n')
    with pytest.raises(GateFailedError) as info:
        DuckDBQualityGate(settings.with_overrides({"quality": {"ruleset": ruleset}})
                          ).run(lake, "reviews", "2024-03-01", relation(12))
    (failure,) = info.value.failures
    assert failure.measured == 12
    assert failure.expected == ">= 100 rows"
    assert "Size floor RowCount FAIL" in failure.message and "12 row(s)" in failure.message


def test_size_floor_share_of_the_expected_size(settings: Settings, lake: LocalLake,
                                               tmp_path: Path) -> None:
    ruleset = _write(tmp_path, 'Rules = [ RowCount > 0 ]\n')
    gate = DuckDBQualityGate(settings.with_overrides({"quality": {
        "ruleset": ruleset, "size": {"min_rows": 10, "min_share": 0.25, "expected_rows": 400}}}))
    assert gate.run(lake, "reviews", "2024-03-01", relation(100)).outcome == "PASS"
    with pytest.raises(GateFailedError, match=r"fewer than the size floor of 100"):
        gate.run(lake, "reviews", "2024-03-02", relation(99))


def test_size_floor_settings_are_checked(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match=r"unknown key\(s\) \['rows'\]"):
        DuckDBQualityGate(settings.with_overrides({"quality": {"size": {"rows": 3}}}))
    with pytest.raises(ConfigurationError, match="min_share"):
        DuckDBQualityGate(settings.with_overrides({"quality": {"size": {"min_share": 2}}}))


def _write(folder: Path, text: str) -> str:
    path = folder / "floor.dqdl"
    path.write_text(text)
    return str(path)


def test_configuration_errors(settings: Settings, lake: LocalLake, tmp_path: Path) -> None:
    missing = DuckDBQualityGate(settings.with_overrides(
        {"quality": {"ruleset": str(tmp_path / "absent.dqdl")}}))
    with pytest.raises(ConfigurationError, match="cannot read the DQDL ruleset"):
        missing.run(lake, "reviews", "2024-03-10", relation(5))
    broken = tmp_path / "broken.dqdl"
    broken.write_text("Rules = [ RowCount >> 0 ]")
    gate = DuckDBQualityGate(settings.with_overrides({"quality": {"ruleset": str(broken)}}))
    with pytest.raises(DQDLSyntaxError, match=r"broken\.dqdl:1:"):
        gate.run(lake, "reviews", "2024-03-10", relation(5))


def test_unreadable_relation_is_an_input_error(small_gate: DuckDBQualityGate,
                                               lake: LocalLake, tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="cannot read the batch"):
        small_gate.run(lake, "reviews", "2024-03-10",
                       f"read_parquet('{tmp_path / 'nothing.parquet'}')")


def test_importing_the_gate_loads_no_engine() -> None:
    """The Airflow layer imports the gate while parsing DAGs: no DuckDB or pandas then."""
    import subprocess
    import sys

    code = ("import sys, airsage.quality.local, airsage.quality.suggest; "
            "print(sorted(m for m in ('duckdb', 'pandas', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(Path(__file__).parents[2] / "plugins")})
    assert out.stdout.strip() == "[]"
