"""reviews_daily's data plane on the aws target, deferrable, under dag.test() against moto.

The DAG file is parsed with AIRSAGE_TARGET=aws: crawl, validate_sql and quality_gate become
task groups of the provider's operators with deferrable=True, and dag.test() runs their
triggers in-process (aiobotocore against moto). The run is the data-plane subset of the real
DAG (ingest → crawl → validate_sql → quality_gate): the ML plane has no aws target yet.

Where moto cannot stand in, the test states what AWS would have produced, and says so:
moto's crawler writes no table (the test creates the table a crawl of the contract's files
writes), Athena executes no SQL (results are seeded for exactly the shipped query text) and
Glue Data Quality evaluates nothing (the test states each rule's outcome).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from aws_helpers import BUCKET, LAKE_ROOT, REGION, ROLE, client

from airsage.config import INCLUDE_DIR, load_settings
from airsage.quality import dqdl

DAY = "2026-02-10"
DATA_PLANE = re.compile(r"^(ingest|(crawl|validate_sql|quality_gate)\..+)$")
GLUE_TYPE = {"BIGINT": "bigint", "VARCHAR": "string"}
SHIPPED_DQDL = INCLUDE_DIR / "quality" / "reviews.dqdl"


@pytest.fixture
def aws_run(aws_env, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The aws target's environment, an SNS topic read back through an SQS queue, and the DAG."""
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name="airsage-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="airsage-alerts")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    queue_arn = attributes["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    env = {"AIRSAGE_TARGET": "aws", "AIRSAGE_LAKE_ROOT": LAKE_ROOT, "AIRSAGE_HOME": str(tmp_path / "home"),
           "AIRSAGE__AWS__ROLE_ARN": ROLE, "AIRSAGE__AWS__REGION": REGION,
           "AIRSAGE__ALERTS__SNS_TOPIC_ARN": topic,
           "AIRSAGE__INGEST__GENERATOR__ROWS_PER_DAY": "200"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from airsage.airflow.runner import load_dag

    dag = load_dag("reviews_daily")
    data_plane = [t.task_id for t in dag.tasks if DATA_PLANE.match(t.task_id)]
    subset = dag.partial_subset(task_ids=data_plane, include_upstream=True, include_downstream=False)
    return {"dag": subset, "full_dag": dag, "queue": queue, "settings": load_settings()}


def crawled_table(settings: Any) -> None:
    """The Glue table and partition a crawl of the contract's files writes (moto's crawler
    writes none; the crawler itself is created, updated and run by the DAG)."""
    glue = client("glue")
    glue.create_database(DatabaseInput={"Name": "airsage"})
    columns = [{"Name": n, "Type": GLUE_TYPE[t]} for n, t in settings.dataset("reviews").columns.items()]
    glue.create_table(DatabaseName="airsage", TableInput={
        "Name": "reviews", "PartitionKeys": [{"Name": "dt", "Type": "string"}],
        "StorageDescriptor": {"Columns": columns, "Location": f"{LAKE_ROOT}/raw/reviews/"},
        "Parameters": {"classification": "csv", "recordCount": "200"}})
    glue.create_partition(DatabaseName="airsage", TableName="reviews", PartitionInput={
        "Values": [DAY], "StorageDescriptor": {"Columns": columns,
                                               "Location": f"{LAKE_ROOT}/raw/reviews/dt={DAY}/"}})


def seed_athena(server: Any, settings: Any, values: dict[str, str]) -> None:
    """Athena's answer for each shipped query (0 unless ``values`` says otherwise)."""
    from airsage.sql.aws import validate_request

    for query in validate_request(settings, "reviews", DAY).queries:
        default = "200" if query.name == "partition_not_empty" else "0"
        server.seed_athena(query.query, [[values.get(query.name, default)]], [("_col0", "bigint")])


def state_rule_outcomes(server: Any, settings: Any, failing: str | None = None) -> str:
    """What Glue DQ found, rule by rule: PASS, except the rule written ``failing``."""
    from airsage.quality.aws import glue_dq_request

    request = glue_dq_request(settings, "reviews", DAY)
    rules = dqdl.parse(SHIPPED_DQDL.read_text(encoding="utf-8"), source="reviews.dqdl").rules
    outcomes = [{"Name": f"Rule_{i}", "Description": rule.text,
                 "Result": "FAIL" if rule.text == failing else "PASS",
                 "EvaluationMessage": "Value: 0.42 does not meet the constraint requirement!"
                 if rule.text == failing else "",
                 "EvaluatedMetrics": {"Dataset.*.RowCount": 200.0} if rule.text == "RowCount > 0"
                 else {f"Rule_{i}.Metric": 0.42 if rule.text == failing else 1.0}}
                for i, rule in enumerate(rules, start=1)]
    server.state_rule_outcomes(request.ruleset_name, outcomes)
    return request.ruleset_name


def run(aws_run: dict[str, Any]) -> Any:
    from airsage.airflow.runner import run_dag

    return run_dag("reviews_daily", dag=aws_run["dag"], partition=DAY)


def sns_messages(queue: str) -> list[dict[str, Any]]:
    found = client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(json.loads(m["Body"])["Message"]) for m in found]


