"""The pure half of the SageMaker job runner: settings, images, Create*Job arguments, staging
on any lake, Describe*Job → JobOutcome; and, with botocore's Stubber, the wait for a job
that is still running (moto cannot stand in there: its jobs are Completed on creation)."""

from __future__ import annotations

import datetime as dt
import io
import json
import tarfile
from typing import Any

import pytest

from airsage.config import load_settings
from airsage.errors import ConfigurationError, InputDataError, StepFailed
from airsage.jobs import contract
from airsage.jobs.aws import (
    EMPTY_MANIFEST,
    CodeBundle,
    JobTarget,
    SageMakerJobRunner,
    check_collected,
    config_key,
    image_uri,
    manifest_prefix,
    outcome_from_description,
    stage,
    training_job_config,
)
from airsage.jobs.request import JobRequest, raise_for_outcome
from airsage.lake.layout import LakeLayout

ROLE = "arn:aws:iam::123456789012:role/airsage-sagemaker"
DAY = "2026-02-10"


def _settings(tmp_path: Any, **jobs: Any) -> Any:
    return load_settings(environ={}, overrides={
        "target": "aws", "home": str(tmp_path / "home"), "lake": {"root": "s3://lake/prod"},
        "aws": {"role_arn": ROLE, "region": "eu-west-1", "jobs": jobs}})


def _training(job_name: str = "reviews-20260210-tfidflinear-1a2b3c4d", **changes: Any) -> JobRequest:
    fields: dict[str, Any] = {
        "kind": "training", "job_name": job_name, "script": "train.py",
        "inputs": {"train": f"features/reviews/dt={DAY}/train/"},
        "outputs": {"model": LakeLayout("reviews").model_artifact(job_name)},
        "config": {"model_family": "tfidf_linear", "C": 1.0, "ngram_max": 2},
        "timeout_seconds": 600,
        "metric_definitions": ({"Name": "validation:accuracy",
                                "Regex": r"validation:accuracy=([0-9\.]+)"},)}
    fields.update(changes)
    return JobRequest(**fields)


def _processing(**changes: Any) -> JobRequest:
    fields: dict[str, Any] = {
        "kind": "processing", "job_name": "reviews-sentiment-2026021014-monitor",
        "script": "monitor.py",
        "inputs": {"captures": ("capture/e/v/2026/02/10/14/a.jsonl",
                                "capture/e/v/2026/02/10/14/b.jsonl"),
                   "ground_truth": ()},
        "outputs": {"report": "monitoring/e/2026/02/10/14/"},
        "config": {"endpoint": "reviews-sentiment", "threshold": 0.2}, "timeout_seconds": 900}
    fields.update(changes)
    return JobRequest(**fields)


# -- settings and images ----------------------------------------------------------------


def test_aws_jobs_settings_refuse_unknown_keys_and_bad_values_with_the_setting_named(tmp_path) -> None:
    from airsage.awsconf import SageMakerJobSettings

    with pytest.raises(ConfigurationError, match=r"unknown key\(s\) \['instance'\].*valid keys"):
        SageMakerJobSettings.from_settings(_settings(tmp_path, instance="ml.m5.large"))
    with pytest.raises(ConfigurationError, match=r"training_framework 'xgboost'.*sklearn, pytorch"):
        SageMakerJobSettings.from_settings(_settings(tmp_path, training_framework="xgboost"))
    with pytest.raises(ConfigurationError, match="needs training_py_version"):
        SageMakerJobSettings.from_settings(_settings(tmp_path, training_framework="pytorch",
                                                     training_framework_version="2.3"))
    with pytest.raises(ConfigurationError, match="training_instance_count must be at least 1"):
        SageMakerJobSettings.from_settings(_settings(tmp_path, training_instance_count=0))
    with pytest.raises(ConfigurationError, match=r"poll_seconds in .* is 'soon'"):
        SageMakerJobSettings.from_settings(_settings(tmp_path, poll_seconds="soon"))


def test_images_are_framework_images_resolved_offline_and_a_bad_version_names_its_key(tmp_path) -> None:
    target = JobTarget.from_settings(_settings(
        tmp_path, training_framework="pytorch", training_framework_version="2.3",
        training_py_version="py311"))
    assert target.processing_image == image_uri(
        "sklearn", "1.9-0", region="eu-west-1", instance_type="ml.m5.xlarge", scope="training")
    assert "sagemaker-scikit-learn:1.9-0" in target.processing_image
    assert ".eu-west-1.amazonaws.com/pytorch-training:2.3" in target.training_image
    with pytest.raises(ConfigurationError, match=r"aws\.jobs\.processing_framework_version: no "
                                                 r"SageMaker sklearn training image for version '0\.1'"):
        JobTarget.from_settings(_settings(tmp_path, processing_framework_version="0.1"))
    with pytest.raises(ConfigurationError, match="needs an IAM role"):
        JobTarget.from_settings(load_settings(environ={}, overrides={
            "target": "aws", "lake": {"root": "s3://lake/prod"}}))


