"""``airsage plan --target aws``: every request of a date's run of the whole DAG (data plane
and ML plane), and no AWS call."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airsage.cli import main

DAY = "2026-03-01"


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any botocore API call fails the test: a plan is computed, never asked of AWS."""
    import botocore.client

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"airsage plan called AWS: {args[1:2]}")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", refuse)
    monkeypatch.setenv("AIRSAGE_LAKE_ROOT", "s3://my-lake/prod")
    monkeypatch.setenv("AIRSAGE__AWS__ROLE_ARN", "arn:aws:iam::123456789012:role/airsage")


def test_plan_lists_the_crawler_athena_and_glue_dq_requests(no_aws, capsys) -> None:
    assert main(["plan", "--target", "aws", "--date", DAY]) == 0
    out = capsys.readouterr().out
    assert "glue CreateCrawler | UpdateCrawler" in out and "glue StartCrawler" in out
    assert "S3Target: s3://my-lake/prod/raw/reviews/" in out
    # the 7 SQL checks, then prepare's feature store (issue 15): the ids live before its write,
    # the wait for the offline store, the point-in-time read of the channels
    assert out.count("athena StartQueryExecution") == 7 + 3
    assert "glue StartDataQualityRulesetEvaluationRun" in out
    assert f"dt = '{DAY}'" in out
    assert "aws.role_arn is not set" not in out


def test_plan_as_json_holds_the_full_requests(no_aws, capsys) -> None:
    assert main(["plan", "--target", "aws", "--date", DAY, "--json"]) == 0
    steps = json.loads(capsys.readouterr().out)
    # issue 11 extends the plan to the whole DAG: the data plane first, then the ML plane
    assert [s["step"] for s in steps][:3] == ["crawl", "validate_sql", "quality_gate"]
    assert steps[2]["request"]["ruleset"].startswith("Rules = [")
    assert all(f"'{DAY}'" in q["query"] for q in steps[1]["request"]["queries"])


