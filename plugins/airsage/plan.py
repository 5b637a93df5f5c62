"""``airsage plan``: every request a run would make, without calling AWS.

The ``request`` phase of each step is pure, so a plan is a loop over the steps' requests for
one date; each request lists its service calls (service, operation, key parameters). The
data plane's requests list their own calls; the ML plane's requests (``JobRequest``,
``TuningRequest``, ``RegistrationRequest``, ``DeploymentRequest``) are target-neutral, so
:func:`ml_plane` maps each onto the SageMaker calls it becomes with the functions the aws
code sends them with (:mod:`airsage.jobs.aws`, :mod:`airsage.tuning.aws`,
:mod:`airsage.registry.aws`, :mod:`airsage.serving.aws`): a plan cannot drift from a run.
What only a run knows — the registered version, the metrics, the best trial — is shown as
``<…>``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airsage.awsconf import AwsSettings, ServiceCall
from airsage.config import Settings
from airsage.errors import ConfigurationError

if TYPE_CHECKING:
    from airsage.jobs.request import JobRequest
    from airsage.registry.base import RegistrationRequest
    from airsage.serving.request import DeploymentRequest
    from airsage.tuning.job import TuningRequest


@dataclass(frozen=True)
class PlannedStep:
    """One step (task or task group id) with its request and the calls it makes."""

    step: str
    request: Any
    calls: tuple[ServiceCall, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "request": self.request.to_dict(),
                "calls": [c.to_dict() for c in self.calls]}


def quality_request(settings: Settings, dataset: str, day: str) -> Any:
    """The quality gate's request for the configured engine (Glue DQ or PyDeequ)."""
    from airsage.quality.aws import deequ_job_request, glue_dq_request

    if AwsSettings.from_settings(settings).quality_engine == "pydeequ":
        return deequ_job_request(settings, dataset, day)
    return glue_dq_request(settings, dataset, day)


def data_plane(settings: Settings, dataset: str, day: str) -> list[PlannedStep]:
    """The crawl, validate and quality-gate requests of ``dataset`` for ``day``."""
    from airsage.airflow import names
    from airsage.catalog.aws import crawl_request
    from airsage.sql.aws import validate_request

    builders: list[tuple[str, Callable[[Settings, str, str], Any]]] = [
        (names.CRAWL, crawl_request),
        (names.VALIDATE_SQL, validate_request),
        (names.QUALITY_GATE, quality_request),
    ]
    steps = []
    for step, build in builders:
        request = build(settings, dataset, day)
        steps.append(PlannedStep(step, request, tuple(request.calls())))
    return steps


# What only a run knows, in a plan: the version the registry will give, its metrics, its run.
NEXT_VERSION = "N"
METRICS_PLACEHOLDER = "<the evaluation's metrics>"
RUN_PLACEHOLDER = "<the training job's ARN>"
CHAMPION_PLACEHOLDER = "<the champion: the Approved version trained on the newest data>"
CHAMPION_JOB = "CHAMPIONS-TRAINING-JOB"  # a key part: the champion's own training job
# The role a plan names when aws.role_arn is unset (the real calls refuse an empty one).
ROLE_PLACEHOLDER = "<aws.role_arn: not set>"


