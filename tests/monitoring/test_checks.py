"""The monitor's checks over parsed captures (pure logic, no subprocess)."""

from __future__ import annotations

import json

import pytest
from monitoring_helpers import (
    capture_line,
    capture_lines,
    ground_truth_line,
    instance,
    make_reviews,
    parsed,
)

from airsage.monitoring.capture import parse_ground_truth
from airsage.monitoring.checks import evaluate, evaluate_interval


def run(lines, baseline, ground_truth=None, **overrides):
    return evaluate(parsed(lines), statistics=baseline.statistics,
                    constraints=baseline.constraints, vocabulary=baseline.vocabulary,
                    ground_truth=ground_truth, overrides=overrides,
                    model_quality_constraints=baseline.model_quality_constraints)


def flagged(violations):
    return {(v.feature_name, v.constraint_check_type) for v in violations}


def test_no_false_alarms_over_twenty_clean_intervals(baseline_docs, model):
    for interval in range(20):
        frame = make_reviews(250, seed=100 + interval)
        statistics, violations, summary = run(capture_lines(frame, model, batch=5), baseline_docs)
        assert summary["status"] == "ok"
        assert summary["samples"] == 250
        assert violations == [], f"interval {interval}: {[v.description for v in violations]}"
    assert statistics["dataset"]["item_count"] == 250


def test_full_drift_names_the_drifted_features(baseline_docs, model):
    frame = make_reviews(300, seed=7, drift=1.0)
    statistics, violations, summary = run(capture_lines(frame, model), baseline_docs)
    found = flagged(violations)
    assert {("age", "baseline_drift_check"), ("department_name", "baseline_drift_check"),
            ("review_text_oov_rate", "text_drift_check"),
            ("review_text_length", "text_drift_check"),
            ("prediction_label", "prediction_drift_check")} <= found
    age = summary["checks"]["baseline_drift_check"]["age"]
    assert age["drifted"] and age["distance"] > age["threshold"] == 0.1
    assert age["method"] == "Robust" and age["n"] == 300 and age["m"] == 2000
    assert "exceeds threshold: 0.1" in next(v.description for v in violations
                                            if v.feature_name == "age")
    names = {entry["name"] for entry in statistics["features"]}
    assert {"age", "review_text_oov_rate", "prediction_label"} <= names


def test_a_single_shifted_feature_is_the_only_one_flagged(baseline_docs, model):
    frame = make_reviews(300, seed=8)
    frame["age"] = frame["age"] + 25
    _, violations, _ = run(capture_lines(frame, model), baseline_docs)
    assert flagged(violations) == {("age", "baseline_drift_check")}


def test_too_few_samples_gives_no_drift_verdict(baseline_docs, model):
    frame = make_reviews(60, seed=9, drift=1.0)
    _, violations, summary = run(capture_lines(frame, model), baseline_docs)
    assert summary["status"] == "insufficient_samples"
    assert summary["drift_verdict"] is False
    assert violations == []
    _, violations, summary = run(capture_lines(frame, model), baseline_docs, min_samples=50)
    assert summary["status"] == "ok" and violations


def test_no_traffic_is_reported_as_no_data(baseline_docs):
    _, violations, summary = run([], baseline_docs)
    assert (summary["status"], summary["samples"], violations) == ("no_data", 0, [])


def test_schema_checks(baseline_docs, model):
    frame = make_reviews(250, seed=10)
    probabilities = model.predict_proba(frame["review_text"].tolist())
    lines = []
    for i, (_, row) in enumerate(frame.iterrows()):
        item = instance(row)
        del item["class_name"]  # missing from every request
        item["title"] = "extra"  # not a baseline column
        if i % 3 == 0:
            item["age"] = "thirty"  # a third of the ages are not Integral
            item["department_name"] = "Shoes"  # and a third of departments are unknown
        if i % 4 == 0:
            item["division_name"] = None  # a quarter of divisions missing
        lines.append(capture_line(f"s{i}", [item], probabilities[i:i + 1], model.labels))
    _, violations, summary = run(lines, baseline_docs)
    found = flagged(violations)
    assert ("class_name", "missing_column_check") in found
    assert ("title", "extra_column_check") in found
    assert ("age", "data_type_check") in found
    assert ("department_name", "categorical_values_check") in found
    assert ("division_name", "completeness_check") in found
    assert ("review_id", "extra_column_check") not in found  # an identifier column
    assert summary["checks"]["categorical_values_check"]["department_name"][
        "unknown_examples"] == ["Shoes"]


