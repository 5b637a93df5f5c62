"""Model quality in the files Model Monitor's model-quality job writes, apart from data quality.

Model Monitor runs model quality as its own job with its own outputs: a ``statistics.json``
holding ``multiclass_classification_metrics`` (each metric ``{value, standard_deviation}``,
plus ``confusion_matrix`` as ``{actual: {predicted: count}}``), a ``constraints.json``
holding ``multiclass_classification_constraints`` (``{metric: {threshold,
comparison_operator}}``) and a ``constraint_violations.json`` whose entries name a
``metric_name`` and use the comparison operator as ``constraint_check_type``. airsage writes
the same three next to the data-quality files, under :data:`MODEL_QUALITY_DIR`.

Choices where Model Monitor's documentation leaves room: weighted metrics are weighted by
each actual class's support (0 where a class has no prediction); the best constant
classifier always predicts the most frequent actual class; a standard deviation is written
only from 200 matched instances on (five random 80 % samples, a fixed seed, sample standard
deviation), ``"NaN"`` below, as in Model Monitor's examples. A constraint is violated when
``value <operator> threshold`` holds; with the Robust comparison method the threshold moves
by 1.8 binomial standard errors first, so that sampling noise alone does not retrain.
"""

from __future__ import annotations

import math
import operator
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from airsage.monitoring.base import (
    COMPARISON_OPERATORS,
    MODEL_QUALITY_CHECK,
    Violation,
)

MODEL_QUALITY_DIR = "model_quality/"
METRICS_KEY = "multiclass_classification_metrics"
CONSTRAINTS_KEY = "multiclass_classification_constraints"
MIN_SAMPLES_FOR_DEVIATION = 200
DEVIATION_SAMPLES, DEVIATION_FRACTION, DEVIATION_SEED = 5, 0.8, 0
ROBUST_FACTOR = 1.8
F_BETAS = {"weighted_f0_5": 0.5, "weighted_f1": 1.0, "weighted_f2": 2.0}
METRIC_NAMES = ("accuracy", "weighted_recall", "weighted_precision", *F_BETAS)
OPERATORS: Mapping[str, Callable[[float, float], bool]] = dict(zip(
    COMPARISON_OPERATORS, (operator.lt, operator.gt, operator.le, operator.ge), strict=True))


