"""SageMakerModelRegistry against moto's SageMaker Model Registry (server mode, 127.0.0.1).

moto 5.2.5 stores model packages as sent; measured gaps the registry handles rather than
hides: ``UpdateModelPackage`` replaces ``CustomerMetadataProperties`` (and
``ApprovalDescription``) with what the call sends — none, when a call omits them — so the
metadata round-trip after an approval proves the registry re-sends it. moto ignores
``ClientToken``; the retry test therefore proves the registry's own existence check.
"""

from __future__ import annotations

import base64
import io
import json
import tarfile
from typing import Any

import pytest
from aws_helpers import BUCKET, LAKE_ROOT, ROLE, client
from evaldata import DATASET, DAY, upload_model, write_split

from airsage.errors import InputDataError
from airsage.registry.aws import (
    MAX_PROPERTIES,
    OMITTED_PROPERTY,
    SageMakerModelRegistry,
    decode_value,
    metadata_properties,
)
from airsage.registry.base import older_than_serving

MODEL = "reviews-sentiment"
JOB = "reviews-train-2026-02-10"
ARTIFACT_KEY = f"models/reviews/{JOB}/output/model.tar.gz"
EVALUATION = {"multiclass_classification_metrics": {
    "accuracy": {"value": 0.81}, "macro_f1": {"value": 0.62}, "weighted_f1": {"value": 0.79},
    "baseline_accuracy": {"value": 0.55}}}
LINEAGE = {"dataset": "reviews", "partition_day": "2026-02-10", "dataset_hash": "sha256:feedbeef",
           "training_job_name": JOB, "model_artifact_key": ARTIFACT_KEY,
           "evaluation_report_key": "reports/evaluation/dt=2026-02-10/evaluation.json",
           "blessing_uri": f"{LAKE_ROOT}/reports/evaluation/dt=2026-02-10/blessing.json",
           "champion_version": None,
           "prepare.rows": {"train": 240, "validation": 0, "test": 90},
           "prepare.class_counts": {"0": 12, "1": 30, "2": 198}}


def lineage(day: str, job: str) -> dict[str, Any]:
    return {**LINEAGE, "partition_day": day, "training_job_name": job,
            "model_artifact_key": f"models/reviews/{job}/output/model.tar.gz"}


@pytest.fixture
def registry(aws_env, aws_settings) -> SageMakerModelRegistry:
    return SageMakerModelRegistry(aws_settings)


def test_a_version_is_a_model_package_with_image_entry_point_metrics_and_metadata(registry) -> None:
    version = registry.register(MODEL, "/tmp/airsage-register-x/model.tar.gz", run_id=None,
                                evaluation=EVALUATION, lineage=LINEAGE, status="PendingManualApproval")
    assert (version.name, version.version, version.status) == (MODEL, "1", "PendingManualApproval")
    assert version.artifact_uri == f"{LAKE_ROOT}/{ARTIFACT_KEY}"
    assert version.metrics == {"accuracy": 0.81, "macro_f1": 0.62, "weighted_f1": 0.79,
                               "baseline_accuracy": 0.55}
    # the tags read back are the local registry's: JSON for non-strings, plain strings as given
    assert version.tags["lineage.prepare.class_counts"] == json.dumps(
        LINEAGE["prepare.class_counts"], sort_keys=True)
    assert version.tags["lineage.partition_day"] == "2026-02-10" == version.data_day
    assert "lineage.champion_version" not in version.tags

    described = client("sagemaker").describe_model_package(
        ModelPackageName=version.tags["sagemaker.model_package_arn"])
    container = described["InferenceSpecification"]["Containers"][0]
    assert container["Image"].endswith(".amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3")
    assert container["ModelDataUrl"] == f"{LAKE_ROOT}/{ARTIFACT_KEY}"
    environment = container["Environment"]
    assert environment["SAGEMAKER_PROGRAM"] == "inference.py"
    code_key = environment["SAGEMAKER_SUBMIT_DIRECTORY"].removeprefix(f"s3://{BUCKET}/")
    assert code_key == f"prod/models/reviews/{JOB}/input/inference.tar.gz"
    code = client("s3").get_object(Bucket=BUCKET, Key=code_key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(code)) as archive:
        names = set(archive.getnames())
    assert {"inference.py", "airsage/serving/contract.py", "airsage/training/model.py"} <= names
    assert not any(name.startswith("airsage/airflow/") for name in names)
    assert described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == \
        f"{LAKE_ROOT}/reports/evaluation/dt=2026-02-10/evaluation.json"
    stored = described["CustomerMetadataProperties"]
    assert stored["lineage.dataset_hash"] == "sha256:feedbeef"
    assert stored["lineage.prepare.class_counts"].startswith("b64:")  # '{', '"' are not allowed
    assert client("sagemaker").describe_model_package_group(
        ModelPackageGroupName=MODEL)["ModelPackageGroupName"] == MODEL


