"""The deploy step on the aws target: a SageMaker endpoint, created once, then updated blue/green.

A :class:`~airsage.serving.request.DeploymentRequest` (the same request as locally) maps onto
SageMaker's calls:

- ``CreateModel``: the request's variant name is the model name; the container is the
  SageMaker framework image (``aws.inference_framework``, resolved offline by
  ``sagemaker.core.image_uris.retrieve``) running ``include/jobs/inference.py`` as the entry
  point (``SAGEMAKER_PROGRAM``; the code staged in the lake beside the model's job,
  :func:`inference_code_key`) over the version's ``model.tar.gz``. The environment names the
  airsage model and version, which is how :meth:`SageMakerEndpointDeployer.serving_variants`
  knows which version a variant serves.
- ``CreateEndpointConfig``: one production variant (instance type and count), data capture
  with the same sampling as locally (``serving.capture``) to the lake's ``capture/`` prefix —
  SageMaker appends ``<endpoint>/<variant>/yyyy/mm/dd/hh/``, which is the lake layout's
  ``capture/<endpoint>/<variant>/…``.
- ``CreateEndpoint`` the first time; afterwards ``UpdateEndpoint`` with a ``DeploymentConfig``:
  blue/green traffic shifting (``ALL_AT_ONCE``, ``CANARY`` or ``LINEAR`` from
  ``serving.traffic_shift``; the bake time is the wait between shifts) and an
  ``AutoRollbackConfiguration`` on two CloudWatch alarms airsage puts for the new variant
  (``PutMetricAlarm``): its 5xx rate (``Invocation5XXErrors / Invocations`` above
  ``serving.max_error_rate``) and its p99 ``ModelLatency`` (above ``serving.max_p99_latency_ms``).

SageMaker silently replaces nothing here: the endpoint is described first and the action is
chosen from what exists (moto's ``CreateEndpoint`` would overwrite an existing endpoint; AWS
would refuse). A request whose config the endpoint already uses is a ``noop`` (a retried task
re-attaches to the update its first try started). ``keep_serving`` is asked about the
variants serving now, as locally: a reason keeps them (action ``kept``), so a run for an
older partition never replaces a model trained on newer data (the serving model's data day
is its model package's ``lineage.partition_day``, found through the airsage model and
version in its container's environment). Concurrent runs are ordered by data day without a
lock: the question is asked again right before the ``CreateEndpoint`` / ``UpdateEndpoint``
call (:meth:`recheck`), SageMaker refuses a second update while one is in progress (the
busy endpoint fails the task, whose retry asks again), and :meth:`collect` judges an endpoint
that a newer model took over meanwhile as ``kept``, not as a failed update.

A failed or rolled-back update leaves the previous model serving (SageMaker keeps the old
fleet); :meth:`SageMakerEndpointDeployer.collect` sees the endpoint still on the previous
config and raises ``StepFailed`` naming SageMaker's ``FailureReason``.

Autoscaling (``serving.autoscaling``): the serving variant is an Application Auto Scaling
target (``RegisterScalableTarget`` on ``endpoint/<endpoint>/variant/<variant>``, dimension
``sagemaker:variant:DesiredInstanceCount``, the config's limits) with a target-tracking policy
on ``SageMakerVariantInvocationsPerInstance`` (``PutScalingPolicy``). airsage's variant name
changes with every version, and SageMaker refuses an ``UpdateEndpoint`` that removes a
variant registered for autoscaling (its guide, "Update endpoints that use auto scaling":
delete the policies and deregister first, register the new variant after). So:
:meth:`~SageMakerEndpointDeployer.release_scaling` deregisters the variants an update
removes right before the call (autoscaling is blocked during an update anyway), the new
variant starts with the instances the old one had scaled to (within the limits), and
:meth:`~SageMakerEndpointDeployer.apply_scaling`, run by ``collect`` whatever the outcome,
registers the variants the endpoint serves *now* and deregisters the endpoint's other
targets: after a switch that is the new variant; after a failure or rollback it is the
previous variant again, with the same limits and policy. Every call is idempotent
(Register/Put overwrite), so a retried ``collect`` converges.
"""

from __future__ import annotations

import io
import logging
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from airsage.awsconf import AwsSettings, ServiceReader
from airsage.config import INCLUDE_DIR, Settings
from airsage.errors import ConfigurationError, StepFailed
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout
from airsage.serving.base import (
    DeploymentResult,
    EndpointDescription,
    KeepServing,
    ModelVersionLike,
    ServingConfig,
)
from airsage.serving.request import DeploymentRequest, deployment_request, version_dict

