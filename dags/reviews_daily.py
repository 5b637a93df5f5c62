"""reviews_daily: land → catalog → SQL checks → quality gate → bias gate → prepare → train
→ evaluate → register → deploy, for one day's partition of reviews.

**Which day?** The `partition_date` of the trigger form when given; else the day the run's
data interval starts — a scheduled or backfill run processes the day its interval covers, a
run triggered now the last complete day (yesterday, UTC); a run started by drift (the asset)
processes the newest landed day. A day with no data fails at `ingest` and says so.

**Backfills** (`airflow backfill create --dag-id reviews_daily --from-date D1 --to-date D3
--max-active-runs 1`): runs may overlap safely — each `deploy` deploys the version its own
run registered, and a run for an older day never replaces a model trained on newer data
(its `deploy` is skipped and says which model keeps serving). One run at a time keeps the
champion comparisons in day order, so that is the recommended setting.

**Approval**: with `auto_approve` off, `approve_model` waits on the Required Actions page;
Reject marks the version Rejected and the champion keeps serving.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.interval import CronDataIntervalTimetable

from airsage.airflow import names, tasks
from airsage.airflow.approval import approve_model_task
from airsage.airflow.assets import DRIFT
from airsage.airflow.aws_jobs import ml_job_steps
from airsage.airflow.aws_registry import registration_steps
from airsage.airflow.aws_serving import deploy_step
from airsage.airflow.aws_steps import data_plane_steps
from airsage.airflow.deadline import daily_deadline
from airsage.airflow.defaults import default_args
from airsage.airflow.params import daily_params


@dag(
    dag_id=names.DAILY_DAG_ID,
    # The core timetable (the one the scheduler runs, with serialize() and the manual-run
    # interval) is annotated with the scheduler's SerializedAsset, yet takes Task SDK assets.
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        assets=[DRIFT],  # type: ignore[list-item]
    ),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    params=daily_params(),
    deadline=daily_deadline(),
    tags=["airsage", "reviews"],
    doc_md=__doc__,
)
def reviews_daily() -> None:
    landed = tasks.ingest()
    # AIRSAGE_TARGET=aws: the same step ids as task groups of the provider's operators
    crawl, validate_sql, quality_gate = data_plane_steps()
    quality = quality_gate(validate_sql(crawl(landed)))
    curated = tasks.curate(quality)
    jobs = ml_job_steps()  # the job steps: SageMaker processing / training jobs on aws
    prepared = tasks.prepare(jobs.bias_gate(curated))
    trained = jobs.train(prepared)
    evaluated = jobs.evaluate(trained)
    # aws: champion_evaluation (a SageMaker job), then register through the provider's operator
    registered = registration_steps()(trained, evaluated, prepared)
    route = tasks.approval_route(registered)
    approval = approve_model_task()
    recorded = tasks.record_approval(registered)
    auto = tasks.auto_approved(registered)
    rejected = tasks.record_rejection(registered)
    approval >> [recorded, rejected]
    baselined = jobs.baseline([auto, recorded])
    deployed = deploy_step()(baselined)  # aws: SageMaker model, endpoint config, endpoint
    kept = tasks.keep_champion(registered)
    route >> [kept, approval, auto]
    # A teardown: it runs whatever happened upstream, and the run's state stays theirs.
    [deployed, kept, rejected] >> tasks.report().as_teardown()


reviews_daily()