class JobPlanner:
    """The SageMaker calls of job requests, built by :mod:`airsage.jobs.aws`'s own functions
    (the code bundle is hashed once per script, never uploaded)."""

    def __init__(self, settings: Settings) -> None:
        from airsage.jobs.aws import JobTarget

        self.target = JobTarget.from_settings(settings)
        self._bundles: dict[str, Any] = {}

    def bundle(self, script: str) -> Any:
        from airsage.jobs.aws import CodeBundle

        if script not in self._bundles:
            self._bundles[script] = CodeBundle.for_script(script)
        return self._bundles[script]

    def config(self, request: JobRequest) -> dict[str, Any]:
        """``Create*Job``'s arguments as :class:`~airsage.jobs.aws.SageMakerJobRunner` sends
        them for the request's first attempt."""
        from airsage.jobs.aws import job_config

        return job_config(request, request.job_name, self.target, self.bundle(request.script))

    def calls(self, request: JobRequest) -> tuple[ServiceCall, ...]:
        """Stage (the keys :func:`~airsage.jobs.aws.stage` writes), then create the job."""
        from airsage.jobs.aws import staged_keys

        operation = "CreateTrainingJob" if request.kind == "training" else "CreateProcessingJob"
        staged = staged_keys(request, request.job_name, self.bundle(request.script))
        return (
            ServiceCall("s3", "PutObject | CopyObject", {
                "Keys": [self.target.uri(key) for key in staged]}),
            ServiceCall("sagemaker", operation, self.config(request)),
        )


def tuning_config(jobs: JobPlanner, request: TuningRequest) -> dict[str, Any]:
    """``CreateHyperParameterTuningJob``'s arguments over the training job's config, as the
    aws tuning group builds them (a warm-start parent found at run time is not shown)."""
    from airsage.tuning.aws import tuning_job_config

    return tuning_job_config(jobs.config(request.training), request)


def registration_calls(settings: Settings, request: RegistrationRequest,
                       dataset: str) -> tuple[ServiceCall, ...]:
    """The registry's calls, ``CreateModelPackage``'s arguments from
    :func:`airsage.registry.aws.model_package_request`."""
    from airsage.registry.aws import (
        LINEAGE_PREFIX,
        METRIC_PREFIX,
        RUN_ID_PROPERTY,
        metadata_properties,
        model_package_request,
    )
    from airsage.registry.base import ApprovalStatus
    from airsage.serving.aws import inference_code_key
    from airsage.serving.base import ServingConfig

    aws = AwsSettings.from_settings(settings)
    group = request.model_package_group_name
    lineage = {**request.lineage, "model_artifact_key": request.model_artifact_key,
               "evaluation_report_key": request.evaluation_report_key}
    properties = {f"{METRIC_PREFIX}*": METRICS_PLACEHOLDER, RUN_ID_PROPERTY: RUN_PLACEHOLDER,
                  **metadata_properties({f"{LINEAGE_PREFIX}{k}": v for k, v in lineage.items()})}
    code_key = inference_code_key(dataset, request.training_job_name)
    package = model_package_request(
        aws, instance_type=ServingConfig.from_settings(settings).instance_type,
        model_name=group, model_data=aws.uri(request.model_artifact_key),
        code_uri=aws.uri(code_key), approval=ApprovalStatus.parse(request.approval_status),
        properties=properties, lineage=lineage)
    return (
        ServiceCall("sagemaker", "ListModelPackages", {
            "ModelPackageGroupName": group, "why": "a retry returns the version already made"}),
        ServiceCall("s3", "PutObject", {"Key": aws.uri(code_key), "when": "not staged yet"}),
        ServiceCall("sagemaker", "CreateModelPackageGroup", {
            "ModelPackageGroupName": group, "when": "the group does not exist yet"}),
        ServiceCall("sagemaker", "CreateModelPackage", package),
    )


def deployment_calls(settings: Settings, request: DeploymentRequest,
                     dataset: str) -> tuple[ServiceCall, ...]:
    """The endpoint's calls, each argument from :mod:`airsage.serving.aws`'s pure builders."""
    from airsage.serving.aws import (
        alarm_requests,
        deployment_config,
        endpoint_config,
        inference_code_key,
        model_config,
        training_job_of,
    )

    aws = AwsSettings.from_settings(settings)
    code_key = inference_code_key(dataset, training_job_of(dataset, request.model_artifact_key))
    return (
        ServiceCall("sagemaker", "DescribeEndpoint", {"EndpointName": request.endpoint}),
        ServiceCall("s3", "PutObject", {"Key": aws.uri(code_key), "when": "not staged yet"}),
        *(ServiceCall("cloudwatch", "PutMetricAlarm", alarm)
          for alarm in alarm_requests(aws, request)),
        ServiceCall("sagemaker", "CreateModel", model_config(aws, request, aws.uri(code_key))),
        ServiceCall("sagemaker", "CreateEndpointConfig", endpoint_config(aws, request)),
        ServiceCall("sagemaker", "CreateEndpoint | UpdateEndpoint", {
            "EndpointName": request.endpoint, "EndpointConfigName": request.endpoint_config_name,
            "DeploymentConfig (UpdateEndpoint)": deployment_config(request)}),
    )