STEP = "deploy"
log = logging.getLogger(__name__)
INFERENCE_SCRIPT = INCLUDE_DIR / "jobs" / "inference.py"
INFERENCE_CODE_FILE = "inference.tar.gz"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # plugins/airsage
MODEL_NAME_ENV = "AIRSAGE_MODEL_NAME"
MODEL_VERSION_ENV = "AIRSAGE_MODEL_VERSION"
NAMESPACE = "AWS/SageMaker"
ALARM_PERIOD_SECONDS = 60  # CloudWatch's standard resolution for SageMaker's metrics
TRAFFIC_TYPES = {"all_at_once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}
ACTIONS = ("create", "update", "noop", "kept")
BUSY_STATUSES = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
SCALING_NAMESPACE = "sagemaker"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
SCALING_METRIC = "SageMakerVariantInvocationsPerInstance"
# what SageMakerEndpointDeployer.recheck answers right before the endpoint call
RECHECK_CALL, RECHECK_KEPT, RECHECK_DONE = "call", "kept", "done"


# -- the inference code and container (also the registry's InferenceSpecification) ---------------


def inference_code_key(dataset: str, training_job_name: str) -> str:
    """The lake key of the inference code of the model a training job produced (beside its
    ``model.tar.gz``, under the job's ``input/``)."""
    return LakeLayout(dataset).job_input(training_job_name, INFERENCE_CODE_FILE)


def training_job_of(dataset: str, model_artifact_key: str) -> str:
    """The training job whose ``model.tar.gz`` is ``model_artifact_key`` (the layout's
    ``models/<dataset>/<job>/output/model.tar.gz``, checked by rebuilding it)."""
    parts = model_artifact_key.split("/")
    job = parts[2] if len(parts) > 2 else ""
    if not job or LakeLayout(dataset).model_artifact(job) != model_artifact_key:
        raise ConfigurationError(
            f"{STEP}: {model_artifact_key!r} is not a training job's model.tar.gz of dataset "
            f"{dataset!r} (expected {LakeLayout(dataset).model_artifact('<job>')})")
    return job


def inference_code() -> bytes:
    """``sourcedir`` for the framework container: ``inference.py`` at its root and the airsage
    package it imports (without its Airflow layer), byte-for-byte reproducible."""
    buffer = io.BytesIO()
    files = [(INFERENCE_SCRIPT, INFERENCE_SCRIPT.name)] + [
        (path, f"airsage/{path.relative_to(PACKAGE_DIR).as_posix()}")
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if "airflow" not in path.relative_to(PACKAGE_DIR).parts
        and "__pycache__" not in path.parts]
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for path, name in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def stage_inference_code(lake: Lake, key: str) -> str:
    """Upload the inference code to ``key`` unless it is there (a version keeps the code it
    was registered with); its S3 URI."""
    if not lake.exists(key):
        lake.write_bytes(key, inference_code())
    return lake.uri(key)


def inference_image(aws: AwsSettings, instance_type: str) -> str:
    """The SageMaker framework image that serves the model, resolved offline."""
    from sagemaker.core import image_uris

    try:
        return str(image_uris.retrieve(
            aws.inference_framework, aws.region, version=aws.inference_framework_version,
            py_version="py3", instance_type=instance_type, image_scope="inference"))
    except ValueError as exc:
        raise ConfigurationError(
            f"aws.inference_framework {aws.inference_framework!r} version "
            f"{aws.inference_framework_version!r} has no SageMaker inference image in "
            f"{aws.region}: {exc}") from exc


def inference_container(aws: AwsSettings, *, instance_type: str, model_data_url: str,
                        code_uri: str, environment: Mapping[str, str] | None = None
                        ) -> dict[str, Any]:
    """The container definition (CreateModel's and the model package's): the framework
    image, the model.tar.gz, ``inference.py`` as the entry point of the staged code."""
    return {
        "Image": inference_image(aws, instance_type),
        "ModelDataUrl": model_data_url,
        "Environment": {"SAGEMAKER_PROGRAM": INFERENCE_SCRIPT.name,
                        "SAGEMAKER_SUBMIT_DIRECTORY": code_uri,
                        "SAGEMAKER_REGION": aws.region, **dict(environment or {})},
    }


# -- the service calls of one deployment (pure) ---------------------------------------------------


def _whole_percent(value: float, what: str) -> int:
    if value != int(value):
        raise ConfigurationError(
            f"{STEP}: {what} {value:g} must be a whole percentage on SageMaker (it takes "
            "integers); set it to a whole number in serving:")
    return int(value)


def capture_destination(aws: AwsSettings, request: DeploymentRequest) -> str:
    """DataCaptureConfig's DestinationS3Uri: the lake's capture root (SageMaker appends the
    endpoint and variant, giving the request's ``capture/<endpoint>/`` prefix)."""
    suffix = f"{request.endpoint}/"
    prefix = request.capture.destination_prefix
    if not prefix.endswith(suffix):
        raise ConfigurationError(
            f"{STEP}: capture prefix {prefix!r} must end with the endpoint's name ({suffix}): "
            "SageMaker writes to <destination>/<endpoint>/<variant>/")
    return aws.uri(prefix.removesuffix(suffix).rstrip("/"))


def model_config(aws: AwsSettings, request: DeploymentRequest, code_uri: str) -> dict[str, Any]:
    """CreateModel: the variant's model, serving this version's model.tar.gz."""
    if not request.artifact_uri.startswith("s3://") and not request.model_artifact_key:
        raise ConfigurationError(
            f"{STEP}: {request.model_name} v{request.model_version} has no S3 model artifact "
            f"({request.artifact_uri!r}); register it on the aws target")
    model_data = (request.artifact_uri if request.artifact_uri.startswith("s3://")
                  else aws.uri(request.model_artifact_key))
    return {
        "ModelName": request.variant_name,
        "ExecutionRoleArn": aws.require_role(f"{STEP} of {request.model_name}"),
        "PrimaryContainer": inference_container(
            aws, instance_type=request.instance_type, model_data_url=model_data,
            code_uri=code_uri, environment={MODEL_NAME_ENV: request.model_name,
                                            MODEL_VERSION_ENV: request.model_version}),
        "Tags": [{"Key": k, "Value": v} for k, v in aws.tags],
    }


def endpoint_config(aws: AwsSettings, request: DeploymentRequest) -> dict[str, Any]:
    """CreateEndpointConfig: one production variant and data capture."""
    return {
        "EndpointConfigName": request.endpoint_config_name,
        "ProductionVariants": [{
            "VariantName": request.variant_name, "ModelName": request.variant_name,
            "InstanceType": request.instance_type,
            "InitialInstanceCount": request.initial_instance_count,
            "InitialVariantWeight": 1.0}],
        "DataCaptureConfig": {
            "EnableCapture": request.capture.enabled,
            "InitialSamplingPercentage": _whole_percent(request.capture.sampling_percent,
                                                        "capture.sampling_percent"),
            "DestinationS3Uri": capture_destination(aws, request),
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]}},
        "Tags": [{"Key": k, "Value": v} for k, v in aws.tags],
    }


