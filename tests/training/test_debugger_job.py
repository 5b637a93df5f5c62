"""Debugger rules on real local training jobs: a rule that fires stops the job
(``stop_training``) or rides on the result to the blessing (``mark_candidate``); the real
``include/jobs/train.py`` prints what ClassImbalance judges; statuses are kept in the lake."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from featuredata import DAY

from airsage.config import Settings, load_settings
from airsage.errors import GateFailedError
from airsage.jobs.local import LocalJobRunner
from airsage.jobs.request import JobOutcome, JobRequest, MetricCallback
from airsage.lake.base import Lake
from airsage.training.debugger import prediction_counts
from airsage.training.step import rule_evaluations_key, train_model

CURVE_SCRIPT = Path(__file__).with_name("curve_script.py")
OVERFITTING = {"train": [0.7, 0.4, 0.2, 0.1], "validation": [0.72, 0.6, 0.65, 0.7]}
HEALTHY = {"train": [0.7, 0.5, 0.42, 0.38], "validation": [0.72, 0.53, 0.45, 0.41]}


class CurveRunner(LocalJobRunner):
    """The local runner with the training script swapped for :data:`CURVE_SCRIPT`."""

    def attempt(self, lake: Lake, request: JobRequest, *,
                on_metric: MetricCallback | None = None) -> JobOutcome:
        self.seen_on_metric = on_metric
        return super().attempt(lake, request.with_changes(script=str(CURVE_SCRIPT)),
                               on_metric=on_metric)


def settings_with(tmp_path: Path, action: str, rules: dict[str, Any] | None = None) -> Settings:
    debugger = {"action": action, "profiler": False, "rules": rules or {
        "LossNotDecreasing": {"num_steps": 1}, "Overfit": {"ratio_threshold": 0.1},
        "ClassImbalance": {"samples": 50}}}
    return load_settings(environ={}, overrides={
        "home": str(tmp_path / "home"),
        "training": {"timeout_seconds": 600, "debugger": debugger}})


def curve(shape: dict[str, list[float]], linger: float = 0.0) -> dict[str, Any]:
    truth = [-1] * 30 + [0] * 30 + [1] * 40
    return {**shape, "linger": linger, "counts": prediction_counts(truth, truth, (-1, 0, 1))}


def test_stop_training_stops_the_job_and_names_rule_measured_and_threshold(tmp_path, lake, features):
    settings = settings_with(tmp_path, "stop_training")
    runner = CurveRunner(settings)
    started = time.monotonic()
    with pytest.raises(GateFailedError) as caught:
        train_model(settings, lake, "reviews", DAY, runner=runner,
                    hyperparameters=curve(OVERFITTING, linger=60))
    assert time.monotonic() - started < 45  # stopped: the script would linger 60 s
    assert runner.seen_on_metric is not None
    message = str(caught.value)
    assert "debugger gate failed for training job reviews-" in message
    failures = {f.check: f for f in caught.value.failures}
    # Overfit fires at epoch 1: (0.6 - 0.4) / 0.4 = 0.5 > 0.1; the job is stopped there
    assert set(failures) == {"debugger:Overfit"}
    overfit = failures["debugger:Overfit"]
    assert overfit.expected == 0.1 and overfit.measured == pytest.approx(0.5)
    assert "at epoch 1" in overfit.message
    assert "ratio_threshold=0.1" in overfit.message
    kept = json.loads(lake.read_bytes(rule_evaluations_key("reviews", DAY)))
    assert kept["Action"] == "stop_training"
    statuses = {s["RuleConfigurationName"]: s["RuleEvaluationStatus"]
                for s in kept["DebugRuleEvaluationStatuses"]}
    assert statuses["Overfit"] == "IssuesFound"
    assert not any(k.endswith("model.tar.gz") for k in lake.list("models/reviews/"))


def test_stop_training_lets_a_healthy_job_finish(tmp_path, lake, features):
    settings = settings_with(tmp_path, "stop_training")
    result = train_model(settings, lake, "reviews", DAY, runner=CurveRunner(settings),
                         hyperparameters=curve(HEALTHY))
    assert result.status == "Completed"
    assert {e["RuleConfigurationName"]: e["RuleEvaluationStatus"]
            for e in result.debug_rule_evaluations} == {
        "LossNotDecreasing": "NoIssuesFound", "Overfit": "NoIssuesFound",
        "ClassImbalance": "NoIssuesFound"}


def test_mark_candidate_completes_the_job_and_carries_the_finding(tmp_path, lake, features):
    settings = settings_with(tmp_path, "mark_candidate")
    runner = CurveRunner(settings)
    result = train_model(settings, lake, "reviews", DAY, runner=runner,
                         hyperparameters=curve(OVERFITTING))
    assert runner.seen_on_metric is None  # nothing is stopped under mark_candidate
    assert result.status == "Completed" and result.model_artifact_key
    found = {e["RuleConfigurationName"]: e for e in result.to_dict()["debug_rule_evaluations"]}
    assert found["Overfit"]["RuleEvaluationStatus"] == "IssuesFound"
    assert found["LossNotDecreasing"]["RuleEvaluationStatus"] == "NoIssuesFound"


def test_the_real_training_script_prints_what_the_rules_judge(tmp_path, lake, features):
    """tfidf_linear has no epochs: the curve rules do not apply, ClassImbalance judges its
    validation predictions (and fires when the threshold allows no imbalance at all)."""
    settings = settings_with(tmp_path, "mark_candidate", {
        "LossNotDecreasing": {"num_steps": 1}, "Overfit": {},
        "ClassImbalance": {"samples": 50, "threshold_imbalance": 1.0}})
    result = train_model(settings, lake, "reviews", DAY, runner=LocalJobRunner(settings))
    found = {e["RuleConfigurationName"]: e for e in result.debug_rule_evaluations}
    assert found["LossNotDecreasing"]["StatusDetails"].startswith("not applicable")
    assert found["Overfit"]["StatusDetails"].startswith("not applicable")
    history = result.metric_history
    assert history["validation:predictions_total"] == (90.0,)  # the fixture's validation rows
    assert sum(history[f"validation:label_count_{c}"][0] for c in (-1, 0, 1)) == 90.0
    imbalance = found["ClassImbalance"]
    predicted = [history[f"validation:predicted_count_{c}"][0] for c in (-1, 0, 1)]
    assert max(predicted) > min(predicted)  # 90 random-label rows never split evenly
    assert imbalance["RuleEvaluationStatus"] == "IssuesFound"
    assert "threshold_imbalance=1" in imbalance["StatusDetails"]
