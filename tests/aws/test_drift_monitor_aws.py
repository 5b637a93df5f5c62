"""reviews_drift_monitor on the aws target with a Model Monitor schedule as its source, under
dag.test() against moto.

With ``monitoring.source: model_monitor`` the schedule writes the interval's
``constraint_violations.json`` in its own time; the ``monitor`` group waits for it with the
provider's S3KeySensor, deferred (dag.test() runs the S3KeyTrigger in-process against moto),
then the step reads it as the local target does (no job). moto runs no Model Monitor
schedule, so the test writes the report the schedule would write — after the trigger has
started polling.

The monitor step asks the endpoint deployer which version serves; the test registers one that
describes the endpoint as serving version 3 (the SageMaker deployer's own tests cover
describing a real endpoint), so no endpoint has to be deployed first.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aws_helpers import BUCKET, LAKE_ROOT, REGION, ROLE, client

from airsage.serving.base import EndpointDescription

AT = "2026-03-02T05:00"
REPORT_KEY = "prod/monitoring/reports/reviews-sentiment/2026/03/02/05/constraint_violations.json"
VIOLATIONS = Path(__file__).parents[1] / "monitoring" / "fixtures" / "model_monitor" / \
    "data_quality" / "constraint_violations.json"


class ServingVersion3:
    """An endpoint deployer that only describes: reviews-sentiment v3 takes all traffic."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def describe(self, endpoint: str | None = None) -> EndpointDescription:
        return EndpointDescription(
            endpoint=endpoint or "reviews-sentiment", url=None, status="InService",
            variants=({"variant_name": "reviews-sentiment-v3", "weight": 1.0,
                       "model_name": "reviews-sentiment", "model_version": "3"},))


