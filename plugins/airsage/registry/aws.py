"""The aws target's model registry: SageMaker Model Registry (a model package group per model).

A registered version is a versioned model package (``CreateModelPackage``):

- ``ModelApprovalStatus`` is the status (``PendingManualApproval`` or ``Approved``, chosen by
  the same blessing and ``auto_approve`` logic as locally; ``Rejected`` after a person's
  rejection, through ``UpdateModelPackage``);
- ``InferenceSpecification`` is what would serve it: the SageMaker framework image resolved
  offline, the S3 URI of the lake's ``model.tar.gz`` and ``include/jobs/inference.py`` as the
  entry point (:func:`airsage.serving.aws.inference_container`; the code is staged beside the
  model's training job output);
- ``ModelMetrics.ModelQuality.Statistics`` points at the candidate's ``evaluation.json``;
- ``CustomerMetadataProperties`` carries what the local registry keeps as MLflow version tags:
  the headline metrics (``metric.*``), the lineage (``lineage.*``: data day, dataset hash,
  training job, artifact and report keys …) and who decided the approval (``approval.*``).
  SageMaker allows 50 entries, keys up to 128 and values up to 256 characters from a small
  alphabet: a value outside it is stored base64-encoded (``b64:`` prefix, decoded on read),
  empty values are left out, and what does not fit is named in ``airsage.omitted`` (the full
  documents stay in the lake, where the lineage keys point).

moto's ``UpdateModelPackage`` replaces ``CustomerMetadataProperties`` and
``ApprovalDescription`` with what the call sends — nothing, when a call omits them (measured
with moto 5.2.5; issue 11 reports AWS losing them too) — so
:meth:`SageMakerModelRegistry.set_status` describes the version first and re-sends every
property with the decision added, which is right whether the service replaces or merges.

Tracking: on SageMaker the training (or tuning) job is the record of a run — its
hyperparameters, metrics and output are SageMaker's own — so a run id is the job's ARN;
:meth:`~SageMakerModelRegistry.log_training` finds that job rather than writing a second
record, and refuses a job SageMaker does not know.

In the DAG, ``register`` on the aws target is a task group whose ``CreateModelPackage`` call
is the provider's ``SageMakerRegisterModelVersionOperator`` (:mod:`airsage.airflow.aws_registry`);
this class prepares the call (:meth:`SageMakerModelRegistry.prepare_registration`) and reads
the version back. What that operator does not do, and how it is covered (read in
apache-airflow-providers-amazon's ``operators/sagemaker.py``):

- it creates a version on every try (no existence check, no ClientToken of its own): the
  request phase and :class:`~airsage.airflow.aws_registry.RegisterModelVersionOnceOperator`
  first look for a version of the same model data, and the call carries a deterministic
  ``ClientToken``;
- it hard-codes a container of image and model URL with ``text/csv`` content types: the
  whole ``InferenceSpecification`` (entry point, code, JSON) and the ``ModelMetrics``,
  ``CustomerMetadataProperties``, ``ClientToken`` and ``Tags`` go in its ``extras``, which
  its docstring documents as overriding its own fields;
- it creates the group with the *package's* description and no tags: the request phase makes
  the group first (:meth:`SageMakerModelRegistry._ensure_group`), so on AWS the operator's
  attempt only finds it ("already exists"; moto 5.2.5 instead re-creates a group silently);
- approval decisions are ``UpdateModelPackage`` calls, which no provider operator makes:
  :meth:`SageMakerModelRegistry.set_status` makes them (HITL's record tasks, Rejected too).

:meth:`SageMakerModelRegistry.register` makes the same call directly, for code outside a DAG.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt_
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from airsage.awsconf import AwsSettings, ServiceReader
from airsage.config import Settings
from airsage.errors import ConfigurationError, InputDataError, StepFailed
from airsage.lake.base import Lake
from airsage.registry.base import (
    DATA_DAY_TAG,
    DECIDED_AT_TAG,
    DECIDED_BY_TAG,
    DECISION_COMMENT_TAG,
    LINEAGE_ARTIFACT_KEY,
    ApprovalStatus,
    ModelVersion,
    evaluation_metrics,
    select_champion,
)

METRIC_PREFIX = "metric."
LINEAGE_PREFIX = "lineage."
RUN_ID_PROPERTY = "airsage.run_id"
OMITTED_PROPERTY = "airsage.omitted"
PACKAGE_ARN_TAG = "sagemaker.model_package_arn"
ENCODED_PREFIX = "b64:"
MAX_PROPERTIES = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
MAX_APPROVAL_DESCRIPTION = 1024
# SageMaker's CustomerMetadataKey / Value alphabet: letters, separators, digits, _ . : / = + - @
ALLOWED = re.compile(r"^[A-Za-z0-9_ .:/=+\-@]*$")  # ASCII: narrower than SageMaker's, never wider
# the properties kept first when there are more than SageMaker's 50
ESSENTIAL = (DATA_DAY_TAG, LINEAGE_ARTIFACT_KEY, "lineage.training_job_name",
             "lineage.dataset", "lineage.dataset_hash", "lineage.evaluation_report_key",
             "lineage.blessing_uri", "lineage.champion_version", RUN_ID_PROPERTY,
             DECIDED_BY_TAG, DECIDED_AT_TAG)
CODE_NAMESPACE = uuid.UUID("6f1f7a4e-9a0c-4f47-8a52-5b8a3c1b2d10")


def _text(value: Any) -> str:
    """A property's text, as the local registry writes a tag (JSON for non-strings)."""
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


