"""The monitoring capability's interface: settings, file names, check types and results.

Names that users see (file names, check types, derived feature names) are decided here
once. Check types reuse Model Monitor's names where Model Monitor has the check and add
airsage's own (``text_drift_check``, ``prediction_drift_check``, ``model_quality_check``)
for what it lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airsage.config import Settings, section_values
from airsage.errors import ConfigurationError

# -- file names (Model Monitor's, plus airsage's vocabulary and summary) ----------------------
STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
VIOLATIONS_FILE = "constraint_violations.json"
VOCABULARY_FILE = "vocabulary.json"
SUMMARY_FILE = "summary.json"

# -- check types ------------------------------------------------------------------------------
DATA_TYPE_CHECK = "data_type_check"
COMPLETENESS_CHECK = "completeness_check"
BASELINE_DRIFT_CHECK = "baseline_drift_check"
MISSING_COLUMN_CHECK = "missing_column_check"
EXTRA_COLUMN_CHECK = "extra_column_check"
CATEGORICAL_VALUES_CHECK = "categorical_values_check"
TEXT_DRIFT_CHECK = "text_drift_check"
PREDICTION_DRIFT_CHECK = "prediction_drift_check"
MODEL_QUALITY_CHECK = "model_quality_check"
CHECK_TYPES = (
    DATA_TYPE_CHECK, COMPLETENESS_CHECK, BASELINE_DRIFT_CHECK, MISSING_COLUMN_CHECK,
    EXTRA_COLUMN_CHECK, CATEGORICAL_VALUES_CHECK, TEXT_DRIFT_CHECK, PREDICTION_DRIFT_CHECK,
    MODEL_QUALITY_CHECK,
)
# Model Monitor's model-quality job uses the comparison operator as the check type
# (``{"metric_name": ..., "constraint_check_type": "LessThanThreshold"}``): such a violation
# is airsage's model_quality_check.
COMPARISON_OPERATORS = (
    "LessThanThreshold", "GreaterThanThreshold",
    "LessThanOrEqualToThreshold", "GreaterThanOrEqualToThreshold",
)
# Retraining cannot fix a client that sends the wrong columns or types; it can fix a model
# whose inputs, outputs or accuracy moved away from what it was trained on.
DEFAULT_RETRAIN_CHECKS = (
    BASELINE_DRIFT_CHECK, TEXT_DRIFT_CHECK, PREDICTION_DRIFT_CHECK, MODEL_QUALITY_CHECK,
)

# -- derived features (computed from the text and from the model's responses) ----------------
TEXT_LENGTH = "review_text_length"
TEXT_TOKENS = "review_text_token_count"
TEXT_OOV_RATE = "review_text_oov_rate"
PREDICTION_LABEL = "prediction_label"
PREDICTION_CONFIDENCE = "prediction_confidence"

# -- inferred types (Model Monitor's) ---------------------------------------------------------
INTEGRAL = "Integral"
FRACTIONAL = "Fractional"
STRING = "String"
UNKNOWN = "Unknown"

SOURCES = ("airsage", "model_monitor")
BASELINE_SOURCES = ("auto", "unseen", "curated", "features")
COMPARISON_METHODS = ("Robust", "Simple")
CATEGORICAL_DRIFT_METHODS = ("LInfinity",)


@dataclass(frozen=True)
class ViolationPolicy:
    """When violations of an interval ask for a retrain."""

    min_violations: int = 1
    check_types: tuple[str, ...] = DEFAULT_RETRAIN_CHECKS

    def to_dict(self) -> dict[str, Any]:
        return {"min_violations": self.min_violations, "check_types": list(self.check_types)}


@dataclass(frozen=True)
class MonitoringSettings:
    """The ``monitoring:`` section of the airsage config, checked once."""

    source: str = "airsage"
    features: tuple[str, ...] = (
        "review_text", "age", "division_name", "department_name", "class_name",
    )
    text_column: str = "review_text"
    label_column: str = "sentiment"
    identifier_columns: tuple[str, ...] = ("review_id",)
    baseline_source: str = "auto"
    baseline_split: str = "train"
    baseline_history_days: int = 3  # unseen: earlier accepted days' curated rows join in
    distribution_threshold: float = 0.1
    categorical_threshold: float = 0.1
    comparison_method: str = "Robust"
    categorical_drift_method: str = "LInfinity"
    datatype_check_threshold: float = 0.1
    domain_content_threshold: float = 0.1
    max_domain_size: int = 100
    vocabulary_min_count: int = 2
    sketch_size: int = 2048
    min_samples: int = 200
    min_ground_truth: int = 50
    accuracy_tolerance: float = 0.1
    ground_truth_delay_hours: int = 0
    # judge the serving version's batch predictions of the day this many days back, with
    # their labels, at each day's first monitor run (0: off; airsage.batch.quality)
    batch_quality_delay_days: int = 0
    job_timeout_seconds: int = 1800
    violation_policy: ViolationPolicy = field(default_factory=ViolationPolicy)

    @classmethod
    def from_settings(cls, settings: Settings) -> MonitoringSettings:
        return cls.from_mapping(settings.section("monitoring"), source=settings.source)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, source: str = "config") -> MonitoringSettings:
        values = section_values(cls, raw, section="monitoring", source=source,
                                custom=("violation_policy",), extra=("schedule",))
        policy_raw = raw.get("violation_policy") or {}
        if not isinstance(policy_raw, Mapping):
            raise ConfigurationError(f"monitoring.violation_policy in {source} must be a mapping")
        checks = tuple(policy_raw.get("check_types") or DEFAULT_RETRAIN_CHECKS)
        bad = sorted(set(checks) - set(CHECK_TYPES))
        if bad:
            raise ConfigurationError(
                f"monitoring.violation_policy.check_types in {source} names unknown check "
                f"type(s) {bad}; valid: {list(CHECK_TYPES)}"
            )
        values["violation_policy"] = ViolationPolicy(
            min_violations=int(policy_raw.get("min_violations", 1)), check_types=checks
        )
        result = cls(**values)
        result._validate(source)
        return result

    def _validate(self, source: str) -> None:
        choices = {
            "source": (self.source, SOURCES),
            "baseline_source": (self.baseline_source, BASELINE_SOURCES),
            "comparison_method": (self.comparison_method, COMPARISON_METHODS),
            "categorical_drift_method": (self.categorical_drift_method, CATEGORICAL_DRIFT_METHODS),
        }
        for key, (value, valid) in choices.items():
            if value not in valid:
                raise ConfigurationError(
                    f"monitoring.{key} in {source} is {value!r}; valid values: {list(valid)}"
                )
        if self.text_column not in self.features:
            raise ConfigurationError(
                f"monitoring.text_column {self.text_column!r} in {source} must be one of "
                f"monitoring.features {list(self.features)}"
            )
        for key in ("distribution_threshold", "categorical_threshold",
                    "datatype_check_threshold", "domain_content_threshold", "accuracy_tolerance"):
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0:
                raise ConfigurationError(
                    f"monitoring.{key} in {source} is {value}; expected a number in [0, 1]"
                )
        if self.baseline_history_days < 0:
            raise ConfigurationError(
                f"monitoring.baseline_history_days in {source} must be >= 0, got "
                f"{self.baseline_history_days}"
            )
        if self.min_samples < 1 or self.min_ground_truth < 1:
            raise ConfigurationError(
                f"monitoring.min_samples and min_ground_truth in {source} must be >= 1, got "
                f"{self.min_samples} and {self.min_ground_truth}"
            )

    def job_config(self) -> dict[str, Any]:
        """What the monitor job needs at run time (passed to it as JSON)."""
        return {
            "datatype_check_threshold": self.datatype_check_threshold,
            "domain_content_threshold": self.domain_content_threshold,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": self.distribution_threshold,
                "comparison_method": self.comparison_method,
                "categorical_comparison_threshold": self.categorical_threshold,
                "categorical_drift_method": self.categorical_drift_method,
            },
            "min_samples": self.min_samples,
            "min_ground_truth": self.min_ground_truth,
            "identifier_columns": list(self.identifier_columns),
        }


@dataclass(frozen=True)
class Violation:
    """One entry of ``constraint_violations.json``.

    A model-quality violation also keeps Model Monitor's ``metric_name`` and comparison
    operator; inside airsage it is a ``model_quality_check`` of the feature ``metric_name``.
    """

    feature_name: str
    constraint_check_type: str
    description: str
    metric_name: str | None = None
    comparison_operator: str | None = None

    def to_dict(self) -> dict[str, str]:
        out = {
            "feature_name": self.feature_name,
            "constraint_check_type": self.constraint_check_type,
            "description": self.description,
        }
        if self.metric_name is not None:
            out["metric_name"] = self.metric_name
        if self.comparison_operator is not None:
            out["comparison_operator"] = self.comparison_operator
        return out

    def model_quality_dict(self) -> dict[str, str]:
        """The entry as Model Monitor's model-quality job writes it."""
        return {
            "constraint_check_type": self.comparison_operator or self.constraint_check_type,
            "description": self.description,
            "metric_name": self.metric_name or self.feature_name,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Violation:
        """Read either shape: data quality (``feature_name``) or model quality
        (``metric_name`` with a comparison operator as ``constraint_check_type``)."""
        check = str(raw.get("constraint_check_type", ""))
        metric = raw.get("metric_name")
        if metric is not None or check in COMPARISON_OPERATORS:
            operator = check if check in COMPARISON_OPERATORS \
                else raw.get("comparison_operator")
            name = str(metric if metric is not None else raw.get("feature_name", ""))
            return cls(
                feature_name=str(raw.get("feature_name") or name),
                constraint_check_type=MODEL_QUALITY_CHECK,
                description=str(raw.get("description", "")),
                metric_name=name,
                comparison_operator=None if operator is None else str(operator),
            )
        return cls(
            feature_name=str(raw.get("feature_name", "")),
            constraint_check_type=check,
            description=str(raw.get("description", "")),
        )


@dataclass(frozen=True)
class BaselineResult:
    """Where a model version's baseline lives and what it was computed from."""

    model_name: str
    model_version: str
    baseline_prefix: str
    statistics_key: str
    constraints_key: str
    vocabulary_key: str
    item_count: int
    source_key: str
    baseline_accuracy: float | None
    quality_reference: str | None
    source: str = "curated"          # unseen | curated | features (which rows, see create_baseline)
    excluded_key: str | None = None  # the rows left out: the model's training split

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "baseline_prefix": self.baseline_prefix,
            "statistics_key": self.statistics_key,
            "constraints_key": self.constraints_key,
            "vocabulary_key": self.vocabulary_key,
            "item_count": self.item_count,
            "source_key": self.source_key,
            "baseline_accuracy": self.baseline_accuracy,
            "quality_reference": self.quality_reference,
            "source": self.source,
            "excluded_key": self.excluded_key,
        }


@dataclass(frozen=True)
class MonitoringResult:
    """One monitored interval: its violations, a summary, and the retrain decision."""

    violations: list[Violation]
    summary: dict[str, Any]
    report_key: str
    samples: int
    should_retrain: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "violations": [violation.to_dict() for violation in self.violations],
            "summary": self.summary,
            "report_key": self.report_key,
            "samples": self.samples,
            "should_retrain": self.should_retrain,
        }


@dataclass(frozen=True)
class MonitorJobOutput:
    """The monitor job's three output documents, as written to the report prefix."""

    statistics: dict[str, Any]
    violations: dict[str, Any]
    summary: dict[str, Any]
    model_quality: dict[str, Any] | None = None  # the model-quality statistics.json, if any
