"""airsage reads Model Monitor's own files, and writes files of the same shape.

The fixtures under ``fixtures/model_monitor/`` follow the published schemas of Model
Monitor's data-quality job (``statistics.json``, ``constraints.json``,
``constraint_violations.json``) and of its model-quality job (the same three names, with
``multiclass_classification_metrics`` / ``..._constraints`` and violations that name a
``metric_name`` with a comparison operator as the check type), pretty-printed the way the
container writes them (``"key" : value``, ``"version" : 0.0``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from monitoring_helpers import capture_lines, make_reviews, parsed

from airsage.monitoring.base import (
    BASELINE_DRIFT_CHECK,
    MODEL_QUALITY_CHECK,
    Violation,
    ViolationPolicy,
)
from airsage.monitoring.capture import CaptureRecord, ParsedGroundTruth
from airsage.monitoring.checks import evaluate_interval, merged_config
from airsage.monitoring.model_quality import (
    CONSTRAINTS_KEY,
    METRICS_KEY,
    constraints_block,
    constraints_document,
    evaluate_model_quality,
    multiclass_metrics,
    violations_document,
)
from airsage.monitoring.statistics import (
    baseline_frequencies,
    feature_statistics,
    numerical_distance,
    suggested_domain,
)
from airsage.monitoring.step import decide_retrain

FIXTURES = Path(__file__).parent / "fixtures" / "model_monitor"


def fixture(*parts: str) -> Any:
    return json.loads((FIXTURES.joinpath(*parts)).read_text())


def shape(value: Any) -> Any:
    """A document's key structure (lists by their first item), to compare layouts."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__ if not isinstance(value, int | float) else "number"


# -- data quality -------------------------------------------------------------------------------
def test_model_monitor_statistics_are_read_as_a_baseline():
    statistics = fixture("data_quality", "statistics.json")
    by_name = {entry["name"]: entry for entry in statistics["features"]}
    # each block matches its inferred type, as the schema says
    for entry in statistics["features"]:
        block = "string_statistics" if entry["inferred_type"] == "String" \
            else "numerical_statistics"
        assert set(entry) == {"name", "inferred_type", block}
    distance, n, m = numerical_distance(by_name["age"], [30.0, 40.0, 50.0, 60.0])
    assert 0.0 < distance <= 1.0 and n == 4 and m == 118
    frequencies = baseline_frequencies(by_name["department_name"])
    assert sum(frequencies.values()) == 120 and "Tops" in frequencies
    # a free-text column carries a distribution but suggests no domain; a category does
    assert baseline_frequencies(by_name["review_text"])
    assert suggested_domain(by_name["department_name"]) == sorted(frequencies)


def test_airsage_statistics_have_model_monitors_layout():
    statistics = fixture("data_quality", "statistics.json")
    theirs = {entry["name"]: shape(entry) for entry in statistics["features"]}
    frame = make_reviews(120, seed=5)
    ours = {
        "age": shape(feature_statistics("age", frame["age"].tolist())),
        "department_name": shape(feature_statistics("department_name",
                                                     frame["department_name"].tolist())),
        "review_text": shape(feature_statistics("review_text", frame["review_text"].tolist())),
    }
    assert ours == theirs


def test_model_monitor_constraints_drive_airsages_checks(model):
    statistics = fixture("data_quality", "statistics.json")
    constraints = fixture("data_quality", "constraints.json")
    config = merged_config(constraints, {"min_samples": 50})
    assert config["distribution_constraints"]["comparison_method"] == "Robust"
    frame = make_reviews(120, seed=6)
    frame["department_name"] = "Outerwear"  # outside the domain Model Monitor suggested
    report = evaluate_interval(parsed(capture_lines(frame, model)), statistics=statistics,
                               constraints=constraints, vocabulary=None,
                               overrides={"min_samples": 50})
    flagged = {(v.feature_name, v.constraint_check_type) for v in report.violations}
    assert ("department_name", "categorical_values_check") in flagged
    assert ("department_name", BASELINE_DRIFT_CHECK) in flagged
    assert report.summary["status"] == "ok"
    json.dumps(report.statistics, allow_nan=False)


def test_model_monitor_data_quality_violations_are_read_and_counted():
    raw = fixture("data_quality", "constraint_violations.json")["violations"]
    violations = [Violation.from_dict(item) for item in raw]
    assert [(v.feature_name, v.constraint_check_type) for v in violations] == [
        (item["feature_name"], item["constraint_check_type"]) for item in raw]
    should, decision = decide_retrain(violations, ViolationPolicy())
    assert should and decision["counted_violations"] == 1  # only the drift counts
    assert [v.to_dict() for v in violations] == raw


