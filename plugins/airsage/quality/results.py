"""Result types of the quality gate, in the shape of AWS Glue Data Quality rule results.

A rule result serialises to Glue's keys (``Name``, ``Description``, ``Result``,
``EvaluationMessage``, ``EvaluatedMetrics``) so that reports from the two targets can be
read by the same tools. ``measured`` and ``expected`` stay on the object for the gate's
error message (rule, measured value, expected value), as the style guide asks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PASS = "PASS"
FAIL = "FAIL"
ERROR = "ERROR"
OUTCOMES = (PASS, FAIL, ERROR)


def json_number(value: Any) -> Any:
    """Floats as JSON allows them (NaN and infinities become None); ints stay ints."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        return str(value)
    return as_float if math.isfinite(as_float) else None


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one DQDL rule (or of an anomaly check, which reports the same way)."""

    name: str
    description: str
    result: str
    evaluation_message: str = ""
    evaluated_metrics: Mapping[str, float | None] = field(default_factory=dict)
    measured: Any = None
    expected: str = ""

    @property
    def passed(self) -> bool:
        return self.result == PASS

    def to_dict(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Description": self.description,
            "Result": self.result,
            "EvaluationMessage": self.evaluation_message,
            "EvaluatedMetrics": {k: json_number(v) for k, v in self.evaluated_metrics.items()},
        }


@dataclass(frozen=True)
class QualityReport:
    """Every rule's result for one batch, plus the metrics that feed the history."""

    rule_results: tuple[RuleResult, ...]
    metrics: Mapping[str, float | None]
    ruleset_source: str = "<ruleset>"
    dataset: str | None = None
    day: str | None = None
    evaluated_at: str | None = None

    @property
    def outcome(self) -> str:
        """PASS only when every rule passed: an ERROR fails the gate (fail closed)."""
        return PASS if all(r.passed for r in self.rule_results) else FAIL

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rule_results if not r.passed)

    def result(self, name_or_description: str) -> RuleResult:
        """A rule's result by its name (``Rule_3``) or its text; KeyError when absent."""
        for rule in self.rule_results:
            if name_or_description in (rule.name, rule.description):
                return rule
        raise KeyError(f"no rule named or written {name_or_description!r} in this report")

    def with_results(self, extra: tuple[RuleResult, ...]) -> QualityReport:
        return QualityReport(
            rule_results=self.rule_results + extra, metrics=self.metrics,
            ruleset_source=self.ruleset_source, dataset=self.dataset, day=self.day,
            evaluated_at=self.evaluated_at,
        )

    def to_dict(self) -> dict[str, Any]:
        counts = {o: sum(1 for r in self.rule_results if r.result == o) for o in OUTCOMES}
        return {
            "Dataset": self.dataset,
            "Day": self.day,
            "Ruleset": self.ruleset_source,
            "EvaluatedAt": self.evaluated_at,
            "Outcome": self.outcome,
            "RulesPassed": counts[PASS],
            "RulesFailed": counts[FAIL],
            "RulesErrored": counts[ERROR],
            "RuleResults": [r.to_dict() for r in self.rule_results],
            "Metrics": {k: json_number(v) for k, v in sorted(self.metrics.items())},
        }
