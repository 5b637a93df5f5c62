"""The evaluation capability's interface: settings, file names and the report type.

Nothing here imports pandas or sklearn: the Airflow layer passes :class:`EvaluationReport`
through XCom (``to_dict`` / ``from_dict``) and the condition step reads it without loading
a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airsage.config import Settings
from airsage.errors import ConfigurationError

REPORT_KIND = "evaluation"
EVALUATION_FILE = "evaluation.json"
BIAS_FILE = "analysis.json"
EXPLANATIONS_FILE = "explanations.json"
BLESSING_FILE = "blessing.json"
PREDICTIONS_FILE = "predictions.json"
METRICS_KEY = "multiclass_classification_metrics"
COMPARABLE_METRICS = ("accuracy", "macro_f1", "weighted_f1")


def _float_or_none(raw: Mapping[str, Any], key: str, source: str) -> float | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"evaluation.{key} in {source} must be a number, got {value!r}"
        ) from None


def _positive_int(raw: Mapping[str, Any], key: str, default: int, source: str) -> int:
    value = raw.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"evaluation.{key} in {source} must be an integer, got {value!r}"
        ) from None
    if number < 0:
        raise ConfigurationError(f"evaluation.{key} in {source} must be >= 0, got {number}")
    return number


@dataclass(frozen=True)
class EvaluationSettings:
    """The ``evaluation:`` section, validated once.

    ``accuracy_threshold`` and ``champion_tolerance`` may be None: the condition then
    refuses to bless (fail closed) instead of guessing a default.
    """

    accuracy_threshold: float | None
    champion_tolerance: float | None
    champion_metric: str = "accuracy"
    bootstrap_samples: int = 200
    attribution_samples: int = 40
    attribution_max_words: int = 40
    top_k: int = 15
    seed: int = 0
    timeout_seconds: float = 1800.0
    paired_test: str = "bootstrap_macro_f1"
    confidence: float = 0.95
    paired_bootstrap_samples: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> EvaluationSettings:
        return cls.from_mapping(settings.section("evaluation"), source=settings.source)

    @classmethod
    def from_mapping(
        cls, raw: Mapping[str, Any], *, source: str = "the airsage config"
    ) -> EvaluationSettings:
        metric = str(raw.get("champion_metric", "accuracy"))
        if metric not in COMPARABLE_METRICS:
            raise ConfigurationError(
                f"evaluation.champion_metric in {source} is {metric!r}; valid metrics: "
                f"{', '.join(COMPARABLE_METRICS)}"
            )
        tolerance = _float_or_none(raw, "champion_tolerance", source)
        if tolerance is not None and tolerance < 0:
            raise ConfigurationError(
                f"evaluation.champion_tolerance in {source} is {tolerance}; it is how much "
                "worse than the champion a candidate may be, so it must be >= 0"
            )
        timeout = _float_or_none(raw, "timeout_seconds", source)
        from airsage.evaluation.paired import PAIRED_TESTS

        paired_test = str(raw.get("paired_test", "bootstrap_macro_f1"))
        if paired_test not in PAIRED_TESTS:
            raise ConfigurationError(
                f"evaluation.paired_test in {source} is {paired_test!r}; valid tests: "
                f"{', '.join(PAIRED_TESTS)}"
            )
        confidence = _float_or_none(raw, "confidence", source)
        confidence = 0.95 if confidence is None else confidence
        if not 0.5 <= confidence < 1.0:
            raise ConfigurationError(
                f"evaluation.confidence in {source} is {confidence}; it must lie in [0.5, 1) "
                "(0.95: a 95% interval, or p < 0.05 for McNemar)"
            )
        return cls(
            paired_test=paired_test,
            confidence=confidence,
            paired_bootstrap_samples=max(
                1, _positive_int(raw, "paired_bootstrap_samples", 1000, source)),
            accuracy_threshold=_float_or_none(raw, "accuracy_threshold", source),
            champion_tolerance=tolerance,
            champion_metric=metric,
            bootstrap_samples=_positive_int(raw, "bootstrap_samples", 200, source),
            attribution_samples=_positive_int(raw, "attribution_samples", 40, source),
            attribution_max_words=_positive_int(raw, "attribution_max_words", 40, source),
            top_k=_positive_int(raw, "top_k", 15, source),
            seed=_positive_int(raw, "seed", 0, source),
            timeout_seconds=1800.0 if timeout is None else timeout,
        )


def metric_value(evaluation: Mapping[str, Any], name: str) -> float | None:
    """``evaluation[multiclass_classification_metrics][name][value]``, as JsonGet reads it."""
    entry = (evaluation.get(METRICS_KEY) or {}).get(name)
    if not isinstance(entry, Mapping) or entry.get("value") is None:
        return None
    return float(entry["value"])


@dataclass(frozen=True)
class EvaluationReport:
    """One model evaluated on one test split: the three JSON documents and their lake keys.

    ``evaluation`` is ``evaluation.json`` (SageMaker Pipelines' property-file shape),
    ``posttraining_bias`` is Clarify's ``analysis.json`` and ``feature_attribution`` is
    ``explanations.json``.
    """

    dataset: str
    day: str
    report_name: str
    model_artifact_key: str
    evaluation: Mapping[str, Any]
    posttraining_bias: Mapping[str, Any] = field(default_factory=dict)
    feature_attribution: Mapping[str, Any] = field(default_factory=dict)
    report_key: str = ""
    bias_report_key: str = ""
    explanations_key: str = ""
    report_uri: str = ""
    predictions_key: str = ""

    @property
    def accuracy(self) -> float | None:
        return metric_value(self.evaluation, "accuracy")

    @property
    def macro_f1(self) -> float | None:
        return metric_value(self.evaluation, "macro_f1")

    @property
    def weighted_f1(self) -> float | None:
        return metric_value(self.evaluation, "weighted_f1")

    @property
    def baseline_accuracy(self) -> float | None:
        return metric_value(self.evaluation, "baseline_accuracy")

    @property
    def test_rows(self) -> int | None:
        rows = (self.evaluation.get("metadata") or {}).get("test_rows")
        return None if rows is None else int(rows)

    def metric(self, name: str) -> float | None:
        return metric_value(self.evaluation, name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "day": self.day,
            "report_name": self.report_name,
            "model_artifact_key": self.model_artifact_key,
            "evaluation": dict(self.evaluation),
            "posttraining_bias": dict(self.posttraining_bias),
            "feature_attribution": dict(self.feature_attribution),
            "report_key": self.report_key,
            "bias_report_key": self.bias_report_key,
            "explanations_key": self.explanations_key,
            "report_uri": self.report_uri,
            "predictions_key": self.predictions_key,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "baseline_accuracy": self.baseline_accuracy,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> EvaluationReport:
        """Rebuild a report from :meth:`to_dict` (e.g. after an XCom round trip)."""
        try:
            return cls(
                dataset=str(raw["dataset"]),
                day=str(raw["day"]),
                report_name=str(raw["report_name"]),
                model_artifact_key=str(raw["model_artifact_key"]),
                evaluation=dict(raw["evaluation"]),
                posttraining_bias=dict(raw.get("posttraining_bias") or {}),
                feature_attribution=dict(raw.get("feature_attribution") or {}),
                report_key=str(raw.get("report_key", "")),
                bias_report_key=str(raw.get("bias_report_key", "")),
                explanations_key=str(raw.get("explanations_key", "")),
                report_uri=str(raw.get("report_uri", "")),
                predictions_key=str(raw.get("predictions_key", "")),
            )
        except KeyError as exc:
            raise ConfigurationError(
                f"an EvaluationReport mapping lacks the key {exc.args[0]!r}; pass the "
                "dict returned by EvaluationReport.to_dict()"
            ) from exc