def monitor_calls(settings: Settings, jobs: JobPlanner,
                  request: JobRequest) -> tuple[ServiceCall, ...]:
    """The drift monitor's calls: its processing job, or with ``monitoring.source:
    model_monitor`` the deferred wait for the schedule's report (no job)."""
    from airsage.monitoring.base import VIOLATIONS_FILE
    from airsage.monitoring.step import REPORT_OUTPUT

    if str(settings.section("monitoring").get("source") or "airsage") == "model_monitor":
        key = request.output(REPORT_OUTPUT) + VIOLATIONS_FILE
        return (ServiceCall("s3", "HeadObject", {
            "waiter": "S3KeySensor, deferrable (the triggerer polls)",
            "Key": AwsSettings.from_settings(settings).uri(key)}),)
    return jobs.calls(request)


def ml_plane(settings: Settings, dataset: str, day: str) -> list[PlannedStep]:
    """The ML plane's requests for ``day``, in the DAG's order: bias gate, prepare's feature
    group (when ``features.enabled``), train (or tune),
    evaluate, register, baseline, deploy, and the drift monitor's first hour after the run."""
    from airsage.airflow import names
    from airsage.bias.gate import bias_request
    from airsage.evaluation.base import EVALUATION_FILE
    from airsage.evaluation.step import OUTPUT as EVALUATION_OUTPUT
    from airsage.evaluation.step import evaluation_request
    from airsage.lake.layout import SPLITS, LakeLayout
    from airsage.monitoring.step import baseline_request, monitor_request
    from airsage.prepare.base import CURATED_FILE
    from airsage.registry.base import LINEAGE_ARTIFACT_KEY, RegistrationRequest
    from airsage.registry.step import CHAMPION_REPORT, registry_settings
    from airsage.serving.request import deployment_request
    from airsage.training.step import train_request
    from airsage.tuning.aws import tuning_calls
    from airsage.tuning.step import tuning_request

    layout = LakeLayout(dataset)
    curated = layout.curated(day) + CURATED_FILE
    channels = {split: layout.features(day, split) for split in SPLITS if split != "test"}
    train = train_request(settings, dataset, day, channels)
    tune = tuning_request(settings, dataset, day, channels)
    model_key = train.output("model")
    holdout = {"curated": curated,
               **{s: layout.features(day, s) for s in ("train", "validation")}}
    evaluate = evaluation_request(settings, dataset, day, model_key, holdout=holdout)
    model_name, auto_approve = registry_settings(settings)
    # the champion is known at run time only (its job name's last part hashes its version);
    # without one, champion_evaluation runs no job
    champion = evaluation_request(
        settings, dataset, day, layout.model_artifact(CHAMPION_JOB), report_name=CHAMPION_REPORT,
        holdout=holdout, job_identity=CHAMPION_PLACEHOLDER)
    register = RegistrationRequest(
        model_package_group_name=model_name, model_artifact_key=model_key,
        training_job_name=train.job_name, metrics={},
        evaluation_report_key=evaluate.output(EVALUATION_OUTPUT) + EVALUATION_FILE,
        approval_status="Approved" if auto_approve else "PendingManualApproval",
        lineage={"dataset": dataset, "partition_day": day, "training_job_name": train.job_name})
    baseline = baseline_request(
        settings, dataset, day, model_name=model_name, model_version=NEXT_VERSION,
        model_artifact_key=model_key,
        sources={"source": "unseen", "source_key": curated,
                 "excluded_key": layout.features(day, "train") + "part-0.parquet"})
    deploy = deployment_request(settings, {
        "name": model_name, "version": NEXT_VERSION, "artifact_uri": "",
        "tags": {LINEAGE_ARTIFACT_KEY: model_key}})
    hour = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
    monitor = monitor_request(
        settings, endpoint=deploy.endpoint, model_name=model_name, model_version=NEXT_VERSION,
        interval_start=hour, interval_end=hour + dt.timedelta(hours=1),
        capture_keys=(), ground_truth_keys=())
    bias = bias_request(settings, dataset, day, curated)
    jobs = JobPlanner(settings)
    from airsage.features.aws import prepare_calls
    from airsage.features.base import FeatureGroupSpec, FeatureStoreSettings

    features = FeatureGroupSpec.for_dataset(settings, dataset)
    prepare = ([PlannedStep(names.PREPARE, features, prepare_calls(settings, features, day))]
               if FeatureStoreSettings.from_settings(settings).enabled else [])
    return [
        PlannedStep(names.BIAS_GATE, bias, jobs.calls(bias)),
        *prepare,
        PlannedStep(names.TRAIN, train, jobs.calls(train)),
        PlannedStep(f"{names.TRAIN} (tuning)", tune, tuning_calls(tuning_config(jobs, tune))),
        PlannedStep(names.EVALUATE, evaluate, jobs.calls(evaluate)),
        PlannedStep(names.CHAMPION_EVALUATION, champion, jobs.calls(champion)),
        PlannedStep(names.REGISTER, register, registration_calls(settings, register, dataset)),
        PlannedStep(names.BASELINE, baseline, jobs.calls(baseline)),
        PlannedStep(names.DEPLOY, deploy, deployment_calls(settings, deploy, dataset)),
        PlannedStep(f"{names.DRIFT_DAG_ID}.{names.MONITOR}", monitor,
                    monitor_calls(settings, jobs, monitor)),
    ]


