"""The training capability's interface: a runner of SageMaker script-mode training jobs.

The job's request and result shapes are :class:`~airsage.training.job.TrainingJobSpec` and
:class:`~airsage.training.job.TrainingJobResult` (CreateTrainingJob / DescribeTrainingJob).
"""

from __future__ import annotations

from typing import Protocol

from airsage.jobs.request import MetricCallback
from airsage.lake.base import Lake
from airsage.training.job import TrainingJobResult, TrainingJobSpec

__all__ = ["MetricCallback", "TrainingRunner"]


class TrainingRunner(Protocol):
    """Runs one training job over the lake's channels and uploads its ``model.tar.gz``."""

    def train(self, lake: Lake, dataset: str, spec: TrainingJobSpec) -> TrainingJobResult:
        """Run the job; a crashed job raises :class:`~airsage.errors.StepFailed`."""
        ...

    def run(
        self,
        lake: Lake,
        dataset: str,
        spec: TrainingJobSpec,
        *,
        on_metric: MetricCallback | None = None,
    ) -> TrainingJobResult:
        """Run the job and report how it ended (``Failed`` is a result here, not an error);
        ``on_metric`` sees every objective value the job prints and may stop it."""
        ...