@pytest.fixture
def drift_dag(aws_env, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The drift monitor DAG parsed for aws, reading a Model Monitor schedule's reports."""
    from airsage import targets
    from airsage.monitoring import step

    env = {"AIRSAGE_TARGET": "aws", "AIRSAGE_LAKE_ROOT": LAKE_ROOT,
           "AIRSAGE_HOME": str(tmp_path / "home"), "AIRSAGE__AWS__ROLE_ARN": ROLE,
           "AIRSAGE__AWS__REGION": REGION, "AIRSAGE__MONITORING__SOURCE": "model_monitor"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(targets.REGISTRY["serving"], "aws",
                        f"{__name__}:{ServingVersion3.__name__}")
    monkeypatch.setattr(step, "REPORT_POLL_SECONDS", 1)
    from airsage.airflow.runner import load_dag

    return load_dag("reviews_drift_monitor")


@pytest.fixture
def trigger_started(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set once the S3KeyTrigger polls: the sensor found no report and deferred."""
    from airflow.providers.amazon.aws.triggers.s3 import S3KeyTrigger

    started = threading.Event()
    original = S3KeyTrigger.run

    async def run(self: Any) -> AsyncIterator[Any]:
        started.set()
        async for event in original(self):
            yield event

    monkeypatch.setattr(S3KeyTrigger, "run", run)
    return started


def _run(dag: Any) -> Any:
    from airsage.airflow.runner import run_dag

    return run_dag("reviews_drift_monitor", dag=dag, conf={"at": AT})


def test_the_aws_monitor_is_a_group_with_a_deferrable_report_wait(drift_dag) -> None:
    assert "monitor" in drift_dag.task_group.children
    wait = drift_dag.get_task("monitor.wait_report")
    assert type(wait).__name__ == "MappedOperator" and wait.partial_kwargs["deferrable"] is True
    assert drift_dag.get_task("signal_drift").upstream_task_ids == {"monitor.collect"}
    assert drift_dag.get_task("monitor.request").upstream_task_ids == {
        "monitor.report_route", "monitor.wait_report"}


def test_the_report_written_later_is_waited_for_deferred_then_collected(
        drift_dag, trigger_started, caplog) -> None:
    body = VIOLATIONS.read_bytes()

    def schedule_writes_its_report() -> None:
        if trigger_started.wait(timeout=120):
            client("s3").put_object(Bucket=BUCKET, Key=REPORT_KEY, Body=body)

    writer = threading.Thread(target=schedule_writes_its_report, daemon=True)
    writer.start()
    with caplog.at_level(logging.INFO, logger="airflow.sdk.definitions.dag"):
        summary = _run(drift_dag)
    writer.join(timeout=5)
    assert trigger_started.is_set(), "the sensor did not defer: the report was there too early"
    assert sum("running trigger in line" in r.getMessage() for r in caplog.records) == 1
    assert not summary.failed_tasks, summary.task_states
    assert summary.task_states["monitor.wait_report"] == "success"
    # the report is read by the step: no SageMaker job
    assert summary.task_states["monitor.job"] == "skipped"
    monitored = summary.xcoms["monitor.collect"]
    expected = [(v["feature_name"], v["constraint_check_type"])
                for v in json.loads(body)["violations"]]
    assert [(v["feature_name"], v["constraint_check_type"]) for v in monitored["violations"]] \
        == expected
    assert monitored["report_key"] == REPORT_KEY.removeprefix("prod/")
    assert monitored["model_version"] == "3"
    assert monitored["interval"][0].startswith("2026-03-02T05:00")
    assert summary.task_states["signal_drift"] == "success"  # the drift counts: retrain


def test_the_wait_defers_with_the_report_key_poll_and_time_limit(drift_dag) -> None:
    """How long the triggerer waits is the deferral's timeout, which Airflow enforces (the
    task then fails and nothing is signalled); dag.test() runs triggers without it, so the
    deferral itself is checked: the sensor, built from the request as the group maps it,
    finds no report in moto's S3 and defers with the key, the poll and the limit."""
    from airflow.providers.amazon.aws.triggers.s3 import S3KeyTrigger
    from airflow.sdk.exceptions import TaskDeferred

    from airsage.airflow.deferral import SettledTrigger
    from airsage.airflow.monitor_steps import _wait_kwargs
    from airsage.monitoring.step import REPORT_WAIT_SECONDS

    mapped = drift_dag.get_task("monitor.wait_report")
    payload = {"bucket_key": f"s3://{BUCKET}/{REPORT_KEY}", "aws_conn_id": "aws_default",
               "region_name": REGION, "poke_interval": 1, "timeout": REPORT_WAIT_SECONDS}
    sensor = mapped.operator_class(task_id="wait_report", **mapped.partial_kwargs,
                                   **_wait_kwargs(payload))
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    # the provider's trigger, run by the triggerer after the settling wait (deferral.py)
    assert isinstance(deferred.value.trigger, SettledTrigger)
    trigger = deferred.value.trigger.build_inner()
    assert isinstance(trigger, S3KeyTrigger)
    assert trigger.bucket_key == f"s3://{BUCKET}/{REPORT_KEY}"
    assert deferred.value.timeout.total_seconds() == REPORT_WAIT_SECONDS == 7200


def test_with_airsages_own_monitor_the_wait_is_skipped(drift_dag, monkeypatch) -> None:
    """Source ``airsage`` runs the monitor job instead: no report to wait for; the step's
    request runs at once (what its job then finds is the job steps' tests' concern)."""
    monkeypatch.setenv("AIRSAGE__MONITORING__SOURCE", "airsage")
    summary = _run(drift_dag)
    assert summary.task_states["monitor.report_route"] == "success"
    assert summary.task_states["monitor.wait_report"] == "skipped"
    assert summary.task_states["monitor.request"] != "skipped"


def test_the_local_target_keeps_its_single_monitor_task() -> None:
    from airsage.airflow import tasks
    from airsage.airflow.aws_jobs import ml_job_steps

    assert ml_job_steps("local").monitor is tasks.monitor
    with pytest.raises(ValueError, match="use local or aws"):
        ml_job_steps("gcp")