def test_the_dag_parsed_for_aws_has_the_local_step_ids_as_task_groups(aws_run) -> None:
    dag = aws_run["full_dag"]
    assert {"crawl", "validate_sql", "quality_gate"} <= set(dag.task_group.children)
    deferrable = {t.task_id: t.partial_kwargs.get("deferrable") for t in dag.tasks
                  if hasattr(t, "partial_kwargs") and "deferrable" in t.partial_kwargs}
    assert deferrable == {"crawl.run_crawler": True, "validate_sql.query": True,
                          "quality_gate.evaluate": True, "quality_gate.deequ_job": True,
                          # the job steps' groups (issue 11: aws_jobs.py)
                          "bias_gate.job": True, "train.job": True, "evaluate.job": True,
                          "baseline.job": True,
                          # the champion's evaluation before register (issue 11, aws_registry.py)
                          "champion_evaluation.job": True,
                          # tuning and the endpoint (issue 11: aws_tuning.py, aws_serving.py)
                          "tune.tuning_job": True, "deploy.endpoint": True}
    assert dag.get_task("curate").upstream_task_ids == {"quality_gate.collect"}


def test_a_good_day_passes_every_data_plane_step_with_deferred_operators(aws_run, aws_env, caplog) -> None:
    settings = aws_run["settings"]
    crawled_table(settings)
    seed_athena(aws_env, settings, {})
    ruleset = state_rule_outcomes(aws_env, settings)
    with caplog.at_level(logging.INFO, logger="airflow.sdk.definitions.dag"):
        summary = run(aws_run)
    # every operator deferred and its trigger ran: the crawl, seven Athena queries, the DQ run
    assert sum("running trigger in line" in r.getMessage() for r in caplog.records) == 9
    assert not summary.failed_tasks, summary.task_states
    assert summary.task_states["crawl.run_crawler"] == "success"
    assert summary.task_states["crawl.create_crawler"] == "success"
    assert summary.task_states["crawl.update_crawler"] == "skipped"
    assert summary.xcoms["crawl.collect"]["changes"] == []
    assert summary.xcoms["validate_sql.collect"]["passed"] is True
    assert summary.xcoms["quality_gate.collect"]["Outcome"] == "PASS"
    glue = client("glue")
    crawler = glue.get_crawler(Name="airsage-airsage-reviews")["Crawler"]
    assert crawler["Targets"]["S3Targets"][0]["Path"] == f"{LAKE_ROOT}/raw/reviews/"
    assert crawler["LastCrawl"]["Status"] == "SUCCEEDED"
    sent = glue.get_data_quality_ruleset(Name=ruleset)["Ruleset"]
    assert SHIPPED_DQDL.read_text(encoding="utf-8").strip().endswith(sent)
    assert sent.startswith("Rules = [")
    assert client("s3").head_object(Bucket=BUCKET, Key=f"prod/reports/quality/reviews/dt={DAY}/results.json")

    # a second run of the same day updates the crawler and reuses the ruleset: nothing twice
    summary = run(aws_run)
    assert not summary.failed_tasks, summary.task_states
    assert summary.task_states["crawl.update_crawler"] == "success"
    assert summary.task_states["crawl.create_crawler"] == "skipped"
    assert summary.task_states["quality_gate.create_ruleset"] == "skipped"


