"""Hyperparameter tuning on the aws target: a SageMaker tuning job (Bayesian) over the training job.

The three phases of the seam (DESIGN.md), for ``CreateHyperParameterTuningJob``:

- request (pure): :func:`tuning_job_config` turns the training job's ``CreateTrainingJob``
  kwargs (the aws training request, built elsewhere) and the :class:`TuningRequest` into the
  tuning job's kwargs: ``HyperParameterTuningJobConfig`` from the shared search space (the
  ranges Optuna samples locally), a ``TrainingJobDefinition`` whose static hyperparameters are
  the training job's minus the tuned ones, and a ``WarmStartConfig``.
- warm start: :func:`previous_tuning_job` picks the parent. The choice, and why: SageMaker
  itself is asked (``ListHyperParameterTuningJobs``), not a record in the lake, because a
  parent must exist and be ``Completed`` in that account and region or the create call
  fails; a lake record can outlive the job or come from another account. The parent is the
  newest completed tuning job of the same dataset for the same or an earlier day whose
  hyperparameters (names, and the kind of each range) match; its data decides the type:
  the same channels and image → ``IdenticalDataAndAlgorithm``, a changed data window (the
  daily case) → ``TransferLearning``. Parents named in ``tuning.warm_start.parents`` win.
- re-attach: tuning job names are deterministic (:func:`airsage.tuning.step.tuning_request`,
  at most 32 characters); :func:`reattach_tuning` asks ``DescribeHyperParameterTuningJob``
  through :func:`airsage.jobs.reattach.decide` before anything is submitted (the provider's
  ``SageMakerTuningOperator`` has no existence check at all).
- collect: :func:`collect_sagemaker_tuning` reads ``DescribeHyperParameterTuningJob`` and
  ``ListTrainingJobsForHyperParameterTuningJob`` into the local tuner's :class:`TuningResult`,
  leaves the best trial's ``model.tar.gz`` at ``LakeLayout.model_artifact(<best job>)`` (where
  the local tuner's best trial leaves it, and where evaluate, register and deploy read it),
  writes ``tuning_result.json`` and reads it back with :func:`collect_tuning`.
"""

from __future__ import annotations

import datetime as dt_
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from airsage.awsconf import ServiceCall
from airsage.config import Settings
from airsage.errors import ConfigurationError, StepFailed
from airsage.jobs.reattach import MAX_ATTEMPTS, Reattach, attempt_name, decide, sagemaker_status
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout
from airsage.training.job import TrainingJobResult
from airsage.tuning.job import (
    TUNING_JOB_NAME_MAX,
    TrialResult,
    TuningRequest,
    TuningResult,
    check_tuning_job_name,
)
from airsage.tuning.space import TuningSpace, WarmStart

# HyperParameterAlgorithmSpecification takes these keys of CreateTrainingJob's AlgorithmSpecification.
ALGORITHM_KEYS = ("TrainingImage", "AlgorithmName", "TrainingInputMode", "MetricDefinitions")
# CreateTrainingJob keys a TrainingJobDefinition carries unchanged.
DEFINITION_KEYS = ("RoleArn", "InputDataConfig", "OutputDataConfig", "ResourceConfig",
                   "StoppingCondition", "VpcConfig", "EnableNetworkIsolation",
                   "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining",
                   "CheckpointConfig", "RetryStrategy", "Environment")
REQUIRED_KEYS = ("AlgorithmSpecification", "RoleArn", "OutputDataConfig", "ResourceConfig",
                 "StoppingCondition")
# CreateTrainingJob keys a tuning job has no place for: the name (SageMaker names each
# trial), and debugging/profiling/experiment settings of one job.
DROPPED_KEYS = ("TrainingJobName", "HyperParameters", "Tags", "DebugHookConfig",
                "DebugRuleConfigurations", "TensorBoardOutputConfig", "ExperimentConfig",
                "ProfilerConfig", "ProfilerRuleConfigurations", "RemoteDebugConfig",
                "InfraCheckConfig", "SessionChainingConfig")
# <scope>-<yyyymmdd>-hpo-<hash>[-r<attempt>] (airsage.jobs.request.job_name, attempt_name cuts the hash)
TUNING_NAME = re.compile(
    r"^(?P<scope>[A-Za-z0-9-]+?)-(?P<day>\d{8})-hpo-(?P<hash>[0-9a-f]{1,8})(?:-r(?P<attempt>\d+))?$")
