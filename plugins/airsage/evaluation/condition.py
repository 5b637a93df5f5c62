"""The condition step: bless a candidate model, or refuse it and say why (TFX's Evaluator).

A candidate is blessed only when every check passes:

1. its test accuracy reaches ``accuracy_threshold``;
2. it beats the current champion (no champion: passes). Both are evaluated by the same job,
   in the same run, on the same evaluation set (the run's ``test`` split, held out of every
   training window), and compared by a paired test of their per-row predictions
   (``paired_test``: a bootstrap confidence interval of the macro-F1 difference, or McNemar's
   exact test; see :mod:`airsage.evaluation.paired`): a candidate no better than the champion
   beyond noise is refused, and the champion stays. ``paired_test="none"`` compares the two
   point values of ``champion_metric`` with ``champion_tolerance`` instead;
3. its post-training bias metrics are within the configured limits;
4. no Debugger rule of its training job found an issue (``training.debugger``, action
   ``mark_candidate``: the statuses ride on the training result; ``IssuesFound`` or
   ``Error`` refuses the candidate, so the champion keeps serving).

Every check fails closed: a missing threshold, tolerance, metric or report is a failure,
never a pass. The verdict is an artifact of its own (``blessing.json``) that the registry
step and a human reviewer read. :func:`bless` is pure: it needs no lake, model or Airflow.
"""

from __future__ import annotations

import datetime as dt_
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airsage.errors import GateFailedError, GateFailure
from airsage.evaluation.base import BLESSING_FILE, REPORT_KIND, EvaluationReport
from airsage.evaluation.paired import PAIRED_TESTS, run_paired_test
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout, partition_value

GATE_NAME = "condition"


@dataclass(frozen=True)
class ConditionCheck:
    """One check of the condition, passed or not, with what was measured and expected."""

    check: str
    passed: bool
    measured: Any
    expected: Any
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "passed": self.passed, "measured": self.measured,
                "expected": self.expected, "message": self.message}

    def failure(self) -> GateFailure:
        return GateFailure(check=self.check, measured=self.measured, expected=self.expected,
                           message=self.message)


@dataclass(frozen=True)
class Blessing:
    """The condition's verdict on a candidate: blessed or not, and every check behind it."""

    blessed: bool
    checks: tuple[ConditionCheck, ...]
    failures: tuple[GateFailure, ...]
    candidate: Mapping[str, Any] = field(default_factory=dict)
    champion: Mapping[str, Any] | None = None
    decided_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "blessed": self.blessed,
            "checks": [check.to_dict() for check in self.checks],
            "failures": [failure.to_dict() for failure in self.failures],
            "candidate": dict(self.candidate),
            "champion": dict(self.champion) if self.champion is not None else None,
            "decided_at": self.decided_at,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Blessing:
        checks = tuple(ConditionCheck(**check) for check in raw.get("checks", []))
        return cls(
            blessed=bool(raw["blessed"]),
            checks=checks,
            failures=tuple(GateFailure(**failure) for failure in raw.get("failures", [])),
            candidate=dict(raw.get("candidate") or {}),
            champion=dict(raw["champion"]) if raw.get("champion") else None,
            decided_at=str(raw.get("decided_at", "")),
        )

    def to_error(self, resource: str, report_uri: str | None = None) -> GateFailedError:
        """The error a task raises when it must fail on a refused candidate."""
        return GateFailedError(gate=GATE_NAME, resource=resource, failures=self.failures,
                               report_uri=report_uri)


def _summary(report: EvaluationReport) -> dict[str, Any]:
    return {
        "model_artifact_key": report.model_artifact_key,
        "report_key": report.report_key,
        "accuracy": report.accuracy,
        "macro_f1": report.macro_f1,
        "weighted_f1": report.weighted_f1,
        "baseline_accuracy": report.baseline_accuracy,
        "test_rows": report.test_rows,
    }


def _accuracy_check(candidate: EvaluationReport, threshold: float | None) -> ConditionCheck:
    accuracy = candidate.accuracy
    if threshold is None:
        return ConditionCheck(
            "accuracy_threshold", False, accuracy, "a configured threshold",
            "no accuracy threshold is configured (evaluation.accuracy_threshold): "
            "without one nothing is blessed; set it to the least acceptable test accuracy",
        )
    expected = f">= {threshold:g}"
    if accuracy is None:
        return ConditionCheck(
            "accuracy_threshold", False, None, expected,
            f"the candidate's evaluation ({candidate.report_key}) has no accuracy",
        )
    if accuracy >= threshold:
        return ConditionCheck("accuracy_threshold", True, accuracy, expected)
    return ConditionCheck(
        "accuracy_threshold", False, accuracy, expected,
        f"test accuracy {accuracy:.4f} is {threshold - accuracy:.4f} below the threshold "
        f"(majority-class baseline {candidate.baseline_accuracy})",
    )