# -- model quality ------------------------------------------------------------------------------
def _pairs_of(matrix: dict[str, dict[str, int]]) -> list[tuple[int, int]]:
    return [(int(predicted), int(actual)) for actual, row in matrix.items()
            for predicted, count in row.items() for _ in range(count)]


def test_model_quality_statistics_match_model_monitors_layout_and_values():
    theirs = fixture("model_quality", "statistics.json")
    metrics = theirs[METRICS_KEY]
    ours = multiclass_metrics(_pairs_of(metrics["confusion_matrix"]))
    assert set(ours) == set(metrics)
    assert ours["confusion_matrix"] == metrics["confusion_matrix"]
    for name, entry in metrics.items():
        if name != "confusion_matrix":
            assert set(ours[name]) == {"value", "standard_deviation"}
            assert ours[name]["value"] == pytest.approx(entry["value"]), name


def test_model_quality_constraints_are_checked_and_violations_written_as_model_monitor():
    constraints = fixture("model_quality", "constraints.json")
    metrics = fixture("model_quality", "statistics.json")[METRICS_KEY]
    pairs = _pairs_of(metrics["confusion_matrix"])

    truth = ParsedGroundTruth(labels={f"e{i}": [actual] for i, (_, actual) in enumerate(pairs)},
                              lines=len(pairs))
    records = [CaptureRecord(event_id=f"e{i}", inference_id=None, position=0, text="",
                             features=None, label=predicted, confidence=None)
               for i, (predicted, _) in enumerate(pairs)]
    block = constraints_block(constraints, {CONSTRAINTS_KEY: {"accuracy": {"threshold": 0.1}}})
    assert block == constraints[CONSTRAINTS_KEY]  # the model-quality file wins
    report = evaluate_model_quality(records, truth, constraints=block, min_ground_truth=50,
                                    method="Simple")
    expected = fixture("model_quality", "constraint_violations.json")
    written = violations_document(report.violations)
    assert [(v["metric_name"], v["constraint_check_type"]) for v in written["violations"]] == \
        [(v["metric_name"], v["constraint_check_type"]) for v in expected["violations"]]
    assert all(v.constraint_check_type == MODEL_QUALITY_CHECK for v in report.violations)
    assert report.summary["verdict"] == "violation"


def test_suggested_model_quality_constraints_have_model_monitors_layout():
    theirs = fixture("model_quality", "constraints.json")
    metrics = fixture("model_quality", "statistics.json")[METRICS_KEY]
    ours = constraints_document(metrics, 0.1, names=list(theirs[CONSTRAINTS_KEY]))
    assert shape(ours) == shape(theirs)
    assert ours[CONSTRAINTS_KEY]["accuracy"] == {
        "threshold": pytest.approx(metrics["accuracy"]["value"] - 0.1),
        "comparison_operator": "LessThanThreshold"}


def test_model_monitor_model_quality_violations_count_toward_retraining():
    raw = fixture("model_quality", "constraint_violations.json")["violations"]
    violations = [Violation.from_dict(item) for item in raw]
    assert [(v.feature_name, v.constraint_check_type, v.comparison_operator)
            for v in violations] == [("accuracy", MODEL_QUALITY_CHECK, "LessThanThreshold"),
                                     ("weighted_f1", MODEL_QUALITY_CHECK, "LessThanThreshold")]
    should, decision = decide_retrain(violations, ViolationPolicy())
    assert should and decision["counted_violations"] == 2
    assert [v.model_quality_dict() for v in violations] == raw
    # airsage's own form keeps feature_name for its readers and reads back the same
    assert [Violation.from_dict(v.to_dict()) for v in violations] == violations


def test_a_model_monitor_report_with_model_quality_violations_asks_for_retraining(
        tmp_path, lake):
    import datetime as dt_

    from airsage.config import load_settings
    from airsage.lake.layout import LakeLayout
    from airsage.monitoring.step import run_monitor

    settings = load_settings(environ={}, overrides={
        "home": str(tmp_path), "monitoring": {"source": "model_monitor"}})
    start = dt_.datetime(2024, 5, 1, 10, tzinfo=dt_.UTC)
    prefix = LakeLayout.monitoring_report("reviews-endpoint", start)
    lake.write_bytes(prefix + "constraint_violations.json",
                     (FIXTURES / "model_quality" / "constraint_violations.json").read_bytes())
    lake.write_bytes(prefix + "statistics.json",
                     (FIXTURES / "model_quality" / "statistics.json").read_bytes())
    result = run_monitor(settings, lake, endpoint="reviews-endpoint",
                         model_name="reviews-sentiment", model_version="3",
                         interval_start=start, interval_end=start + dt_.timedelta(hours=2))
    assert result.should_retrain is True
    assert result.samples == 1000
    assert {v.feature_name for v in result.violations} == {"accuracy", "weighted_f1"}
