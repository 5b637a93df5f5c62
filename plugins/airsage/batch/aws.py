"""The batch scoring step on the aws target: a SageMaker transform job over the lake's S3.

A :class:`~airsage.batch.base.TransformRequest` (the same request as locally) maps onto:

- ``CreateModel`` only when SageMaker has no model of that version yet: the deploy step's
  model of the same name (``<model>-v<version>``, :func:`airsage.serving.request.variant_name`)
  is reused; a new one is the same container the endpoint runs — the framework image,
  ``include/jobs/inference.py`` as the entry point over the version's ``model.tar.gz``;
- ``CreateTransformJob``: the request's deterministic job name, the JSON Lines under
  ``input/`` (``S3Prefix``, ``SplitType: Line``), the ``.out`` files to ``transform/``
  (``AssembleWith: Line``), the ``DataProcessing`` join with ``review_id``, the batch
  strategy and payload limit, the instances of ``batch:``.

:func:`plan_transform` asks SageMaker what exists (the model; the job's name through
:func:`airsage.jobs.reattach.decide`: submit, wait for an earlier try's job, or collect a
completed one) and stages the JSON Lines input and the inference code only for a job it
submits. :func:`scored_at` reads when the job finished, which collect stamps on every row.
"""

from __future__ import annotations

import datetime as dt_
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from airsage.awsconf import AwsSettings
from airsage.batch.base import STEP, TransformRequest
from airsage.errors import StepFailed
from airsage.serving.request import variant_name

if TYPE_CHECKING:
    from airsage.lake.base import Lake


def model_name_of(request: TransformRequest) -> str:
    """The SageMaker model of the request's version (the deploy step's name for it)."""
    return variant_name(request.model_name, request.model_version)


def code_key(request: TransformRequest) -> str:
    """The lake key of the inference code beside the version's training job (deploy's key)."""
    from airsage.serving.aws import inference_code_key, training_job_of

    return inference_code_key(request.dataset,
                              training_job_of(request.dataset, request.model_artifact_key))


def model_config(aws: AwsSettings, request: TransformRequest) -> dict[str, Any]:
    """CreateModel: the version's model.tar.gz in the inference container (as deploy's)."""
    from airsage.serving.aws import MODEL_NAME_ENV, MODEL_VERSION_ENV, inference_container

    return {
        "ModelName": model_name_of(request),
        "ExecutionRoleArn": aws.require_role(f"{STEP} of {request.model_name}"),
        "PrimaryContainer": inference_container(
            aws, instance_type=request.instance_type,
            model_data_url=aws.uri(request.model_artifact_key),
            code_uri=aws.uri(code_key(request)),
            environment={MODEL_NAME_ENV: request.model_name,
                         MODEL_VERSION_ENV: request.model_version}),
        "Tags": [{"Key": k, "Value": v} for k, v in aws.tags],
    }


def transform_config(aws: AwsSettings, request: TransformRequest, job_name: str) -> dict[str, Any]:
    """CreateTransformJob's arguments for the request (``job_name``: its attempt's name)."""
    return {
        "TransformJobName": job_name,
        "ModelName": model_name_of(request),
        "MaxConcurrentTransforms": request.max_concurrent_transforms,
        "MaxPayloadInMB": request.max_payload_mb,
        "BatchStrategy": request.batch_strategy,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                            "S3Uri": aws.uri(request.input_prefix)}},
            "ContentType": request.content_type,
            "CompressionType": "None",
            "SplitType": request.split_type,
        },
        "TransformOutput": {"S3OutputPath": aws.uri(request.output_prefix).rstrip("/"),
                            "Accept": request.accept, "AssembleWith": request.assemble_with},
        "TransformResources": {"InstanceType": request.instance_type,
                               "InstanceCount": request.instance_count},
        "DataProcessing": {"InputFilter": request.input_filter,
                           "JoinSource": request.join_source,
                           "OutputFilter": request.output_filter},
        "Tags": [{"Key": k, "Value": v} for k, v in aws.tags],
    }


@dataclass(frozen=True)
class TransformPlan:
    """What the transform step does on SageMaker: ``action`` (submit, wait, collect) for
    ``job_name``, and for a submit the CreateModel config (None: the model exists) and the
    CreateTransformJob config."""

    request: Mapping[str, Any]
    action: str
    job_name: str
    history: tuple[tuple[str, str], ...]
    model: Mapping[str, Any] | None
    transform: Mapping[str, Any] | None

    def operator_config(self) -> dict[str, Any]:
        """``SageMakerTransformOperator``'s config: ``{"Model": …, "Transform": …}``, or the
        transform alone when the model exists."""
        if self.transform is None:
            raise StepFailed(f"{STEP}: job {self.job_name} is not submitted ({self.action})")
        if self.model is None:
            return dict(self.transform)
        return {"Model": dict(self.model), "Transform": dict(self.transform)}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["history"] = [list(item) for item in self.history]
        return data

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TransformPlan:
        return cls(request=dict(raw["request"]), action=str(raw["action"]),
                   job_name=str(raw["job_name"]),
                   history=tuple((str(a), str(b)) for a, b in raw.get("history") or ()),
                   model=raw.get("model"), transform=raw.get("transform"))


def _model_exists(client: Any, name: str) -> bool:
    try:
        client.describe_model(ModelName=name)
    except client.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationException" and "could not find" in str(
                error.get("Message", "")).lower():
            return False
        raise
    return True


def plan_transform(settings: Any, lake: Lake, request: TransformRequest, client: Any) -> TransformPlan:
    """Re-attach or submit; for a submit, stage the input and the code and build the calls."""
    from airsage.batch.scoring import stage_input
    from airsage.jobs.reattach import SUBMIT, decide, sagemaker_status
    from airsage.serving.aws import stage_inference_code

    aws = AwsSettings.from_settings(settings)
    aws.require_s3()
    job = decide(request.job_name, sagemaker_status(client, "transform"))
    model = transform = None
    if job.action == SUBMIT:
        stage_input(lake, request)
        name = model_name_of(request)
        if not _model_exists(client, name):
            stage_inference_code(lake, code_key(request))
            model = model_config(aws, request)
        transform = transform_config(aws, request, job.job_name)
    return TransformPlan(request=request.to_dict(), action=job.action, job_name=job.job_name,
                         history=job.history, model=model, transform=transform)


def scored_at(client: Any, job_name: str) -> dt_.datetime:
    """When the transform job finished (its ``TransformEndTime``); a job that did not
    complete fails the step with SageMaker's reason."""
    described = client.describe_transform_job(TransformJobName=job_name)
    status = described.get("TransformJobStatus")
    if status != "Completed":
        raise StepFailed(f"{STEP}: SageMaker transform job {job_name} is {status}: "
                         f"{described.get('FailureReason') or 'no reason given'}")
    ended = described.get("TransformEndTime") or described.get("CreationTime")
    if isinstance(ended, dt_.datetime):
        return ended if ended.tzinfo else ended.replace(tzinfo=dt_.UTC)
    return dt_.datetime.now(dt_.UTC)
