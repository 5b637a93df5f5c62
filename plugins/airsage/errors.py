"""One error family for every airsage step.

A message names the step, the target, the resource and what to do. The Airflow layer maps
the non-transient kinds (configuration, bad input, failed gate) to Airflow's
fail-without-retry exception: retrying cannot fix bad data or a wrong setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class AirsageError(Exception):
    """Base of every error airsage raises on purpose."""

    retryable: bool = False


class ConfigurationError(AirsageError):
    """A setting is missing, malformed or names something that does not exist."""


class InputDataError(AirsageError):
    """A batch or request cannot be read as the contract says (empty, malformed, bad bytes)."""


class StepFailed(AirsageError):
    """A step's engine or job failed (crashed script, service error); a retry may help."""

    retryable = True


@dataclass(frozen=True)
class GateFailure:
    """One failed check of a gate: what was checked, what was measured, what was expected."""

    check: str
    measured: Any
    expected: Any
    message: str = ""

    def describe(self) -> str:
        text = f"{self.check}: measured {self.measured!r}, expected {self.expected}"
        return f"{text} ({self.message})" if self.message else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "measured": self.measured,
            "expected": self.expected,
            "message": self.message,
        }


@dataclass
class GateFailedError(AirsageError):
    """A gate (schema, SQL, quality, bias, condition) refused the batch or the model."""

    gate: str
    resource: str
    failures: Sequence[GateFailure] = field(default_factory=tuple)
    report_uri: str | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"{self.gate} gate failed for {self.resource}: {len(self.failures)} check(s) failed"]
        lines += [f"  - {failure.describe()}" for failure in self.failures]
        if self.report_uri:
            lines.append(f"  full report: {self.report_uri}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "resource": self.resource,
            "failures": [failure.to_dict() for failure in self.failures],
            "report_uri": self.report_uri,
        }