# SageMaker names a tuning job's training jobs <tuning job>-<NNN>-<8 hex>
TRIAL_NUMBER = re.compile(r"-(\d{3})-[0-9a-f]{8}$")
WARM_START_CANDIDATES = 10  # newest completed jobs described before giving up on a parent
MAX_STATIC_TUNED_CHANGES = 10  # SageMaker's limit for a warm start
PAGE_SIZE = 100  # MaxResults of the List* calls (SageMaker's most)


def _definition_error(request: TuningRequest, problem: str) -> ConfigurationError:
    return ConfigurationError(
        f"tuning job {request.tuning_job_name}: its training job's CreateTrainingJob kwargs "
        f"{problem}")


def training_job_definition(training_job: Mapping[str, Any], request: TuningRequest) -> dict[str, Any]:
    """``TrainingJobDefinition`` of CreateHyperParameterTuningJob from CreateTrainingJob kwargs:
    the same image, metric regexes, channels, output, resources, stopping condition and role;
    the static hyperparameters are the training job's minus the ones the space tunes."""
    unknown = sorted(set(training_job) - set(DEFINITION_KEYS) - set(DROPPED_KEYS)
                     - {"AlgorithmSpecification"})
    if unknown:
        raise _definition_error(
            request, f"have keys {unknown} a tuning job's TrainingJobDefinition cannot carry; "
            f"it takes {sorted(DEFINITION_KEYS)} and the AlgorithmSpecification")
    missing = [key for key in REQUIRED_KEYS if not training_job.get(key)]
    if missing:
        raise _definition_error(request, f"lack {missing}")
    algorithm = training_job["AlgorithmSpecification"]
    if not (algorithm.get("TrainingImage") or algorithm.get("AlgorithmName")):
        raise _definition_error(request, "name neither a TrainingImage nor an AlgorithmName")
    space = request.search_space()
    metrics = [str(d.get("Name")) for d in algorithm.get("MetricDefinitions") or ()]
    if algorithm.get("TrainingImage") and space.objective_metric not in metrics:
        raise _definition_error(
            request, f"capture no {space.objective_metric!r} metric (the tuning objective); "
            f"their MetricDefinitions: {metrics}. Add its regex to training.metric_definitions")
    hyperparameters = dict(training_job.get("HyperParameters") or {})
    not_text = sorted(name for name, value in hyperparameters.items() if not isinstance(value, str))
    if not_text:
        raise _definition_error(
            request, f"have hyperparameters {not_text} that are not strings (SageMaker's "
            "HyperParameters map strings to strings)")
    tuned = set(space.tuned_names())
    definition: dict[str, Any] = {
        "AlgorithmSpecification": {k: algorithm[k] for k in ALGORITHM_KEYS if k in algorithm},
        "StaticHyperParameters": {k: v for k, v in sorted(hyperparameters.items()) if k not in tuned},
    }
    definition.update({k: training_job[k] for k in DEFINITION_KEYS if k in training_job})
    definition["AlgorithmSpecification"].setdefault("TrainingInputMode", "File")
    return definition


def tuning_job_config(
    training_job: Mapping[str, Any],
    request: TuningRequest,
    *,
    job_name: str | None = None,
    warm_start: WarmStart | None = None,
) -> dict[str, Any]:
    """CreateHyperParameterTuningJob kwargs (pure): the search space's
    ``HyperParameterTuningJobConfig`` (strategy, objective, limits, ranges, early stopping),
    the training job's definition, ``warm_start`` unless the space names its own parents,
    and the training job's tags. ``job_name``: the attempt's name (default: the request's)."""
    name = check_tuning_job_name(job_name or request.tuning_job_name)
    space = request.search_space()
    if warm_start is not None and space.warm_start is None:
        space = space.with_changes(warm_start=warm_start)
    config: dict[str, Any] = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": space.tuning_job_config(),
        "TrainingJobDefinition": training_job_definition(training_job, request),
    }
    warm = space.warm_start_config()
    if warm is not None:
        if any(parent["HyperParameterTuningJobName"] == name
               for parent in warm["ParentHyperParameterTuningJobs"]):
            raise ConfigurationError(
                f"tuning job {name} lists itself as a warm-start parent; name an earlier job in "
                "tuning.warm_start.parents")
        config["WarmStartConfig"] = warm
    if training_job.get("Tags"):
        config["Tags"] = list(training_job["Tags"])
    return config


