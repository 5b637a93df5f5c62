"""The Debugger rules (airsage.training.debugger): each rule fires on a constructed training
curve and stays quiet on a healthy one; statuses have DescribeTrainingJob's shape; the
settings refuse what airsage cannot evaluate."""

from __future__ import annotations

import math
import re

import pytest

from airsage.errors import ConfigurationError
from airsage.training.debugger import (
    EPOCH_TRAIN_LOSS,
    EPOCH_VALIDATION_LOSS,
    DebuggerSettings,
    RuleMonitor,
    evaluate_rule,
    evaluate_rules,
    metric_definitions,
    prediction_counts,
)

LABELS = (-1, 0, 1)


def history(train=(), validation=(), counts=None):
    found: dict[str, tuple[float, ...]] = {}
    if train:
        found[EPOCH_TRAIN_LOSS] = tuple(train)
    if validation:
        found[EPOCH_VALIDATION_LOSS] = tuple(validation)
    for name, value in (counts or {}).items():
        found[f"validation:{name}"] = (float(value),)
    return found


def rule(name, parameters, found):
    config = DebuggerSettings.from_mapping({"rules": {name: parameters}}, where="test")
    result = evaluate_rule(name, config.rules[name], found)
    assert result is not None
    return result


# -- LossNotDecreasing -------------------------------------------------------------------------

def test_loss_not_decreasing_fires_on_a_flat_stretch_and_names_it():
    # the curve of smdebug's own LossNotDecreasing test, one value per epoch
    result = rule("LossNotDecreasing", {"num_steps": 1}, history(train=[0.3, 0.33, 0.31, 0.30, 0.28]))
    assert result.status == "IssuesFound"
    assert result.threshold == 0.1 and result.measured == pytest.approx(-10.0)
    assert "epoch 0 to 0.33 at epoch 1" in result.details


def test_loss_not_decreasing_is_quiet_on_a_falling_loss():
    result = rule("LossNotDecreasing", {"num_steps": 1}, history(train=[0.9, 0.7, 0.5, 0.4]))
    assert result.status == "NoIssuesFound"
    assert result.measured == pytest.approx(20.0)  # the smallest decrease, 0.5 -> 0.4


def test_loss_not_decreasing_checks_every_num_steps_and_reads_eval_in_eval_mode():
    # over two epochs the training loss falls by 20% each time; the wiggle at epoch 1 is
    # never a check point
    assert rule("LossNotDecreasing", {"num_steps": 2},
                history(train=[1.0, 1.05, 0.8, 0.9, 0.6])).status == "NoIssuesFound"
    eval_mode = rule("LossNotDecreasing", {"num_steps": 1, "mode": "eval"},
                     history(train=[1.0, 0.8, 0.6], validation=[0.7, 0.7, 0.75]))
    assert eval_mode.status == "IssuesFound" and EPOCH_VALIDATION_LOSS in eval_mode.details


def test_loss_not_decreasing_needs_more_epochs_than_num_steps():
    result = rule("LossNotDecreasing", {"num_steps": 10}, history(train=[0.5, 0.6]))
    assert result.status == "NoIssuesFound" and result.details.startswith("not applicable")


# -- Overfit -----------------------------------------------------------------------------------

def test_overfit_fires_when_validation_loss_drifts_above_training_loss():
    found = history(train=[0.7, 0.5, 0.3, 0.2], validation=[0.72, 0.6, 0.55, 0.6])
    result = rule("Overfit", {"ratio_threshold": 0.5, "patience": 2}, found)
    assert result.status == "IssuesFound"
    assert "at epoch 3" in result.details  # (0.55-0.3)/0.3 = 0.83, (0.6-0.2)/0.2 = 2
    assert result.measured == pytest.approx(2.0) and result.threshold == 0.5


def test_overfit_is_quiet_on_a_healthy_curve_and_honours_start_step():
    healthy = history(train=[0.7, 0.5, 0.45], validation=[0.72, 0.53, 0.48])
    assert rule("Overfit", {}, healthy).status == "NoIssuesFound"
    early_gap = history(train=[0.2, 0.5, 0.45], validation=[0.9, 0.52, 0.47])
    assert rule("Overfit", {}, early_gap).status == "IssuesFound"
    assert rule("Overfit", {"start_step": 1}, early_gap).status == "NoIssuesFound"


def test_overfit_and_loss_rules_do_not_apply_to_a_job_without_epochs():
    """tfidf_linear prints no per-epoch losses: the two curve rules say "not applicable"."""
    config = DebuggerSettings.from_mapping(
        {"rules": {"LossNotDecreasing": {}, "Overfit": {}}}, where="test")
    results = evaluate_rules(config, {"train:loss": (0.2,), "validation:accuracy": (0.8,)})
    assert [r.status for r in results] == ["NoIssuesFound", "NoIssuesFound"]
    assert all(r.details.startswith("not applicable") for r in results)