def test_metadata_round_trips_an_approval_update_that_moto_and_aws_would_wipe(registry) -> None:
    sagemaker = client("sagemaker")
    version = registry.register(MODEL, f"{LAKE_ROOT}/{ARTIFACT_KEY}", run_id=None,
                                evaluation=EVALUATION, lineage=LINEAGE)
    arn = version.tags["sagemaker.model_package_arn"]
    # what a plain update does in moto: the metadata is gone (the gap the registry covers)
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="PendingManualApproval")
    assert "CustomerMetadataProperties" not in sagemaker.describe_model_package(ModelPackageName=arn)
    version = registry.register(MODEL, f"{LAKE_ROOT}/{ARTIFACT_KEY}", run_id=None,
                                evaluation=EVALUATION, lineage=lineage("2026-02-11", "job-b"))
    approved = registry.set_status(MODEL, version.version, "Approved", decided_by="ana",
                                   decided_at="2026-02-11T10:00:00+00:00",
                                   comment="Approved on the Required Actions page")
    assert approved.status == "Approved"
    assert {k: v for k, v in approved.tags.items() if not k.startswith("approval.")} == \
        {k: v for k, v in version.tags.items() if not k.startswith("approval.")}
    assert approved.metrics == version.metrics and approved.data_day == "2026-02-11"
    assert approved.tags["approval.decided_by"] == "ana"
    assert approved.tags["approval.decided_at"] == "2026-02-11T10:00:00+00:00"
    assert approved.tags["approval.comment"] == "Approved on the Required Actions page"
    assert registry.champion(MODEL) == approved
    assert registry.latest_version(MODEL) == approved
    assert [v.version for v in registry.list_versions(MODEL)] == ["1", "2"]


def test_a_rejected_version_is_rejected_in_the_registry_and_never_champion(registry) -> None:
    first = registry.register(MODEL, "x", run_id=None, evaluation=EVALUATION,
                              lineage=lineage("2026-02-10", "job-a"), status="Approved")
    second = registry.register(MODEL, "x", run_id=None, evaluation=EVALUATION,
                               lineage=lineage("2026-02-11", "job-b"))
    rejected = registry.set_status(MODEL, second.version, "Rejected", decided_by="ana")
    described = client("sagemaker").describe_model_package(
        ModelPackageName=rejected.tags["sagemaker.model_package_arn"])
    assert described["ModelApprovalStatus"] == "Rejected"
    assert described["CustomerMetadataProperties"]["lineage.partition_day"] == "2026-02-11"
    assert registry.champion(MODEL).version == first.version
    assert registry.latest_version(MODEL, "Rejected").version == second.version


def test_a_retried_registration_returns_the_version_its_first_try_registered(registry) -> None:
    first = registry.register(MODEL, "x", run_id=None, evaluation=EVALUATION, lineage=LINEAGE)
    again = registry.register(MODEL, "x", run_id=None, evaluation=EVALUATION, lineage=LINEAGE)
    assert again == first
    listed = client("sagemaker").list_model_packages(ModelPackageGroupName=MODEL)
    assert len(listed["ModelPackageSummaryList"]) == 1


def test_an_older_days_version_does_not_replace_a_newer_one(registry) -> None:
    newer = registry.register(MODEL, "x", run_id=None, evaluation=EVALUATION,
                              lineage=lineage("2026-02-12", "job-new"), status="Approved")
    older = registry.register(MODEL, "x", run_id=None, evaluation=EVALUATION,
                              lineage=lineage("2026-02-10", "job-backfill"), status="Approved")
    assert int(older.version) > int(newer.version)  # a backfill registers after
    assert registry.champion(MODEL) == newer
    reason = older_than_serving(older, newer)
    assert reason is not None and "2026-02-12" in reason and "older" in reason