def tuning_calls(config: Mapping[str, Any]) -> tuple[ServiceCall, ...]:
    """The SageMaker and S3 calls of the tuning step for ``config`` (CreateHyperParameter-
    TuningJob kwargs), in order, as ``airsage plan`` lists them."""
    name = {"HyperParameterTuningJobName": config["HyperParameterTuningJobName"]}
    return (
        ServiceCall("sagemaker", "DescribeHyperParameterTuningJob", name),  # re-attach
        ServiceCall("sagemaker", "ListHyperParameterTuningJobs",  # the warm-start parent
                    {"StatusEquals": "Completed", "SortBy": "CreationTime"}),
        ServiceCall("sagemaker", "CreateHyperParameterTuningJob", dict(config)),
        ServiceCall("sagemaker", "DescribeHyperParameterTuningJob", name),  # the wait, collect
        ServiceCall("sagemaker", "ListTrainingJobsForHyperParameterTuningJob", name),
        ServiceCall("sagemaker", "DescribeTrainingJob", {"TrainingJobName": "<best training job>"}),
        ServiceCall("s3", "CopyObject", {"Key": "models/<dataset>/<best training job>/output/model.tar.gz"}),
    )


# -- warm start --------------------------------------------------------------------------------


def _channel_uris(definition: Mapping[str, Any]) -> dict[str, str]:
    return {str(c.get("ChannelName")): str(c.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri"))
            for c in definition.get("InputDataConfig") or ()}


def _range_kinds(config: Mapping[str, Any]) -> dict[str, str]:
    ranges = config.get("ParameterRanges") or {}
    return {str(r["Name"]): kind for kind in ("Continuous", "Integer", "Categorical")
            for r in ranges.get(f"{kind}ParameterRanges") or ()}


def warm_start_type(parent: Mapping[str, Any], config: Mapping[str, Any]) -> str | None:
    """How tuning job ``config`` (CreateHyperParameterTuningJob kwargs) can warm start from
    ``parent`` (its DescribeHyperParameterTuningJob answer), or None when it cannot.

    SageMaker refuses a parent with another objective, with other hyperparameters (static
    plus tuned), with a range of another kind, or with more than 10 hyperparameters moved
    between static and tuned; such a parent is passed over. The same channels and training
    image make ``IdenticalDataAndAlgorithm``; anything else (a new day's data window)
    ``TransferLearning``.
    """
    mine, theirs = config["TrainingJobDefinition"], parent.get("TrainingJobDefinition") or {}
    my_config = config["HyperParameterTuningJobConfig"]
    their_config = parent.get("HyperParameterTuningJobConfig") or {}
    objective = "HyperParameterTuningJobObjective"
    if my_config.get(objective) != their_config.get(objective):
        return None
    my_kinds, their_kinds = _range_kinds(my_config), _range_kinds(their_config)
    if set(mine.get("StaticHyperParameters") or {}) | set(my_kinds) != \
            set(theirs.get("StaticHyperParameters") or {}) | set(their_kinds):
        return None
    if any(their_kinds.get(name, kind) != kind for name, kind in my_kinds.items()):
        return None
    if len(set(my_kinds) ^ set(their_kinds)) > MAX_STATIC_TUNED_CHANGES:
        return None
    same_data = _channel_uris(mine) == _channel_uris(theirs)
    same_image = (mine["AlgorithmSpecification"].get("TrainingImage")
                  == (theirs.get("AlgorithmSpecification") or {}).get("TrainingImage"))
    return "IdenticalDataAndAlgorithm" if same_data and same_image else "TransferLearning"


def warm_start_from_previous(settings: Settings) -> bool:
    """``tuning.warm_start.from_previous`` (default true): whether an aws tuning job without
    configured parents looks for one (:func:`previous_tuning_job`)."""
    warm = settings.section("tuning").get("warm_start") or {}
    value = warm.get("from_previous", True) if isinstance(warm, Mapping) else True
    if not isinstance(value, bool):
        raise ConfigurationError(
            f"tuning.warm_start.from_previous must be true or false, got {value!r}")
    return value


def _completed_tuning_jobs(client: Any, contains: str) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"NameContains": contains, "StatusEquals": "Completed",
                              "SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": PAGE_SIZE}
    while True:
        page = client.list_hyper_parameter_tuning_jobs(**kwargs)
        yield from page.get("HyperParameterTuningJobSummaries") or ()
        if not page.get("NextToken"):
            return
        kwargs["NextToken"] = page["NextToken"]