def _same_split(candidate: EvaluationReport, champion: EvaluationReport) -> str | None:
    """Why the two reports are not comparable, or None when they measured the same rows."""
    first = candidate.evaluation.get("metadata") or {}
    second = champion.evaluation.get("metadata") or {}
    for key in ("test_split", "test_rows", "evaluation_set_sha256"):
        if first.get(key) != second.get(key):
            return (f"the champion was evaluated on {key}={second.get(key)!r}, the candidate "
                    f"on {key}={first.get(key)!r}; evaluate the champion on the candidate's "
                    "evaluation set (evaluate_model(..., report_name='champion'))")
    return None


@dataclass(frozen=True)
class PairedComparison:
    """How to compare the candidate with the champion row by row, and the two predictions
    documents (``predictions.json``: review_id, label, predicted) it reads."""

    test: str
    candidate_predictions: Mapping[str, Sequence[Any]] | None
    champion_predictions: Mapping[str, Sequence[Any]] | None
    confidence: float = 0.95
    samples: int = 1000
    seed: int = 0


def _paired_check(
    candidate: EvaluationReport,
    champion: EvaluationReport,
    tolerance: float | None,
    paired: PairedComparison,
) -> ConditionCheck:
    name = f"champion_{paired.test}"
    tolerance = 0.0 if tolerance is None else tolerance
    mismatch = _same_split(candidate, champion)
    if mismatch:
        return ConditionCheck(name, False, None, f"same evaluation set as {champion.report_key}",
                              mismatch)
    if paired.candidate_predictions is None or paired.champion_predictions is None:
        return ConditionCheck(
            name, False, None, "per-row predictions of both models",
            "a paired test needs the predictions.json of both evaluations; re-run the "
            "evaluation step (its job writes them) or set evaluation.paired_test: none",
        )
    try:
        result = run_paired_test(
            paired.test, paired.candidate_predictions, paired.champion_predictions,
            confidence=paired.confidence, tolerance=tolerance, samples=paired.samples,
            seed=paired.seed,
        )
    except ValueError as exc:
        return ConditionCheck(name, False, None, "the same evaluation rows for both models",
                              str(exc))
    expected = ("candidate better: CI lower end > " f"{-tolerance:+g}"
                if paired.test == "bootstrap_macro_f1"
                else f"candidate better with p < {1 - paired.confidence:.4g}")
    message = result.describe()
    if not result.candidate_better:
        message += f"; not better than the champion ({champion.model_artifact_key}) beyond " \
                   "noise: the champion stays"
    return ConditionCheck(name, result.candidate_better, result.to_dict(), expected, message)


def _champion_check(
    candidate: EvaluationReport,
    champion: EvaluationReport | None,
    tolerance: float | None,
    metric: str,
    paired: PairedComparison | None = None,
) -> ConditionCheck:
    if paired is not None and paired.test != "none":
        if champion is None:
            return ConditionCheck(f"champion_{paired.test}", True, None, "no champion",
                                  "no approved champion yet: the threshold alone decides")
        return _paired_check(candidate, champion, tolerance, paired)
    name = f"champion_{metric}"
    measured = candidate.metric(metric)
    if champion is None:
        return ConditionCheck(name, True, measured, "no champion",
                              "no approved champion yet: the threshold alone decides")
    best = champion.metric(metric)
    if tolerance is None:
        return ConditionCheck(
            name, False, measured, f"compared with champion {best}",
            "no champion tolerance is configured (evaluation.champion_tolerance); set it "
            "(0.0: never register a model worse than the champion)",
        )
    mismatch = _same_split(candidate, champion)
    if mismatch:
        return ConditionCheck(name, False, measured, f"same test split as {champion.report_key}",
                              mismatch)
    if measured is None or best is None:
        return ConditionCheck(name, False, measured, f"champion {metric} {best}",
                              f"{metric} is missing from an evaluation report")
    expected = f">= {best - tolerance:.6g} (champion {best:.6g} - tolerance {tolerance:g})"
    if measured >= best - tolerance:
        return ConditionCheck(name, True, measured, expected)
    return ConditionCheck(
        name, False, measured, expected,
        f"the candidate's test {metric} is {best - measured:.4f} below the champion "
        f"({champion.model_artifact_key}); the champion stays",
    )


