"""The ``tune`` step the Airflow layer calls: a tuning job over a day's features.

Three phases (DESIGN.md, "The step seam"): :func:`tuning_request` (pure: settings, the
channels the prepare step wrote, the day) → :func:`run_tuning` with the tuner the Airflow
layer hands in (locally :class:`airsage.tuning.local.OptunaTuner`), which leaves the result in
the lake as ``reports/tuning/<dataset>/dt=<day>/tuning_result.json`` → :func:`collect_tuning`
(that file read back: the same :class:`TuningResult` on both targets).

The tuning job's name is derived from the dataset, the day, the base hyperparameters and the
search space, so a rerun replaces its own study and trial jobs.
"""

from __future__ import annotations

import datetime as dt_
import json
from collections.abc import Mapping
from typing import Any

from airsage.config import Settings
from airsage.errors import StepFailed
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout
from airsage.training.step import feature_channels, job_name_for, train_request
from airsage.tuning.base import Tuner
from airsage.tuning.job import TUNING_JOB_NAME_MAX, TuningRequest, TuningResult
from airsage.tuning.space import TuningSpace

REPORT_KIND = "tuning"
REPORT_FILE = "tuning_result.json"
__all__ = ["TUNING_JOB_NAME_MAX", "collect_tuning", "run_tuning", "tune_model", "tuning_request"]


def tuning_request(
    settings: Settings,
    dataset: str,
    day: dt_.date | str,
    channels: Mapping[str, str],
    *,
    max_jobs: int | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
) -> TuningRequest:
    """The tuning job of a day's run (pure): the ``tuning:`` search space (``max_jobs``
    overrides its budget) over the training job :func:`train_request` builds from
    ``channels`` (the lake prefixes of the splits the prepare step wrote). The family is the
    configured one, or, with a ``model_family`` range, chosen per trial."""
    space = TuningSpace.from_settings(settings)
    if max_jobs is not None:
        space = space.with_changes(
            max_jobs=max_jobs, max_parallel_jobs=min(space.max_parallel_jobs, max_jobs)
        )
    base = train_request(settings, dataset, day, channels, hyperparameters=hyperparameters,
                         families=space.families())
    name = job_name_for(
        dataset, day, "hpo", {"base": dict(base.config), "space": space.to_dict()},
        max_length=TUNING_JOB_NAME_MAX,
    )
    return TuningRequest(tuning_job_name=name, dataset=dataset, training=base,
                         space=space.to_dict(),
                         report_key=LakeLayout(dataset).report(REPORT_KIND, day, REPORT_FILE))


def run_tuning(lake: Lake, request: TuningRequest, *, tuner: Tuner) -> None:
    """Run the tuning job with ``tuner`` and leave its result at ``request.report_key``."""
    result = tuner.tune(lake, request.dataset, request.base_spec(), request.search_space(),
                        tuning_job_name=request.tuning_job_name)
    lake.write_bytes(request.report_key,
                     json.dumps(result.to_dict(), indent=2, sort_keys=True).encode())


def collect_tuning(lake: Lake, request: TuningRequest) -> TuningResult:
    """The tuning job's result read back from the lake; raise if it is missing or belongs to
    another tuning job (a stale file from a run with other settings)."""
    if not lake.exists(request.report_key):
        raise StepFailed(
            f"tuning job {request.tuning_job_name} left no result at "
            f"{lake.uri(request.report_key)}; rerun the task")
    result = TuningResult.from_dict(json.loads(lake.read_bytes(request.report_key)))
    if result.tuning_job_name != request.tuning_job_name:
        raise StepFailed(
            f"the tuning result at {lake.uri(request.report_key)} is tuning job "
            f"{result.tuning_job_name}'s, not {request.tuning_job_name}'s; rerun the task")
    return result


def tune_model(
    settings: Settings,
    lake: Lake,
    dataset: str,
    day: dt_.date | str,
    *,
    tuner: Tuner,
    max_jobs: int | None = None,
    hyperparameters: dict[str, Any] | None = None,
) -> TuningResult:
    """Tune on the run's train/validation features; return the best job. ``tuner`` is the
    target's tuning engine (``Engines.tuning``)."""
    settings.dataset(dataset)
    request = tuning_request(settings, dataset, day, feature_channels(lake, dataset, day),
                             max_jobs=max_jobs, hyperparameters=hyperparameters)
    run_tuning(lake, request, tuner=tuner)
    return collect_tuning(lake, request)