def previous_tuning_job(client: Any, config: Mapping[str, Any], *, base: str | None = None
                        ) -> WarmStart | None:
    """The warm start of tuning job ``config`` (CreateHyperParameterTuningJob kwargs): the
    newest completed tuning job of the same scope (dataset) for the same or an earlier day,
    other than an attempt of ``base`` (this job's first name, default: the config's), whose
    hyperparameters match (:func:`warm_start_type`). A later day's job is never a parent: a
    backfill learns only from what came before it."""
    name = str(config["HyperParameterTuningJobName"])
    base = base or name
    mine = TUNING_NAME.match(base)
    if mine is None:
        raise ConfigurationError(
            f"tuning job name {base!r} is not <scope>-<yyyymmdd>-hpo-<hash>; its earlier jobs "
            "cannot be found (build it with airsage.tuning.step.tuning_request)")
    own = {attempt_name(base, attempt, max_length=TUNING_JOB_NAME_MAX)
           for attempt in range(1, MAX_ATTEMPTS + 1)}
    candidates = []
    for summary in _completed_tuning_jobs(client, f"{mine['scope']}-"):
        parent = str(summary["HyperParameterTuningJobName"])
        other = TUNING_NAME.match(parent)
        if other is None or other["scope"] != mine["scope"] or other["day"] > mine["day"] \
                or parent in own:
            continue
        candidates.append((other["day"], summary.get("CreationTime") or dt_.datetime.min, parent))
    for _, _, parent in sorted(candidates, reverse=True)[:WARM_START_CANDIDATES]:
        described = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=parent)
        kind = warm_start_type(described, config)
        if kind is not None:
            return WarmStart((parent,), kind)
    return None


# -- re-attach -----------------------------------------------------------------------------------


def reattach_tuning(client: Any, request: TuningRequest) -> Reattach:
    """Submit, wait for, or collect the tuning job of ``request`` (a Failed or Stopped one is
    replaced by ``-r2`` …, within the 32 characters of a tuning job's name)."""
    return decide(request.tuning_job_name, sagemaker_status(client, "tuning"),
                  max_length=TUNING_JOB_NAME_MAX)


# -- collect -------------------------------------------------------------------------------------


def _training_jobs_of(client: Any, name: str) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {"HyperParameterTuningJobName": name, "MaxResults": PAGE_SIZE}
    found: list[dict[str, Any]] = []
    while True:
        page = client.list_training_jobs_for_hyper_parameter_tuning_job(**kwargs)
        found.extend(page.get("TrainingJobSummaries") or ())
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def _trial_state(status: str) -> str:
    """Trial states as the local tuner records them; a trial still running when its tuning
    job completed was stopped by it."""
    return status if status in ("Completed", "Failed", "Stopped") else "Stopped"


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[len("s3://"):]:
        raise StepFailed(f"{uri!r} is not an s3://bucket/key URI")
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def _seconds(start: Any, end: Any) -> float:
    if isinstance(start, dt_.datetime) and isinstance(end, dt_.datetime):
        return max(0.0, (end - start).total_seconds())
    return 0.0


