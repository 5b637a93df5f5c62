"""Debugger rules over a training job's metrics: SageMaker Debugger's built-in rules, evaluated
locally on the per-epoch metrics the training script prints, and configured as the built-in
rules themselves on the aws target.

Three rules, named and parameterised as SageMaker Debugger's built-ins (the parameter names and
defaults are those of the "List of Debugger built-in rules" page; the rules' container code is
AWS's and not public, so the local logic follows the documented descriptions):

- ``LossNotDecreasing`` (``num_steps``, ``diff_percent``, ``mode``): every ``num_steps`` steps
  the loss is compared with the loss ``num_steps`` steps earlier; the rule fires when it fell by
  less than ``diff_percent`` percent. A step here is an epoch; ``mode`` picks the series
  (``TRAIN`` or ``GLOBAL``: the training loss, ``EVAL``: the validation loss). The documented
  ``increase_threshold_percent`` is not evaluated locally (its semantics are not specified
  beyond its name), so it is refused rather than silently ignored.
- ``Overfit`` (``start_step``, ``patience``, ``ratio_threshold``): from ``start_step`` on, the
  ratio ``(validation loss - training loss) / training loss`` of each epoch; the rule fires when
  it exceeds ``ratio_threshold`` for ``patience`` consecutive epochs.
- ``ClassImbalance`` (``threshold_imbalance``, ``threshold_misprediction``, ``samples``): on
  the validation predictions the job made with its final model. It fires when the largest
  predicted class holds more than ``threshold_imbalance`` times the predictions of the smallest
  (a class of the validation labels never predicted is an infinite ratio), or when more than
  ``threshold_misprediction`` of a class's validation rows are mispredicted. Fewer than
  ``samples`` validation rows are not judged. (SageMaker's rule counts the label tensor's
  classes; airsage counts the predictions, where a collapsed model shows.)

What applies to which family: ``bert`` reports a loss per epoch, so all three rules apply.
``tfidf_linear`` fits in one pass and has no per-epoch series: ``LossNotDecreasing`` and
``Overfit`` answer ``NoIssuesFound`` with "not applicable" in their details, and only
``ClassImbalance`` judges it. The decision is made from the metrics, not the family name: any
job that prints no epoch series gets the same answer.

:func:`evaluate_rules` is pure: metric history in, ``DebugRuleEvaluationStatuses`` out (the
shape ``DescribeTrainingJob`` answers on AWS). :class:`RuleMonitor` evaluates the same rules
while a local job runs and stops it when one fires (``action: stop_training``, SageMaker's
``StopTraining`` rule action).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airsage.errors import ConfigurationError, GateFailedError, GateFailure

RULE_NAMES = ("LossNotDecreasing", "Overfit", "ClassImbalance")
ACTIONS = ("stop_training", "mark_candidate")
ISSUES_FOUND, NO_ISSUES_FOUND, ERROR = "IssuesFound", "NoIssuesFound", "Error"
GATE_NAME = "debugger"
DEFAULT_PARAMETERS: dict[str, dict[str, Any]] = {
    "LossNotDecreasing": {"num_steps": 10, "diff_percent": 0.1, "mode": "GLOBAL"},
    "Overfit": {"start_step": 0, "patience": 1, "ratio_threshold": 0.1},
    "ClassImbalance": {"threshold_imbalance": 10.0, "threshold_misprediction": 0.7, "samples": 500},
}
MODES = ("GLOBAL", "TRAIN", "EVAL")
# The metrics the rules read, and the regexes that capture them from the script's log.
EPOCH_TRAIN_LOSS = "train:epoch_loss"
EPOCH_VALIDATION_LOSS = "validation:epoch_loss"
PREDICTIONS_TOTAL = "validation:predictions_total"
COUNT_KINDS = ("predicted_count", "correct_count", "label_count")


def class_metric(kind: str, label: int | str) -> str:
    """``validation:<kind>_<label>``: one class's count over the validation predictions."""
    return f"validation:{kind}_{label}"


