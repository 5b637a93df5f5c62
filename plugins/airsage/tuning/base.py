"""The tuning capability's interface: a hyperparameter tuning job over training jobs.

The search space is :class:`~airsage.tuning.space.TuningSpace` (SageMaker's parameter
ranges); the result is :class:`~airsage.tuning.job.TuningResult`, every trial and the best job.
"""

from __future__ import annotations

from typing import Protocol

from airsage.lake.base import Lake
from airsage.training.job import TrainingJobSpec
from airsage.tuning.job import TuningResult
from airsage.tuning.space import TuningSpace


class Tuner(Protocol):
    """Runs ``space.max_jobs`` training jobs derived from ``base_spec``; keeps the best."""

    def tune(
        self,
        lake: Lake,
        dataset: str,
        base_spec: TrainingJobSpec,
        space: TuningSpace,
        *,
        tuning_job_name: str | None = None,
    ) -> TuningResult:
        """Tune and return every trial; a rerun with the same name replaces its own study."""
        ...