def test_a_failing_athena_result_fails_validate_sql(aws_run, aws_env) -> None:
    settings = aws_run["settings"]
    crawled_table(settings)
    seed_athena(aws_env, settings, {"rating_in_range": "3"})
    state_rule_outcomes(aws_env, settings)
    summary = run(aws_run)
    assert summary.task_states["validate_sql.collect"] == "failed"
    assert summary.task_states["quality_gate.request"] == "upstream_failed"
    marker = json.loads(client("s3").get_object(
        Bucket=BUCKET, Key=f"prod/quarantine/reviews/dt={DAY}/_QUARANTINED.json")["Body"].read())
    assert "rating_in_range" in json.dumps(marker)


def test_a_failing_rule_fails_the_gate_quarantines_and_alerts_through_sns(aws_run, aws_env) -> None:
    settings = aws_run["settings"]
    crawled_table(settings)
    seed_athena(aws_env, settings, {})
    state_rule_outcomes(aws_env, settings, failing='Completeness "review_text" >= 0.9')
    summary = run(aws_run)
    assert summary.task_states["quality_gate.evaluate"] == "success"
    assert summary.task_states["quality_gate.collect"] == "failed"
    marker = json.loads(client("s3").get_object(
        Bucket=BUCKET, Key=f"prod/quarantine/reviews/dt={DAY}/_QUARANTINED.json")["Body"].read())
    assert marker["step"] == "quality_gate" and "review_text" in marker["reason"]
    [alert] = [m for m in sns_messages(aws_run["queue"]) if m.get("task_id") == "quality_gate.collect"]
    assert 'Completeness "review_text" >= 0.9' in alert["message"]
    assert "measured 0.42" in alert["message"]


def test_a_schema_change_in_the_glue_table_fails_crawl_with_the_local_message(aws_run, aws_env) -> None:
    settings = aws_run["settings"]
    crawled_table(settings)
    glue = client("glue")
    table = glue.get_table(DatabaseName="airsage", Name="reviews")["Table"]
    columns = [c for c in table["StorageDescriptor"]["Columns"] if c["Name"] != "age"]
    glue.update_table(DatabaseName="airsage", TableInput={
        "Name": "reviews", "PartitionKeys": table["PartitionKeys"], "Parameters": table["Parameters"],
        "StorageDescriptor": {**table["StorageDescriptor"], "Columns": columns}})
    summary = run(aws_run)
    assert summary.task_states["crawl.run_crawler"] == "success"
    assert summary.task_states["crawl.collect"] == "failed"
    marker = json.loads(client("s3").get_object(
        Bucket=BUCKET, Key=f"prod/quarantine/reviews/dt={DAY}/_QUARANTINED.json")["Body"].read())
    assert "column 'age' (BIGINT) is missing [vs config]" in marker["reason"]


def test_the_pydeequ_engine_runs_its_spark_processing_job_and_is_judged_the_same_way(
        aws_run, aws_env, monkeypatch) -> None:
    """moto records the processing job but runs no container (and reports it Completed at
    once, so the operator does not defer here): the test writes the results.json the Spark
    job would have written, with one failing rule."""
    monkeypatch.setenv("AIRSAGE__AWS__QUALITY_ENGINE", "pydeequ")
    settings = load_settings()
    crawled_table(settings)
    seed_athena(aws_env, settings, {})
    from airsage.quality.aws import deequ_job_request

    request = deequ_job_request(settings, "reviews", DAY)
    outcomes = [{"Name": "Rule_1", "Description": "RowCount > 0", "Result": "PASS",
                 "EvaluationMessage": "", "EvaluatedMetrics": {"Dataset.*.RowCount": 200.0}},
                {"Name": "Rule_2", "Description": 'IsComplete "rating"', "Result": "FAIL",
                 "EvaluationMessage": "Value: 0.97 does not meet the constraint requirement!",
                 "EvaluatedMetrics": {"Column.rating.Completeness": 0.97}}]
    client("s3").put_object(Bucket=BUCKET, Key=f"prod/{request.output_key}results.json",
                            Body=json.dumps({"RuleResults": outcomes}).encode())
    summary = run(aws_run)
    assert summary.task_states["quality_gate.deequ_job"] == "success"
    assert summary.task_states["quality_gate.evaluate"] == "skipped"
    assert summary.task_states["quality_gate.collect"] == "failed"
    job = client("sagemaker").describe_processing_job(ProcessingJobName=request.job_name)
    assert job["AppSpecification"]["ImageUri"].endswith("sagemaker-spark-processing:3.5-cpu")
    assert job["AppSpecification"]["ContainerEntrypoint"][-1].endswith("deequ_gate.py")
    client("s3").head_object(Bucket=BUCKET, Key=f"prod/{request.script_key}")
    marker = json.loads(client("s3").get_object(
        Bucket=BUCKET, Key=f"prod/quarantine/reviews/dt={DAY}/_QUARANTINED.json")["Body"].read())
    assert 'IsComplete "rating": measured 0.97' in marker["reason"]