def plan(settings: Settings, day: str, *, dataset: str = "reviews") -> list[PlannedStep]:
    """Every request of ``day``'s run of the whole DAG, data plane then ML plane."""
    if settings.target != "aws":
        raise ConfigurationError(
            f"airsage plan lists aws requests; the configured target is {settings.target!r} "
            "(pass --target aws, or set AIRSAGE_TARGET=aws)")
    if not AwsSettings.from_settings(settings).role_arn:  # shown, and noted by render()
        settings = settings.with_overrides({"aws": {"role_arn": ROLE_PLACEHOLDER}})
    return [*data_plane(settings, dataset, day), *ml_plane(settings, dataset, day)]


def _short(value: Any, limit: int = 90) -> str:
    if isinstance(value, str) and value.startswith("s3://"):
        return value  # a lake address is shown whole: it is what a reader looks up
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(steps: list[PlannedStep], day: str) -> str:
    """The plan as text: one block per step, one line per call, its key parameters below."""
    lines = [f"airsage plan — target aws, partition {day}"]
    for step in steps:
        lines.append(f"\n{step.step}")
        for call in step.calls:
            lines.append(f"  {call.service} {call.operation}")
            for key, value in call.parameters.items():
                lines.append(f"      {key}: {_short(value)}")
    role_missing = any(c.parameters.get(key) in ("", ROLE_PLACEHOLDER) for s in steps
                       for c in s.calls for key in ("Role", "RoleArn", "ExecutionRoleArn"))
    if role_missing:
        lines.append("\nnote: aws.role_arn is not set; the crawler, the quality runs, the "
                     "SageMaker jobs and the endpoint's model need it")
    return "\n".join(lines)
