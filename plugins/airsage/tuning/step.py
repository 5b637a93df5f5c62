"""The ``tune`` step the Airflow layer calls: a tuning job over a day's features.

The tuning job's name is derived from the dataset, the day, the base hyperparameters and the
search space, so a rerun replaces its own study and trial jobs. The result is also written to
the lake as ``reports/tuning/<dataset>/dt=<day>/tuning_result.json``.
"""

from __future__ import annotations

import datetime as dt_
import json
from typing import Any

from airsage.config import Settings
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout
from airsage.training.step import build_spec, job_name_for
from airsage.tuning.base import Tuner
from airsage.tuning.job import TuningResult
from airsage.tuning.space import TuningSpace

REPORT_KIND = "tuning"
REPORT_FILE = "tuning_result.json"
# SageMaker's HyperParameterTuningJobName limit; trial jobs append "-NNN".
TUNING_JOB_NAME_MAX = 32


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
    """Tune on the run's train/validation features; return the best job. The family is the
    configured one, or, with a ``model_family`` range, chosen per trial. ``tuner`` is the
    target's tuning engine (``Engines.tuning``)."""
    settings.dataset(dataset)
    space = TuningSpace.from_settings(settings)
    if max_jobs is not None:
        space = space.with_changes(
            max_jobs=max_jobs, max_parallel_jobs=min(space.max_parallel_jobs, max_jobs)
        )
    base = build_spec(settings, lake, dataset, day, hyperparameters=hyperparameters,
                      families=space.families())
    name = job_name_for(
        dataset, day, "hpo", {"base": dict(base.hyperparameters), "space": space.to_dict()},
        max_length=TUNING_JOB_NAME_MAX,
    )
    result = tuner.tune(lake, dataset, base, space, tuning_job_name=name)
    lake.write_bytes(
        LakeLayout(dataset).report(REPORT_KIND, day, REPORT_FILE),
        json.dumps(result.to_dict(), indent=2, sort_keys=True).encode(),
    )
    return result
