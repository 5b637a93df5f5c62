"""The ``train`` step the Airflow layer calls: one training job over a run's features (the
window of curated days ending at the run's day, prepared under that day's ``features/`` key).

The job name is derived from the dataset, the day and the hyperparameters, so rerunning the
same task rewrites its own ``models/<dataset>/<job>/`` output and nothing else, while a run
with other hyperparameters gets its own job.
"""

from __future__ import annotations

import datetime as dt_
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from airsage.config import Settings
from airsage.errors import StepFailed
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout, partition_value
from airsage.training.job import TrainingJobResult, TrainingJobSpec, TrainingSettings

# Test is held out for the evaluation step: training and tuning never see it.
TRAINING_CHANNELS = ("train", "validation")


def fingerprint(payload: Any, length: int = 8) -> str:
    """A short stable hash of JSON-able ``payload`` (sorted keys)."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def job_name_for(dataset: str, day: dt_.date | str, kind: str, payload: Any, *, max_length: int = 63) -> str:
    """``<dataset>-<yyyymmdd>-<kind>-<hash>``, cut to SageMaker's name limit."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", dataset).strip("-") or "dataset"
    suffix = f"-{partition_value(day).replace('-', '')}-{kind}-{fingerprint(payload)}"
    return slug[: max(1, max_length - len(suffix))].rstrip("-") + suffix


def feature_channels(lake: Lake, dataset: str, day: dt_.date | str) -> dict[str, str]:
    """Channel name -> features prefix of that day, for the splits that exist (train first)."""
    layout = LakeLayout(dataset)
    channels = {}
    for split in TRAINING_CHANNELS:
        prefix = layout.features(day, split)
        if split == "train" or next(iter(lake.list(prefix)), None) is not None:
            channels[split] = prefix
    return channels


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
    config = TrainingSettings.from_settings(settings)
    merged = config.base_hyperparameters(hyperparameters, families=families)
    name = job_name or job_name_for(dataset, day, str(merged["model_family"]).replace("_", ""), merged)
    return TrainingJobSpec(
        job_name=name,
        hyperparameters=merged,
        channels=feature_channels(lake, dataset, day),
        metric_definitions=config.metric_definitions,
        timeout_seconds=config.timeout_seconds,
    )


def train_model(
    settings: Settings,
    lake: Lake,
    dataset: str,
    day: dt_.date | str,
    *,
    hyperparameters: dict[str, Any] | None = None,
    job_name: str | None = None,
) -> TrainingJobResult:
    """Train on the run's features (its window of days) with the target's runner; fail unless
    the job completed."""
    from airsage.targets import implementation

    settings.dataset(dataset)
    spec = build_spec(settings, lake, dataset, day, hyperparameters=hyperparameters, job_name=job_name)
    runner = implementation("training", settings)
    result = runner.train(lake, dataset, spec)
    if result.status != "Completed":
        raise StepFailed(
            f"training job {spec.job_name} (dataset {dataset}, day {partition_value(day)}, "
            f"target {settings.target}) ended {result.status}: {result.failure_reason}; "
            "raise training.timeout_seconds or lower the cost (rows, epochs) and rerun"
        )
    return result
