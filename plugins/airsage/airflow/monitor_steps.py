"""The drift monitor's wait for a Model Monitor report, inside the aws target's ``monitor`` group.

Locally ``monitor`` is one task (:func:`airsage.airflow.tasks.monitor`). On the aws target it
is the job group of :mod:`airsage.airflow.aws_jobs` (request → route → job | wait → collect),
and :func:`report_wait` builds its first tasks, because a Model Monitor schedule
(``monitoring.source: model_monitor``) writes the interval's report in its own time:

- ``monitor.report``: the interval, the source and the S3 address of the interval's
  ``constraint_violations.json`` (:func:`airsage.monitoring.step.model_monitor_report_key`);
  read at run time, so the configuration is never read when the DAG file is parsed.
- ``monitor.report_route``: Model Monitor → wait for the report, then the step; airsage's own
  monitor → the step straight away (it runs the monitor job).
- ``monitor.wait_report``: the provider's ``S3KeySensor`` with ``deferrable=True`` — the
  triggerer polls S3, no worker slot is held, and a report that never comes fails the task
  after ``REPORT_WAIT_SECONDS``. This replaces the local target's "no report yet: fail so that
  a retry polls".
- then ``monitor.request`` runs the same step as the local task: it reads the report (no job),
  or asks for airsage's monitor job, which the group runs as a SageMaker processing job.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import task

from airsage.airflow import names
from airsage.airflow.deferral import settled
from airsage.airflow.runtime import lake_for, step_errors, task_settings

MODEL_MONITOR = "model_monitor"
REPORT_TASK, ROUTE_TASK, WAIT_TASK = "report", "report_route", "wait_report"


@task(task_id=REPORT_TASK)
def _report_request(**context: Any) -> list[dict[str, Any]]:
    """Where the interval's Model Monitor report will be, and how to wait for it."""
    from airsage.airflow.aws_steps import _connection
    from airsage.airflow.tasks import _interval
    from airsage.monitoring.base import MonitoringSettings
    from airsage.monitoring.step import (
        REPORT_POLL_SECONDS,
        REPORT_WAIT_SECONDS,
        model_monitor_report_key,
    )

    settings = task_settings()
    lake = lake_for(settings)
    with step_errors(names.MONITOR, quarantine_batch=False):
        source = MonitoringSettings.from_settings(settings).source
        start, end = _interval(context)
        endpoint = str(settings.section("serving").get("endpoint") or "reviews-sentiment")
        key = model_monitor_report_key(endpoint, start)
    return [{"source": source, "bucket_key": lake.uri(key), "endpoint": endpoint,
             "interval": [start.isoformat(), end.isoformat()],
             "poke_interval": REPORT_POLL_SECONDS, "timeout": REPORT_WAIT_SECONDS,
             **_connection(settings)}]


@task.branch(task_id=ROUTE_TASK)
def _report_route(payload: list[dict[str, Any]]) -> list[str]:
    """Model Monitor: wait for its report, then the step; airsage's monitor: the step (it
    runs the monitor job)."""
    group = names.MONITOR
    if payload[0]["source"] == MODEL_MONITOR:
        return [f"{group}.{WAIT_TASK}", f"{group}.request"]
    return [f"{group}.request"]


def _wait_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: payload[key] for key in ("bucket_key", "aws_conn_id", "region_name",
                                          "poke_interval", "timeout")}


def report_wait() -> list[Any]:
    """report → report_route → wait_report (deferred S3KeySensor, skipped for airsage's own
    monitor); the step's request runs after the route and the wait (built inside the
    ``monitor`` group by :func:`airsage.airflow.aws_jobs.monitor`)."""
    from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor

    request = _report_request()
    route = _report_route(request)
    wait = settled(S3KeySensor).partial(task_id=WAIT_TASK, deferrable=True).expand_kwargs(
        request.map(_wait_kwargs))
    route >> wait
    return [route, wait]