# -- CreateTrainingJob ----------------------------------------------------------------------


def test_training_arguments_are_script_mode_with_string_hyperparameters_and_spot_options(
        tmp_path) -> None:
    target = JobTarget.from_settings(_settings(tmp_path, spot=True, checkpoints=True,
                                               training_volume_gb=50))
    request = _training()
    bundle = CodeBundle.for_script("train.py")
    config = training_job_config(request, request.job_name, target, bundle)
    assert config["HyperParameters"] == {
        "model_family": "tfidf_linear", "C": "1.0", "ngram_max": "2",
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": f"s3://lake/prod/code/jobs/{bundle.digest}/sourcedir.tar.gz",
        "sagemaker_region": "eu-west-1", "sagemaker_container_log_level": "20"}
    assert config["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": "validation:accuracy", "Regex": r"validation:accuracy=([0-9\.]+)"}]
    assert config["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == (
        f"s3://lake/prod/features/reviews/dt={DAY}/train/")
    # SageMaker writes <S3OutputPath>/<job>/output/model.tar.gz: the request's own key
    assert config["OutputDataConfig"] == {"S3OutputPath": "s3://lake/prod/models/reviews/"}
    assert config["ResourceConfig"]["VolumeSizeInGB"] == 50
    assert config["EnableManagedSpotTraining"] is True
    assert config["StoppingCondition"] == {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 1200}
    assert config["CheckpointConfig"]["S3Uri"] == (
        f"s3://lake/prod/models/reviews/{request.job_name}/checkpoints/")
    assert config["Tags"] == [{"Key": "project", "Value": "airsage"}]
    # a later attempt keeps the layout under its own name; collect copies it to the key
    retry = training_job_config(request, f"{request.job_name}-r2", target, bundle)
    assert retry["TrainingJobName"] == f"{request.job_name}-r2"
    assert retry["OutputDataConfig"] == config["OutputDataConfig"]


def test_training_arguments_refuse_a_short_spot_wait_and_reserved_hyperparameters(tmp_path) -> None:
    bundle = CodeBundle.for_script("train.py")
    short = JobTarget.from_settings(_settings(tmp_path, spot=True, max_wait_seconds=300))
    with pytest.raises(ConfigurationError, match=r"max_wait_seconds \(300\) must be at least"):
        training_job_config(_training(), "j", short, bundle)
    target = JobTarget.from_settings(_settings(tmp_path))
    reserved = _training(config={"sagemaker_program": "x.py"})
    with pytest.raises(ConfigurationError, match="reserved 'sagemaker_' prefix"):
        training_job_config(reserved, reserved.job_name, target, bundle)


# -- staging ----------------------------------------------------------------------------------


def test_staging_gives_the_job_the_local_runner_s_files_and_clears_its_outputs(lake) -> None:
    request = _processing()
    for key in request.inputs["captures"]:
        lake.write_bytes(key, key.encode())
    lake.write_bytes(request.outputs["report"] + "old.json", b"stale")

    bundle = stage(lake, request, request.job_name + "-r2")

    assert json.loads(lake.read_bytes(config_key(request.job_name + "-r2"))) == dict(request.config)
    copies = manifest_prefix(request.job_name + "-r2", "captures")
    assert sorted(lake.list(copies)) == sorted(
        copies + contract.manifest_name(key) for key in request.inputs["captures"])
    assert lake.read_bytes(copies + contract.manifest_name(request.inputs["captures"][0])) == (
        request.inputs["captures"][0].encode())
    # an empty manifest still gives the job its channel directory, as locally
    assert lake.exists(manifest_prefix(request.job_name + "-r2", "ground_truth") + EMPTY_MANIFEST)
    assert list(lake.list(request.outputs["report"])) == []
    with tarfile.open(fileobj=io.BytesIO(lake.read_bytes(bundle.archive_key))) as tar:
        names = set(tar.getnames())
    assert {"monitor.py", "airsage/jobs/contract.py", "airsage/monitoring/step.py"} <= names
    assert not any(n.startswith("airsage/airflow/") for n in names)
    assert bundle.archive() == CodeBundle.for_script("monitor.py").archive()  # reproducible


def test_a_missing_input_is_refused_before_staging(lake) -> None:
    request = _processing()
    with pytest.raises(InputDataError, match="input 'captures' names lake key"):
        stage(lake, request, request.job_name)
    assert list(lake.list("code/")) == []


# -- Describe*Job → JobOutcome ------------------------------------------------------------------


def _description(request: JobRequest, status: str, **extra: Any) -> dict[str, Any]:
    start = dt.datetime(2026, 2, 10, 14, tzinfo=dt.UTC)
    if request.kind == "training":
        return {"TrainingJobName": request.job_name, "TrainingJobStatus": status,
                "TrainingStartTime": start, "TrainingEndTime": start + dt.timedelta(seconds=90),
                **extra}
    return {"ProcessingJobName": request.job_name, "ProcessingJobStatus": status,
            "ProcessingStartTime": start, "ProcessingEndTime": start + dt.timedelta(seconds=30),
            **extra}


