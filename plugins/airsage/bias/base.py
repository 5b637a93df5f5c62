"""The bias capability's interface: settings, result types and the job protocol.

Nothing here imports pandas: the Airflow layer imports these types when it builds a DAG.
The metric definitions are SageMaker Clarify's published ones (see ``metrics.py``); the
report is Clarify's ``analysis.json`` (see ``report.py``), so reports written by a real
Clarify job and by airsage's own job are read the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airsage.config import Settings
from airsage.errors import ConfigurationError

GATE_NAME = "bias"
REPORT_KIND = "bias"
ANALYSIS_FILE = "analysis.json"
PRE_TRAINING_ANALYSIS = "pre_training/analysis.json"
PRE_TRAINING_VERDICT = "pre_training/verdict.json"
POST_TRAINING_ANALYSIS = "post_training/analysis.json"
POST_TRAINING_VERDICT = "post_training/verdict.json"

PRETRAINING_METRICS: tuple[str, ...] = ("CI", "DPL", "KL", "JS", "LP", "TVD", "KS", "CDDL")
POSTTRAINING_METRICS: tuple[str, ...] = (
    "DPPL", "DI", "DCA", "DCR", "RD", "DAR", "DRR", "AD", "TE", "FT", "CDDPL", "SD", "GE",
)

# The descriptions Clarify writes next to each metric in analysis.json.
DESCRIPTIONS: Mapping[str, str] = {
    "CI": "Class Imbalance (CI)",
    "DPL": "Difference in Positive Proportions in Labels (DPL)",
    "KL": "Kullback-Liebler Divergence (KL)",  # sic: Clarify's spelling
    "JS": "Jensen-Shannon Divergence (JS)",
    "LP": "L-p Norm (LP)",
    "TVD": "Total Variation Distance (TVD)",
    "KS": "Kolmogorov-Smirnov Distance (KS)",
    "CDDL": "Conditional Demographic Disparity in Labels (CDDL)",
    "DPPL": "Difference in Positive Proportions in Predicted Labels (DPPL)",
    "DI": "Disparate Impact (DI)",
    "DCA": "Difference in Conditional Acceptance (DCA)",
    "DCR": "Difference in Conditional Rejection (DCR)",
    "RD": "Recall Difference (RD)",
    "DAR": "Difference in Acceptance Rates (DAR)",
    "DRR": "Difference in Rejection Rates (DRR)",
    "AD": "Accuracy Difference (AD)",
    "TE": "Treatment Equality (TE)",
    "FT": "Flip Test (FT)",
    "CDDPL": "Conditional Demographic Disparity in Predicted Labels (CDDPL)",
    "SD": "Specificity Difference (SD)",
    "GE": "Generalized Entropy (GE)",
}

PASS, WARN, FAIL = "pass", "warn", "fail"
SKIPPED = "skipped"
GATE_GROUPS = ("all", "configured")
# Which container measures the pre-training bias: airsage's own job (include/jobs/bias.py, both
# targets) or, on aws, SageMaker Clarify's container (closed to new accounts since 2025).
AIRSAGE_ENGINE, CLARIFY_ENGINE = "airsage", "clarify"
ENGINES = (AIRSAGE_ENGINE, CLARIFY_ENGINE)


class MetricValues(dict):  # type: ignore[type-arg]
    """``{metric name: value or None}`` plus ``reasons``: why a value is None.

    A plain dict to every caller, so ``metrics["DPL"]`` just works; the reasons travel with
    it into ``analysis.json`` (Clarify's per-metric ``error``) and into gate messages.
    """

    def __init__(
        self,
        values: Mapping[str, float | None] | None = None,
        reasons: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(values or {})
        self.reasons: dict[str, str] = dict(reasons or {})

    def set(self, name: str, value: float | None, reason: str | None = None) -> None:
        """Store a value; a None (or non-finite) value must come with a reason."""
        if value is not None and not math.isfinite(value):
            reason = reason or f"{name} is not finite ({value})"
            value = None
        self[name] = None if value is None else float(value)
        if self[name] is None:
            self.reasons[name] = reason or f"{name} could not be computed"
        else:
            self.reasons.pop(name, None)

    def put(self, name: str, value: float | None, error: str | None = None) -> None:
        """Store a value as Clarify reports it: +-inf is kept (Clarify's zero denominators),
        NaN or None has no value and must come with the error that explains it."""
        if value is not None and math.isnan(value):
            error, value = error or f"{name} is not a number", None
        self[name] = None if value is None else float(value)
        if value is None:
            self.reasons[name] = error or f"{name} could not be computed"
        else:
            self.reasons.pop(name, None)


def json_value(value: float | None) -> float | str | None:
    """A metric value as Clarify's ``analysis.json`` writes it: infinities as ``"Infinity"``."""
    if value is not None and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def parse_value(raw: Any) -> float | None:
    """The inverse of :func:`json_value` (also reads Clarify's own reports)."""
    if raw is None:
        return None
    if isinstance(raw, str) and raw.strip() in ("Infinity", "-Infinity", "inf", "-inf"):
        return float(raw.strip().replace("Infinity", "inf"))
    return float(raw)


@dataclass(frozen=True)
class Threshold:
    """A metric's limits on its magnitude: above ``warn`` warns, above ``fail`` fails."""

    warn: float | None
    fail: float | None

    @classmethod
    def from_mapping(cls, metric: str, raw: Any) -> Threshold:
        if not isinstance(raw, Mapping) or not ({"warn", "fail"} & set(raw)):
            raise ConfigurationError(
                f"bias threshold for {metric} must be a mapping with 'warn' and/or 'fail', "
                f"got {raw!r}; e.g. {metric}: {{warn: 0.1, fail: 0.2}}"
            )
        unknown = set(raw) - {"warn", "fail"}
        if unknown:
            raise ConfigurationError(
                f"bias threshold for {metric} has unknown key(s) {sorted(unknown)}; "
                "only 'warn' and 'fail' are read"
            )
        values: dict[str, float | None] = {}
        for key in ("warn", "fail"):
            value = raw.get(key)
            if value is None:
                values[key] = None
                continue
            try:
                values[key] = float(value)
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"bias threshold {metric}.{key} must be a number, got {value!r}"
                ) from None
            if values[key] < 0:  # type: ignore[operator]
                raise ConfigurationError(
                    f"bias threshold {metric}.{key} is {value}; thresholds bound a magnitude "
                    "and must be >= 0"
                )
        if values["warn"] is None and values["fail"] is None:
            raise ConfigurationError(
                f"bias threshold for {metric} sets neither warn nor fail; give at least one "
                "or remove the entry"
            )
        if values["warn"] is not None and values["fail"] is not None \
                and values["warn"] > values["fail"]:
            raise ConfigurationError(
                f"bias threshold {metric}: warn ({values['warn']}) is above fail "
                f"({values['fail']}); warn must be the smaller limit"
            )
        return cls(warn=values["warn"], fail=values["fail"])

    def to_dict(self) -> dict[str, float | None]:
        return {"warn": self.warn, "fail": self.fail}


def parse_thresholds(
    raw: Mapping[str, Any] | None, valid: Sequence[str]
) -> dict[str, Threshold]:
    """Validate a ``{metric: {warn, fail}}`` mapping; unknown metric names are refused."""
    thresholds: dict[str, Threshold] = {}
    for name, spec in (raw or {}).items():
        key = str(name).upper()
        if key not in valid:
            raise ConfigurationError(
                f"bias threshold names unknown metric {name!r}; valid metrics: {', '.join(valid)}"
            )
        thresholds[key] = spec if isinstance(spec, Threshold) else Threshold.from_mapping(key, spec)
    return thresholds


@dataclass(frozen=True)
class BiasSettings:
    """The ``bias:`` section of the airsage config, validated once."""

    facet: str
    label: str
    label_values: tuple[Any, ...]
    facet_values: tuple[Any, ...] | None = None
    facet_threshold: float | None = None
    group: str | None = None
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    post_training_thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    job_timeout_seconds: float = 600.0
    gate_groups: str = "configured"
    gate_facets: tuple[str, ...] = ()
    min_group_size: int = 0
    engine: str = AIRSAGE_ENGINE

    @classmethod
    def from_settings(cls, settings: Settings) -> BiasSettings:
        return cls.from_mapping(settings.section("bias"), source=settings.source)

    @classmethod
    def from_mapping(
        cls, raw: Mapping[str, Any], *, source: str = "the airsage config"
    ) -> BiasSettings:
        for key in ("facet", "label", "label_values"):
            if not raw.get(key) and raw.get(key) != 0:
                raise ConfigurationError(
                    f"bias section of {source} lacks {key!r}; the bias gate needs facet, "
                    "label, label_values and one of facet_values / facet_threshold"
                )
        facet_values = raw.get("facet_values")
        facet_threshold = raw.get("facet_threshold")
        if (facet_values is None) == (facet_threshold is None):
            raise ConfigurationError(
                f"bias section of {source}: set exactly one of facet_values (the sensitive "
                f"group's values of {raw['facet']!r}) or facet_threshold (rows above it are "
                f"the sensitive group); got facet_values={facet_values!r}, "
                f"facet_threshold={facet_threshold!r}"
            )
        if facet_values is not None:
            if isinstance(facet_values, (str, bytes)) or not isinstance(facet_values, Sequence):
                facet_values = [facet_values]
            if not facet_values:
                raise ConfigurationError(f"bias.facet_values in {source} is empty")
            facet_values = tuple(facet_values)
        if facet_threshold is not None:
            try:
                facet_threshold = float(facet_threshold)
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"bias.facet_threshold in {source} must be a number, got {facet_threshold!r}"
                ) from None
        label_values = raw["label_values"]
        if isinstance(label_values, (str, bytes)) or not isinstance(label_values, Sequence):
            label_values = [label_values]
        gate_groups = str(raw.get("gate_groups", "configured"))
        if gate_groups not in GATE_GROUPS:
            raise ConfigurationError(
                f"bias.gate_groups in {source} is {gate_groups!r}; use 'all' (every value of "
                "each gate facet is judged in turn) or 'configured' (only facet_values / "
                "facet_threshold)"
            )
        gate_facets = raw.get("gate_facets") or [raw["facet"]]
        if isinstance(gate_facets, (str, bytes)) or not isinstance(gate_facets, Sequence):
            gate_facets = [gate_facets]
        try:
            min_group_size = int(raw.get("min_group_size") or 0)
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"bias.min_group_size in {source} must be a whole number of rows, got "
                f"{raw.get('min_group_size')!r}"
            ) from None
        if min_group_size < 0:
            raise ConfigurationError(f"bias.min_group_size in {source} must be >= 0")
        engine = str(raw.get("engine") or AIRSAGE_ENGINE)
        if engine not in ENGINES:
            raise ConfigurationError(
                f"bias.engine in {source} is {engine!r}; use {AIRSAGE_ENGINE!r} (airsage's own "
                f"bias job, both targets) or {CLARIFY_ENGINE!r} (SageMaker Clarify's container, "
                "aws target only)"
            )
        try:
            timeout = float(raw.get("job_timeout_seconds", 600))
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"bias.job_timeout_seconds in {source} must be a number of seconds"
            ) from None
        return cls(
            facet=str(raw["facet"]),
            label=str(raw["label"]),
            label_values=tuple(label_values),
            facet_values=facet_values,
            facet_threshold=facet_threshold,
            group=str(raw["group"]) if raw.get("group") else None,
            thresholds=parse_thresholds(raw.get("thresholds"), PRETRAINING_METRICS),
            post_training_thresholds=parse_thresholds(
                raw.get("post_training_thresholds"), POSTTRAINING_METRICS
            ),
            job_timeout_seconds=timeout,
            gate_groups=gate_groups,
            gate_facets=tuple(str(f) for f in gate_facets),
            min_group_size=min_group_size,
            engine=engine,
        )

    @property
    def facet_description(self) -> str:
        """How a check names the sensitive group, e.g. ``facet department_name=Intimate``."""
        return describe_facet(self.facet, self.facet_values, self.facet_threshold)