def test_schema_checks_run_even_below_min_samples(baseline_docs, model):
    frame = make_reviews(20, seed=11)
    lines = [json.loads(line) for line in capture_lines(frame, model)]
    for line in lines:
        body = json.loads(line["captureData"]["endpointInput"]["data"])
        for item in body["instances"]:
            item["age"] = "old"
        line["captureData"]["endpointInput"]["data"] = json.dumps(body)
    _, violations, summary = run([json.dumps(line) for line in lines], baseline_docs)
    assert summary["status"] == "insufficient_samples"
    assert flagged(violations) == {("age", "data_type_check")}


def test_csv_traffic_leaves_tabular_features_unobserved(baseline_docs, model):
    frame = make_reviews(250, seed=12)
    lines = capture_lines(frame, model, content_type="text/csv", batch=10)
    _, violations, summary = run(lines, baseline_docs)
    assert summary["text_only_samples"] == 250
    assert set(summary["not_observed"]) == {"age", "division_name", "department_name",
                                            "class_name"}
    assert violations == []


def test_malformed_lines_are_counted_and_the_rest_checked(baseline_docs, model):
    frame = make_reviews(250, seed=13)
    lines = [*capture_lines(frame, model), "{broken", json.dumps({"captureData": {}})]
    _, violations, summary = run(lines, baseline_docs)
    assert summary["malformed_records"] == 2
    assert summary["samples"] == 250
    assert len(summary["malformed_examples"]) == 2
    assert violations == []


@pytest.mark.parametrize("by", ["eventId", "inferenceId"])
def test_model_quality_with_ground_truth(baseline_docs, model, by):
    frame = make_reviews(250, seed=14)
    lines = capture_lines(frame, model, batch=2)
    truth_ok, truth_bad = [], []
    for start in range(0, len(frame), 2):
        event = f"e-{start}" if by == "eventId" else f"inf-e-{start}"
        labels = frame["sentiment"].iloc[start:start + 2].tolist()
        truth_ok.append((event, ground_truth_line(event, labels)))
        wrong = [{1: -1, -1: 0, 0: 1}[label] for label in labels]
        truth_bad.append((event, ground_truth_line(event, wrong)))
    report = evaluate_interval(parsed(lines), statistics=baseline_docs.statistics,
                               constraints=baseline_docs.constraints,
                               vocabulary=baseline_docs.vocabulary,
                               ground_truth=parse_ground_truth(truth_ok),
                               model_quality_constraints=baseline_docs.model_quality_constraints)
    assert report.summary["ground_truth"]["matched"] == 250
    assert report.summary["ground_truth"]["verdict"] == "ok"
    # model quality is its own statistics file (issue 12), not part of statistics.json
    assert "multiclass_classification_metrics" not in report.statistics
    metrics = report.model_quality_statistics["multiclass_classification_metrics"]
    assert metrics["accuracy"]["value"] > 0.8
    assert report.model_quality_statistics["dataset"]["item_count"] == 250
    assert isinstance(metrics["accuracy"]["standard_deviation"], float)  # 250 >= 200
    assert report.all_violations == []
    _, violations, summary = run(lines, baseline_docs, parse_ground_truth(truth_bad))
    assert flagged(violations) == {("accuracy", "model_quality_check")}
    assert violations[0].model_quality_dict()["constraint_check_type"] == "LessThanThreshold"
    assert violations[0].model_quality_dict()["metric_name"] == "accuracy"
    assert summary["ground_truth"]["accuracy"] < 0.2


def test_model_quality_needs_enough_labels(baseline_docs, model):
    frame = make_reviews(250, seed=15)
    lines = capture_lines(frame, model)
    truth = parse_ground_truth(
        (str(i), ground_truth_line(f"e-{i}", [{1: -1, -1: 0, 0: 1}[label]]))
        for i, label in enumerate(frame["sentiment"].iloc[:10])
    )
    _, violations, summary = run(lines, baseline_docs, truth)
    assert summary["ground_truth"]["matched"] == 10
    assert summary["ground_truth"]["verdict"].startswith("insufficient ground truth")
    assert violations == []
