"""A run that has not finished in time alerts: the DAG declares the configured deadline, and
the callback turns the scheduler's context into an alert in every sink."""

from __future__ import annotations

import asyncio
import datetime as dt

from airsage.airflow.deadline import DEADLINE_NAME, run_deadline_missed
from airsage.alerts.sinks import log_sink
from airsage.config import load_settings


def test_reviews_daily_declares_the_configured_deadline() -> None:
    from airsage.airflow.runner import load_dag

    dag = load_dag("reviews_daily")
    [deadline] = dag.deadline
    configured = load_settings().section("alerts")["run_deadline_minutes"]
    assert deadline.name == DEADLINE_NAME
    assert deadline.interval == dt.timedelta(minutes=configured)
    assert type(deadline.reference).__name__ == "DagRunQueuedAtDeadline"
    assert deadline.callback.path == "airsage.airflow.deadline.run_deadline_missed"


def test_a_missed_deadline_sends_an_alert(airsage_home) -> None:
    context = {  # what the scheduler passes (DAGRunResponse as JSON, and the deadline)
        "dag_run": {"dag_id": "reviews_daily", "dag_run_id": "scheduled__2026-03-04T00:00:00+00:00",
                    "state": "running", "queued_at": "2026-03-04T00:00:05Z",
                    "data_interval_start": "2026-03-03T00:00:00Z"},
        "deadline": {"id": "d1", "deadline_time": "2026-03-04T03:00:05Z"},
    }
    asyncio.run(run_deadline_missed(context=context, minutes=180))
    [alert] = log_sink(load_settings()).read()
    assert alert.title == ("reviews_daily run scheduled__2026-03-04T00:00:00+00:00 has not "
                           "finished after 180 minutes")
    assert alert.severity == "warning" and alert.partition == "2026-03-03"
    assert "queued at 2026-03-04T00:00:05Z" in alert.message and "running" in alert.message