def _pydeequ_day(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The PyDeequ engine with the Glue table, Athena's answers and a passing results.json
    (what the Spark job writes; moto runs no container) in place; returns the job request."""
    monkeypatch.setenv("AIRSAGE__AWS__QUALITY_ENGINE", "pydeequ")
    settings = load_settings()
    crawled_table(settings)
    from airsage.quality.aws import deequ_job_request

    request = deequ_job_request(settings, "reviews", DAY)
    outcomes = [{"Name": "Rule_1", "Description": "RowCount > 0", "Result": "PASS",
                 "EvaluationMessage": "", "EvaluatedMetrics": {"Dataset.*.RowCount": 200.0}}]
    client("s3").put_object(Bucket=BUCKET, Key=f"prod/{request.output_key}results.json",
                            Body=json.dumps({"RuleResults": outcomes}).encode())
    return settings, request


def _processing_jobs() -> list[str]:
    return sorted(j["ProcessingJobName"] for j in
                  client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"])


def test_a_rerun_of_the_pydeequ_gate_collects_its_completed_job_instead_of_a_second_one(
        aws_run, aws_env, monkeypatch) -> None:
    settings, request = _pydeequ_day(monkeypatch)
    seed_athena(aws_env, settings, {})
    first = run(aws_run)
    assert first.task_states["quality_gate.deequ_job"] == "success"
    assert _processing_jobs() == [request.job_name]

    again = run(aws_run)  # a retry (or a rerun of the day) asks SageMaker first
    assert again.task_states["quality_gate.deequ_job"] == "skipped"
    assert again.task_states["quality_gate.deequ_wait"] == "skipped"
    assert again.task_states["quality_gate.collect"] == "success"
    assert _processing_jobs() == [request.job_name]


def test_a_stopped_pydeequ_job_is_replaced_by_an_attempt_with_a_visible_suffix(
        aws_run, aws_env, monkeypatch) -> None:
    settings, request = _pydeequ_day(monkeypatch)
    seed_athena(aws_env, settings, {})
    run(aws_run)
    client("sagemaker").stop_processing_job(ProcessingJobName=request.job_name)

    again = run(aws_run)
    assert again.task_states["quality_gate.deequ_job"] == "success"
    assert _processing_jobs() == [request.job_name, f"{request.job_name}-r2"]
    statuses = {name: client("sagemaker").describe_processing_job(ProcessingJobName=name)[
        "ProcessingJobStatus"] for name in _processing_jobs()}
    assert statuses == {request.job_name: "Stopped", f"{request.job_name}-r2": "Completed"}


def test_a_pydeequ_job_still_running_is_waited_for_deferred_not_submitted_again(
        aws_run, aws_env, monkeypatch) -> None:
    """moto's jobs are Completed as soon as they exist, so the lookup is told the job is
    InProgress when the step decides; the wait then defers to the provider's SageMakerTrigger,
    whose waiter reads moto's (Completed) answer."""
    import airsage.jobs.reattach as reattach

    settings, request = _pydeequ_day(monkeypatch)
    seed_athena(aws_env, settings, {})
    sagemaker = client("sagemaker")
    config = request.processing_config()
    sagemaker.create_processing_job(**{k: v for k, v in config.items() if k != "Tags"})
    real = reattach.sagemaker_status

    def still_running(client_: Any, kind: str) -> Any:
        status_of = real(client_, kind)
        return lambda name: "InProgress" if name == request.job_name else status_of(name)

    monkeypatch.setattr(reattach, "sagemaker_status", still_running)
    summary = run(aws_run)
    assert summary.task_states["quality_gate.deequ_job"] == "skipped"
    assert summary.task_states["quality_gate.deequ_wait"] == "success"
    assert summary.task_states["quality_gate.collect"] == "success"
    assert _processing_jobs() == [request.job_name]
