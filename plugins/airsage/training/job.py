"""What a training job is given and what it returns: the same shapes on both targets.

A :class:`TrainingJobSpec` is a SageMaker ``CreateTrainingJob`` request reduced to what airsage
varies (name, hyperparameters, input channels, metric regexes, entry point); a
:class:`TrainingJobResult` is what ``DescribeTrainingJob`` answers once the job ended. The local
runner and the AWS runner both take the first and return the second, so the tuner, the steps
and the Airflow layer never ask which target ran the job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airsage.config import INCLUDE_DIR, Settings
from airsage.errors import ConfigurationError
from airsage.jobs.request import MODEL_OUTPUT, JobOutcome, JobRequest, check_metric_definitions
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout

DEFAULT_ENTRY_POINT = INCLUDE_DIR / "jobs" / "train.py"
# SageMaker's rule for TrainingJobName, enforced locally so a name that works here works on AWS.
JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
STATUSES = ("Completed", "Failed", "Stopped")
DEFAULT_METRIC_DEFINITIONS: tuple[dict[str, str], ...] = (
    {"Name": "validation:accuracy", "Regex": r"validation:accuracy=([0-9\.]+)"},
    {"Name": "validation:macro_f1", "Regex": r"validation:macro_f1=([0-9\.]+)"},
    {"Name": "train:loss", "Regex": r"train:loss=([0-9\.]+)"},
)


@dataclass(frozen=True)
class TrainingSettings:
    """The ``training:`` section of the settings, checked once."""

    model_family: str
    hyperparameters: Mapping[str, Any]  # shared by every family
    family_hyperparameters: Mapping[str, Mapping[str, Any]]  # family -> its own defaults
    metric_definitions: tuple[dict[str, str], ...]
    instance_type: str
    timeout_seconds: float | None

    @classmethod
    def from_settings(cls, settings: Settings) -> TrainingSettings:
        section = settings.section("training")
        hyperparameters = section.get("hyperparameters") or {}
        if not isinstance(hyperparameters, Mapping):
            raise ConfigurationError(
                f"training.hyperparameters in {settings.source} must be a mapping of name to "
                f"value, got {type(hyperparameters).__name__}"
            )
        families = section.get("family_hyperparameters") or {}
        if not isinstance(families, Mapping) or not all(
            isinstance(v, Mapping) for v in families.values()
        ):
            raise ConfigurationError(
                f"training.family_hyperparameters in {settings.source} must map a family name "
                "to a mapping of hyperparameters, e.g. {bert: {epochs: 0}}"
            )
        definitions = tuple(
            dict(item) for item in section.get("metric_definitions") or DEFAULT_METRIC_DEFINITIONS
        )
        check_metric_definitions(definitions, where=f"training.metric_definitions in {settings.source}")
        timeout = section.get("timeout_seconds")
        if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
            raise ConfigurationError(
                f"training.timeout_seconds in {settings.source} must be a positive number of "
                f"seconds (or absent for no limit), got {timeout!r}"
            )
        return cls(
            model_family=str(section.get("model_family", "tfidf_linear")),
            hyperparameters=dict(hyperparameters),
            family_hyperparameters={str(k): dict(v) for k, v in families.items()},
            metric_definitions=definitions,
            instance_type=str(section.get("instance_type", "ml.m5.xlarge")),
            timeout_seconds=float(timeout) if timeout is not None else None,
        )

    def base_hyperparameters(
        self, overrides: Mapping[str, Any] | None = None, *, families: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Family defaults < shared hyperparameters < overrides, with ``model_family`` set.

        The family is the override's ``model_family`` when given, so switching family in a
        manual run also switches to that family's configured defaults. ``families`` are the
        other families a tuning job may choose per trial (a ``model_family`` range): their
        defaults are included too, under the chosen family's, because a tuning job's static
        hyperparameters must let each trial train whichever family it draws (each family
        reads only its own keys).
        """
        overrides = dict(overrides or {})
        family = str(overrides.get("model_family", self.model_family))
        merged: dict[str, Any] = {}
        for other in families:
            if other != family:
                merged.update(self.family_hyperparameters.get(str(other), {}))
        return {
            **merged,
            **self.family_hyperparameters.get(family, {}),
            **self.hyperparameters,
            **overrides,
            "model_family": family,
        }


def check_job_name(job_name: str) -> str:
    if not JOB_NAME_PATTERN.match(job_name):
        raise ConfigurationError(
            f"training job name {job_name!r} is not a valid SageMaker job name: use 1-63 letters, "
            "digits and hyphens, starting and ending with a letter or digit"
        )
    return job_name


