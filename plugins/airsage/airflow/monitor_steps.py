"""The drift monitor's ``monitor`` step for the target the DAG file is parsed for.

Locally it is one task (:func:`airsage.airflow.tasks.monitor`). On the aws target it is a task
group with the same id, because a Model Monitor schedule (``monitoring.source:
model_monitor``) writes the interval's report in its own time:

- ``monitor.request``: the interval, the source and the S3 address of the interval's
  ``constraint_violations.json`` (:func:`airsage.monitoring.step.model_monitor_report_key`);
  read at run time, so the configuration is never read when the DAG file is parsed.
- ``monitor.route``: Model Monitor → wait for the report, then collect; airsage's own monitor
  → collect straight away (it runs the monitor job).
- ``monitor.wait_report``: the provider's ``S3KeySensor`` with ``deferrable=True`` — the
  triggerer polls S3, no worker slot is held, and a report that never comes fails the task
  after ``REPORT_WAIT_SECONDS``. This replaces the local target's "no report yet: fail so that
  a retry polls".
- ``monitor.collect``: the same step as the local task, which now finds the report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.sdk import TaskGroup, task

from airsage.airflow import names
from airsage.airflow.runtime import TARGET_VARIABLE, lake_for, parsed_target, step_errors, task_settings

MODEL_MONITOR = "model_monitor"


def monitor_step(target: str | None = None) -> Callable[[], Any]:
    """The ``monitor`` step for the target: the local task or the aws task group."""
    target = target or parsed_target()
    if target == "aws":
        return monitor_group
    if target != "local":
        raise ValueError(f"{TARGET_VARIABLE}={target!r} is not a target; use local or aws")
    from airsage.airflow import tasks

    return tasks.monitor


@task(task_id="request")
def _monitor_request(**context: Any) -> list[dict[str, Any]]:
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


@task.branch(task_id="route")
def _monitor_route(payload: list[dict[str, Any]]) -> list[str]:
    """Model Monitor: wait for its report, then collect; airsage's monitor: collect (runs the job)."""
    group = names.MONITOR
    if payload[0]["source"] == MODEL_MONITOR:
        return [f"{group}.wait_report", f"{group}.collect"]
    return [f"{group}.collect"]


def _wait_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: payload[key] for key in ("bucket_key", "aws_conn_id", "region_name",
                                          "poke_interval", "timeout")}


@task(task_id="collect", trigger_rule="none_failed_min_one_success")
def _monitor_collect(**context: Any) -> dict[str, Any]:
    """Check the interval against the serving model's baseline (the local task's step)."""
    from airsage.airflow.tasks import monitor_interval

    return monitor_interval(context)


def monitor_group() -> Any:
    """The aws target's ``monitor``: request, route, deferred wait for a Model Monitor report
    (the provider's S3KeySensor), collect."""
    from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor

    with TaskGroup(group_id=names.MONITOR, tooltip="Model Monitor report or monitor job (aws target)"):
        request = _monitor_request()
        route = _monitor_route(request)
        wait = S3KeySensor.partial(task_id="wait_report", deferrable=True).expand_kwargs(
            request.map(_wait_kwargs))
        collect = _monitor_collect()
        route >> [wait, collect]
        wait >> collect
    return collect