def alarm_names(request: DeploymentRequest) -> tuple[str, str]:
    """The new variant's rollback alarms: (5xx rate, p99 latency), named after the endpoint
    (the Airflow role may put alarms ``<endpoint>-*`` only: include/iam/airflow-role.json)."""
    base = f"{request.endpoint}-{request.variant_name}"
    return f"{base}-5xx-rate", f"{base}-p99-latency"


def alarm_requests(aws: AwsSettings, request: DeploymentRequest) -> list[dict[str, Any]]:
    """PutMetricAlarm for each rollback alarm, on the new variant's metrics."""
    errors_name, latency_name = alarm_names(request)
    dimensions = [{"Name": "EndpointName", "Value": request.endpoint},
                  {"Name": "VariantName", "Value": request.variant_name}]
    deployment = request.deployment
    tags = [{"Key": k, "Value": v} for k, v in aws.tags]

    def metric(metric_id: str, name: str) -> dict[str, Any]:
        return {"Id": metric_id, "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": dimensions},
            "Period": ALARM_PERIOD_SECONDS, "Stat": "Sum"}}

    return [
        {"AlarmName": errors_name,
         "AlarmDescription": f"airsage: 5xx rate of {request.variant_name} on {request.endpoint} "
                             f"above {deployment.max_error_rate:g} rolls a deployment back",
         "Metrics": [metric("errors", "Invocation5XXErrors"),
                     metric("invocations", "Invocations"),
                     {"Id": "error_rate", "Expression": "errors / invocations",
                      "Label": "5xx rate", "ReturnData": True}],
         "ComparisonOperator": "GreaterThanThreshold", "Threshold": deployment.max_error_rate,
         "EvaluationPeriods": 1, "TreatMissingData": "notBreaching", "Tags": tags},
        {"AlarmName": latency_name,
         "AlarmDescription": f"airsage: p99 model latency of {request.variant_name} on "
                             f"{request.endpoint} above {deployment.max_p99_latency_ms:g} ms "
                             "rolls a deployment back",
         "Namespace": NAMESPACE, "MetricName": "ModelLatency", "Dimensions": dimensions,
         "ExtendedStatistic": "p99", "Period": ALARM_PERIOD_SECONDS, "EvaluationPeriods": 1,
         # ModelLatency is in microseconds
         "Threshold": deployment.max_p99_latency_ms * 1000.0,
         "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
         "Tags": tags},
    ]


def deployment_config(request: DeploymentRequest) -> dict[str, Any]:
    """UpdateEndpoint's DeploymentConfig: blue/green shifting in the request's steps, baking
    ``bake_seconds`` between them, rolled back automatically on either alarm."""
    deployment = request.deployment
    routing: dict[str, Any] = {"Type": TRAFFIC_TYPES[deployment.traffic_shift],
                               "WaitIntervalInSeconds": min(3600, int(deployment.bake_seconds))}
    first = deployment.traffic_steps[0]
    if deployment.traffic_shift == "canary":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT",
                                 "Value": _whole_percent(first, "canary_percent")}
    elif deployment.traffic_shift == "linear":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": max(1, round(first))}
    return {
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing,
                                  "TerminationWaitInSeconds": min(3600, int(deployment.bake_seconds))},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": n} for n in alarm_names(request)]},
    }