def encode_value(text: str) -> str | None:
    """The stored form of a property value within SageMaker's limits, or None if it cannot
    fit (plain when its characters are allowed, else ``b64:`` + base64 of its UTF-8)."""
    if not text:
        return None
    if ALLOWED.match(text) and not text.startswith(ENCODED_PREFIX):
        return text if len(text) <= MAX_VALUE_LENGTH else None
    encoded = ENCODED_PREFIX + base64.b64encode(text.encode("utf-8")).decode("ascii")
    return encoded if len(encoded) <= MAX_VALUE_LENGTH else None


def decode_value(stored: str) -> str:
    if not stored.startswith(ENCODED_PREFIX):
        return stored
    try:
        return base64.b64decode(stored.removeprefix(ENCODED_PREFIX), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return stored  # written by someone else: shown as stored


def metadata_properties(values: Mapping[str, Any]) -> dict[str, str]:
    """``CustomerMetadataProperties`` for ``values`` (None values dropped), essentials first,
    at most 50; the names of values that did not fit go into ``airsage.omitted``."""
    texts = {str(k): _text(v) for k, v in values.items() if v is not None}
    order = [k for k in ESSENTIAL if k in texts] + sorted(k for k in texts if k not in ESSENTIAL)
    properties: dict[str, str] = {}
    omitted: list[str] = []
    for key in order:
        if texts[key] == "":
            continue
        encoded = encode_value(texts[key])
        if (encoded is None or len(key) > MAX_KEY_LENGTH or not ALLOWED.match(key)
                or len(properties) >= MAX_PROPERTIES - 1):
            omitted.append(key)
            continue
        properties[key] = encoded
    if omitted:
        note = encode_value(" ".join(omitted))
        properties[OMITTED_PROPERTY] = note if note is not None else f"{len(omitted)} properties"
    return properties


def _created_at(value: Any) -> str:
    if isinstance(value, dt_.datetime):
        when = value if value.tzinfo else value.replace(tzinfo=dt_.UTC)
        return when.astimezone(dt_.UTC).isoformat(timespec="seconds")
    return str(value or "")



def model_package_request(aws: AwsSettings, *, instance_type: str, model_name: str,
                          model_data: str, code_uri: str, approval: ApprovalStatus,
                          properties: Mapping[str, str], lineage: Mapping[str, Any]
                          ) -> dict[str, Any]:
    """``CreateModelPackage``'s arguments (pure, so ``airsage plan`` prints the same call): the
    inference container over ``model_data``, the metadata ``properties``, the evaluation
    report of ``lineage['evaluation_report_key']``, and a ClientToken fixed by the model and
    its data, so a retried call cannot register a second version."""
    from airsage.serving.aws import inference_container

    job_name = str(lineage.get("training_job_name") or "")
    report_key = str(lineage.get("evaluation_report_key") or "")
    request: dict[str, Any] = {
        "ModelPackageGroupName": model_name,
        "ModelPackageDescription": f"airsage: {job_name} trained on data up to "
                                   f"{lineage.get('partition_day', '?')}"[:1024],
        "ModelApprovalStatus": approval.value,
        "InferenceSpecification": {
            "Containers": [inference_container(
                aws, instance_type=instance_type, model_data_url=model_data,
                code_uri=code_uri, environment={"AIRSAGE_MODEL_NAME": model_name})],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
            "SupportedRealtimeInferenceInstanceTypes": [instance_type],
        },
        "CustomerMetadataProperties": dict(properties),
        "ClientToken": str(uuid.uuid5(CODE_NAMESPACE, f"{model_name}|{model_data}")),
        "Tags": [{"Key": k, "Value": v} for k, v in aws.tags],
    }
    if report_key:
        request["ModelMetrics"] = {"ModelQuality": {"Statistics": {
            "ContentType": "application/json", "S3Uri": aws.uri(report_key)}}}
    return request


def registered_package_arn(client: Any, model_name: str, model_data: str) -> str | None:
    """The ARN of the version of ``model_name`` whose model data is ``model_data`` (the S3 URI
    of one training job's ``model.tar.gz``), or None: how a retried registration finds what
    its first try registered. A missing group has no versions."""
    try:
        pages = client.get_paginator("list_model_packages").paginate(
            ModelPackageGroupName=model_name)
        arns = [str(s["ModelPackageArn"]) for page in pages
                for s in page.get("ModelPackageSummaryList") or []]
    except Exception as exc:
        code = str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))
        if code in ("ValidationException", "ResourceNotFound"):
            return None
        raise
    for arn in arns:
        found = client.describe_model_package(ModelPackageName=arn)
        containers = (found.get("InferenceSpecification") or {}).get("Containers") or [{}]
        if containers[0].get("ModelDataUrl") == model_data:
            return arn
    return None


