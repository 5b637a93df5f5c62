"""Task logs that explain the run: the lines each step logs, read from its result."""

from __future__ import annotations

import logging

import pytest

from airsage.airflow.tasklog import describe, narrated

QUALITY = {
    "Outcome": "FAIL", "RulesPassed": 1, "RulesFailed": 1, "RulesErrored": 0, "Ruleset": "reviews.dqdl",
    "RuleResults": [
        {"Description": "RowCount > 0", "Result": "PASS", "EvaluationMessage": "",
         "EvaluatedMetrics": {"Dataset.*.RowCount": 1500}},
        {"Description": 'IsComplete "rating"', "Result": "FAIL",
         "EvaluationMessage": "Value: 0.98 does not meet the constraint requirement!",
         "EvaluatedMetrics": {"Column.rating.Completeness": 0.98}},
    ],
}


def test_the_quality_gate_logs_each_rule_with_measured_and_expected() -> None:
    lines = describe("quality_gate", QUALITY)
    assert lines[0] == "DQDL FAIL: 1 passed, 1 failed, 0 errored (reviews.dqdl)"
    assert "  PASS RowCount > 0: Dataset.*.RowCount=1500" in lines
    assert any(line.startswith('  FAIL IsComplete "rating": Column.rating.Completeness=0.98 — Value: 0.98')
               for line in lines)


def test_training_logs_every_epoch_and_every_trial() -> None:
    lines = describe("train", {
        "job_name": "j", "status": "Completed", "duration_seconds": 2.5, "hyperparameters": {"C": 1},
        "metric_history": {"validation:macro_f1": [0.5, 0.6], "train:loss": [0.9, 0.7]},
        "final_metrics": {"validation:macro_f1": 0.6}, "model_artifact_key": "models/m.tar.gz",
        "tuning": {"tuning_job_name": "t", "objective": "validation:macro_f1", "best_value": 0.6,
                   "trials": [{"number": 0, "state": "Completed", "objective_value": 0.6,
                               "hyperparameters": {"C": 1}}]},
    })
    assert "  epoch 1: validation:macro_f1=0.5, train:loss=0.9" in lines
    assert "  epoch 2: validation:macro_f1=0.6, train:loss=0.7" in lines
    assert "  trial 0 Completed: validation:macro_f1=0.6 with {'C': 1}" in lines


def test_deploy_logs_each_traffic_step() -> None:
    lines = describe("deploy", {"action": "updated", "endpoint": "e", "url": "u", "model_name": "m",
                                "model_version": "2", "variant_name": "m-v2", "duration_seconds": 3,
                                "traffic_steps": [10.0, 100.0], "replaced_variants": ["m-v1"]})
    assert lines[1:] == ["  traffic step 1: 10% to the new variant, baked without alarm",
                         "  traffic step 2: 100% to the new variant, baked without alarm",
                         "  replaced ['m-v1']"]


def test_narrated_logs_at_info_and_never_breaks_the_task(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="airsage.task")
    result = {"Outcome": "PASS", "RuleResults": 5}  # not a list: cannot be summarised
    assert narrated("quality_gate", result) is result
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert "could not be summarised" in caplog.records[0].getMessage()
    caplog.clear()
    narrated("quality_gate", QUALITY)
    assert {r.levelname for r in caplog.records} == {"INFO"} and len(caplog.records) == 3


def test_baseline_says_which_rows_it_came_from() -> None:
    lines = describe("baseline", {
        "model_version": {"name": "m", "version": "3"}, "item_count": 812, "source": "unseen",
        "source_key": "curated/reviews/dt=2026-03-03/",
        "excluded_key": "features/reviews/dt=2026-03-03/train/",
        "baseline_accuracy": 0.81, "statistics_key": "s.json", "constraints_key": "c.json"})
    assert lines[0] == ("monitor baseline for m v3: 812 unseen rows from curated/reviews/dt=2026-03-03/, "
                        "leaving out features/reviews/dt=2026-03-03/train/; baseline accuracy 0.81")


def test_bias_logs_each_group_and_the_worst_value_of_each_metric() -> None:
    checks = [{"metric": "DPL", "value": v, "status": "pass", "warn": 0.12, "fail": 0.2,
               "group": f"department_name={g}"} for g, v in (("Tops", 0.03), ("Dresses", -0.08))]
    lines = describe("bias_gate", {
        "facet": "department_name", "label": "sentiment", "label_values": [1], "status": "pass",
        "verdict": {"checks": checks},
        "groups": [{"facet": "department_name", "value": "Trend", "rows": 40, "status": "skipped",
                    "reason": "too few rows to judge"}]})
    assert "  group department_name=Trend: 40 rows, skipped — too few rows to judge" in lines
    assert lines[-1] == ("  pass DPL [department_name=Dresses]: -0.08 (warn above 0.12, "
                         "fail above 0.2)")
