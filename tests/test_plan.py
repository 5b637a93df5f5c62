"""``airsage plan --target aws``: every request of a date's run of the whole DAG (data plane
and ML plane), and no AWS call."""

from __future__ import annotations

import json

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
    assert out.count("athena StartQueryExecution") == 7
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
    ("train", "sagemaker CreateTrainingJob"),
    ("train (tuning)", "sagemaker CreateHyperParameterTuningJob"),
    ("evaluate", "sagemaker CreateProcessingJob"),
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
    train = blocks["train"]
    assert "InstanceType: ml.m5.xlarge" in train
    assert "Code: s3://my-lake/prod/code/jobs/train.py" in train
    assert "ModelArtifact: s3://my-lake/prod/models/reviews/reviews-20260301-" in train
    assert "ModelDataUrl: s3://my-lake/prod/models/reviews/reviews-20260301-" in blocks["register"]
    assert "ProcessingOutputs: {\"report\": \"s3://my-lake/prod/monitoring/reports/reviews-sentiment/" \
        "2026/03/02/00/\"}" in blocks["reviews_drift_monitor.monitor"]


def test_plan_json_links_the_ml_steps_through_their_keys(no_aws, capsys) -> None:
    assert main(["plan", "--target", "aws", "--date", DAY, "--json"]) == 0
    steps = {s["step"]: s for s in json.loads(capsys.readouterr().out)}
    model_key = steps["train"]["request"]["outputs"]["model"]
    assert steps["evaluate"]["request"]["inputs"]["model"] == model_key
    assert steps["register"]["request"]["model_artifact_key"] == model_key
    assert steps["baseline"]["request"]["inputs"]["model"] == model_key
    assert steps["deploy"]["request"]["model_artifact_key"] == model_key
    calls = [c["operation"] for s in steps.values() for c in s["calls"]]
    assert calls.count("CreateProcessingJob") == 4  # bias, evaluate, baseline, monitor
    tuning = steps["train (tuning)"]["calls"][0]["parameters"]
    assert tuning["HyperParameterTuningJobConfig"]["Strategy"] == "Bayesian"
    assert tuning["TrainingJobDefinition"]["Channels"]["train"].endswith("/train/")


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
