"""reviews_daily: land → catalog → SQL checks → quality gate → bias gate → prepare → train
→ evaluate → register → deploy, for the partition of the logical date.

Scheduled daily (the interval's start is the partition's date) or by drift on the endpoint.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.interval import CronDataIntervalTimetable

from airsage.airflow import names, tasks
from airsage.airflow.approval import approve_model_task
from airsage.airflow.assets import DRIFT
from airsage.airflow.defaults import default_args
from airsage.airflow.params import daily_params


@dag(
    dag_id=names.DAILY_DAG_ID,
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"), assets=[DRIFT]
    ),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    params=daily_params(),
    tags=["airsage", "reviews"],
    doc_md=__doc__,
)
def reviews_daily() -> None:
    landed = tasks.ingest()
    quality = tasks.quality_gate(tasks.validate_sql(tasks.crawl(landed)))
    curated = tasks.curate(quality)
    prepared = tasks.prepare(tasks.bias_gate(curated))
    trained = tasks.train(prepared)
    evaluated = tasks.evaluate(trained)
    registered = tasks.register(trained, evaluated, prepared)
    route = tasks.approval_route(registered)
    approval = approve_model_task(registered)
    recorded = tasks.record_approval(registered)
    auto = tasks.auto_approved(registered)
    route >> [tasks.keep_champion(registered), approval, auto]
    approval >> recorded
    baselined = tasks.baseline()
    [auto, recorded] >> baselined
    tasks.deploy(baselined)


reviews_daily()
