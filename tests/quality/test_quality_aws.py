"""The aws quality gate's requests (Glue DQ, PyDeequ) and collect, pure (no Airflow, no AWS)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from airsage.config import INCLUDE_DIR, load_settings
from airsage.errors import ConfigurationError, GateFailedError, InputDataError
from airsage.lake.local import LocalLake
from airsage.quality import dqdl
from airsage.quality.aws import (
    GlueDQRequest,
    collect_quality,
    deequ_coordinate,
    deequ_job_request,
    finish_quality,
    glue_dq_request,
    glue_ruleset_text,
)
from airsage.quality.history import MetricsHistory

DAY = "2024-04-01"
SHIPPED = INCLUDE_DIR / "quality" / "reviews.dqdl"
IMAGE = "173754725891.dkr.ecr.us-east-1.amazonaws.com/sagemaker-spark-processing:3.5-cpu"


@pytest.fixture
def aws_config(tmp_path: Path) -> Any:
    return load_settings(environ={}, overrides={
        "target": "aws", "home": str(tmp_path / "home"), "lake": {"root": "s3://airsage-lake/prod"},
        "aws": {"role_arn": "arn:aws:iam::123456789012:role/airsage", "tags": {"project": "airsage"}},
    })


def glue_results(failing: set[int] = frozenset()) -> list[dict[str, Any]]:
    """What Glue DQ answers for the shipped ruleset, rule by rule (outcomes stated here)."""
    rules = dqdl.parse(SHIPPED.read_text(encoding="utf-8"), source=str(SHIPPED)).rules
    return [{"Name": f"Rule_{i}", "Description": rule.text,
             "Result": "FAIL" if i in failing else "PASS",
             "EvaluationMessage": "Value: 0.5 does not meet the constraint" if i in failing else "",
             "EvaluatedMetrics": {"Dataset.*.RowCount": 60.0} if rule.text == "RowCount > 0"
             else {f"Metric.{i}": 0.5 if i in failing else 1.0}}
            for i, rule in enumerate(rules, start=1)]


def test_glue_request_sends_the_shipped_dqdl_from_rules_on(aws_config) -> None:
    request = glue_dq_request(aws_config, "reviews", DAY)
    shipped = SHIPPED.read_text(encoding="utf-8")
    assert request.ruleset.startswith("Rules = [") and request.ruleset.endswith("]")
    assert shipped.strip().endswith(request.ruleset)  # the file's text, only its header comment dropped
    assert request.datasource["GlueTable"] == {
        "DatabaseName": "airsage", "TableName": "reviews",
        "AdditionalOptions": {"pushDownPredicate": f"dt = '{DAY}'"}}
    assert request.run_options["AdditionalRunOptions"]["ResultsS3Prefix"] == \
        f"s3://airsage-lake/prod/reports/quality-glue/reviews/dt={DAY}/"
    assert request.ruleset_kwargs()["Tags"] == {"project": "airsage"}
    assert request.workers == 2


def test_ruleset_name_follows_the_text(aws_config) -> None:
    first = glue_dq_request(aws_config, "reviews", DAY)
    assert glue_dq_request(aws_config, "reviews", "2024-04-02").ruleset_name == first.ruleset_name
    assert GlueDQRequest.from_dict(json.loads(json.dumps(first.to_dict()))) == first


def test_a_document_glue_cannot_take_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match="starts with 'Rules = \\['"):
        glue_ruleset_text('Metadata = { "Version": "1.0" }\nRules = [ RowCount > 0 ]', "x.dqdl")
    assert glue_ruleset_text("# c\n\n# d\nRules = [ RowCount > 0 ]\n", "x") == "Rules = [ RowCount > 0 ]"


def test_deequ_request_names_image_script_ruleset_and_deequ_coordinate(aws_config) -> None:
    request = deequ_job_request(aws_config, "reviews", DAY, image_uri=IMAGE)
    config = request.processing_config()
    assert config["AppSpecification"]["ImageUri"] == IMAGE
    assert config["AppSpecification"]["ContainerEntrypoint"][-1].endswith("/deequ_gate.py")
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in config["ProcessingInputs"]}
    assert inputs == {"code": "s3://airsage-lake/prod/code/jobs/deequ_gate.py",
                      "data": f"s3://airsage-lake/prod/raw/reviews/dt={DAY}/"}
    assert request.ruleset == SHIPPED.read_text(encoding="utf-8")
    arguments = config["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--jars-packages") + 1] == "com.amazon.deequ:deequ:2.0.21-spark-3.5"
    assert request.deequ_coordinate == deequ_coordinate("3.5")
    assert config["Tags"] == [{"Key": "project", "Value": "airsage"}]
    assert (INCLUDE_DIR / "jobs" / "deequ_gate.py").exists()


def test_the_spark_image_is_resolved_offline_by_the_sagemaker_sdk(aws_config) -> None:
    request = deequ_job_request(aws_config, "reviews", DAY)
    assert request.image_uri == IMAGE


def test_collect_normalises_glue_results_to_the_local_shape() -> None:
    report = collect_quality(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED), glue_results(),
                             dataset="reviews", day=DAY)
    assert report.outcome == "PASS"
    first = report.rule_results[0]
    assert (first.name, first.description, first.expected) == ("Rule_1", "RowCount > 0", "> 0")
    assert first.to_dict()["EvaluatedMetrics"] == {"Dataset.*.RowCount": 60.0}
    assert first.measured == 60.0
    assert report.metrics["Dataset.*.RowCount"] == 60.0


def test_collect_refuses_unknown_outcomes_and_empty_results() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    with pytest.raises(InputDataError, match="no rule results"):
        collect_quality(text, str(SHIPPED), [], dataset="reviews", day=DAY)
    odd = glue_results()
    odd[0]["Result"] = "MAYBE"
    with pytest.raises(InputDataError, match="'MAYBE'"):
        collect_quality(text, str(SHIPPED), odd, dataset="reviews", day=DAY)


def test_a_failing_rule_fails_the_gate_and_leaves_history_and_report(aws_config, tmp_path) -> None:
    lake = LocalLake(root=tmp_path / "lake")
    report = collect_quality(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED), glue_results({9}),
                             dataset="reviews", day=DAY)
    with pytest.raises(GateFailedError) as caught:
        finish_quality(aws_config, lake, report)
    [failure] = caught.value.failures
    assert failure.check == 'Completeness "review_text" >= 0.9'
    assert (failure.measured, failure.expected) == (0.5, ">= 0.9")
    assert "Rule_9 FAIL" in failure.message
    assert MetricsHistory(lake, "reviews").read(DAY) is not None
    stored = json.loads(lake.read_bytes(f"reports/quality/reviews/dt={DAY}/results.json"))
    assert stored["Outcome"] == "FAIL" and stored["RulesFailed"] == 1


def _deequ_job() -> Any:
    spec = importlib.util.spec_from_file_location("deequ_gate", INCLUDE_DIR / "jobs" / "deequ_gate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_deequ_job_writes_pydeequ_outcomes_in_glues_keys() -> None:
    job = _deequ_job()
    rows = [{"Rule": "RowCount > 0", "Outcome": "Passed", "FailureReason": None,
             "EvaluatedMetrics": {"Dataset.*.RowCount": 60}},
            {"Rule": 'IsComplete "rating"', "Outcome": "Failed",
             "FailureReason": "Value: 0.9 does not meet the constraint requirement!",
             "EvaluatedMetrics": {"Column.rating.Completeness": 0.9}},
            {"Rule": "ColumnCount = 12", "Outcome": "Skipped", "FailureReason": None,
             "EvaluatedMetrics": {}}]
    results = job.to_glue_rule_results(rows)
    assert [r["Result"] for r in results] == ["PASS", "FAIL", "ERROR"]
    assert results[1]["EvaluatedMetrics"] == {"Column.rating.Completeness": 0.9}
    assert "'Skipped'" in results[2]["EvaluationMessage"]
    report = collect_quality("Rules = [ RowCount > 0, IsComplete \"rating\", ColumnCount = 12 ]", "x",
                             results, dataset="reviews", day=DAY)
    assert [r.result for r in report.failed] == ["FAIL", "ERROR"]


def test_the_deequ_job_refuses_bad_input_with_exit_code_2(tmp_path) -> None:
    job = _deequ_job()
    (tmp_path / "data").mkdir()
    code = job.main(["--data", str(tmp_path / "data"), "--ruleset-b64", "UnVsZXMgPSBbXQ==",
                     "--output", str(tmp_path / "out.json"), "--jars-packages", "x"])
    assert code == job.EXIT_BAD_INPUT


def test_anomaly_rules_run_over_the_shared_metrics_history(aws_config, tmp_path) -> None:
    lake = LocalLake(root=tmp_path / "lake")
    history = MetricsHistory(lake, "reviews")
    for day in ("2024-03-29", "2024-03-30", "2024-03-31"):
        history.write(day, {"Dataset.*.RowCount": 4000})
    report = collect_quality(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED), glue_results(),
                             dataset="reviews", day=DAY)
    with pytest.raises(GateFailedError) as caught:
        finish_quality(aws_config, lake, report)
    [failure] = caught.value.failures
    assert failure.check.startswith("RowCount ratio to the mean of the previous 7 day(s)")
    assert failure.measured == pytest.approx(60 / 4000)


def test_the_deequ_processing_job_is_a_valid_create_processing_job_request(aws_config) -> None:
    """moto cannot run the Spark container (it would only record the job), so the request's
    shape is checked here against SageMaker's API model with botocore's Stubber, which
    refuses any parameter the model does not define or types differently."""
    import boto3
    from botocore.stub import Stubber

    request = deequ_job_request(aws_config, "reviews", DAY, image_uri=IMAGE)
    config = request.processing_config()
    sagemaker = boto3.client("sagemaker", region_name="us-east-1",
                             aws_access_key_id="x", aws_secret_access_key="x")
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{request.job_name}"
    with Stubber(sagemaker) as stubber:
        stubber.add_response("create_processing_job", {"ProcessingJobArn": arn}, expected_params=config)
        assert sagemaker.create_processing_job(**config)["ProcessingJobArn"] == arn
        stubber.assert_no_pending_responses()
    assert len(request.job_name) <= 63  # SageMaker's limit on job names
