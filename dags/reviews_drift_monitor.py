"""reviews_drift_monitor: check each hour's captured endpoint traffic against the serving
model's baseline; on violations, emit the drift asset event that schedules retraining.
Trigger it with `at` (an hour) or `window_from`/`window_to` to check traffic on demand."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag

from airsage.airflow import names, tasks
from airsage.airflow.aws_jobs import ml_job_steps
from airsage.airflow.defaults import default_args
from airsage.airflow.monitor_params import drift_monitor_params


@dag(
    dag_id=names.DRIFT_DAG_ID,
    schedule="@hourly",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    params=drift_monitor_params(),
    tags=["airsage", "reviews", "monitoring"],
    doc_md=__doc__,
)
def reviews_drift_monitor() -> None:
    # AIRSAGE_TARGET=aws: a task group around a SageMaker processing job, or, with Model
    # Monitor as the source, a deferred wait for its report
    tasks.signal_drift(ml_job_steps().monitor())


reviews_drift_monitor()
