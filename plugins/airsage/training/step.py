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
import json
from collections.abc import Mapping
from typing import Any

from airsage.config import Settings
from airsage.errors import InputDataError, StepFailed
from airsage.jobs.contract import EXIT_BAD_INPUT
from airsage.jobs.request import JobOutcome, JobRequest, JobRunner, fingerprint, job_name
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout, partition_value
from airsage.training.debugger import (
    DebuggerSettings,
    RuleEvaluation,
    RuleMonitor,
    evaluate_rules,
    fired_error,
    metric_definitions,
)
from airsage.training.job import (
    TrainingJobResult,
    TrainingJobSpec,
    TrainingSettings,
    training_request,
    training_result,
)
from airsage.training.model import LABELS

RULE_EVALUATIONS_FILE = "rule_evaluations.json"

# Test is held out for the evaluation step: training and tuning never see it.
TRAINING_CHANNELS = ("train", "validation")
__all__ = ["build_spec", "collect_training", "debug_rule_evaluations", "feature_channels",
           "fingerprint", "job_name_for", "rule_evaluations_key", "train_model", "train_request"]


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
    debugger = DebuggerSettings.from_settings(settings)
    definitions = config.metric_definitions
    if debugger.enabled:  # the captures the rules read, unless configured already
        named = {d["Name"] for d in definitions}
        definitions = (*definitions,
                       *(d for d in metric_definitions(LABELS) if d["Name"] not in named))
    return TrainingJobSpec(
        job_name=name,
        hyperparameters=merged,
        channels=dict(channels),
        metric_definitions=definitions,
        timeout_seconds=config.timeout_seconds,
        debugger=debugger.to_dict(),
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


def debug_rule_evaluations(request: JobRequest, outcome: JobOutcome) -> tuple[RuleEvaluation, ...]:
    """The job's Debugger rule statuses: SageMaker's (``DebugRuleEvaluationStatuses`` of
    DescribeTrainingJob) when it reported them, else airsage's over the job's metric history."""
    config = DebuggerSettings.from_dict(request.debugger)
    if not config.enabled:
        return ()
    if outcome.rule_evaluations:
        return tuple(RuleEvaluation.from_dict(raw) for raw in outcome.rule_evaluations)
    return evaluate_rules(config, outcome.metric_history)


def rule_evaluations_key(dataset: str, day: dt_.date | str) -> str:
    """Where a run's Debugger rule statuses are kept (the run report reads them, also when a
    rule stopped the job and the train step failed)."""
    return LakeLayout(dataset).report("debugger", day, RULE_EVALUATIONS_FILE)


def collect_training(lake: Lake, request: JobRequest, outcome: JobOutcome, *,
                     evaluations: tuple[RuleEvaluation, ...] | None = None) -> TrainingJobResult:
    """The job's result, its model artifact read back from the lake; raise unless it completed.

    Bad input (the script's exit code 2) raises InputDataError; a crash or a stop (time
    limit) StepFailed with the job's failure reason. A Debugger rule that fired under
    ``action: stop_training`` raises GateFailedError naming the rule, its measured value and
    threshold; under ``mark_candidate`` the statuses ride on the result and the condition
    step refuses to bless the candidate.
    """
    spec = TrainingJobSpec(job_name=request.job_name, hyperparameters=dict(request.config),
                           channels={k: v for k, v in request.inputs.items()
                                     if isinstance(v, str)},
                           metric_definitions=tuple(dict(d) for d in request.metric_definitions),
                           timeout_seconds=request.timeout_seconds,
                           debugger=dict(request.debugger))
    if evaluations is None:
        evaluations = debug_rule_evaluations(request, outcome)
    if DebuggerSettings.from_dict(request.debugger).action == "stop_training" and any(
            e.fired for e in evaluations):
        raise fired_error(request.job_name, evaluations)
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
    return training_result(lake, spec, outcome, [e.to_dict() for e in evaluations])


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
    config = DebuggerSettings.from_dict(request.debugger)
    # A runner that streams the job's metrics lets a firing rule stop the job, as
    # SageMaker's StopTraining rule action does (a SageMaker job's own rules stop it there).
    monitor = (RuleMonitor(config) if config.action == "stop_training" and config.enabled
               and getattr(runner, "streams_metrics", False) else None)
    try:
        outcome = runner.attempt(lake, request, on_metric=monitor)
    except InputDataError as exc:
        raise InputDataError(f"training for {dataset} dt={partition_value(day)}: {exc}") from exc
    evaluations = debug_rule_evaluations(request, outcome)
    if evaluations:
        document = json.dumps({"TrainingJobName": outcome.job_name, "Action": config.action,
                               "DebugRuleEvaluationStatuses": [e.to_dict() for e in evaluations]},
                              indent=2, sort_keys=True)
        lake.write_bytes(rule_evaluations_key(dataset, day), document.encode())
    return collect_training(lake, request, outcome, evaluations=evaluations)