def metric_definitions(labels: Sequence[int]) -> tuple[dict[str, str], ...]:
    """The ``{Name, Regex}`` captures the rules need (per-epoch losses, prediction counts)."""
    number = r"([0-9\.]+)"
    definitions = [
        {"Name": EPOCH_TRAIN_LOSS, "Regex": rf"epoch=[0-9]+ train:loss={number}"},
        {"Name": EPOCH_VALIDATION_LOSS, "Regex": rf"epoch=[0-9]+ .*validation:loss={number}"},
    ]
    for kind in COUNT_KINDS:
        for label in labels:
            name = class_metric(kind, label)
            definitions.append({"Name": name, "Regex": rf"{name}={number}"})
    definitions.append({"Name": PREDICTIONS_TOTAL, "Regex": rf"{PREDICTIONS_TOTAL}={number}"})
    return tuple(definitions)


def prediction_counts(y_true: Sequence[int], y_pred: Sequence[int],
                      labels: Sequence[int]) -> dict[str, float]:
    """What the training script prints about its validation predictions, per class (the last
    key, the total, marks the set as complete for :class:`RuleMonitor`)."""
    truth, predicted = [int(v) for v in y_true], [int(v) for v in y_pred]
    counts: dict[str, float] = {}
    for label in labels:
        counts[f"predicted_count_{label}"] = float(sum(p == label for p in predicted))
        counts[f"correct_count_{label}"] = float(
            sum(t == label and p == label for t, p in zip(truth, predicted, strict=True)))
        counts[f"label_count_{label}"] = float(sum(t == label for t in truth))
    counts["predictions_total"] = float(len(truth))
    return counts


# -- settings ----------------------------------------------------------------------------------


def _number(rule: str, name: str, value: Any, where: str, *, integer: bool = False,
            low: float | None = None, high: float | None = None) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            integer and not float(value).is_integer()):
        kind = "an integer" if integer else "a number"
        raise ConfigurationError(f"{where}: {rule}.{name} must be {kind}, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigurationError(
            f"{where}: {rule}.{name} = {value!r} is outside [{low}, {high}]")
    return int(value) if integer else float(value)


