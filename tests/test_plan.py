"""``airsage plan --target aws``: every data-plane request of a date, and no AWS call."""

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
    assert [s["step"] for s in steps] == ["crawl", "validate_sql", "quality_gate"]
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
