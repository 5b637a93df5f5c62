"""A daily run that has not finished in time sends an alert (Airflow 3's DeadlineAlert).

The deadline counts from when the run was queued, so it means the same for scheduled,
backfill, manual and drift-triggered runs: "this run has been going for longer than
``alerts.run_deadline_minutes``". The callback runs in the triggerer with the DAG run's
description as its context, and sends through the same sinks as every other alert.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

DEADLINE_NAME = "airsage_run_deadline"


def run_deadline(minutes: float) -> DeadlineAlert:
    """Alert when a run is still going ``minutes`` after it was queued."""
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=dt.timedelta(minutes=minutes),
        callback=AsyncCallback("airsage.airflow.deadline.run_deadline_missed",
                               kwargs={"minutes": minutes}),
        name=DEADLINE_NAME,
    )


def daily_deadline() -> DeadlineAlert:
    """The deadline of ``reviews_daily`` runs, from ``alerts.run_deadline_minutes``."""
    from airsage.airflow.defaults import parse_time_settings

    minutes = float(parse_time_settings().section("alerts").get("run_deadline_minutes") or 180)
    return run_deadline(minutes)


def deadline_alert(context: dict[str, Any], minutes: float) -> Any:
    """The alert for a missed deadline, from the context the scheduler hands the callback."""
    from airsage.alerts.base import Alert

    run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    run_id = run.get("dag_run_id") or run.get("run_id")
    interval_start = str(run.get("data_interval_start") or "")[:10] or None
    return Alert(
        title=f"{run.get('dag_id')} run {run_id} has not finished after {minutes:g} minutes",
        message=(f"The run was queued at {run.get('queued_at')} and is {run.get('state')}; its "
                 f"deadline was {deadline.get('deadline_time')}. Look at its running or "
                 "waiting task (an approval on the Required Actions page, a long training job)."),
        severity="warning",
        dag_id=run.get("dag_id"),
        run_id=run_id,
        partition=interval_start,
        details={"deadline": deadline, "state": run.get("state")},
    )


async def run_deadline_missed(context: dict[str, Any] | None = None, minutes: float = 0.0) -> None:
    """The DeadlineAlert callback (awaited by the triggerer)."""
    from airsage.airflow.notifiers import send_alert
    from airsage.config import load_settings

    alert = deadline_alert(context or {}, minutes)
    await asyncio.to_thread(send_alert, alert, load_settings())