def _check_parameters(rule: str, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    defaults = DEFAULT_PARAMETERS[rule]
    unknown = sorted(set(raw) - set(defaults))
    if unknown:
        raise ConfigurationError(
            f"{where}: {rule} has no parameter(s) {unknown} that airsage evaluates; its "
            f"parameters are {sorted(defaults)}")
    values = {**defaults, **raw}
    if rule == "LossNotDecreasing":
        mode = str(values["mode"]).upper()
        if mode not in MODES:
            raise ConfigurationError(f"{where}: LossNotDecreasing.mode {values['mode']!r} is not "
                                     f"one of {', '.join(MODES)}")
        return {"num_steps": _number(rule, "num_steps", values["num_steps"], where, integer=True,
                                     low=1),
                "diff_percent": _number(rule, "diff_percent", values["diff_percent"], where,
                                        low=0.0, high=100.0),
                "mode": mode}
    if rule == "Overfit":
        return {"start_step": _number(rule, "start_step", values["start_step"], where,
                                      integer=True, low=0),
                "patience": _number(rule, "patience", values["patience"], where, integer=True,
                                    low=1),
                "ratio_threshold": _number(rule, "ratio_threshold", values["ratio_threshold"],
                                           where, low=0.0)}
    return {"threshold_imbalance": _number(rule, "threshold_imbalance",
                                           values["threshold_imbalance"], where, low=1.0),
            "threshold_misprediction": _number(rule, "threshold_misprediction",
                                               values["threshold_misprediction"], where,
                                               low=0.0, high=1.0),
            "samples": _number(rule, "samples", values["samples"], where, integer=True, low=0)}


@dataclass(frozen=True)
class DebuggerSettings:
    """The ``training.debugger:`` section: which rules, their parameters, what a firing does,
    and (aws) whether the profiler and its ``ProfilerReport`` rule run beside the job."""

    rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    action: str = "mark_candidate"
    profiler: bool = True

    @property
    def enabled(self) -> bool:
        return bool(self.rules)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None, *, where: str) -> DebuggerSettings:
        """Read and check the section (unknown keys, rules and parameters are refused)."""
        raw = dict(raw or {})
        known = {"enabled", "rules", "action", "profiler"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigurationError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
        action = str(raw.get("action", "mark_candidate"))
        if action not in ACTIONS:
            raise ConfigurationError(
                f"{where}.action {action!r} is not one of {', '.join(ACTIONS)}")
        rules_raw = raw.get("rules") or {}
        if not isinstance(rules_raw, Mapping):
            raise ConfigurationError(
                f"{where}.rules must map a rule name to its parameters, e.g. "
                "{Overfit: {ratio_threshold: 0.5}}")
        rules: dict[str, dict[str, Any]] = {}
        for name, parameters in rules_raw.items():
            if name not in RULE_NAMES:
                raise ConfigurationError(
                    f"{where}.rules: {name!r} is not a rule airsage evaluates; choose from "
                    f"{', '.join(RULE_NAMES)}")
            if parameters is not None and not isinstance(parameters, Mapping):
                raise ConfigurationError(f"{where}.rules.{name} must be a mapping of parameters")
            rules[str(name)] = _check_parameters(str(name), parameters or {}, f"{where}.rules")
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigurationError(f"{where}.enabled must be true or false, got {enabled!r}")
        return cls(rules=rules if enabled else {}, action=action,
                   profiler=bool(raw.get("profiler", True)) and enabled)

    @classmethod
    def from_settings(cls, settings: Any) -> DebuggerSettings:
        section = settings.section("training").get("debugger")
        return cls.from_mapping(section, where=f"training.debugger in {settings.source}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form a job request carries (empty when no rule is enabled)."""
        if not self.enabled:
            return {}
        return {"rules": {k: dict(v) for k, v in self.rules.items()}, "action": self.action,
                "profiler": self.profiler}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> DebuggerSettings:
        return cls.from_mapping(raw, where="the job request's debugger")


# -- the rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleEvaluation:
    """One rule's verdict: DescribeTrainingJob's ``DebugRuleEvaluationStatuses`` entry, plus
    what was measured against which threshold (for messages and the blessing)."""

    name: str
    status: str  # IssuesFound | NoIssuesFound | Error (AWS may also say InProgress, Stopped)
    details: str
    measured: Any = None
    threshold: Any = None

    @property
    def fired(self) -> bool:
        return self.status == ISSUES_FOUND

    def to_dict(self) -> dict[str, Any]:
        return {"RuleConfigurationName": self.name, "RuleEvaluationStatus": self.status,
                "StatusDetails": self.details, "Measured": _json_number(self.measured),
                "Threshold": _json_number(self.threshold)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RuleEvaluation:
        return cls(name=str(raw.get("RuleConfigurationName") or "?"),
                   status=str(raw.get("RuleEvaluationStatus") or ERROR),
                   details=str(raw.get("StatusDetails") or ""),
                   measured=raw.get("Measured"), threshold=raw.get("Threshold"))

    def failure(self) -> GateFailure:
        return GateFailure(check=f"debugger:{self.name}", measured=self.measured,
                           expected=self.threshold, message=f"{self.status}: {self.details}")


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # inf: a class never predicted; JSON has no infinity
    return value


# A rule over the history: its verdict, or None when the metrics it needs are not (yet) there.
Verdict = tuple[bool, str, Any, Any] | None  # (fired, details, measured, threshold)


def _loss_not_decreasing(history: Mapping[str, Sequence[float]], p: Mapping[str, Any]) -> Verdict:
    series_name = EPOCH_VALIDATION_LOSS if p["mode"] == "EVAL" else EPOCH_TRAIN_LOSS
    losses = list(history.get(series_name) or ())
    step, diff = int(p["num_steps"]), float(p["diff_percent"])
    if len(losses) <= step:
        return None
    worst: tuple[float, int] | None = None
    for t in range(step, len(losses), step):
        before, now = losses[t - step], losses[t]
        decrease = 100.0 * (before - now) / abs(before) if before else (0.0 if now >= before else 100.0)
        if decrease < diff:
            return (True, f"{series_name} went from {before:.6g} at epoch {t - step} to {now:.6g} "
                          f"at epoch {t}: a decrease of {decrease:.3g}% over {step} epoch(s), "
                          f"less than diff_percent={diff:g}", round(decrease, 6), diff)
        worst = min(worst or (decrease, t), (decrease, t))
    assert worst is not None
    return (False, f"{series_name} decreased by at least {worst[0]:.3g}% every {step} epoch(s) "
                   f"(diff_percent={diff:g})", round(worst[0], 6), diff)


def _overfit(history: Mapping[str, Sequence[float]], p: Mapping[str, Any]) -> Verdict:
    train = list(history.get(EPOCH_TRAIN_LOSS) or ())
    validation = list(history.get(EPOCH_VALIDATION_LOSS) or ())
    pairs = list(zip(train, validation, strict=False))[int(p["start_step"]):]
    if not pairs:
        return None
    threshold, patience = float(p["ratio_threshold"]), int(p["patience"])
    run, highest = 0, -math.inf
    for offset, (loss, val_loss) in enumerate(pairs):
        ratio = (val_loss - loss) / loss if loss > 0 else (math.inf if val_loss > loss else 0.0)
        highest = max(highest, ratio)
        run = run + 1 if ratio > threshold else 0
        if run >= patience:
            epoch = int(p["start_step"]) + offset
            return (True, f"at epoch {epoch} validation loss {val_loss:.6g} vs training loss "
                          f"{loss:.6g}: (validation - training) / training = {ratio:.4g} > "
                          f"ratio_threshold={threshold:g} for {run} epoch(s) (patience "
                          f"{patience})", round(ratio, 6), threshold)
    return (False, f"the largest (validation - training) / training loss ratio was {highest:.4g}"
                   f" over {len(pairs)} epoch(s) (ratio_threshold={threshold:g})",
            round(highest, 6), threshold)


def _labels_in(history: Mapping[str, Sequence[float]]) -> list[str]:
    prefix = "validation:label_count_"
    return sorted(name[len(prefix):] for name in history if name.startswith(prefix))


def _last(history: Mapping[str, Sequence[float]], name: str) -> float:
    values = history.get(name) or ()
    return float(values[-1]) if values else 0.0


def _class_imbalance(history: Mapping[str, Sequence[float]], p: Mapping[str, Any]) -> Verdict:
    if not history.get(PREDICTIONS_TOTAL):
        return None
    total = _last(history, PREDICTIONS_TOTAL)
    if total < int(p["samples"]):
        return (False, f"not judged: {total:g} validation predictions, fewer than "
                       f"samples={p['samples']}", total, p["samples"])
    classes = [c for c in _labels_in(history) if _last(history, class_metric("label_count", c)) > 0]
    predicted = {c: _last(history, class_metric("predicted_count", c)) for c in classes}
    largest, smallest = max(predicted.values()), min(predicted.values())
    ratio = largest / smallest if smallest > 0 else math.inf
    limit = float(p["threshold_imbalance"])
    shares = ", ".join(f"{c}: {predicted[c]:g}" for c in classes)
    if ratio > limit:
        return (True, f"validation predictions per class ({shares}): largest / smallest = "
                      f"{ratio:.4g} > threshold_imbalance={limit:g}", ratio, limit)
    errors = {c: 1.0 - _last(history, class_metric("correct_count", c))
              / _last(history, class_metric("label_count", c)) for c in classes}
    worst = max(errors, key=lambda c: errors[c])
    misprediction = float(p["threshold_misprediction"])
    if errors[worst] > misprediction:
        return (True, f"{errors[worst]:.4g} of the validation rows of class {worst} are "
                      f"mispredicted > threshold_misprediction={misprediction:g}",
                round(errors[worst], 6), misprediction)
    return (False, f"validation predictions per class ({shares}): largest / smallest = "
                   f"{ratio:.4g} (threshold_imbalance={limit:g}); worst class {worst} "
                   f"mispredicted {errors[worst]:.4g} (threshold_misprediction="
                   f"{misprediction:g})", round(ratio, 6), limit)


RULES: dict[str, Callable[[Mapping[str, Sequence[float]], Mapping[str, Any]], Verdict]] = {
    "LossNotDecreasing": _loss_not_decreasing,
    "Overfit": _overfit,
    "ClassImbalance": _class_imbalance,
}
NOT_APPLICABLE = {
    "LossNotDecreasing": "not applicable: the job reported fewer epochs of {series} than "
                         "num_steps + 1 (tfidf_linear fits in one pass and reports none)",
    "Overfit": "not applicable: the job reported no per-epoch training and validation losses "
               "(tfidf_linear fits in one pass)",
    "ClassImbalance": "not applicable: the job reported no validation predictions (no "
                      "validation channel)",
}


def evaluate_rule(name: str, parameters: Mapping[str, Any],
                  history: Mapping[str, Sequence[float]], *, final: bool = True) -> RuleEvaluation | None:
    """One rule over the metric history. ``final``: the job ended, so missing metrics mean
    "not applicable"; while it runs they mean "not yet" (None)."""
    try:
        verdict = RULES[name](history, parameters)
    except Exception as exc:  # a rule that cannot evaluate says so; it never passes silently
        return RuleEvaluation(name, ERROR, f"{type(exc).__name__}: {exc}")
    if verdict is None:
        if not final:
            return None
        series = EPOCH_VALIDATION_LOSS if parameters.get("mode") == "EVAL" else EPOCH_TRAIN_LOSS
        return RuleEvaluation(name, NO_ISSUES_FOUND, NOT_APPLICABLE[name].format(series=series))
    fired, details, measured, threshold = verdict
    return RuleEvaluation(name, ISSUES_FOUND if fired else NO_ISSUES_FOUND, details, measured,
                          threshold)


def evaluate_rules(config: DebuggerSettings,
                   history: Mapping[str, Sequence[float]]) -> tuple[RuleEvaluation, ...]:
    """Every enabled rule over a finished job's metric history, in configuration order."""
    results = []
    for name, parameters in config.rules.items():
        result = evaluate_rule(name, parameters, history)
        assert result is not None
        results.append(result)
    return tuple(results)


class RuleMonitor:
    """A local job's ``on_metric`` callback: keeps the history, evaluates the rules after each
    reported value, and answers True (stop the job) when one fires (``stop_training``)."""

    def __init__(self, config: DebuggerSettings) -> None:
        self.config = config
        self.history: dict[str, list[float]] = {}
        self.fired: RuleEvaluation | None = None

    def __call__(self, name: str, value: float, index: int) -> bool:
        self.history.setdefault(name, []).append(value)
        if self.fired is not None:
            return True
        for rule, parameters in self.config.rules.items():
            result = evaluate_rule(rule, parameters, self.history, final=False)
            if result is not None and result.fired:
                self.fired = result
                return True
        return False


def fired_error(job_name: str, evaluations: Sequence[RuleEvaluation],
                report_uri: str | None = None) -> GateFailedError:
    """The error of a job a rule stopped (``stop_training``): rule, measured, threshold."""
    return GateFailedError(gate=GATE_NAME, resource=f"training job {job_name}",
                           failures=tuple(e.failure() for e in evaluations if e.fired),
                           report_uri=report_uri)
