"""reviews_batch_scoring: score a curated partition with a registered, Approved model version.

**When?** Whenever `reviews_daily`'s `deploy` step deploys a model (the asset
`x-airsage://reviews-sentiment/deployed`, whose event names the version and the day), and on
demand from the trigger form.

**What?** `partition_date` (empty: the deployed run's day, else the newest curated day) scored
by `model_version` (empty: the deployed version, else the champion). A version that is not
Approved is refused, naming its status. SageMaker Batch Transform's semantics on both
targets: JSON Lines in, `<input>.out` out, each prediction joined with its `review_id`;
`predictions/reviews/dt=<day>/model_version=<v>/predictions.parquet` holds one row per
review (label, probabilities, model version, scored at). A rerun overwrites only its own
output; the curated data is only read.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag

from airsage.airflow import names
from airsage.airflow.assets import MODEL_DEPLOYED
from airsage.airflow.batch_params import batch_scoring_params
from airsage.airflow.batch_steps import batch_scoring_step
from airsage.airflow.defaults import default_args


@dag(
    dag_id=names.BATCH_DAG_ID,
    schedule=[MODEL_DEPLOYED],
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    params=batch_scoring_params(),
    tags=["airsage", "reviews", "batch"],
    doc_md=__doc__,
)
def reviews_batch_scoring() -> None:
    # AIRSAGE_TARGET=aws: a task group around a SageMaker transform job
    batch_scoring_step()()


reviews_batch_scoring()