def scaling_resource_id(endpoint: str, variant: str) -> str:
    """Application Auto Scaling's ResourceId of a SageMaker production variant."""
    return f"endpoint/{endpoint}/variant/{variant}"


def scaling_policy_name(endpoint: str, variant: str) -> str:
    """The target-tracking policy airsage puts on a variant (one per variant)."""
    return f"{endpoint}-{variant}-invocations-per-instance"


def scalable_target_request(request: DeploymentRequest, variant: str) -> dict[str, Any]:
    """RegisterScalableTarget for ``variant`` of the request's endpoint, with its limits."""
    if request.scaling is None:
        raise ConfigurationError(f"{STEP}: serving.autoscaling is not enabled")
    return {"ServiceNamespace": SCALING_NAMESPACE,
            "ResourceId": scaling_resource_id(request.endpoint, variant),
            "ScalableDimension": SCALABLE_DIMENSION,
            "MinCapacity": request.scaling.min_capacity,
            "MaxCapacity": request.scaling.max_capacity}


def scaling_policy_request(request: DeploymentRequest, variant: str) -> dict[str, Any]:
    """PutScalingPolicy: target tracking of invocations per instance on ``variant``."""
    if request.scaling is None:
        raise ConfigurationError(f"{STEP}: serving.autoscaling is not enabled")
    scaling = request.scaling
    return {"PolicyName": scaling_policy_name(request.endpoint, variant),
            "ServiceNamespace": SCALING_NAMESPACE,
            "ResourceId": scaling_resource_id(request.endpoint, variant),
            "ScalableDimension": SCALABLE_DIMENSION,
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": scaling.target_invocations_per_instance,
                "PredefinedMetricSpecification": {"PredefinedMetricType": SCALING_METRIC},
                "ScaleInCooldown": scaling.scale_in_cooldown,
                "ScaleOutCooldown": scaling.scale_out_cooldown}}


def carried_capacity(request: DeploymentRequest, described: Mapping[str, Any]) -> int:
    """The new variant's InitialInstanceCount on an update: the instances the serving
    variants have scaled to (their largest count), kept within the autoscaling limits, so a
    blue/green switch under load does not drop to the configured initial count."""
    counts = [int(v.get("CurrentInstanceCount") or v.get("DesiredInstanceCount") or 0)
              for v in described.get("ProductionVariants") or []]
    if request.scaling is None or not counts:
        return request.initial_instance_count
    wanted = max(request.initial_instance_count, *counts)
    return max(request.scaling.min_capacity, min(request.scaling.max_capacity, wanted))


@dataclass(frozen=True)
class EndpointPlan:
    """What one deployment will call, decided from what SageMaker has (JSON-safe, so it can
    travel to the provider's operators through XCom).

    ``action``: ``create`` (no endpoint yet), ``update`` (blue/green), ``noop`` (the endpoint
    already uses this request's config: a retry re-attaches) or ``kept`` (``reason``).
    ``create_model`` / ``create_config``: whether those resources still have to be made.
    """

    action: str
    model: Mapping[str, Any]
    endpoint_config: Mapping[str, Any]
    endpoint: Mapping[str, Any]
    create_model: bool = True
    create_config: bool = True
    previous_config: str = ""
    previous_variants: tuple[Mapping[str, Any], ...] = ()
    alarms: tuple[str, ...] = ()
    reason: str = ""
    request: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ConfigurationError(f"{STEP}: plan action {self.action!r} is not one of {ACTIONS}")

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "model": dict(self.model),
                "endpoint_config": dict(self.endpoint_config), "endpoint": dict(self.endpoint),
                "create_model": self.create_model, "create_config": self.create_config,
                "previous_config": self.previous_config,
                "previous_variants": [dict(v) for v in self.previous_variants],
                "alarms": list(self.alarms), "reason": self.reason, "request": dict(self.request)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> EndpointPlan:
        return cls(action=raw["action"], model=raw["model"],
                   endpoint_config=raw["endpoint_config"], endpoint=raw["endpoint"],
                   create_model=bool(raw["create_model"]), create_config=bool(raw["create_config"]),
                   previous_config=str(raw.get("previous_config") or ""),
                   previous_variants=tuple(raw.get("previous_variants") or ()),
                   alarms=tuple(raw.get("alarms") or ()), reason=str(raw.get("reason") or ""),
                   request=dict(raw.get("request") or {}))