@dataclass(frozen=True)
class TrainingJobSpec:
    """One training job: the script, its hyperparameters and its input channels."""

    job_name: str
    hyperparameters: Mapping[str, Any]
    channels: Mapping[str, str]  # channel name -> lake key prefix
    metric_definitions: tuple[dict[str, str], ...] = DEFAULT_METRIC_DEFINITIONS
    entry_point: Path = DEFAULT_ENTRY_POINT
    timeout_seconds: float | None = None  # None: the runner's configured limit
    debugger: Mapping[str, Any] = field(default_factory=dict)  # DebuggerSettings.to_dict()

    def __post_init__(self) -> None:
        check_job_name(self.job_name)
        if "train" not in self.channels:
            raise ConfigurationError(
                f"training job {self.job_name}: channels {sorted(self.channels)} lack 'train'; "
                "the training script needs a train channel"
            )
        object.__setattr__(self, "metric_definitions", tuple(dict(d) for d in self.metric_definitions))
        check_metric_definitions(self.metric_definitions, where=f"training job {self.job_name}")

    def with_changes(self, **changes: Any) -> TrainingJobSpec:
        from dataclasses import replace

        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_name": self.job_name,
            "hyperparameters": dict(self.hyperparameters),
            "channels": dict(self.channels),
            "metric_definitions": [dict(d) for d in self.metric_definitions],
            "entry_point": str(self.entry_point),
            "timeout_seconds": self.timeout_seconds,
            **({"debugger": dict(self.debugger)} if self.debugger else {}),
        }


@dataclass(frozen=True)
class TrainingJobResult:
    """How a training job ended: status, artifact, metrics (last value and history), log tail."""

    job_name: str
    status: str  # Completed | Failed | Stopped
    model_artifact_key: str | None  # LakeLayout.model_artifact(job_name); None if none was written
    model_artifact_uri: str | None
    final_metrics: Mapping[str, float]
    failure_reason: str | None
    log_tail: str
    duration_seconds: float
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    metric_history: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    # DescribeTrainingJob's DebugRuleEvaluationStatuses (airsage.training.debugger)
    debug_rule_evaluations: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"training job status {self.status!r} is not one of {STATUSES}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_name": self.job_name,
            "status": self.status,
            "model_artifact_key": self.model_artifact_key,
            "model_artifact_uri": self.model_artifact_uri,
            "final_metrics": {k: float(v) for k, v in self.final_metrics.items()},
            "failure_reason": self.failure_reason,
            "log_tail": self.log_tail,
            "duration_seconds": float(self.duration_seconds),
            "hyperparameters": dict(self.hyperparameters),
            "metric_history": {k: [float(x) for x in v] for k, v in self.metric_history.items()},
            "debug_rule_evaluations": [dict(e) for e in self.debug_rule_evaluations],
        }


def training_request(dataset: str, spec: TrainingJobSpec,
                     default_timeout: float | None = None) -> JobRequest:
    """The spec as a job request (pure): channels in, ``model.tar.gz`` out."""
    return JobRequest(
        kind="training",
        job_name=spec.job_name,
        script=str(spec.entry_point),
        inputs=dict(spec.channels),
        outputs={MODEL_OUTPUT: LakeLayout(dataset).model_artifact(spec.job_name)},
        config=dict(spec.hyperparameters),
        timeout_seconds=spec.timeout_seconds or default_timeout,
        metric_definitions=spec.metric_definitions,
        debugger=dict(spec.debugger),
    )


def training_result(lake: Lake, spec: TrainingJobSpec, outcome: JobOutcome,
                    rule_evaluations: Sequence[Mapping[str, Any]] = ()) -> TrainingJobResult:
    """``DescribeTrainingJob`` of a finished job: status, artifact, metrics, log tail, and the
    Debugger rules' statuses (``rule_evaluations``: airsage's, or SageMaker's)."""
    artifact_key = outcome.output_keys[0] if outcome.status == "Completed" else None
    return TrainingJobResult(
        job_name=spec.job_name,
        status=outcome.status,
        model_artifact_key=artifact_key,
        model_artifact_uri=lake.uri(artifact_key) if artifact_key else None,
        final_metrics=outcome.final_metrics,
        failure_reason=outcome.failure_reason,
        log_tail=outcome.log_tail,
        duration_seconds=outcome.duration_seconds,
        hyperparameters=dict(spec.hyperparameters),
        metric_history=dict(outcome.metric_history),
        debug_rule_evaluations=tuple(dict(e) for e in rule_evaluations),
    )