def describe_facet(
    facet: str, facet_values: Sequence[Any] | None, facet_threshold: float | None
) -> str:
    if facet_threshold is not None:
        return f"facet {facet}>{facet_threshold:g}"
    values = list(facet_values or ())
    if len(values) == 1:
        return f"facet {facet}={values[0]}"
    return f"facet {facet} in {values}"


@dataclass(frozen=True)
class MetricCheck:
    """One metric against its thresholds: the measured value, the limits and the outcome."""

    metric: str
    value: float | None
    status: str
    warn: float | None = None
    fail: float | None = None
    reason: str = ""
    group: str = ""  # "facet=value" when the gate judges several groups

    @property
    def measure(self) -> str:
        """What is compared: ``|1 - DI|`` for DI, ``|value|`` otherwise."""
        return "|1 - DI|" if self.metric == "DI" else f"|{self.metric}|"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": json_value(self.value),
            "status": self.status,
            "warn": self.warn,
            "fail": self.fail,
            "reason": self.reason,
            **({"group": self.group} if self.group else {}),
        }


@dataclass(frozen=True)
class BiasVerdict:
    """The gate's decision: ``pass``, ``warn`` or ``fail`` overall and per metric."""

    status: str
    checks: tuple[MetricCheck, ...]

    @property
    def failures(self) -> tuple[MetricCheck, ...]:
        return tuple(c for c in self.checks if c.status == FAIL)

    @property
    def warnings(self) -> tuple[MetricCheck, ...]:
        return tuple(c for c in self.checks if c.status == WARN)

    @property
    def passed(self) -> bool:
        return self.status != FAIL

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "checks": [c.to_dict() for c in self.checks]}