def test_runs_are_sagemaker_jobs(registry) -> None:
    sagemaker = client("sagemaker")
    arn = sagemaker.create_training_job(
        TrainingJobName=JOB, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": f"{LAKE_ROOT}/models/reviews/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 600})["TrainingJobArn"]
    assert registry.find_run(JOB) == arn
    assert registry.log_training(job_name=JOB, dataset="reviews", day="2026-02-10", params={},
                                 metrics={}, model_artifact_uri=None) == arn
    assert registry.find_run("never-ran") is None
    with pytest.raises(InputDataError, match="no training or tuning job named 'never-ran'"):
        registry.log_training(job_name="never-ran", dataset="reviews", day="2026-02-10",
                              params={}, metrics={}, model_artifact_uri=None)


def test_an_unknown_version_is_an_input_error(registry) -> None:
    with pytest.raises(InputDataError, match="has no version 7"):
        registry.get_version(MODEL, "7")
    assert registry.list_versions("never-registered") == []


def test_metadata_stays_within_sagemakers_limits_and_says_what_it_left_out() -> None:
    values = {f"lineage.k{i:02d}": i for i in range(60)}
    values.update({"lineage.long": "x" * 300, "lineage.empty": "", "lineage.none": None,
                   "lineage.partition_day": "2026-02-10", "lineage.a_text": "a, b; c"})
    properties = metadata_properties(values)
    assert len(properties) == MAX_PROPERTIES
    assert all(1 <= len(k) <= 128 and 1 <= len(v) <= 256 for k, v in properties.items())
    assert properties["lineage.partition_day"] == "2026-02-10"  # essentials first
    assert decode_value(properties["lineage.a_text"]) == "a, b; c"
    assert properties["lineage.a_text"] == "b64:" + base64.b64encode(b"a, b; c").decode()
    omitted = decode_value(properties[OMITTED_PROPERTY]).split()
    assert "lineage.long" in omitted and "lineage.k59" in omitted
    assert "lineage.empty" not in properties and "lineage.none" not in properties


def test_a_refused_candidate_is_not_registered_on_sagemaker(settings, lake, job_runner, frames,
                                                           models, aws_env, aws_settings) -> None:
    """condition_and_register, the same blessing code as locally, handed the SageMaker
    registry: a refused candidate leaves no model package; a blessed one becomes version 1
    with the step's lineage (the evaluation runs on the local runner: its aws job is another
    step's)."""
    from airsage.evaluation.step import evaluate_model
    from airsage.registry.step import condition_and_register

    registry = SageMakerModelRegistry(aws_settings)
    write_split(lake, frames[1], "test")
    key = upload_model(lake, models["good"], "train-aws")
    candidate = evaluate_model(settings, lake, DATASET, DAY, key, runner=job_runner)
    job = {"job_name": "train-aws", "status": "Completed", "model_artifact_key": key,
           "model_artifact_uri": lake.uri(key), "final_metrics": {}, "hyperparameters": {}}
    sagemaker = client("sagemaker")
    sagemaker.create_training_job(
        TrainingJobName="train-aws", RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": f"{LAKE_ROOT}/models/reviews/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    refused = condition_and_register(settings, lake, DATASET, DAY, registry=registry,
                                     runner=job_runner, training=job, candidate=candidate,
                                     prepare_lineage={"dataset_hash": "sha256:ab"},
                                     accuracy_threshold=1.01)
    assert not refused.blessed and refused.model_version is None
    assert sagemaker.list_model_packages(ModelPackageGroupName=MODEL)["ModelPackageSummaryList"] == []
    blessed = condition_and_register(settings, lake, DATASET, DAY, registry=registry,
                                     runner=job_runner, training=job, candidate=candidate,
                                     prepare_lineage={"dataset_hash": "sha256:ab"})
    assert blessed.blessed and blessed.model_version.version == "1"
    assert blessed.model_version.status == "Approved"  # the settings' auto_approve
    assert blessed.model_version.run_id == registry.find_run("train-aws")
    assert blessed.model_version.artifact_uri == f"{LAKE_ROOT}/{key}"
    assert blessed.model_version.tags["lineage.dataset_hash"] == "sha256:ab"