class SageMakerModelRegistry(ServiceReader):
    """airsage's ModelRegistry on SageMaker Model Registry (see the module doc). The client
    comes from the provider's ``SageMakerHook``; tests may hand one in, and a lake."""

    def __init__(self, settings: Settings, *, client: Any | None = None,
                 lake: Lake | None = None) -> None:
        super().__init__(settings, client=client)
        self._lake = lake

    def _connect(self) -> Any:
        from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

        return SageMakerHook(aws_conn_id=self.aws.conn_id or None, region_name=self.aws.region).conn

    @property
    def lake(self) -> Lake:
        if self._lake is None:
            from airsage.lake.aws import S3Lake

            self._lake = S3Lake(self.settings)
        return self._lake

    def _call(self, what: str, function: Any, **kwargs: Any) -> Any:
        """Call SageMaker; a missing resource → InputDataError, other errors → StepFailed."""
        try:
            return function(**kwargs)
        except Exception as exc:
            code = str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))
            if code in ("ValidationException", "ResourceNotFound"):
                raise InputDataError(f"registry: {what}: {exc}") from exc
            if code:
                raise StepFailed(f"registry: {what} failed on SageMaker: {exc}") from exc
            raise

    # -- tracking: SageMaker's jobs are the runs --------------------------------------------
    def find_run(self, job_name: str) -> str | None:
        """The ARN of the SageMaker training or tuning job of that name, if there is one."""
        for describe, arn in (("describe_training_job", "TrainingJobArn"),
                              ("describe_hyper_parameter_tuning_job", "HyperParameterTuningJobArn")):
            key = "TrainingJobName" if arn == "TrainingJobArn" else "HyperParameterTuningJobName"
            try:
                found = self._call(f"{describe} {job_name}", getattr(self.client, describe),
                                   **{key: job_name})
            except InputDataError:
                continue
            return str(found[arn])
        return None

    def log_training(
        self,
        *,
        job_name: str,
        dataset: str,
        day: dt_.date | str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        model_artifact_uri: str | None,
        dataset_hash: str | None = None,
        lineage: Mapping[str, Any] | None = None,
        status: str = "Completed",
        parent_run_id: str | None = None,
    ) -> str:
        """The SageMaker job's ARN: SageMaker already records its hyperparameters, metrics
        and output; a job it does not know was not run on this target."""
        found = self.find_run(job_name)
        if found is None:
            raise InputDataError(
                f"registry: SageMaker has no training or tuning job named {job_name!r}; on the "
                "aws target a run is a SageMaker job (train on the aws target, or register on "
                "the target that trained the model)")
        return found

    # -- registry -------------------------------------------------------------------------
    def _ensure_group(self, model_name: str) -> None:
        try:
            self._call(f"model package group {model_name}",
                       self.client.describe_model_package_group, ModelPackageGroupName=model_name)
            return
        except InputDataError:
            pass
        try:
            self._call(f"create model package group {model_name}",
                       self.client.create_model_package_group, ModelPackageGroupName=model_name,
                       ModelPackageGroupDescription=f"airsage: versions of {model_name}",
                       Tags=[{"Key": k, "Value": v} for k, v in self.aws.tags])
        except (InputDataError, StepFailed):  # created meanwhile by another run
            self._call(f"model package group {model_name}",
                       self.client.describe_model_package_group, ModelPackageGroupName=model_name)

    def _summaries(self, model_name: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_model_packages")
        try:
            for page in paginator.paginate(ModelPackageGroupName=model_name):
                yield from page.get("ModelPackageSummaryList") or []
        except Exception as exc:
            code = str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))
            if code in ("ValidationException", "ResourceNotFound"):
                return
            raise StepFailed(f"registry: listing versions of {model_name} failed: {exc}") from exc

    def register(
        self,
        model_name: str,
        model_artifact_uri: str,
        *,
        run_id: str | None,
        evaluation: Mapping[str, Any],
        lineage: Mapping[str, Any],
        status: str | ApprovalStatus = ApprovalStatus.PENDING,
    ) -> ModelVersion:
        """A new version of ``model_name`` (see the module doc): :meth:`prepare_registration`,
        then its ``CreateModelPackage`` call (the DAG makes that call through
        ``SageMakerRegisterModelVersionOperator``: :mod:`airsage.airflow.aws_registry`)."""
        existing, request = self.prepare_registration(
            model_name, model_artifact_uri, run_id=run_id, evaluation=evaluation,
            lineage=lineage, status=status)
        if existing is not None:  # a retry: the first try registered it
            return existing
        created = self._call(f"register a version of {model_name}",
                             self.client.create_model_package, **request)
        return self.describe_package(str(created["ModelPackageArn"]))

    def prepare_registration(
        self,
        model_name: str,
        model_artifact_uri: str,
        *,
        run_id: str | None,
        evaluation: Mapping[str, Any],
        lineage: Mapping[str, Any],
        status: str | ApprovalStatus = ApprovalStatus.PENDING,
    ) -> tuple[ModelVersion | None, dict[str, Any]]:
        """Everything before ``CreateModelPackage``: the version a first try already
        registered for this training job's model (re-attach), and the call's arguments
        (:func:`model_package_request`), with the inference code staged and the group made.
        The model data is the S3 URI of ``lineage['model_artifact_key']``
        (``model_artifact_uri`` when it is already an S3 URI: the step hands in a downloaded
        copy, which SageMaker cannot read)."""
        from airsage.serving.aws import inference_code_key, stage_inference_code
        from airsage.serving.base import ServingConfig

        approval = ApprovalStatus.parse(status)
        aws = self.aws
        aws.require_s3()
        artifact_key = str(lineage.get("model_artifact_key") or "")
        job_name = str(lineage.get("training_job_name") or "")
        dataset = str(lineage.get("dataset") or "")
        if model_artifact_uri.startswith("s3://"):
            model_data = model_artifact_uri
        elif artifact_key:
            model_data = aws.uri(artifact_key)
        else:
            raise ConfigurationError(
                f"registry: cannot register {model_name} on SageMaker: {model_artifact_uri!r} "
                "is not an S3 URI and the lineage names no model_artifact_key")
        if not job_name or not dataset:
            raise ConfigurationError(
                f"registry: the lineage of {model_name}'s new version names no training job or "
                "dataset (registration_request writes both); the inference code is staged by them")
        serving = ServingConfig.from_settings(self.settings)
        code_uri = aws.uri(inference_code_key(dataset, job_name))
        metrics = evaluation_metrics(evaluation)
        properties = metadata_properties({
            **{f"{METRIC_PREFIX}{k}": v for k, v in metrics.items()},
            **{f"{LINEAGE_PREFIX}{k}": v for k, v in lineage.items()},
            RUN_ID_PROPERTY: run_id,
        })
        request = model_package_request(
            aws, instance_type=serving.instance_type, model_name=model_name,
            model_data=model_data, code_uri=code_uri, approval=approval,
            properties=properties, lineage=lineage)
        existing = self._version_of(model_name, job_name, model_data)
        if existing is None:
            stage_inference_code(self.lake, inference_code_key(dataset, job_name))
            self._ensure_group(model_name)
        return existing, request

    def _version_of(self, model_name: str, job_name: str, model_data: str) -> ModelVersion | None:
        for version in self.list_versions(model_name):
            if (version.tags.get("lineage.training_job_name") == job_name
                    and version.artifact_uri == model_data):
                return version
        return None

    def _arn(self, model_name: str, version: str) -> str:
        for summary in self._summaries(model_name):
            if str(summary.get("ModelPackageVersion")) == str(version):
                return str(summary["ModelPackageArn"])
        raise InputDataError(
            f"registry: model package group {model_name} has no version {version}")

    def describe_package(self, arn: str) -> ModelVersion:
        """The version a model package ARN names."""
        found = self._call(f"model package {arn}", self.client.describe_model_package,
                           ModelPackageName=arn)
        return self._to_model_version(found)

    def set_status(
        self, model_name: str, version: str, status: str | ApprovalStatus, *,
        decided_by: str | None = None, decided_at: str | None = None, comment: str | None = None,
    ) -> ModelVersion:
        """UpdateModelPackage with the new status, ``comment`` as ApprovalDescription, and
        every metadata property re-sent with who decided and when (an update replaces them)."""
        approval = ApprovalStatus.parse(status)
        arn = self._arn(model_name, version)
        described = self._call(f"model package {arn}", self.client.describe_model_package,
                               ModelPackageName=arn)
        current = {k: decode_value(str(v))
                   for k, v in (described.get("CustomerMetadataProperties") or {}).items()
                   if k != OMITTED_PROPERTY}
        when = decided_at or dt_.datetime.now(dt_.UTC).isoformat(timespec="seconds")
        current.update({DECIDED_BY_TAG: decided_by or "airsage", DECIDED_AT_TAG: when})
        update: dict[str, Any] = {
            "ModelPackageArn": arn, "ModelApprovalStatus": approval.value,
            "ApprovalDescription": (comment or f"{approval.value} by {decided_by or 'airsage'}"
                                    )[:MAX_APPROVAL_DESCRIPTION],
            "CustomerMetadataProperties": metadata_properties(current),
        }
        self._call(f"set status of {model_name} v{version}", self.client.update_model_package,
                   **update)
        return self.describe_package(arn)

    def champion(self, model_name: str) -> ModelVersion | None:
        return select_champion(self.list_versions(model_name))

    def get_version(self, model_name: str, version: str) -> ModelVersion:
        return self.describe_package(self._arn(model_name, version))

    def list_versions(self, model_name: str) -> list[ModelVersion]:
        """Every version of ``model_name``, oldest first (empty when the group is missing)."""
        versions = [self.describe_package(str(s["ModelPackageArn"])) for s in self._summaries(model_name)]
        return sorted(versions, key=lambda v: int(v.version))

    def latest_version(
        self, model_name: str, status: str | ApprovalStatus | None = ApprovalStatus.APPROVED
    ) -> ModelVersion | None:
        wanted = ApprovalStatus.parse(status).value if status is not None else None
        versions = [v for v in self.list_versions(model_name)
                    if wanted is None or v.status == wanted]
        return versions[-1] if versions else None

    @staticmethod
    def _to_model_version(found: Mapping[str, Any]) -> ModelVersion:
        tags = {str(k): decode_value(str(v))
                for k, v in (found.get("CustomerMetadataProperties") or {}).items()}
        if found.get("ApprovalDescription"):
            tags[DECISION_COMMENT_TAG] = str(found["ApprovalDescription"])
        tags[PACKAGE_ARN_TAG] = str(found["ModelPackageArn"])
        metrics: dict[str, float] = {}
        for key, value in tags.items():
            if key.startswith(METRIC_PREFIX):
                try:
                    metrics[key.removeprefix(METRIC_PREFIX)] = float(value)
                except ValueError:
                    continue
        containers = (found.get("InferenceSpecification") or {}).get("Containers") or [{}]
        return ModelVersion(
            name=str(found.get("ModelPackageGroupName", "")),
            version=str(found.get("ModelPackageVersion", "")),
            status=str(found.get("ModelApprovalStatus") or ApprovalStatus.PENDING.value),
            artifact_uri=str(containers[0].get("ModelDataUrl", "")),
            run_id=tags.get(RUN_ID_PROPERTY) or None,
            metrics=metrics,
            tags=tags,
            created_at=_created_at(found.get("CreationTime")),
        )

