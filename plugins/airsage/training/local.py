"""The local target's training runner: a :class:`TrainingJobSpec` run by the one job runner.

:func:`airsage.training.job.training_request` turns the spec into a training
:class:`JobRequest` (channels are lake prefixes, the one output is
``LakeLayout.model_artifact(job)``); :class:`LocalJobRunner` runs it under SageMaker's
script-mode contract (``input/data/<channel>/``, ``input/config/hyperparameters.json``, the
``SM_*`` environment, ``--name value`` arguments), streams its log, captures the metric
regexes (every match kept, the last one wins, as CloudWatch metrics do; ``on_metric`` may
stop the job, which the tuner's pruning uses) and uploads ``model.tar.gz`` only when the
script succeeded; ``training_result`` maps the job's outcome onto
:class:`TrainingJobResult`, the shape ``DescribeTrainingJob`` answers on both targets. The
tuner's trials run through :meth:`LocalTrainingRunner.run`.
"""

from __future__ import annotations

from airsage.config import Settings
from airsage.errors import InputDataError, StepFailed
from airsage.jobs.contract import EXIT_BAD_INPUT
from airsage.jobs.local import LocalJobRunner
from airsage.jobs.request import JobOutcome, MetricCallback
from airsage.lake.base import Lake
from airsage.training.job import (
    TrainingJobResult,
    TrainingJobSpec,
    TrainingSettings,
    training_request,
    training_result,
)


class LocalTrainingRunner:
    """Run ``include/jobs/train.py`` (or any entry point) as SageMaker would, on this machine."""

    def __init__(self, settings: Settings, runner: LocalJobRunner | None = None) -> None:
        self.settings = settings
        self.config = TrainingSettings.from_settings(settings)
        self.runner = runner or LocalJobRunner(settings)

    def train(self, lake: Lake, dataset: str, spec: TrainingJobSpec) -> TrainingJobResult:
        """Run the job; bad input (exit code 2) raises InputDataError, a crash StepFailed;
        a job stopped at its time limit is returned ``Stopped``."""
        outcome = self._attempt(lake, dataset, spec, None)
        result = training_result(lake, spec, outcome)
        if outcome.status == "Failed":
            error = InputDataError if outcome.exit_code == EXIT_BAD_INPUT else StepFailed
            raise error(
                f"training job {spec.job_name} (dataset {dataset}, local target) failed: "
                f"{result.failure_reason}\nfix the script or its input and rerun the task"
            )
        return result

    def run(
        self,
        lake: Lake,
        dataset: str,
        spec: TrainingJobSpec,
        *,
        on_metric: MetricCallback | None = None,
    ) -> TrainingJobResult:
        """Run the job and report how it ended (never raises for a job that crashed)."""
        return training_result(lake, spec, self._attempt(lake, dataset, spec, on_metric))

    def _attempt(self, lake: Lake, dataset: str, spec: TrainingJobSpec,
                 on_metric: MetricCallback | None) -> JobOutcome:
        request = training_request(dataset, spec, self.config.timeout_seconds)
        return self.runner.attempt(lake, request, on_metric=on_metric)