def _bias_checks(
    candidate: EvaluationReport, thresholds: Mapping[str, Any]
) -> list[ConditionCheck]:
    from airsage.bias.report import evaluate_thresholds, read_metrics

    if not thresholds:
        return [ConditionCheck(
            "posttraining_bias", False, None, "configured limits",
            "no post-training bias thresholds are configured "
            "(bias.post_training_thresholds): without them nothing is blessed",
        )]
    if not candidate.posttraining_bias:
        return [ConditionCheck(
            "posttraining_bias", False, None, "a post-training bias report",
            f"the candidate's evaluation wrote no analysis.json ({candidate.report_key}); "
            "configure bias.facet so the evaluation job measures bias",
        )]
    try:
        metrics = read_metrics(candidate.posttraining_bias, stage="post_training")
    except Exception as exc:  # an unreadable report must refuse, never pass
        return [ConditionCheck("posttraining_bias", False, None, "a readable analysis.json",
                               f"{type(exc).__name__}: {exc}")]
    verdict = evaluate_thresholds(metrics, thresholds)
    checks = []
    for check in verdict.checks:
        if check.metric not in {str(name).upper() for name in thresholds}:
            continue
        limits = {"warn": check.warn, "fail": check.fail}
        expected = f"{check.measure} <= {check.fail:g}" if check.fail is not None else limits
        checks.append(ConditionCheck(f"bias:{check.metric}", check.status != "fail",
                                     check.value, expected, check.reason))
    return checks


def _debugger_checks(statuses: Sequence[Mapping[str, Any]]) -> list[ConditionCheck]:
    """One check per Debugger rule of the training job (DescribeTrainingJob's
    ``DebugRuleEvaluationStatuses`` shape); a rule that found issues or could not evaluate
    refuses the candidate (fail closed), other statuses pass and are recorded."""
    checks = []
    for status in statuses:
        state = str(status.get("RuleEvaluationStatus") or "Error")
        checks.append(ConditionCheck(
            f"debugger:{status.get('RuleConfigurationName')}", state not in ("IssuesFound", "Error"),
            status.get("Measured", state), status.get("Threshold", "NoIssuesFound"),
            f"{state}: {status.get('StatusDetails') or ''}".strip()))
    return checks


def bless(
    candidate: EvaluationReport,
    champion: EvaluationReport | None,
    *,
    accuracy_threshold: float | None,
    champion_tolerance: float | None,
    bias_thresholds: Mapping[str, Any] | None,
    champion_metric: str = "accuracy",
    paired: PairedComparison | None = None,
    debugger_rules: Sequence[Mapping[str, Any]] = (),
) -> Blessing:
    """Decide whether ``candidate`` may be registered (see the module doc).

    ``paired`` names the paired test and carries both models' per-row predictions; without
    it the champion check compares point values of ``champion_metric``. ``debugger_rules``:
    the training job's Debugger rule statuses (none configured: no check).
    """
    if paired is not None and paired.test not in PAIRED_TESTS:
        raise ValueError(f"paired test {paired.test!r} is not one of {', '.join(PAIRED_TESTS)}")
    checks: Sequence[ConditionCheck] = [
        _accuracy_check(candidate, accuracy_threshold),
        _champion_check(candidate, champion, champion_tolerance, champion_metric, paired),
        *_bias_checks(candidate, bias_thresholds or {}),
        *_debugger_checks(debugger_rules),
    ]
    failures = tuple(check.failure() for check in checks if not check.passed)
    return Blessing(
        blessed=not failures,
        checks=tuple(checks),
        failures=failures,
        candidate=_summary(candidate),
        champion=_summary(champion) if champion is not None else None,
        decided_at=dt_.datetime.now(dt_.UTC).isoformat(timespec="seconds"),
    )


def blessing_key(dataset: str, day: dt_.date | str) -> str:
    return LakeLayout(dataset).report(REPORT_KIND, partition_value(day), BLESSING_FILE)


def write_blessing(lake: Lake, dataset: str, day: dt_.date | str, blessing: Blessing) -> str:
    """Persist the verdict as ``blessing.json``; return its URI."""
    document = json.dumps(blessing.to_dict(), indent=2, sort_keys=True, default=str)
    return lake.write_bytes(blessing_key(dataset, day), document.encode())


def read_blessing(lake: Lake, dataset: str, day: dt_.date | str) -> Blessing:
    return Blessing.from_dict(json.loads(lake.read_bytes(blessing_key(dataset, day))))
