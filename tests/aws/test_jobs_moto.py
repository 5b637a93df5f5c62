"""The SageMaker job runner (the CLI's, synchronous) against moto's SageMaker and S3.

moto runs no container: a job is ``Completed`` the moment it is created and writes nothing,
so each test states, through moto_ext's ``state_job_end``, what the job's script would have
written (or how it failed). moto also replaces a training job's ``MetricDefinitions`` with
its own, so the definitions airsage sent are read from the request as boto3 sent it.
"""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import pytest
from aws_helpers import BUCKET, LAKE_ROOT, REGION, client

from airsage.errors import InputDataError, StepFailed
from airsage.jobs.aws import CODE_PREFIX, SageMakerJobRunner, config_key, image_uri
from airsage.jobs.request import JobRequest
from airsage.lake.aws import S3Lake
from airsage.lake.layout import LakeLayout

DAY = "2026-02-10"
PREFIX = LAKE_ROOT.split("/", 3)[3]  # the lake's key prefix in the bucket ("prod")


def _sent(sagemaker: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every Create*Job request this client sends, as boto3 sent it."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for operation in ("CreateTrainingJob", "CreateProcessingJob"):
        sagemaker.meta.events.register(
            f"provide-client-params.sagemaker.{operation}",
            lambda params, _operation=operation, **_: calls.append((_operation, dict(params))))
    return calls


@pytest.fixture
def lake(aws_env, aws_settings) -> S3Lake:
    lake = S3Lake(aws_settings)
    layout = LakeLayout("reviews")
    for split in ("train", "validation", "test"):
        lake.write_bytes(layout.features(DAY, split) + "part-0.parquet", b"PAR1")
    return lake


@pytest.fixture
def runner(aws_settings) -> tuple[SageMakerJobRunner, list[tuple[str, dict[str, Any]]]]:
    sagemaker = client("sagemaker")
    return SageMakerJobRunner(aws_settings, client=sagemaker), _sent(sagemaker)


def _train_request(settings: Any, lake: S3Lake) -> JobRequest:
    from airsage.training.step import feature_channels, train_request

    return train_request(settings, "reviews", DAY, feature_channels(lake, "reviews", DAY),
                         hyperparameters={"model_family": "tfidf_linear"})


def _s3(key: str) -> str:
    return f"{BUCKET}/{PREFIX}/{key}"


def _training_jobs() -> list[str]:
    return sorted(j["TrainingJobName"] for j in
                  client("sagemaker").list_training_jobs()["TrainingJobSummaries"])


def test_a_training_job_carries_the_configured_image_instance_hyperparameters_and_channels(
        aws_env, aws_settings, lake, runner) -> None:
    from airsage.training.step import collect_training

    job_runner, sent = runner
    request = _train_request(aws_settings, lake)
    model_key = request.outputs["model"]
    # what train.py would have packed: SageMaker writes it as <S3OutputPath>/<job>/output/
    aws_env.state_job_end(request.job_name, objects={_s3(model_key): b"model bytes"})

    outcome = job_runner.run(lake, request)
    result = collect_training(lake, request, outcome)

    job = client("sagemaker").describe_training_job(TrainingJobName=request.job_name)
    assert job["AlgorithmSpecification"]["TrainingImage"] == image_uri(
        "sklearn", "1.9-0", region=REGION, instance_type="ml.m5.xlarge", scope="training")
    assert job["ResourceConfig"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1,
                                     "VolumeSizeInGB": 30}
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    hyperparameters = job["HyperParameters"]
    assert hyperparameters["model_family"] == "tfidf_linear"
    assert hyperparameters["max_features"] == "20000" and hyperparameters["C"] == "1.0"
    assert hyperparameters["sagemaker_program"] == "train.py"
    code = hyperparameters["sagemaker_submit_directory"]
    assert code.startswith(f"{LAKE_ROOT}/{CODE_PREFIX}") and code.endswith("/sourcedir.tar.gz")
    assert lake.exists(code[len(LAKE_ROOT) + 1:])
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
                for c in job["InputDataConfig"]}
    assert channels == {split: f"{LAKE_ROOT}/features/reviews/dt={DAY}/{split}/"
                        for split in ("train", "validation")}
    [(operation, params)] = sent
    assert operation == "CreateTrainingJob"
    assert params["AlgorithmSpecification"]["MetricDefinitions"] == [
        dict(d) for d in request.metric_definitions]
    # the configured metrics, then what the Debugger rules read (training.debugger)
    assert [d["Name"] for d in request.metric_definitions][:3] == [
        "validation:accuracy", "validation:macro_f1", "train:loss"]
    assert {"train:epoch_loss", "validation:epoch_loss", "validation:predictions_total"} <= {
        d["Name"] for d in request.metric_definitions}
    # the model is where registry and deploy look: LakeLayout.model_artifact(job)
    assert model_key == LakeLayout("reviews").model_artifact(request.job_name)
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == f"{LAKE_ROOT}/{model_key}"
    assert result.model_artifact_key == model_key
    assert result.model_artifact_uri == f"{LAKE_ROOT}/{model_key}"
    assert lake.read_bytes(model_key) == b"model bytes"


def test_a_second_run_of_a_completed_training_job_collects_it_instead_of_a_second_job(
        aws_env, aws_settings, lake, runner) -> None:
    job_runner, sent = runner
    request = _train_request(aws_settings, lake)
    aws_env.state_job_end(request.job_name, objects={_s3(request.outputs["model"]): b"m"})
    first = job_runner.run(lake, request)
    again = job_runner.run(lake, request)
    assert _training_jobs() == [request.job_name]
    assert [operation for operation, _ in sent] == ["CreateTrainingJob"]
    assert first.job_name == again.job_name == request.job_name