def test_outcomes_read_metrics_the_request_defines_and_the_contract_s_exit_codes(lake) -> None:
    request = _training()
    lake.write_bytes(request.outputs["model"], b"model")
    done = outcome_from_description(request, _description(
        request, "Completed",
        ModelArtifacts={"S3ModelArtifacts": lake.uri(request.outputs["model"])},
        FinalMetricDataList=[{"MetricName": "validation:accuracy", "Value": 0.81},
                             {"MetricName": "train:progress", "Value": 100.0}]), lake)
    assert done.final_metrics == {"validation:accuracy": 0.81}
    assert (done.exit_code, done.duration_seconds, done.output_keys) == (
        0, 90.0, (request.outputs["model"],))

    bad = outcome_from_description(request, _description(
        request, "Failed", FailureReason="AlgorithmError: InputDataError: no rows in train\n\nTrace"),
        lake)
    assert (bad.exit_code, bad.last_stderr_line) == (2, "InputDataError: no rows in train")
    with pytest.raises(InputDataError, match="refused its input: InputDataError: no rows"):
        raise_for_outcome(request, bad)
    crashed = outcome_from_description(request, _description(
        request, "Failed", FailureReason="AlgorithmError: MemoryError: \n\nTrace"), lake)
    assert crashed.exit_code == 1
    stopped = outcome_from_description(request, _description(request, "Stopped"), lake)
    assert (stopped.status, stopped.exit_code, stopped.output_keys) == ("Stopped", None, ())
    with pytest.raises(StepFailed, match="is InProgress, not finished"):
        outcome_from_description(request, _description(request, "InProgress"), lake)


def test_a_completed_model_outside_the_lake_or_missing_fails_the_collect(lake) -> None:
    request = _training()
    with pytest.raises(StepFailed, match="outside the lake"):
        outcome_from_description(request, _description(
            request, "Completed", ModelArtifacts={"S3ModelArtifacts": "s3://elsewhere/m.tar.gz"}),
            lake)
    retry = LakeLayout("reviews").model_artifact(request.job_name + "-r2")
    with pytest.raises(StepFailed, match="does not exist"):
        outcome_from_description(request, _description(
            request, "Completed", ModelArtifacts={"S3ModelArtifacts": lake.uri(retry)}), lake)
    lake.write_bytes(retry, b"second")
    outcome_from_description(request, _description(
        request, "Completed", ModelArtifacts={"S3ModelArtifacts": lake.uri(retry)}), lake)
    assert lake.read_bytes(request.outputs["model"]) == b"second"


def test_only_the_request_s_own_job_or_its_attempts_are_collected() -> None:
    request = _training()
    check_collected(request, request.job_name)
    check_collected(request, request.job_name + "-r3")
    with pytest.raises(StepFailed, match="step's request changed"):
        check_collected(request, "reviews-20260210-tfidflinear-99999999")


# -- the runner: waiting for a running job (Stubber) ------------------------------------------


def test_a_running_job_is_waited_for_and_collected_without_a_second_submission(tmp_path, lake) -> None:
    """moto's jobs are Completed on creation, so a job that is still InProgress is stubbed:
    describe (InProgress) → the waiter's describe (Completed) → the collect's describe. The
    stub refuses any call it was not told of: no CreateProcessingJob happens."""
    import boto3
    from botocore.stub import Stubber

    request = _processing(inputs={"captures": ("capture/e/v/2026/02/10/14/a.jsonl",)})
    lake.write_bytes(request.outputs["report"] + "constraint_violations.json", b"{}")
    sagemaker = boto3.client("sagemaker", region_name="eu-west-1", aws_access_key_id="x",
                             aws_secret_access_key="x")
    running = {"ProcessingJobName": request.job_name, "ProcessingJobArn": "arn:x",
               "ProcessingJobStatus": "InProgress", "CreationTime": dt.datetime(2026, 2, 10),
               "AppSpecification": {"ImageUri": "i"}, "RoleArn": ROLE,
               "ProcessingResources": {"ClusterConfig": {
                   "InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}}}
    done = {**running, "ProcessingJobStatus": "Completed"}
    expected = {"ProcessingJobName": request.job_name}
    with Stubber(sagemaker) as stub:
        stub.add_response("describe_processing_job", running, expected)
        stub.add_response("describe_processing_job", done, expected)
        stub.add_response("describe_processing_job", done, expected)
        runner = SageMakerJobRunner(_settings(tmp_path, poll_seconds=1), client=sagemaker)
        outcome = runner.run(lake, request)
        stub.assert_no_pending_responses()
    assert outcome.status == "Completed"
    assert outcome.output_keys == (request.outputs["report"] + "constraint_violations.json",)
    with pytest.raises(ConfigurationError, match="early stopping"):
        runner.attempt(lake, request, on_metric=lambda *_: True)
