"""The ``train`` step the Airflow layer calls: one training job over a run's features (the
window of curated days ending at the run's day, prepared under that day's ``features/`` key).

Three phases (DESIGN.md, "The step seam"): :func:`train_request` (pure: settings, the
channels the prepare step wrote, the day) → the runner the Airflow layer hands in (locally
:class:`airsage.jobs.local.LocalJobRunner`) → :func:`collect_training` (the model artifact read
back from the lake, the same :class:`TrainingJobResult` on both targets).

The job name is derived from the dataset, the day and the hyperparameters, so rerunning the
same task rewrites its own ``models/<dataset>/<job>/`` output and nothing else, while a run
with other hyperparameters gets its own job.
"""

from __future__ import annotations

import datetime as dt_
from collections.abc import Mapping
from typing import Any

from airsage.config import Settings
from airsage.errors import InputDataError, StepFailed
from airsage.jobs.contract import EXIT_BAD_INPUT
from airsage.jobs.request import JobOutcome, JobRequest, JobRunner, fingerprint, job_name
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout, partition_value
from airsage.training.job import (
    TrainingJobResult,
    TrainingJobSpec,
    TrainingSettings,
    training_request,
    training_result,
)

# Test is held out for the evaluation step: training and tuning never see it.
TRAINING_CHANNELS = ("train", "validation")
__all__ = ["build_spec", "collect_training", "feature_channels", "fingerprint", "job_name_for",
           "train_model", "train_request"]


def job_name_for(dataset: str, day: dt_.date | str, kind: str, payload: Any, *, max_length: int = 63) -> str:
    """``<dataset>-<yyyymmdd>-<kind>-<hash>``, cut to SageMaker's name limit."""
    return job_name(dataset, day, kind, payload, max_length=max_length)


def feature_channels(lake: Lake, dataset: str, day: dt_.date | str) -> dict[str, str]:
    """Channel name -> features prefix of that day, for the splits that exist (train first)."""
    layout = LakeLayout(dataset)
    channels = {}
    for split in TRAINING_CHANNELS:
        prefix = layout.features(day, split)
        if split == "train" or next(iter(lake.list(prefix)), None) is not None:
            channels[split] = prefix
    return channels


def _spec(
    settings: Settings,
    dataset: str,
    day: dt_.date | str,
    channels: Mapping[str, str],
    hyperparameters: Mapping[str, Any] | None,
    name: str | None,
    families: tuple[str, ...] = (),
) -> TrainingJobSpec:
    config = TrainingSettings.from_settings(settings)
    merged = config.base_hyperparameters(hyperparameters, families=families)
    name = name or job_name_for(dataset, day, str(merged["model_family"]).replace("_", ""), merged)
    return TrainingJobSpec(
        job_name=name,
        hyperparameters=merged,
        channels=dict(channels),
        metric_definitions=config.metric_definitions,
        timeout_seconds=config.timeout_seconds,
    )


def build_spec(
    settings: Settings,
    lake: Lake,
    dataset: str,
    day: dt_.date | str,
    *,
    hyperparameters: Mapping[str, Any] | None = None,
    job_name: str | None = None,
    families: tuple[str, ...] = (),
) -> TrainingJobSpec:
    """The training job a day's run submits, from the ``training:`` settings and overrides.

    ``families``: the families a tuning job may switch to per trial (their defaults ride along).
    """
    return _spec(settings, dataset, day, feature_channels(lake, dataset, day), hyperparameters,
                 job_name, families)


def train_request(
    settings: Settings,
    dataset: str,
    day: dt_.date | str,
    channels: Mapping[str, str],
    *,
    hyperparameters: Mapping[str, Any] | None = None,
    job_name: str | None = None,
    families: tuple[str, ...] = (),
) -> JobRequest:
    """The training job of a day's run (pure): ``channels`` are the lake prefixes of the
    splits the prepare step wrote (:func:`feature_channels`), the output is
    ``LakeLayout.model_artifact(job)``. ``families``: as for :func:`build_spec` (the base
    job of a tuning job whose trials may switch family)."""
    return training_request(dataset, _spec(settings, dataset, day, channels, hyperparameters,
                                           job_name, families))


def collect_training(lake: Lake, request: JobRequest, outcome: JobOutcome) -> TrainingJobResult:
    """The job's result, its model artifact read back from the lake; raise unless it completed.

    Bad input (the script's exit code 2) raises InputDataError; a crash or a stop (time
    limit) StepFailed with the job's failure reason.
    """
    spec = TrainingJobSpec(job_name=request.job_name, hyperparameters=dict(request.config),
                           channels={k: v for k, v in request.inputs.items()
                                     if isinstance(v, str)},
                           metric_definitions=tuple(dict(d) for d in request.metric_definitions),
                           timeout_seconds=request.timeout_seconds)
    if outcome.status != "Completed":
        error = InputDataError if outcome.exit_code == EXIT_BAD_INPUT else StepFailed
        raise error(
            f"training job {request.job_name} ended {outcome.status}: {outcome.failure_reason}; "
            "fix the input, or raise training.timeout_seconds or lower the cost (rows, epochs), "
            "and rerun")
    key = request.output("model")
    if not lake.exists(key):
        raise StepFailed(
            f"training job {request.job_name} completed but its model artifact "
            f"{lake.uri(key)} is not in the lake; rerun the task")
    return training_result(lake, spec, outcome)


def train_model(
    settings: Settings,
    lake: Lake,
    dataset: str,
    day: dt_.date | str,
    *,
    runner: JobRunner,
    hyperparameters: dict[str, Any] | None = None,
    job_name: str | None = None,
) -> TrainingJobResult:
    """Train on the run's features (its window of days) with ``runner``; fail unless the job
    completed."""
    settings.dataset(dataset)
    request = train_request(settings, dataset, day, feature_channels(lake, dataset, day),
                            hyperparameters=hyperparameters, job_name=job_name)
    try:
        outcome = runner.attempt(lake, request)
    except InputDataError as exc:
        raise InputDataError(f"training for {dataset} dt={partition_value(day)}: {exc}") from exc
    return collect_training(lake, request, outcome)