# -- metrics ------------------------------------------------------------------------------------
def _scores(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Accuracy and the support-weighted recall, precision and F-scores of one sample."""
    scores = {"accuracy": float(np.mean(actual == predicted))}
    classes, support = np.unique(actual, return_counts=True)
    weights = support / support.sum()
    recall = np.zeros(classes.size)
    precision = np.zeros(classes.size)
    for i, label in enumerate(classes):
        true_positive = np.sum((actual == label) & (predicted == label))
        recall[i] = true_positive / support[i]
        predicted_count = np.sum(predicted == label)
        precision[i] = true_positive / predicted_count if predicted_count else 0.0
    scores["weighted_recall"] = float(np.sum(weights * recall))
    scores["weighted_precision"] = float(np.sum(weights * precision))
    for name, beta in F_BETAS.items():
        denominator = beta**2 * precision + recall
        f_score = np.divide((1 + beta**2) * precision * recall, denominator,
                            out=np.zeros(classes.size), where=denominator > 0)
        scores[name] = float(np.sum(weights * f_score))
    return scores


def _deviations(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float | str]:
    if actual.size < MIN_SAMPLES_FOR_DEVIATION:
        return dict.fromkeys(METRIC_NAMES, "NaN")
    rng = np.random.default_rng(DEVIATION_SEED)
    size = int(actual.size * DEVIATION_FRACTION)
    runs = []
    for _ in range(DEVIATION_SAMPLES):
        rows = rng.choice(actual.size, size, replace=False)
        runs.append(_scores(actual[rows], predicted[rows]))
    return {name: float(np.std([run[name] for run in runs], ddof=1)) for name in METRIC_NAMES}


def multiclass_metrics(pairs: Sequence[tuple[Any, Any]]) -> dict[str, Any]:
    """``multiclass_classification_metrics`` of (predicted, actual) pairs."""
    predicted = np.asarray([str(p) for p, _ in pairs], dtype=object)
    actual = np.asarray([str(a) for _, a in pairs], dtype=object)
    matrix: dict[str, dict[str, int]] = defaultdict(dict)
    labels = sorted(set(actual) | set(predicted), key=_label_order)
    counts = Counter(zip(actual, predicted, strict=True))
    for truth in labels:
        for guess in labels:
            matrix[truth][guess] = int(counts.get((truth, guess), 0))
    scores, deviations = _scores(actual, predicted), _deviations(actual, predicted)
    document: dict[str, Any] = {"confusion_matrix": dict(matrix)}
    for name in METRIC_NAMES:
        document[name] = {"value": scores[name], "standard_deviation": deviations[name]}
    majority = Counter(actual).most_common(1)[0][0]
    constant = np.full(actual.size, majority, dtype=object)
    best, best_deviations = _scores(actual, constant), _deviations(actual, constant)
    for name in METRIC_NAMES:
        document[f"{name}_best_constant_classifier"] = {
            "value": best[name], "standard_deviation": best_deviations[name]}
    return document


def _label_order(label: str) -> tuple[int, float | str]:
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)


def statistics_document(pairs: Sequence[tuple[Any, Any]],
                        evaluation_time: str | None = None) -> dict[str, Any]:
    """The model-quality job's ``statistics.json``."""
    dataset: dict[str, Any] = {"item_count": len(pairs)}
    if evaluation_time:
        dataset["evaluation_time"] = evaluation_time
    return {"version": 0.0, "dataset": dataset, METRICS_KEY: multiclass_metrics(pairs)}


def constraints_document(metrics: Mapping[str, Any], tolerance: float,
                         names: Sequence[str] = ("accuracy",)) -> dict[str, Any]:
    """A model-quality ``constraints.json`` suggesting ``value - tolerance`` lower bounds."""
    return {"version": 0.0, CONSTRAINTS_KEY: {
        name: {"threshold": max(0.0, float(metrics[name]["value"]) - tolerance),
               "comparison_operator": "LessThanThreshold"}
        for name in names}}


def violations_document(violations: Sequence[Violation]) -> dict[str, Any]:
    """The model-quality job's ``constraint_violations.json``."""
    return {"violations": [violation.model_quality_dict() for violation in violations]}


# -- joining predictions and ground truth -------------------------------------------------------
def matched_pairs(records: Sequence[Any], ground_truth: Any) -> tuple[list[tuple[int, int]], int]:
    """(predicted, actual) of every captured prediction with a ground-truth label, and the
    number of events whose label count differs from their prediction count (skipped)."""
    events: dict[str, list[Any]] = defaultdict(list)
    aliases: dict[str, str] = {}
    for record in records:
        events[record.event_id].append(record)
        if record.inference_id:
            aliases[record.inference_id] = record.event_id
    pairs: list[tuple[int, int]] = []
    mismatched = 0
    for key, labels in ground_truth.labels.items():
        event = events.get(key) or events.get(aliases.get(key, ""))
        if not event:
            continue
        if len(labels) != len(event):
            mismatched += 1
            continue
        for record in sorted(event, key=lambda r: r.position):
            if record.label is not None:
                pairs.append((record.label, labels[record.position]))
    return pairs, mismatched


# -- checking -----------------------------------------------------------------------------------
@dataclass
class ModelQualityReport:
    """What the model-quality half of a monitoring run found."""

    statistics: dict[str, Any] | None = None
    violations: list[Violation] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def constraints_block(*documents: Mapping[str, Any] | None) -> dict[str, Any]:
    """The first ``multiclass_classification_constraints`` found: a model-quality
    ``constraints.json``, else (older airsage baselines) the data-quality one."""
    for document in documents:
        block = (document or {}).get(CONSTRAINTS_KEY)
        if isinstance(block, Mapping) and block:
            return dict(block)
    return {}


def evaluate_model_quality(
    records: Sequence[Any],
    ground_truth: Any | None,
    *,
    constraints: Mapping[str, Any],
    min_ground_truth: int,
    method: str = "Robust",
    evaluation_time: str | None = None,
) -> ModelQualityReport:
    """Join predictions with ground truth, compute the metrics, check the constraints.

    ``constraints`` is the ``multiclass_classification_constraints`` block. A metric the
    constraints name but airsage does not compute is reported in the summary, never passed.
    """
    report = ModelQualityReport(summary={"lines": 0, "malformed": 0, "matched": 0,
                                         "accuracy": None})
    if ground_truth is None:
        return report
    report.summary.update(lines=ground_truth.lines, malformed=ground_truth.malformed,
                          malformed_examples=ground_truth.errors[:5])
    pairs, mismatched = matched_pairs(records, ground_truth)
    report.summary.update(matched=len(pairs), count_mismatched_events=mismatched)
    if not pairs:
        return report
    report.statistics = statistics_document(pairs, evaluation_time)
    metrics = report.statistics[METRICS_KEY]
    accuracy = metrics["accuracy"]["value"]
    report.summary.update(accuracy=accuracy,
                          standard_deviation=math.sqrt(accuracy * (1 - accuracy) / len(pairs)))
    if not constraints:
        report.summary["verdict"] = "no quality baseline"
        return report
    if len(pairs) < min_ground_truth:
        report.summary["verdict"] = f"insufficient ground truth ({len(pairs)} < {min_ground_truth})"
        return report
    checked: dict[str, Any] = {}
    for name, rule in constraints.items():
        checked[name] = _check(name, rule, metrics, len(pairs), method, report.violations)
    report.summary["checks"] = checked
    report.summary["verdict"] = "violation" if report.violations else "ok"
    return report


def _check(name: str, rule: Any, metrics: Mapping[str, Any], n: int, method: str,
           violations: list[Violation]) -> dict[str, Any]:
    if not isinstance(rule, Mapping) or "threshold" not in rule:
        return {"status": "error", "reason": f"constraint {name!r} has no threshold"}
    op = str(rule.get("comparison_operator", "LessThanThreshold"))
    if op not in OPERATORS:
        return {"status": "error",
                "reason": f"unknown comparison_operator {op!r}; known: {list(OPERATORS)}"}
    if name not in metrics or not isinstance(metrics[name], Mapping):
        return {"status": "error", "reason": f"metric {name!r} is not computed by airsage"}
    value = float(metrics[name]["value"])
    threshold = float(rule["threshold"])
    margin = ROBUST_FACTOR * math.sqrt(max(value * (1 - value), 0.0) / n) \
        if method == "Robust" else 0.0
    shifted = threshold - margin if op.startswith("Less") else threshold + margin
    violated = OPERATORS[op](value, shifted)
    if violated:
        deviation = metrics[name].get("standard_deviation")
        spread = f" +/- {_fmt(deviation)}" if isinstance(deviation, float) else ""
        violations.append(Violation(
            feature_name=name, constraint_check_type=MODEL_QUALITY_CHECK,
            description=(f"Metric {name} with {_fmt(value)}{spread} was {op} {_fmt(threshold)} "
                         f"(over {n} labelled instances, sampling margin {_fmt(margin)})."),
            metric_name=name, comparison_operator=op,
        ))
    return {"value": value, "threshold": threshold, "comparison_operator": op,
            "margin": margin, "n": n, "violated": violated}