def _client_error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class SageMakerEndpointDeployer(ServiceReader):
    """airsage's EndpointDeployer on SageMaker (see the module doc). The SageMaker client comes
    from the provider's ``SageMakerHook``, CloudWatch's from its ``AwsBaseHook``; tests may
    hand in both (``client``, ``cloudwatch``)."""

    def __init__(self, settings: Settings, *, client: Any | None = None,
                 cloudwatch: Any | None = None, autoscaling: Any | None = None) -> None:
        super().__init__(settings, client=client)
        self.config = ServingConfig.from_settings(settings)
        self._cloudwatch = cloudwatch
        self._autoscaling = autoscaling

    def _connect(self) -> Any:
        from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

        return SageMakerHook(aws_conn_id=self.aws.conn_id or None, region_name=self.aws.region).conn

    @property
    def cloudwatch(self) -> Any:
        if self._cloudwatch is None:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

            self._cloudwatch = AwsBaseHook(aws_conn_id=self.aws.conn_id or None,
                                           region_name=self.aws.region,
                                           client_type="cloudwatch").conn
        return self._cloudwatch

    @property
    def autoscaling(self) -> Any:
        """The Application Auto Scaling client (built on first use, as the others)."""
        if self._autoscaling is None:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

            self._autoscaling = AwsBaseHook(aws_conn_id=self.aws.conn_id or None,
                                            region_name=self.aws.region,
                                            client_type="application-autoscaling").conn
        return self._autoscaling

    # -- reading SageMaker ------------------------------------------------------------------
    def _describe(self, kind: str, **name: str) -> dict[str, Any] | None:
        """Describe{kind}; None when SageMaker has no such resource (ValidationException)."""
        try:
            return dict(getattr(self.client, f"describe_{kind}")(**name))
        except Exception as exc:
            if _client_error_code(exc) == "ValidationException":
                return None
            raise StepFailed(f"{STEP}: Describe {kind} {name} failed: {exc}") from exc

    def serving_variants(self, described: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The endpoint's variants with the airsage model and version each serves (from its
        model's environment), weight and status, as the local deployer reports them."""
        config = self._describe("endpoint_config",
                                EndpointConfigName=str(described["EndpointConfigName"])) or {}
        models = {v["VariantName"]: v.get("ModelName", "")
                  for v in config.get("ProductionVariants") or []}
        variants = []
        for variant in described.get("ProductionVariants") or []:
            name = variant["VariantName"]
            model = self._describe("model", ModelName=models.get(name, "")) if models.get(name) else None
            environment = ((model or {}).get("PrimaryContainer") or {}).get("Environment") or {}
            variants.append({
                "variant_name": name, "sagemaker_model": models.get(name, ""),
                "model_name": environment.get(MODEL_NAME_ENV, ""),
                "model_version": environment.get(MODEL_VERSION_ENV, ""),
                "weight": float(variant.get("CurrentWeight", variant.get("DesiredWeight", 1.0))),
                "status": str(described.get("EndpointStatus", "")),
            })
        return variants

    def describe(self, endpoint: str | None = None) -> EndpointDescription:
        endpoint = endpoint or self.config.endpoint
        described = self._describe("endpoint", EndpointName=endpoint)
        if described is None:
            return EndpointDescription(endpoint, None, "OutOfService", ())
        status = str(described["EndpointStatus"])
        return EndpointDescription(endpoint, self.invocation_url(endpoint), status,
                                   tuple(self.serving_variants(described)))

    def invocation_url(self, endpoint: str) -> str:
        return (f"https://runtime.sagemaker.{self.aws.region}.amazonaws.com/endpoints/"
                f"{endpoint}/invocations")

    def stop(self, endpoint: str | None = None, timeout: float = 20.0) -> bool:
        """Refuse: stopping a SageMaker endpoint means deleting it, which airsage's
        least-privilege role may not do (include/iam/airflow-role.json has no
        sagemaker:DeleteEndpoint); False when there is no endpoint to stop."""
        endpoint = endpoint or self.config.endpoint
        if self._describe("endpoint", EndpointName=endpoint) is None:
            return False
        raise ConfigurationError(
            f"{STEP}: stopping SageMaker endpoint {endpoint} deletes it, which airsage's role "
            "is not allowed to do; delete it with your own credentials: aws sagemaker "
            f"delete-endpoint --endpoint-name {endpoint} --region {self.aws.region}")

    # -- the three phases -------------------------------------------------------------------
    def prepare(self, lake: Lake, request: DeploymentRequest, *,
                keep_serving: KeepServing | None = None) -> EndpointPlan:
        """Describe what exists, then decide: kept, noop, create or update. For create and
        update the inference code is staged and the rollback alarms are put (both idempotent),
        so only the provider's operators' calls remain."""
        aws = self.aws
        aws.require_s3()
        job = training_job_of(self.config.dataset, request.model_artifact_key)
        code_uri = aws.uri(inference_code_key(self.config.dataset, job))
        model = model_config(aws, request, code_uri)
        config = endpoint_config(aws, request)
        described = self._describe("endpoint", EndpointName=request.endpoint)

        def plan(action: str, endpoint: Mapping[str, Any], **details: Any) -> EndpointPlan:
            return EndpointPlan(action=action, model=model, endpoint_config=config,
                                endpoint=endpoint, request=request.to_dict(), **details)

        if described is None:
            self._stage(lake, code_uri, job)
            self._put_alarms(request)
            return plan(
                "create", {"EndpointName": request.endpoint,
                           "EndpointConfigName": request.endpoint_config_name,
                           "Tags": [{"Key": k, "Value": v} for k, v in aws.tags]},
                create_model=self._describe("model", ModelName=model["ModelName"]) is None,
                create_config=self._describe(
                    "endpoint_config", EndpointConfigName=config["EndpointConfigName"]) is None,
                alarms=alarm_names(request))
        status = str(described["EndpointStatus"])
        if status in BUSY_STATUSES:
            raise StepFailed(
                f"{STEP}: endpoint {request.endpoint} is {status} (another deployment or "
                "SageMaker is changing it); a retry checks again once it is InService")
        if status == "Failed":
            raise StepFailed(
                f"{STEP}: endpoint {request.endpoint} is Failed "
                f"({described.get('FailureReason') or 'no reason given'}); delete it "
                f"(`airsage endpoint stop`) and deploy again")
        variants = self.serving_variants(described)
        previous = str(described["EndpointConfigName"])
        if previous == request.endpoint_config_name:
            return plan("noop", {}, create_model=False, create_config=False,
                        previous_config=previous, previous_variants=tuple(variants))
        serving = [v for v in variants if v["weight"] > 0]
        reason = keep_serving(serving) if keep_serving is not None and serving else None
        if reason:
            return plan("kept", {}, create_model=False, create_config=False,
                        previous_config=previous, previous_variants=tuple(variants),
                        reason=reason)
        self._stage(lake, code_uri, job)
        self._put_alarms(request)
        variant = {**config["ProductionVariants"][0],
                   "InitialInstanceCount": carried_capacity(request, described)}
        config = {**config, "ProductionVariants": [variant]}
        return plan(
            "update",
            {"EndpointName": request.endpoint,
             "EndpointConfigName": request.endpoint_config_name,
             "DeploymentConfig": deployment_config(request)},
            create_model=self._describe("model", ModelName=model["ModelName"]) is None,
            create_config=self._describe(
                "endpoint_config", EndpointConfigName=config["EndpointConfigName"]) is None,
            previous_config=previous, previous_variants=tuple(variants),
            alarms=alarm_names(request))

    def _stage(self, lake: Lake, code_uri: str, job: str) -> None:
        key = inference_code_key(self.config.dataset, job)
        if lake.uri(key) != code_uri:
            raise ConfigurationError(
                f"{STEP}: the lake given ({lake.uri(key)}) is not aws.lake_root ({code_uri})")
        stage_inference_code(lake, key)

    def _put_alarms(self, request: DeploymentRequest) -> None:
        for alarm in alarm_requests(self.aws, request):
            try:
                self.cloudwatch.put_metric_alarm(**alarm)
            except Exception as exc:
                raise StepFailed(
                    f"{STEP}: cannot put the rollback alarm {alarm['AlarmName']} in CloudWatch: "
                    f"{exc}; without it a bad update would not roll back, so nothing was "
                    "deployed") from exc

    # -- autoscaling (see the module doc) ----------------------------------------------------
    def scaling_targets(self, endpoint: str) -> dict[str, dict[str, Any]]:
        """The endpoint's variants registered with Application Auto Scaling, by variant name."""
        prefix = scaling_resource_id(endpoint, "")
        targets: dict[str, dict[str, Any]] = {}
        try:
            pages = self.autoscaling.get_paginator("describe_scalable_targets").paginate(
                ServiceNamespace=SCALING_NAMESPACE, ScalableDimension=SCALABLE_DIMENSION)
            for page in pages:
                for target in page.get("ScalableTargets") or []:
                    resource = str(target["ResourceId"])
                    if resource.startswith(prefix):
                        targets[resource.removeprefix(prefix)] = dict(target)
        except Exception as exc:
            raise StepFailed(f"{STEP}: cannot list the scalable targets of endpoint {endpoint} "
                             f"in Application Auto Scaling: {exc}") from exc
        return targets

    def _deregister(self, endpoint: str, variant: str) -> None:
        """Delete the variant's scaling policies, then deregister it (as SageMaker's guide
        says to before an update removes it); a target already gone is fine (a retry)."""
        resource = scaling_resource_id(endpoint, variant)
        where = {"ServiceNamespace": SCALING_NAMESPACE, "ResourceId": resource,
                 "ScalableDimension": SCALABLE_DIMENSION}
        try:
            policies = self.autoscaling.describe_scaling_policies(**where)["ScalingPolicies"]
            for policy in policies:
                if policy["ResourceId"] == resource:  # the filter is not exact on every backend
                    self.autoscaling.delete_scaling_policy(PolicyName=policy["PolicyName"], **where)
            self.autoscaling.deregister_scalable_target(**where)
        except Exception as exc:
            if _client_error_code(exc) == "ObjectNotFoundException":
                return
            raise StepFailed(f"{STEP}: cannot deregister {resource} from Application Auto "
                             f"Scaling: {exc}; a retry tries again") from exc

    def release_scaling(self, plan: EndpointPlan) -> tuple[str, ...]:
        """Right before an ``UpdateEndpoint``: deregister this endpoint's scalable targets
        other than the new variant (the update removes them, and SageMaker refuses to remove
        a registered variant). Returns the variants released; :meth:`apply_scaling` puts
        back whichever of them still serves if the update does not take."""
        if plan.action != "update":
            return ()
        request = DeploymentRequest.from_dict(plan.request)
        released = tuple(sorted(v for v in self.scaling_targets(request.endpoint)
                                if v != request.variant_name))
        for variant in released:
            self._deregister(request.endpoint, variant)
        if released:
            log.info("%s: released %s of endpoint %s from autoscaling for the update", STEP,
                     ", ".join(released), request.endpoint)
        return released

    def apply_scaling(self, request: DeploymentRequest) -> dict[str, list[str]]:
        """Make Application Auto Scaling match the endpoint as it is now: every variant it
        serves registered with the request's limits and target-tracking policy (when
        autoscaling is off, airsage registers nothing), every other target of the endpoint
        deregistered (a variant that no longer exists cannot scale). After a switch
        that moves scaling to the new variant; after a rollback it restores the previous
        variant's. Idempotent."""
        described = self._describe("endpoint", EndpointName=request.endpoint)
        serving = [str(v["VariantName"]) for v in (described or {}).get("ProductionVariants") or []]
        in_service = described is not None and described.get("EndpointStatus") == "InService"
        wanted = serving if in_service and request.scaling is not None else []
        registered: list[str] = []
        for variant in wanted:
            target = scalable_target_request(request, variant)
            try:
                self.autoscaling.register_scalable_target(**target)
                self.autoscaling.put_scaling_policy(**scaling_policy_request(request, variant))
            except Exception as exc:
                raise StepFailed(
                    f"{STEP}: endpoint {request.endpoint} serves {variant}, but registering "
                    f"{target['ResourceId']} with Application Auto Scaling (min "
                    f"{target['MinCapacity']}, max {target['MaxCapacity']}) failed: {exc}; the "
                    "variant serves at its current instance count; a retry registers it "
                    "again") from exc
            registered.append(variant)
        stale = sorted(v for v in self.scaling_targets(request.endpoint) if v not in serving)
        for variant in stale:
            self._deregister(request.endpoint, variant)
        if registered or stale:
            log.info("%s: autoscaling of endpoint %s: registered %s, deregistered %s", STEP,
                     request.endpoint, registered or "none", stale or "none")
        return {"registered": registered, "deregistered": stale}

    def recheck(self, plan: EndpointPlan, *,
                keep_serving: KeepServing | None = None) -> tuple[str, str]:
        """Right before the plan's ``CreateEndpoint`` / ``UpdateEndpoint``: ``("call", "")``
        to make it; ``("kept", reason)`` when a model trained on newer data serves by now;
        ``("done", why)`` when the endpoint already uses this plan's config (an earlier try's
        call went through). Raises when the endpoint is not what the plan was made for (busy:
        a retry asks again; created or deleted meanwhile: the group must plan again)."""
        request = DeploymentRequest.from_dict(plan.request)
        described = self._describe("endpoint", EndpointName=request.endpoint)
        if described is None:
            if plan.action == "create":
                return RECHECK_CALL, ""
            raise StepFailed(
                f"{STEP}: endpoint {request.endpoint} was deleted after this run planned its "
                f"{plan.action}; clear the deploy task group so that it plans again")
        status = str(described["EndpointStatus"])
        if status in BUSY_STATUSES:
            raise StepFailed(
                f"{STEP}: endpoint {request.endpoint} is {status} (another deployment is "
                "changing it); a retry asks again once it is InService")
        if str(described["EndpointConfigName"]) == request.endpoint_config_name:
            return RECHECK_DONE, (f"endpoint {request.endpoint} already uses config "
                                  f"{request.endpoint_config_name} (an earlier try's call)")
        serving = [v for v in self.serving_variants(described) if v["weight"] > 0]
        reason = keep_serving(serving) if keep_serving is not None and serving else None
        if reason:
            return RECHECK_KEPT, reason
        if plan.action == "create":
            raise StepFailed(
                f"{STEP}: endpoint {request.endpoint} was created by another run after this run "
                "planned to create it; clear the deploy task group so that it plans a "
                "blue/green update instead")
        return RECHECK_CALL, ""

    def collect(self, plan: EndpointPlan, *, duration_seconds: float = 0.0,
                keep_serving: KeepServing | None = None) -> DeploymentResult:
        """Judge the endpoint after the create or update: InService on this request's config,
        its variant serving this version. Otherwise the update failed or was rolled back —
        unless ``keep_serving`` says a model trained on newer data serves now (a newer run
        deployed meanwhile: this run's call was skipped, action ``kept``)."""
        request = DeploymentRequest.from_dict(plan.request)
        name, version = request.model_name, request.model_version
        if plan.action == "kept":
            return DeploymentResult(request.endpoint, self.invocation_url(request.endpoint),
                                    "kept", name, version, "", reason=plan.reason,
                                    duration_seconds=duration_seconds)
        described = self._describe("endpoint", EndpointName=request.endpoint)
        if described is None:
            raise StepFailed(f"{STEP}: endpoint {request.endpoint} does not exist after its "
                             f"{plan.action}; deploy again")
        status, current = str(described["EndpointStatus"]), str(described["EndpointConfigName"])
        if (keep_serving is not None and status == "InService"
                and current != request.endpoint_config_name):
            serving = [v for v in self.serving_variants(described) if v["weight"] > 0]
            reason = keep_serving(serving) if serving else None
            if reason:
                return DeploymentResult(request.endpoint, self.invocation_url(request.endpoint),
                                        "kept", name, version, "", reason=reason,
                                        duration_seconds=duration_seconds)
        if status != "InService" or current != request.endpoint_config_name:
            previous = [f"{v['model_name']} v{v['model_version']}"
                        for v in self.serving_variants(described) if v["weight"] > 0]
            try:  # the variant still serving gets back the autoscaling the update released
                restored = self.apply_scaling(request)["registered"]
                scaling_note = (f" Autoscaling restored on {', '.join(restored)}."
                                if restored else "")
            except StepFailed as exc:
                scaling_note = f" Restoring autoscaling failed too: {exc}."
            raise StepFailed(
                f"{STEP}: endpoint {request.endpoint}: the {plan.action} to {name} v{version} "
                f"(config {request.endpoint_config_name}) did not take: the endpoint is {status} "
                f"on config {current}"
                + (f", still serving {', '.join(previous)}" if previous else "")
                + f". SageMaker says: {described.get('FailureReason') or 'no reason given'}. "
                f"Rollback alarms: {', '.join(plan.alarms) or 'none'}; fix the model and deploy "
                "again." + scaling_note)
        serving = [v for v in self.serving_variants(described) if v["weight"] > 0]
        if not any(v["model_name"] == name and v["model_version"] == version for v in serving):
            raise StepFailed(
                f"{STEP}: endpoint {request.endpoint} is on config {current}, but its variants "
                f"serve {[(v['model_name'], v['model_version']) for v in serving]}, not {name} "
                f"v{version}; the config was changed outside airsage: deploy again")
        self.apply_scaling(request)
        action = {"create": "created", "update": "updated"}.get(plan.action, "noop")
        return DeploymentResult(
            request.endpoint, self.invocation_url(request.endpoint), action, name, version,
            request.variant_name,
            traffic_steps=tuple(request.deployment.traffic_steps) if action != "noop" else (),
            replaced_variants=tuple(v["variant_name"] for v in plan.previous_variants)
            if action == "updated" else (),
            duration_seconds=round(duration_seconds, 3))

    # -- EndpointDeployer -------------------------------------------------------------------
    def deploy(self, lake: Lake, model_version: ModelVersionLike, *,
               endpoint: str | None = None,
               keep_serving: KeepServing | None = None) -> DeploymentResult:
        """Serve ``model_version`` (the request built from these settings); see :meth:`run`."""
        request = deployment_request(self.settings, version_dict(model_version), endpoint=endpoint)
        return self.run(lake, request, keep_serving=keep_serving)

    def run(self, lake: Lake, request: DeploymentRequest, *,
            keep_serving: KeepServing | None = None) -> DeploymentResult:
        """Prepare, make what is missing, create or update the endpoint, wait for it with
        SageMaker's ``endpoint_in_service`` waiter, and collect (outside Airflow: the CLI;
        the DAG runs the same calls through the provider's operators, deferred)."""
        started = time.monotonic()
        plan = self.prepare(lake, request, keep_serving=keep_serving)
        if plan.action in ("create", "update"):
            answer, reason = self.recheck(plan, keep_serving=keep_serving)
            if answer == RECHECK_KEPT:
                return self.collect(replace(plan, action="kept", reason=reason),
                                    duration_seconds=time.monotonic() - started)
            if answer == RECHECK_CALL:
                self.execute(plan)
            from botocore.exceptions import WaiterError

            waiter = self.client.get_waiter("endpoint_in_service")
            try:
                waiter.wait(EndpointName=request.endpoint,
                            WaiterConfig={"Delay": 15, "MaxAttempts": 240})
            except WaiterError as exc:  # Failed, or still changing after an hour: collect
                log.warning("%s: waiting for endpoint %s ended: %s", STEP, request.endpoint, exc)
        return self.collect(plan, duration_seconds=time.monotonic() - started,
                            keep_serving=keep_serving)

    def execute(self, plan: EndpointPlan) -> None:
        """The plan's calls, as the provider's operators make them in the DAG (an update
        first releases the variants it removes from autoscaling; a refused call puts them
        back)."""
        if plan.create_model:
            self.client.create_model(**plan.model)
        if plan.create_config:
            self.client.create_endpoint_config(**plan.endpoint_config)
        if plan.action == "create":
            self.client.create_endpoint(**plan.endpoint)
        elif plan.action == "update":
            self.release_scaling(plan)
            try:
                self.client.update_endpoint(**plan.endpoint)
            except Exception:
                self.apply_scaling(DeploymentRequest.from_dict(plan.request))
                raise