def test_plan_with_the_pydeequ_engine_lists_the_processing_job(no_aws, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AIRSAGE__AWS__QUALITY_ENGINE", "pydeequ")
    assert main(["plan", "--target", "aws", "--date", DAY]) == 0
    out = capsys.readouterr().out
    assert "sagemaker CreateProcessingJob" in out and "sagemaker-spark-processing:3.5-cpu" in out
    assert "spark.jars.packages: com.amazon.deequ:deequ:2.0.21-spark-3.5" in out


def test_plan_on_the_local_target_says_what_to_do(capsys) -> None:
    assert main(["plan", "--date", DAY]) == 2
    assert "--target aws" in capsys.readouterr().err


# Every operation a run of the whole DAG makes on the aws target, in the DAG's order.
RUN_OPERATIONS = [
    ("crawl", "glue CreateCrawler | UpdateCrawler"), ("crawl", "glue StartCrawler"),
    ("validate_sql", "athena StartQueryExecution"),
    ("quality_gate", "glue StartDataQualityRulesetEvaluationRun"),
    ("bias_gate", "sagemaker CreateProcessingJob"),
    ("prepare", "sagemaker CreateFeatureGroup (when missing)"),
    ("prepare", "sagemaker-featurestore-runtime PutRecord"),
    ("train", "sagemaker CreateTrainingJob"),
    ("train (tuning)", "sagemaker CreateHyperParameterTuningJob"),
    ("evaluate", "sagemaker CreateProcessingJob"),
    ("champion_evaluation", "sagemaker CreateProcessingJob"),
    ("register", "sagemaker CreateModelPackageGroup"), ("register", "sagemaker CreateModelPackage"),
    ("baseline", "sagemaker CreateProcessingJob"),
    ("deploy", "sagemaker CreateModel"), ("deploy", "sagemaker CreateEndpointConfig"),
    ("deploy", "cloudwatch PutMetricAlarm"), ("deploy", "sagemaker CreateEndpoint | UpdateEndpoint"),
    ("reviews_drift_monitor.monitor", "sagemaker CreateProcessingJob"),
]


def _blocks(out: str) -> dict[str, str]:
    """The text plan's blocks by step (a step's name on its own line, its calls indented)."""
    blocks: dict[str, str] = {}
    for block in out.split("\n\n")[1:]:
        head, _, body = block.partition("\n")
        blocks[head.strip()] = body
    return blocks


def test_plan_names_every_operation_of_the_run(no_aws, capsys) -> None:
    assert main(["plan", "--target", "aws", "--date", DAY]) == 0
    blocks = _blocks(capsys.readouterr().out)
    assert list(blocks) == list(dict.fromkeys(step for step, _ in RUN_OPERATIONS))
    for step, operation in RUN_OPERATIONS:
        assert f"  {operation}\n" in blocks[step] + "\n", (step, operation)
    # the plan prints jobs/aws.py's Create*Job arguments (issue 11: the same functions as a run)
    train = blocks["train"]
    assert '"InstanceType": "ml.m5.xlarge"' in train
    assert "Keys: [\"s3://my-lake/prod/code/jobs/" in train  # the staged code bundle
    assert "OutputDataConfig: {\"S3OutputPath\": \"s3://my-lake/prod/models/reviews/\"}" in train
    assert "s3://my-lake/prod/models/reviews/reviews-20260301-" in blocks["register"]
    assert "reviews-sentiment-reviews-sentiment-vN-5xx-rate" in blocks["deploy"]


def _call(step: dict[str, Any], operation: str) -> dict[str, Any]:
    """The parameters of the step's one call of ``operation`` (JSON plan)."""
    found = [c["parameters"] for c in step["calls"] if c["operation"] == operation]
    assert len(found) == 1, (step["step"], operation, [c["operation"] for c in step["calls"]])
    return dict(found[0])


def test_plan_json_links_the_ml_steps_through_their_keys(no_aws, capsys) -> None:
    assert main(["plan", "--target", "aws", "--date", DAY, "--json"]) == 0
    steps = {s["step"]: s for s in json.loads(capsys.readouterr().out)}
    model_key = steps["train"]["request"]["outputs"]["model"]
    assert steps["evaluate"]["request"]["inputs"]["model"] == model_key
    assert steps["register"]["request"]["model_artifact_key"] == model_key
    assert steps["baseline"]["request"]["inputs"]["model"] == model_key
    assert steps["deploy"]["request"]["model_artifact_key"] == model_key
    calls = [c["operation"] for s in steps.values() for c in s["calls"]]
    # bias, evaluate, the champion's evaluation, baseline, monitor
    assert calls.count("CreateProcessingJob") == 5
    champion = steps["champion_evaluation"]["request"]
    assert champion["outputs"]["evaluation"].endswith("/champion/")
    assert champion["inputs"]["test"] == steps["evaluate"]["request"]["inputs"]["test"]
    tuning = _call(steps["train (tuning)"], "CreateHyperParameterTuningJob")
    assert tuning["HyperParameterTuningJobConfig"]["Strategy"] == "Bayesian"
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
                for c in tuning["TrainingJobDefinition"]["InputDataConfig"]}
    assert channels["train"].endswith("/train/")
    monitor = _call(steps["reviews_drift_monitor.monitor"], "CreateProcessingJob")
    assert [o["S3Output"]["S3Uri"] for o in monitor["ProcessingOutputConfig"]["Outputs"]] == [
        "s3://my-lake/prod/monitoring/reports/reviews-sentiment/2026/03/02/00/"]