@dataclass(frozen=True)
class BiasReport:
    """What a bias step returns: the metrics, the verdict and where the report lives."""

    dataset: str
    day: str
    stage: str
    facet: str
    facet_value_or_threshold: tuple[Any, ...]
    label: str
    label_values: tuple[Any, ...]
    metrics: Mapping[str, float | None]
    reasons: Mapping[str, str]
    verdict: BiasVerdict
    report_uri: str | None = None
    verdict_uri: str | None = None
    groups: tuple[Mapping[str, Any], ...] = ()  # per group: facet, value, rows, status, reason

    @property
    def status(self) -> str:
        return self.verdict.status

    @property
    def warnings(self) -> tuple[MetricCheck, ...]:
        return self.verdict.warnings

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "day": self.day,
            "stage": self.stage,
            "facet": self.facet,
            "facet_value_or_threshold": list(self.facet_value_or_threshold),
            "label": self.label,
            "label_values": list(self.label_values),
            "metrics": {name: json_value(value) for name, value in self.metrics.items()},
            "reasons": dict(self.reasons),
            "verdict": self.verdict.to_dict(),
            "status": self.status,
            "report_uri": self.report_uri,
            "verdict_uri": self.verdict_uri,
            "groups": [dict(g) for g in self.groups],
        }