# -- ClassImbalance ----------------------------------------------------------------------------

def counts_of(truth, predicted):
    return prediction_counts(truth, predicted, LABELS)


def test_class_imbalance_fires_when_a_class_is_never_predicted():
    truth = [-1] * 20 + [0] * 20 + [1] * 60
    predicted = [1] * 20 + [1] * 20 + [1] * 60  # collapsed onto the majority class
    result = rule("ClassImbalance", {"samples": 50}, history(counts=counts_of(truth, predicted)))
    assert result.status == "IssuesFound"
    assert math.isinf(result.measured) and result.threshold == 10.0
    assert result.to_dict()["Measured"] == "inf"  # JSON-safe


def test_class_imbalance_fires_on_a_mispredicted_class():
    truth = [-1] * 30 + [0] * 30 + [1] * 40
    predicted = [-1] * 30 + [1] * 25 + [0] * 5 + [1] * 35 + [0] * 5
    result = rule("ClassImbalance", {"samples": 50, "threshold_misprediction": 0.7},
                  history(counts=counts_of(truth, predicted)))
    assert result.status == "IssuesFound"
    assert "class 0" in result.details and result.measured == pytest.approx(25 / 30, abs=1e-6)


def test_class_imbalance_is_quiet_on_good_predictions_and_needs_samples():
    truth = [-1] * 30 + [0] * 30 + [1] * 40
    predicted = [-1] * 25 + [0] * 5 + [0] * 24 + [1] * 6 + [1] * 40
    found = history(counts=counts_of(truth, predicted))
    assert rule("ClassImbalance", {"samples": 50}, found).status == "NoIssuesFound"
    too_few = rule("ClassImbalance", {"samples": 500}, found)
    assert too_few.status == "NoIssuesFound" and too_few.details.startswith("not judged")


def test_statuses_have_describe_training_jobs_shape():
    config = DebuggerSettings.from_mapping({"rules": {"Overfit": {}}}, where="test")
    (status,) = [r.to_dict() for r in evaluate_rules(
        config, history(train=[0.5], validation=[0.9]))]
    assert status["RuleConfigurationName"] == "Overfit"
    assert status["RuleEvaluationStatus"] == "IssuesFound"
    assert "ratio_threshold=0.1" in status["StatusDetails"]


# -- the monitor and the settings --------------------------------------------------------------

def test_the_monitor_stops_at_the_first_firing_value_and_not_before():
    config = DebuggerSettings.from_mapping(
        {"rules": {"Overfit": {"ratio_threshold": 0.5}}, "action": "stop_training"}, where="t")
    monitor = RuleMonitor(config)
    stream = [(EPOCH_TRAIN_LOSS, 0.6), (EPOCH_VALIDATION_LOSS, 0.65),
              (EPOCH_TRAIN_LOSS, 0.3), (EPOCH_VALIDATION_LOSS, 0.7)]
    answers = [monitor(name, value, 0) for name, value in stream]
    assert answers == [False, False, False, True]
    assert monitor.fired is not None and monitor.fired.name == "Overfit"


def test_the_regexes_capture_what_the_training_script_prints():
    import re

    lines = ["epoch=2 train:loss=0.400000",
             "epoch=2 validation:accuracy=0.7 validation:macro_f1=0.6 validation:loss=0.550000",
             "validation:predicted_count_-1=3.000000 validation:predicted_count_1=9.000000"]
    found = {}
    for definition in metric_definitions(LABELS):
        for line in lines:
            for match in re.finditer(definition["Regex"], line):
                found.setdefault(definition["Name"], []).append(float(match.group(1)))
    assert found == {EPOCH_TRAIN_LOSS: [0.4], EPOCH_VALIDATION_LOSS: [0.55],
                     "validation:predicted_count_-1": [3.0], "validation:predicted_count_1": [9.0]}


@pytest.mark.parametrize("raw, message", [
    ({"rules": {"Overtraining": {}}}, "'Overtraining' is not a rule airsage evaluates"),
    ({"rules": {"LossNotDecreasing": {"increase_threshold_percent": 5}}},
     "no parameter(s) ['increase_threshold_percent']"),
    ({"rules": {"Overfit": {"patience": 0}}}, "Overfit.patience = 0 is outside"),
    ({"rules": {"LossNotDecreasing": {"mode": "TEST"}}}, "mode 'TEST' is not one of"),
    ({"action": "page_someone"}, "action 'page_someone' is not one of"),
    ({"rulez": {}}, "unknown key(s) ['rulez']"),
])
def test_settings_refuse_what_cannot_be_evaluated(raw, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        DebuggerSettings.from_mapping(raw, where="training.debugger")


def test_disabled_settings_carry_no_rules():
    config = DebuggerSettings.from_mapping({"enabled": False, "rules": {"Overfit": {}}}, where="t")
    assert not config.enabled and config.to_dict() == {}
