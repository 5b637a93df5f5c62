"""``airsage plan``: every request a run would make, without calling AWS.

The ``request`` phase of each step is pure, so a plan is a loop over the steps' requests for
one date; each request lists its service calls (service, operation, key parameters). The
data plane's requests list their own calls; the ML plane's requests (``JobRequest``,
``TuningRequest``, ``RegistrationRequest``, ``DeploymentRequest``) are target-neutral, so
:func:`ml_plane` maps each onto the SageMaker calls it becomes (the names and keys are the
request's; what only a run knows — the registered version, the metrics — is shown as
``<…>``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
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


# What only a run knows, in a plan: the version the registry will give, its metrics.
NEXT_VERSION = "N"
CODE_PREFIX = "code/jobs/"  # where a job's script is staged in the lake (as the PyDeequ job)


def _uris(aws: AwsSettings, source: str | tuple[str, ...]) -> Any:
    if isinstance(source, str):
        return aws.uri(source)
    return [aws.uri(key) for key in source] or "<the keys the run lists>"


def job_calls(settings: Settings, request: JobRequest) -> tuple[ServiceCall, ...]:
    """``CreateProcessingJob`` / ``CreateTrainingJob`` for a job request: its name, script
    (staged under ``code/jobs/``), instance, inputs, outputs and time limit."""
    aws = AwsSettings.from_settings(settings)
    common = {"Code": aws.uri(CODE_PREFIX + Path(request.script).name),
              "MaxRuntimeInSeconds": request.timeout_seconds, "RoleArn": aws.role_arn}
    if request.kind == "training":
        training = settings.section("training")
        return (ServiceCall("sagemaker", "CreateTrainingJob", {
            "TrainingJobName": request.job_name,
            "InstanceType": str(training.get("instance_type") or "ml.m5.xlarge"),
            **common,
            "Channels": {name: _uris(aws, source) for name, source in request.inputs.items()},
            "HyperParameters": dict(request.config),
            "MetricDefinitions": [d["Name"] for d in request.metric_definitions],
            "ModelArtifact": aws.uri(request.output("model"))}),)
    return (ServiceCall("sagemaker", "CreateProcessingJob", {
        "ProcessingJobName": request.job_name,
        "InstanceType": aws.processing_instance_type,
        **common,
        "ProcessingInputs": {name: _uris(aws, source) for name, source in request.inputs.items()},
        "ProcessingOutputs": {name: aws.uri(key) for name, key in request.outputs.items()}}),)


def tuning_calls(settings: Settings, request: TuningRequest) -> tuple[ServiceCall, ...]:
    base = job_calls(settings, request.training)[0].parameters
    space = request.search_space()
    return (ServiceCall("sagemaker", "CreateHyperParameterTuningJob", {
        "HyperParameterTuningJobName": request.tuning_job_name,
        "HyperParameterTuningJobConfig": space.tuning_job_config(),
        "WarmStartConfig": space.warm_start_config(),
        "TrainingJobDefinition": {k: base[k] for k in ("InstanceType", "Code", "Channels",
                                                       "MetricDefinitions", "RoleArn")},
        "Report": AwsSettings.from_settings(settings).uri(request.report_key)}),)


def registration_calls(settings: Settings, request: RegistrationRequest) -> tuple[ServiceCall, ...]:
    aws = AwsSettings.from_settings(settings)
    group = request.model_package_group_name
    return (
        ServiceCall("sagemaker", "CreateModelPackageGroup", {
            "ModelPackageGroupName": group, "when": "the group does not exist yet"}),
        ServiceCall("sagemaker", "CreateModelPackage", {
            "ModelPackageGroupName": group, "ModelApprovalStatus": request.approval_status,
            "ModelDataUrl": aws.uri(request.model_artifact_key),
            "ModelMetrics.ModelQuality.Statistics": aws.uri(request.evaluation_report_key),
            "CustomerMetadataProperties": sorted(f"lineage.{k}" for k in request.lineage)}),
    )


def deployment_calls(settings: Settings, request: DeploymentRequest) -> tuple[ServiceCall, ...]:
    aws = AwsSettings.from_settings(settings)
    blue_green = request.deployment
    return (
        ServiceCall("sagemaker", "CreateModel", {
            "ModelName": request.variant_name, "ModelDataUrl": aws.uri(request.model_artifact_key),
            "ExecutionRoleArn": aws.role_arn, "Inference": "include/jobs/inference.py"}),
        ServiceCall("sagemaker", "CreateEndpointConfig", {
            "EndpointConfigName": request.endpoint_config_name,
            "VariantName": request.variant_name, "InstanceType": request.instance_type,
            "InitialInstanceCount": request.initial_instance_count,
            "DataCaptureConfig": {"Enabled": request.capture.enabled,
                                  "InitialSamplingPercentage": request.capture.sampling_percent,
                                  "DestinationS3Uri": aws.uri(request.capture.destination_prefix)}}),
        ServiceCall("cloudwatch", "PutMetricAlarm", {
            "alarms": f"{request.endpoint}: 5xx error rate > {blue_green.max_error_rate}, "
                      f"p99 latency > {blue_green.max_p99_latency_ms} ms"}),
        ServiceCall("sagemaker", "CreateEndpoint | UpdateEndpoint", {
            "EndpointName": request.endpoint, "EndpointConfigName": request.endpoint_config_name,
            "DeploymentConfig": {"TrafficShift": blue_green.traffic_shift,
                                 "TrafficSteps": list(blue_green.traffic_steps),
                                 "BakeSeconds": blue_green.bake_seconds,
                                 "AutoRollbackConfiguration": "the endpoint's two alarms"}}),
    )


def monitor_calls(settings: Settings, request: JobRequest) -> tuple[ServiceCall, ...]:
    """The drift monitor's calls: its processing job, or with ``monitoring.source:
    model_monitor`` the deferred wait for the schedule's report (no job)."""
    from airsage.monitoring.base import VIOLATIONS_FILE
    from airsage.monitoring.step import REPORT_OUTPUT

    if str(settings.section("monitoring").get("source") or "airsage") == "model_monitor":
        key = request.output(REPORT_OUTPUT) + VIOLATIONS_FILE
        return (ServiceCall("s3", "HeadObject", {
            "waiter": "S3KeySensor, deferrable (the triggerer polls)",
            "Key": AwsSettings.from_settings(settings).uri(key)}),)
    return job_calls(settings, request)


