"""The moto extension answers what moto 5.2.5 lacks, and evaluates nothing itself."""

from __future__ import annotations

import pytest
from aws_helpers import ROLE, client


def _crawler(glue: object, name: str = "c1") -> None:
    glue.create_crawler(Name=name, Role=ROLE, DatabaseName="airsage",  # type: ignore[attr-defined]
                        Targets={"S3Targets": [{"Path": "s3://airsage-lake/prod/raw/reviews/"}]})


def test_a_crawl_completes_as_aws_reports_it_and_metrics_answer(aws_env) -> None:
    glue = client("glue")
    _crawler(glue)
    glue.start_crawler(Name="c1")
    crawler = glue.get_crawler(Name="c1")["Crawler"]
    assert crawler["State"] == "READY"
    assert crawler["LastCrawl"]["Status"] == "SUCCEEDED"
    metrics = glue.get_crawler_metrics(CrawlerNameList=["c1"])["CrawlerMetricsList"]
    assert metrics[0]["CrawlerName"] == "c1" and metrics[0]["TablesCreated"] == 0


def test_update_crawler_replaces_the_given_fields_only(aws_env) -> None:
    glue = client("glue")
    _crawler(glue)
    glue.update_crawler(Name="c1", Targets={"S3Targets": [{"Path": "s3://other/raw/"}]},
                        Description="changed")
    crawler = glue.get_crawler(Name="c1")["Crawler"]
    assert crawler["Targets"]["S3Targets"][0]["Path"] == "s3://other/raw/"
    assert crawler["Description"] == "changed" and crawler["Role"] == ROLE
    assert crawler["Version"] == 2
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.update_crawler(Name="absent", Description="x")


def test_glue_dq_run_without_stated_outcomes_fails_and_says_why(aws_env) -> None:
    glue = client("glue")
    glue.create_data_quality_ruleset(Name="rs", Ruleset="Rules = [ RowCount > 0 ]")
    assert glue.get_data_quality_ruleset(Name="rs")["Ruleset"] == "Rules = [ RowCount > 0 ]"
    with pytest.raises(glue.exceptions.AlreadyExistsException):
        glue.create_data_quality_ruleset(Name="rs", Ruleset="Rules = [ RowCount > 1 ]")
    run_id = glue.start_data_quality_ruleset_evaluation_run(
        DataSource={"GlueTable": {"DatabaseName": "airsage", "TableName": "reviews"}},
        Role=ROLE, RulesetNames=["rs"])["RunId"]
    run = glue.get_data_quality_ruleset_evaluation_run(RunId=run_id)
    assert run["Status"] == "FAILED"
    assert "no rule outcomes stated" in run["ErrorString"]


def test_glue_dq_run_returns_exactly_the_outcomes_the_test_states(aws_env) -> None:
    glue = client("glue")
    glue.create_data_quality_ruleset(Name="rs", Ruleset="Rules = [ RowCount > 0 ]")
    stated = [{"Name": "Rule_1", "Description": "RowCount > 0", "Result": "FAIL",
               "EvaluationMessage": "Value: 0", "EvaluatedMetrics": {"Dataset.*.RowCount": 0.0}}]
    aws_env.state_rule_outcomes("rs", stated)
    run_id = glue.start_data_quality_ruleset_evaluation_run(
        DataSource={"GlueTable": {"DatabaseName": "airsage", "TableName": "reviews"}},
        Role=ROLE, RulesetNames=["rs"], NumberOfWorkers=2)["RunId"]
    run = glue.get_data_quality_ruleset_evaluation_run(RunId=run_id)
    assert run["Status"] == "SUCCEEDED" and run["NumberOfWorkers"] == 2
    results = glue.batch_get_data_quality_result(ResultIds=run["ResultIds"])["Results"]
    assert results[0]["RuleResults"] == stated
    assert results[0]["RulesetName"] == "rs"


def test_athena_answers_a_seeded_query_by_its_text(aws_env) -> None:
    athena = client("athena")
    aws_env.seed_athena("SELECT 1", [["7"]], [("_col0", "bigint")])
    seeded = athena.start_query_execution(
        QueryString="SELECT 1", ResultConfiguration={"OutputLocation": "s3://airsage-lake/a/"})
    other = athena.start_query_execution(
        QueryString="SELECT 2", ResultConfiguration={"OutputLocation": "s3://airsage-lake/a/"})
    rows = athena.get_query_results(QueryExecutionId=seeded["QueryExecutionId"])["ResultSet"]["Rows"]
    assert rows[1]["Data"][0]["VarCharValue"] == "7"
    assert athena.get_query_results(QueryExecutionId=other["QueryExecutionId"])["ResultSet"]["Rows"] == []