def collect_sagemaker_tuning(
    client: Any, s3: Any, lake: Lake, request: TuningRequest, job_name: str | None = None,
) -> TuningResult:
    """The completed tuning job ``job_name`` (default: the request's) as the local tuner's
    :class:`TuningResult`; the best trial's ``model.tar.gz`` copied (server side, with the
    boto3 client ``s3``) to ``LakeLayout.model_artifact(<best trial>)`` unless SageMaker wrote
    it there already; the result written to ``request.report_key`` and read back."""
    from airsage.tuning.step import collect_tuning

    name = job_name or request.tuning_job_name
    request = replace(request, tuning_job_name=name)
    described = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    status = described.get("HyperParameterTuningJobStatus")
    if status != "Completed":
        raise StepFailed(
            f"tuning job {name} (aws target) is {status}, not Completed: "
            f"{described.get('FailureReason') or 'no reason given'}; a retry of the task starts "
            "the next attempt (-r2 …) once it has ended")
    space = TuningSpace.from_dict(request.space)
    config = described.get("HyperParameterTuningJobConfig") or {}
    objective = config.get("HyperParameterTuningJobObjective") or {}
    metric = str(objective.get("MetricName") or space.objective_metric)
    direction = str(objective.get("Type") or space.objective_type)
    static = dict((described.get("TrainingJobDefinition") or {}).get("StaticHyperParameters") or {})
    summaries = sorted(_training_jobs_of(client, name),
                       key=lambda s: (str(s.get("CreationTime") or ""), str(s["TrainingJobName"])))
    best_summary = described.get("BestTrainingJob") or {}
    best_name = best_summary.get("TrainingJobName")
    if not best_name or best_name not in {s["TrainingJobName"] for s in summaries}:
        states = ", ".join(f"{s['TrainingJobName']} {s.get('TrainingJobStatus')}"
                           f"{': ' + s['FailureReason'] if s.get('FailureReason') else ''}"
                           for s in summaries) or "none"
        counters = described.get("TrainingJobStatusCounters") or {}
        counted = ", ".join(f"{n} {k}" for k, n in sorted(counters.items()) if n)
        raise StepFailed(
            f"tuning job {name} (aws target) completed without a best training job among its "
            f"training jobs ({counted or 'none counted'}: {states}); none reported {metric!r}: "
            "check its regex in training.metric_definitions and the trials' logs in CloudWatch")
    layout = LakeLayout(request.dataset)
    best_job = client.describe_training_job(TrainingJobName=best_name)
    key = layout.model_artifact(best_name)
    source = str((best_job.get("ModelArtifacts") or {}).get("S3ModelArtifacts") or "")
    if not source:
        raise StepFailed(f"tuning job {name}: its best training job {best_name} names no model artifact")
    if source != lake.uri(key):
        _copy_object(s3, source, lake.uri(key))
    if not lake.exists(key):
        raise StepFailed(
            f"tuning job {name}: the best training job {best_name}'s model {lake.uri(key)} is not "
            "in the lake; rerun the task")
    best = TrainingJobResult(
        job_name=best_name, status="Completed", model_artifact_key=key,
        model_artifact_uri=lake.uri(key),
        final_metrics={str(m["MetricName"]): float(m["Value"])
                       for m in best_job.get("FinalMetricDataList") or ()},
        failure_reason=None, log_tail="",
        duration_seconds=_seconds(best_job.get("TrainingStartTime"), best_job.get("TrainingEndTime")),
        hyperparameters={**static, **(best_summary.get("TunedHyperParameters") or {})},
    )
    trials = []
    for index, summary in enumerate(summaries):
        number = TRIAL_NUMBER.search(summary["TrainingJobName"])
        final = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        state = _trial_state(str(summary.get("TrainingJobStatus")))
        trials.append(TrialResult(
            number=int(number.group(1)) - 1 if number else index,
            job_name=str(summary["TrainingJobName"]), state=state,
            hyperparameters={**static, **(summary.get("TunedHyperParameters") or {})},
            objective_value=float(final["Value"]) if state == "Completed" and "Value" in final else None,
            training_job=best if summary["TrainingJobName"] == best_name else None,
        ))
    best_value = (best_summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get(
        "Value", best.final_metrics.get(metric))
    if best_value is None:
        raise StepFailed(f"tuning job {name}: its best training job {best_name} reports no {metric!r}")
    warm = described.get("WarmStartConfig") or {}
    result = TuningResult(
        tuning_job_name=name, best=best, trials=trials, objective=metric, objective_type=direction,
        best_value=float(best_value),
        duration_seconds=_seconds(described.get("CreationTime"),
                                  described.get("HyperParameterTuningEndTime")),
        warm_start_parents=tuple(str(p["HyperParameterTuningJobName"])
                                 for p in warm.get("ParentHyperParameterTuningJobs") or ()),
        storage=str(described.get("HyperParameterTuningJobArn") or ""),
        space=space.to_dict(),
    )
    lake.write_bytes(request.report_key, json.dumps(result.to_dict(), indent=2, sort_keys=True).encode())
    return collect_tuning(lake, request)


def _copy_object(s3: Any, source: str, destination: str) -> None:
    """A server-side S3 copy (the model never passes through the worker)."""
    from botocore.exceptions import ClientError

    (src_bucket, src_key), (bucket, key) = _split_s3(source), _split_s3(destination)
    try:
        s3.copy_object(CopySource={"Bucket": src_bucket, "Key": src_key}, Bucket=bucket, Key=key)
    except ClientError as exc:
        raise StepFailed(
            f"the best model {source} could not be copied to {destination}: {exc}; check that "
            "the training job wrote it and that the Airflow role may read it") from exc
