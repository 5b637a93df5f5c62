"""What a tuning job is given and what it returns, on both targets.

A :class:`TuningRequest` is the ``tune`` step's request phase: a ``CreateHyperParameterTuningJob``
reduced to what airsage varies — the tuning job's name, the base training job (a
:class:`~airsage.jobs.request.JobRequest`: script, channels, static hyperparameters, metric
regexes) and the search space (ranges, objective, strategy, limits, early stopping, warm
start). It names lake keys only and is frozen and JSON-safe, so it can travel through XCom
and be printed by ``airsage plan``. A :class:`TuningResult` is every trial and the best
training job; its JSON form is the tuning job's output in the lake (``tuning_result.json``)
and :meth:`TuningResult.from_dict` reads it back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airsage.errors import ConfigurationError
from airsage.jobs.request import JobRequest
from airsage.training.job import TrainingJobResult, TrainingJobSpec
from airsage.tuning.space import TuningSpace

TRIAL_STATES = ("Completed", "Stopped", "Failed")
# SageMaker's HyperParameterTuningJobName rule; trial jobs append "-NNN".
TUNING_JOB_NAME_MAX = 32
TUNING_JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")


def _training_job_from_dict(raw: Mapping[str, Any]) -> TrainingJobResult:
    """The inverse of :meth:`TrainingJobResult.to_dict`."""
    return TrainingJobResult(
        job_name=str(raw["job_name"]),
        status=str(raw["status"]),
        model_artifact_key=raw.get("model_artifact_key"),
        model_artifact_uri=raw.get("model_artifact_uri"),
        final_metrics={str(k): float(v) for k, v in (raw.get("final_metrics") or {}).items()},
        failure_reason=raw.get("failure_reason"),
        log_tail=str(raw.get("log_tail") or ""),
        duration_seconds=float(raw.get("duration_seconds") or 0.0),
        hyperparameters=dict(raw.get("hyperparameters") or {}),
        metric_history={str(k): tuple(float(x) for x in v)
                        for k, v in (raw.get("metric_history") or {}).items()},
        debug_rule_evaluations=tuple(dict(e) for e in raw.get("debug_rule_evaluations") or ()),
    )


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

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TrialResult:
        value = raw.get("objective_value")
        job = raw.get("training_job")
        return cls(
            number=int(raw["number"]),
            job_name=str(raw["job_name"]),
            state=str(raw["state"]),
            hyperparameters=dict(raw.get("hyperparameters") or {}),
            objective_value=float(value) if value is not None else None,
            intermediate_values=tuple(float(x) for x in raw.get("intermediate_values") or ()),
            training_job=_training_job_from_dict(job) if job else None,
        )


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

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TuningResult:
        """The inverse of :meth:`to_dict` (``tuning_result.json`` read back from the lake)."""
        try:
            return cls(
                tuning_job_name=str(raw["tuning_job_name"]),
                best=_training_job_from_dict(raw["best"]),
                trials=[TrialResult.from_dict(trial) for trial in raw["trials"]],
                objective=str(raw["objective"]),
                objective_type=str(raw["objective_type"]),
                best_value=float(raw["best_value"]),
                duration_seconds=float(raw["duration_seconds"]),
                warm_start_parents=tuple(str(p) for p in raw.get("warm_start_parents") or ()),
                storage=str(raw.get("storage") or ""),
                space=dict(raw.get("space") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"a tuning result lacks or misshapes {exc}; it must be TuningResult.to_dict()'s "
                "form"
            ) from exc


def check_tuning_job_name(name: str) -> str:
    if not isinstance(name, str) or not TUNING_JOB_NAME_PATTERN.match(name):
        raise ConfigurationError(
            f"tuning job name {name!r} is not a valid SageMaker tuning job name: use 1-"
            f"{TUNING_JOB_NAME_MAX} letters, digits and hyphens, starting and ending with a "
            "letter or digit")
    return name


@dataclass(frozen=True)
class TuningRequest:
    """One tuning job (the ``request`` phase of the ``tune`` step).

    - ``tuning_job_name``: ``HyperParameterTuningJobName`` (at most 32 characters).
    - ``training``: the base training job every trial varies (``TrainingJobDefinition``): its
      script, channels (lake prefixes), static hyperparameters and metric regexes.
    - ``space``: :meth:`TuningSpace.to_dict` — ranges, objective, strategy, limits, early
      stopping and warm start (``HyperParameterTuningJobConfig`` and ``WarmStartConfig``).
    - ``report_key``: the lake key the tuning job's result (``tuning_result.json``) goes to.
    """

    tuning_job_name: str
    dataset: str
    training: JobRequest
    space: Mapping[str, Any]
    report_key: str

    def __post_init__(self) -> None:
        check_tuning_job_name(self.tuning_job_name)
        if self.training.kind != "training":
            raise ConfigurationError(
                f"tuning job {self.tuning_job_name}: its base job {self.training.job_name} is a "
                f"{self.training.kind} job; a tuning job varies a training job")
        if not self.report_key or self.report_key.startswith("/") or self.report_key.endswith("/"):
            raise ConfigurationError(
                f"tuning job {self.tuning_job_name}: report_key {self.report_key!r} is not a lake "
                "key of a file")
        # normalised through the space itself: an invalid space fails here, with its reason
        object.__setattr__(self, "space", json.loads(json.dumps(
            TuningSpace.from_dict(self.space).to_dict(), allow_nan=False)))

    def search_space(self) -> TuningSpace:
        return TuningSpace.from_dict(self.space)

    @property
    def strategy(self) -> str:
        return str(self.space["strategy"])

    @property
    def max_jobs(self) -> int:
        return int(self.space["max_jobs"])

    @property
    def max_parallel_jobs(self) -> int:
        return int(self.space["max_parallel_jobs"])

    @property
    def early_stopping(self) -> str:
        return str(self.space["early_stopping"])

    @property
    def warm_start_parents(self) -> tuple[str, ...]:
        warm = self.search_space().warm_start
        return warm.parents if warm else ()

    def base_spec(self) -> TrainingJobSpec:
        """The base training job as the tuner takes it (trials change name and hyperparameters)."""
        listed = sorted(k for k, v in self.training.inputs.items() if not isinstance(v, str))
        if listed:
            raise ConfigurationError(
                f"tuning job {self.tuning_job_name}: channels {listed} of its base job are lists "
                "of keys; a tuning job's channels are lake prefixes")
        return TrainingJobSpec(
            job_name=self.training.job_name,
            hyperparameters=dict(self.training.config),
            channels={k: str(v) for k, v in self.training.inputs.items()},
            metric_definitions=tuple(dict(d) for d in self.training.metric_definitions),
            entry_point=Path(self.training.script),
            timeout_seconds=self.training.timeout_seconds,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "tuning_job_name": self.tuning_job_name,
            "dataset": self.dataset,
            "training": self.training.to_dict(),
            "space": dict(self.space),
            "report_key": self.report_key,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TuningRequest:
        try:
            return cls(
                tuning_job_name=raw["tuning_job_name"], dataset=str(raw["dataset"]),
                training=JobRequest.from_dict(raw["training"]), space=dict(raw["space"]),
                report_key=str(raw["report_key"]),
            )
        except KeyError as exc:
            raise ConfigurationError(
                f"a TuningRequest mapping lacks {exc.args[0]!r}; pass TuningRequest.to_dict()'s "
                "result") from exc