def test_a_stopped_training_job_is_replaced_by_r2_whose_model_lands_at_the_request_key(
        aws_env, aws_settings, lake, runner) -> None:
    job_runner, _ = runner
    request = _train_request(aws_settings, lake)
    aws_env.state_job_end(request.job_name, status="Stopped")
    stopped = job_runner.attempt(lake, request)
    assert stopped.status == "Stopped" and stopped.exit_code is None
    aws_env.state_job_end(f"{request.job_name}-r2", status="Stopped")
    with pytest.raises(StepFailed, match="raise the step's timeout"):
        job_runner.run(lake, request)  # Stopped is not collected: a new attempt, stopped too
    assert _training_jobs() == [request.job_name, f"{request.job_name}-r2"]

    # the third attempt completes; SageMaker writes under the attempt's own name
    retry = f"{request.job_name}-r3"
    written = f"models/reviews/{retry}/output/model.tar.gz"
    aws_env.state_job_end(retry, objects={_s3(written): b"third"})
    outcome = job_runner.run(lake, request)
    assert outcome.job_name == retry and outcome.output_keys == (request.outputs["model"],)
    assert lake.read_bytes(request.outputs["model"]) == b"third"
    client("sagemaker").stop_training_job(TrainingJobName=retry)  # moto_ext's StopTrainingJob
    assert client("sagemaker").describe_training_job(TrainingJobName=retry)[
        "TrainingJobStatus"] == "Stopped"


def _bias_request(settings: Any, lake: S3Lake) -> JobRequest:
    from airsage.bias.gate import bias_request

    key = f"curated/reviews/dt={DAY}/reviews.parquet"
    lake.write_bytes(key, b"PAR1")
    return bias_request(settings, "reviews", DAY, key)


def test_a_processing_job_gets_the_local_contract_code_config_inputs_and_outputs(
        aws_env, aws_settings, lake, runner) -> None:
    job_runner, sent = runner
    request = _bias_request(aws_settings, lake)
    [(output, prefix)] = request.outputs.items()
    lake.write_bytes(prefix + "stale.json", b"from an earlier run")
    aws_env.state_job_end(request.job_name, objects={_s3(prefix + "analysis.json"): b"{}"})

    outcome = job_runner.run(lake, request)

    job = client("sagemaker").describe_processing_job(ProcessingJobName=request.job_name)
    assert job["AppSpecification"]["ImageUri"] == image_uri(
        "sklearn", "1.9-0", region=REGION, instance_type="ml.m5.xlarge", scope="training")
    entrypoint = job["AppSpecification"]["ContainerEntrypoint"]
    assert entrypoint[:2] == ["/bin/sh", "-c"] and entrypoint[-2:] == [
        "/opt/ml/processing/input/code/sourcedir.tar.gz", "bias.py"]
    inputs = {i["InputName"]: (i["S3Input"]["S3Uri"], i["S3Input"]["LocalPath"])
              for i in job["ProcessingInputs"]}
    assert inputs["config"] == (f"{LAKE_ROOT}/{config_key(request.job_name)}",
                                "/opt/ml/processing/input/config")
    assert inputs["data"] == (f"{LAKE_ROOT}/{request.inputs['data']}",
                              "/opt/ml/processing/input/data")
    with tarfile.open(fileobj=io.BytesIO(lake.read_bytes(inputs["code"][0][len(LAKE_ROOT) + 1:]))) as tar:
        bundled = set(tar.getnames())
    assert {"bias.py", "airsage/jobs/contract.py", "airsage/bias/metrics.py"} <= bundled
    assert not any(name.startswith("airsage/airflow/") for name in bundled)
    # the same config.json the local runner writes to processing/input/config/
    assert json.loads(lake.read_bytes(config_key(request.job_name))) == dict(request.config)
    [out] = job["ProcessingOutputConfig"]["Outputs"]
    assert (out["OutputName"], out["S3Output"]["S3Uri"], out["S3Output"]["LocalPath"]) == (
        output, f"{LAKE_ROOT}/{prefix}", f"/opt/ml/processing/output/{output}")
    # moto does not record ProcessingResources: read them from the request boto3 sent
    [(_, params)] = sent
    assert params["ProcessingResources"]["ClusterConfig"] == {
        "InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}
    # outputs are cleared before the job, as locally: only what this job wrote is listed
    assert outcome.output_keys == (prefix + "analysis.json",)


def test_a_failed_processing_job_reports_bad_input_as_the_contract_says_then_r2_replaces_it(
        aws_env, aws_settings, lake, runner) -> None:
    job_runner, _ = runner
    request = _bias_request(aws_settings, lake)
    aws_env.state_job_end(request.job_name, status="Failed",
                          failure_reason="AlgorithmError: see job logs",
                          exit_message="InputDataError: facet 'age' is not a column\n\nTraceback")
    with pytest.raises(InputDataError, match="facet 'age' is not a column"):
        job_runner.run(lake, request)
    aws_env.state_job_end(f"{request.job_name}-r2", status="Failed",
                          exit_message="MemoryError: \n\nTraceback")
    with pytest.raises(StepFailed, match="MemoryError"):
        job_runner.run(lake, request)
    names = sorted(j["ProcessingJobName"] for j in
                   client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"])
    assert names == [request.job_name, f"{request.job_name}-r2"]


def test_a_missing_input_fails_before_any_job_is_created(aws_env, aws_settings, lake, runner) -> None:
    job_runner, sent = runner
    request = _bias_request(aws_settings, lake).with_changes(
        inputs={"data": f"curated/reviews/dt={DAY}/absent.parquet"})
    with pytest.raises(InputDataError, match=r"absent\.parquet"):
        job_runner.run(lake, request)
    assert sent == []