def test_plan_with_model_monitor_waits_for_its_report_instead_of_a_job(
        no_aws, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AIRSAGE__MONITORING__SOURCE", "model_monitor")
    assert main(["plan", "--target", "aws", "--date", DAY]) == 0
    monitor = _blocks(capsys.readouterr().out)["reviews_drift_monitor.monitor"]
    assert "s3 HeadObject" in monitor and "S3KeySensor, deferrable" in monitor
    assert "reviews-sentiment/2026/03/02/00/constraint_violations.json" in monitor
    assert "CreateProcessingJob" not in monitor


def test_plan_without_a_role_says_the_jobs_need_one(no_aws, monkeypatch, capsys) -> None:
    monkeypatch.delenv("AIRSAGE__AWS__ROLE_ARN")
    assert main(["plan", "--target", "aws", "--date", DAY]) == 0
    out = capsys.readouterr().out
    assert "note: aws.role_arn is not set" in out and "the SageMaker jobs" in out


# -- the plan's ML calls are the aws code's own (issue 11) ---------------------------------------


@pytest.fixture
def planned(no_aws: None) -> tuple[Any, dict[str, Any]]:
    """The aws settings and the plan's steps by name (objects, not JSON)."""
    from airsage.config import load_settings
    from airsage.plan import plan

    settings = load_settings(overrides={"target": "aws"})
    return settings, {s.step: s for s in plan(settings, DAY)}


def _only(step: Any, operation: str) -> dict[str, Any]:
    found = [c.parameters for c in step.calls if c.operation == operation]
    assert len(found) == 1, (step.step, operation)
    return dict(found[0])


def test_plan_deploy_names_the_capture_destination_and_alarms_serving_sends(planned) -> None:
    from airsage.awsconf import AwsSettings
    from airsage.serving.aws import alarm_names, capture_destination, endpoint_config

    settings, steps = planned
    deploy = steps["deploy"]
    aws = AwsSettings.from_settings(settings)
    config = _only(deploy, "CreateEndpointConfig")
    # SageMaker appends <endpoint>/<variant>/: the destination is the lake's capture root
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == "s3://my-lake/prod/capture"
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == capture_destination(aws, deploy.request)
    assert config == endpoint_config(aws, deploy.request)
    alarms = [c.parameters["AlarmName"] for c in deploy.calls if c.operation == "PutMetricAlarm"]
    assert alarms == list(alarm_names(deploy.request)) == [
        "reviews-sentiment-reviews-sentiment-vN-5xx-rate",
        "reviews-sentiment-reviews-sentiment-vN-p99-latency"]
    rollback = _only(deploy, "CreateEndpoint | UpdateEndpoint")["DeploymentConfig (UpdateEndpoint)"]
    assert [a["AlarmName"] for a in rollback["AutoRollbackConfiguration"]["Alarms"]] == alarms
    model = _only(deploy, "CreateModel")
    assert model["PrimaryContainer"]["ModelDataUrl"] == (
        "s3://my-lake/prod/" + deploy.request.model_artifact_key)
    assert model["ExecutionRoleArn"] == "arn:aws:iam::123456789012:role/airsage"


def test_plan_tuning_job_is_tuning_job_config_of_the_training_config_jobs_aws_builds(
        planned) -> None:
    from airsage.jobs.aws import CodeBundle, JobTarget, job_config
    from airsage.tuning.aws import tuning_job_config

    settings, steps = planned
    tune = steps["train (tuning)"].request
    training = job_config(tune.training, tune.training.job_name, JobTarget.from_settings(settings),
                          CodeBundle.for_script(tune.training.script))
    planned_config = _only(steps["train (tuning)"], "CreateHyperParameterTuningJob")
    assert planned_config == tuning_job_config(training, tune)
    definition = planned_config["TrainingJobDefinition"]
    assert definition["AlgorithmSpecification"]["TrainingImage"] == (
        training["AlgorithmSpecification"]["TrainingImage"])
    assert definition["StaticHyperParameters"]["sagemaker_program"] == "train.py"


def test_plan_training_job_has_the_image_instance_and_hyperparameters_jobs_aws_sends(
        planned) -> None:
    from airsage.jobs.aws import CodeBundle, JobTarget, training_job_config

    settings, steps = planned
    train = steps["train"].request
    target = JobTarget.from_settings(settings)
    bundle = CodeBundle.for_script(train.script)
    planned_job = _only(steps["train"], "CreateTrainingJob")
    assert planned_job == training_job_config(train, train.job_name, target, bundle)
    assert planned_job["AlgorithmSpecification"]["TrainingImage"] == target.training_image
    assert "sagemaker-scikit-learn" in target.training_image
    assert planned_job["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    hyperparameters = planned_job["HyperParameters"]
    assert hyperparameters["sagemaker_submit_directory"] == (
        f"s3://my-lake/prod/{bundle.archive_key}")
    # the training config as strings, JSON-encoded as the local runner encodes them
    assert {k: v for k, v in hyperparameters.items() if not k.startswith("sagemaker_")} == {
        str(k): v if isinstance(v, str) else json.dumps(v) for k, v in train.config.items()}
    assert hyperparameters["model_family"] == "tfidf_linear"


def test_plan_registers_the_package_registry_aws_sends(planned) -> None:
    _, steps = planned
    register = steps["register"]
    package = _only(register, "CreateModelPackage")
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == "s3://my-lake/prod/" + register.request.model_artifact_key
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == (
        "s3://my-lake/prod/models/reviews/" + register.request.training_job_name
        + "/input/inference.tar.gz")
    assert package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == (
        "s3://my-lake/prod/" + register.request.evaluation_report_key)
    properties = package["CustomerMetadataProperties"]
    assert properties["lineage.training_job_name"] == register.request.training_job_name
    assert properties["airsage.run_id"].startswith("<")  # only a run knows it


def test_staged_keys_are_the_keys_stage_writes(tmp_path) -> None:
    """``airsage plan`` lists the staged keys without uploading: the pure list must be what
    ``stage`` writes (a manifest channel's copies, the config, the code bundle)."""
    from airsage.jobs.aws import stage, staged_keys
    from airsage.jobs.request import JobRequest
    from airsage.lake.local import LocalLake

    lake = LocalLake(root=tmp_path)
    lake.write_bytes("features/a/part-0.parquet", b"a")
    lake.write_bytes("capture/e/v/2026/03/02/00/x.jsonl", b"x")
    request = JobRequest(
        job_name="reviews-20260301-bias-gate", script="bias.py", kind="processing",
        inputs={"data": "features/a/", "capture": ("capture/e/v/2026/03/02/00/x.jsonl",),
                "ground_truth": ()},
        outputs={"analysis": "reports/bias/"}, config={"x": 1})
    bundle = stage(lake, request, request.job_name)
    # every file on disk (the lake's listing hides the empty channel's dot-file marker)
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    written -= {"features/a/part-0.parquet", "capture/e/v/2026/03/02/00/x.jsonl"}
    assert set(staged_keys(request, request.job_name, bundle)) == written


def test_the_rendered_roles_allow_what_the_plan_sends(planned) -> None:
    """The IAM documents against the plan's real arguments: the execution role reads every
    staged key and job input and writes every output; the Airflow role stages the code and
    puts the alarms the deploy step names."""
    from airsage.awsconf import AwsSettings
    from airsage.awsiam.policy import is_allowed, render_all, s3_object_arn

    settings, steps = planned
    policies = {p.role: p.document for p in render_all(settings)}
    execution, airflow = policies["sagemaker-execution"], policies["airflow"]
    region = AwsSettings.from_settings(settings).region

    def objects(uri: str) -> str:
        return s3_object_arn(uri + ("part-0.parquet" if uri.endswith("/") else ""))

    needed: list[tuple[str, dict[str, Any], str, str]] = []  # (step, document, action, resource)
    for step in steps.values():
        for call in step.calls:
            if call.operation == "PutObject | CopyObject":
                for uri in call.parameters["Keys"]:
                    needed += [(step.step, airflow, "s3:PutObject", objects(uri)),
                               (step.step, execution, "s3:GetObject", objects(uri))]
            if call.operation == "CreateProcessingJob":
                needed += [(step.step, execution, "s3:GetObject", objects(i["S3Input"]["S3Uri"]))
                           for i in call.parameters["ProcessingInputs"]]
                needed += [(step.step, execution, "s3:PutObject", objects(o["S3Output"]["S3Uri"]))
                           for o in call.parameters["ProcessingOutputConfig"]["Outputs"]]
            if call.operation == "PutMetricAlarm":
                needed.append((step.step, airflow, "cloudwatch:PutMetricAlarm",
                               f"arn:aws:cloudwatch:{region}:123456789012:alarm:"
                               f"{call.parameters['AlarmName']}"))
    roles = {id(execution): "sagemaker-execution", id(airflow): "airflow"}
    denied = [(step, roles[id(document)], action, resource)
              for step, document, action, resource in needed
              if not is_allowed(document, action, resource)]
    assert len(needed) > 20
    assert denied == [], "\n".join(map(str, denied))
