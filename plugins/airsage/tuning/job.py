"""What a tuning job returns, on both targets: every trial and the best training job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airsage.training.job import TrainingJobResult

TRIAL_STATES = ("Completed", "Stopped", "Failed")


@dataclass(frozen=True)
class TrialResult:
    """One training job of a tuning job: its hyperparameters, objective and how it ended."""

    number: int
    job_name: str
    state: str  # Completed | Stopped (early stopping) | Failed
    hyperparameters: Mapping[str, Any]
    objective_value: float | None
    intermediate_values: tuple[float, ...] = ()
    training_job: TrainingJobResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "job_name": self.job_name,
            "state": self.state,
            "hyperparameters": dict(self.hyperparameters),
            "objective_value": self.objective_value,
            "intermediate_values": list(self.intermediate_values),
            "training_job": self.training_job.to_dict() if self.training_job else None,
        }


@dataclass(frozen=True)
class TuningResult:
    """The tuning job's outcome; ``best`` is its best completed training job."""

    tuning_job_name: str
    best: TrainingJobResult
    trials: Sequence[TrialResult]
    objective: str
    objective_type: str
    best_value: float
    duration_seconds: float
    warm_start_parents: tuple[str, ...] = ()
    storage: str = ""
    space: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tuning_job_name": self.tuning_job_name,
            "best": self.best.to_dict(),
            "trials": [trial.to_dict() for trial in self.trials],
            "objective": self.objective,
            "objective_type": self.objective_type,
            "best_value": self.best_value,
            "duration_seconds": self.duration_seconds,
            "warm_start_parents": list(self.warm_start_parents),
            "storage": self.storage,
            "space": dict(self.space),
        }
