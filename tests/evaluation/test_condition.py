"""The blessing: threshold, champion comparison, bias limits, and failing closed."""

from __future__ import annotations

from typing import Any

import pytest
from evaldata import DATASET, DAY

from airsage.bias.report import build_analysis
from airsage.evaluation.base import EvaluationReport
from airsage.evaluation.condition import bless, read_blessing, write_blessing

THRESHOLDS = {"DPPL": {"warn": 0.15, "fail": 0.25}, "DI": {"warn": 0.2, "fail": 0.35}}


def report(accuracy: float, *, dppl: float | None = 0.02, di: float | None = 0.97,
           name: str = "candidate", split: str = "features/reviews/dt=2024-05-01/test/",
           rows: int = 100, bias: bool = True) -> EvaluationReport:
    metrics: dict[str, Any] = {
        "accuracy": {"value": accuracy, "standard_deviation": 0.01},
        "macro_f1": {"value": accuracy - 0.05, "standard_deviation": 0.01},
        "baseline_accuracy": {"value": 0.34, "standard_deviation": 0.01},
    }
    analysis = build_analysis(label="sentiment", label_values=[1], facet="division_name",
                              facet_value_or_threshold=["Initmates"],
                              post_training={"DPPL": dppl, "DI": di}) if bias else {}
    return EvaluationReport(
        dataset=DATASET, day=DAY, report_name=name, model_artifact_key=f"models/{name}.tar.gz",
        evaluation={"multiclass_classification_metrics": metrics,
                    "metadata": {"test_split": split, "test_rows": rows}},
        posttraining_bias=analysis, report_key=f"reports/{name}/evaluation.json",
    )


def decide(candidate, champion=None, *, threshold=0.6, tolerance=0.0, thresholds=THRESHOLDS):
    return bless(candidate, champion, accuracy_threshold=threshold,
                 champion_tolerance=tolerance, bias_thresholds=thresholds)


def failed(blessing) -> set[str]:
    return {failure.check for failure in blessing.failures}


def test_first_model_above_threshold_is_blessed() -> None:
    blessing = decide(report(0.8))
    assert blessing.blessed and not blessing.failures
    assert {c.check for c in blessing.checks} == {
        "accuracy_threshold", "champion_accuracy", "bias:DPPL", "bias:DI"}


def test_below_threshold_is_refused_with_measured_and_expected() -> None:
    blessing = decide(report(0.55))
    assert not blessing.blessed
    (failure,) = blessing.failures
    assert failure.check == "accuracy_threshold"
    assert failure.measured == 0.55 and failure.expected == ">= 0.6"


def test_no_threshold_means_no_blessing() -> None:
    blessing = decide(report(0.99), threshold=None)
    assert not blessing.blessed and failed(blessing) == {"accuracy_threshold"}
    assert "no accuracy threshold" in blessing.failures[0].message


def test_worse_than_champion_is_refused_within_tolerance_is_not() -> None:
    champion = report(0.85, name="champion")
    assert failed(decide(report(0.80), champion)) == {"champion_accuracy"}
    assert decide(report(0.80), champion, tolerance=0.05).blessed
    assert decide(report(0.86), champion).blessed


def test_champion_on_another_split_is_not_comparable() -> None:
    champion = report(0.5, name="champion", split="features/reviews/dt=2024-04-01/test/")
    blessing = decide(report(0.9), champion)
    assert failed(blessing) == {"champion_accuracy"}
    assert "test_split" in blessing.failures[0].message


def test_missing_tolerance_with_a_champion_fails_closed() -> None:
    assert failed(decide(report(0.9), report(0.5, name="champion"), tolerance=None)) == {
        "champion_accuracy"}


def test_bias_beyond_limit_is_refused_warn_passes() -> None:
    assert failed(decide(report(0.9, dppl=0.3))) == {"bias:DPPL"}
    assert failed(decide(report(0.9, di=0.5))) == {"bias:DI"}
    assert decide(report(0.9, dppl=0.2)).blessed


def test_unmeasured_bias_or_missing_limits_fail_closed() -> None:
    assert failed(decide(report(0.9, di=None))) == {"bias:DI"}
    assert failed(decide(report(0.9, bias=False))) == {"posttraining_bias"}
    assert failed(decide(report(0.9), thresholds={})) == {"posttraining_bias"}


def test_blessing_round_trips_through_the_lake(tmp_path) -> None:
    from airsage.lake.local import LocalLake

    lake = LocalLake(root=tmp_path)
    blessing = decide(report(0.55), report(0.7, name="champion"))
    uri = write_blessing(lake, DATASET, DAY, blessing)
    assert uri.endswith("reports/evaluation/reviews/dt=2024-05-01/blessing.json")
    assert read_blessing(lake, DATASET, DAY).to_dict() == blessing.to_dict()
    error = blessing.to_error("reviews-sentiment candidate", uri)
    assert "accuracy_threshold" in str(error) and "champion_accuracy" in str(error)


def test_unreadable_bias_report_fails_closed() -> None:
    broken = report(0.9)
    broken = EvaluationReport(**{**broken.__dict__, "posttraining_bias": {"version": "1.0"}})
    assert failed(decide(broken)) == {"posttraining_bias"}


@pytest.mark.parametrize("threshold", [0.6, 0.8])
def test_threshold_boundary_is_inclusive(threshold: float) -> None:
    assert decide(report(threshold), threshold=threshold).blessed