def ml_plane(settings: Settings, dataset: str, day: str) -> list[PlannedStep]:
    """The ML plane's requests for ``day``, in the DAG's order: bias gate, train (or tune),
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
    from airsage.registry.step import registry_settings
    from airsage.serving.request import deployment_request
    from airsage.training.step import train_request
    from airsage.tuning.step import tuning_request

    layout = LakeLayout(dataset)
    curated = layout.curated(day) + CURATED_FILE
    channels = {split: layout.features(day, split) for split in SPLITS if split != "test"}
    train = train_request(settings, dataset, day, channels)
    tune = tuning_request(settings, dataset, day, channels)
    model_key = train.output("model")
    evaluate = evaluation_request(settings, dataset, day, model_key, holdout={
        "curated": curated, **{s: layout.features(day, s) for s in ("train", "validation")}})
    model_name, auto_approve = registry_settings(settings)
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
    return [
        PlannedStep(names.BIAS_GATE, bias, job_calls(settings, bias)),
        PlannedStep(names.TRAIN, train, job_calls(settings, train)),
        PlannedStep(f"{names.TRAIN} (tuning)", tune, tuning_calls(settings, tune)),
        PlannedStep(names.EVALUATE, evaluate, job_calls(settings, evaluate)),
        PlannedStep(names.REGISTER, register, registration_calls(settings, register)),
        PlannedStep(names.BASELINE, baseline, job_calls(settings, baseline)),
        PlannedStep(names.DEPLOY, deploy, deployment_calls(settings, deploy)),
        PlannedStep(f"{names.DRIFT_DAG_ID}.{names.MONITOR}", monitor,
                    monitor_calls(settings, monitor)),
    ]


def plan(settings: Settings, day: str, *, dataset: str = "reviews") -> list[PlannedStep]:
    """Every request of ``day``'s run of the whole DAG, data plane then ML plane."""
    if settings.target != "aws":
        raise ConfigurationError(
            f"airsage plan lists aws requests; the configured target is {settings.target!r} "
            "(pass --target aws, or set AIRSAGE_TARGET=aws)")
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
    role_missing = any(c.parameters.get(key) == "" for s in steps for c in s.calls
                       for key in ("Role", "RoleArn", "ExecutionRoleArn"))
    if role_missing:
        lines.append("\nnote: aws.role_arn is not set; the crawler, the quality runs, the "
                     "SageMaker jobs and the endpoint's model need it")
    return "\n".join(lines)
