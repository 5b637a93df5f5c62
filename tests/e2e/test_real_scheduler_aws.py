"""reviews_daily on the aws target under the real Airflow components, against moto.

Scheduler, dag-processor, triggerer and api-server (LocalExecutor, ``AIRSAGE_TARGET=aws``) run
on 127.0.0.1 as in test_real_scheduler.py; every AWS client they make — boto3 in the tasks,
aiobotocore in the triggerer's triggers, DuckDB reading S3 in ``curate`` — reaches the
extended moto server (tests/aws/moto_ext.py) through the ``aws_default`` connection
(``AIRFLOW_CONN_AWS_DEFAULT``: fake keys, moto's endpoint URL) and ``AWS_ENDPOINT_URL``, with
fake keys: never AWS.

moto runs no container and no crawl, query or ruleset, so what those would have produced is
stated before the run, as the dag.test() tests of tests/aws state it: the Glue table the crawl
writes, Athena's answers to the shipped queries, Glue Data Quality's rule outcomes, and each
SageMaker job's output files (the real ``include/jobs/`` scripts run locally on the same
generated day, their files stated as the job's output when SageMaker creates it). Everything
else is the aws target's: the requests, staging, Create*Job calls, re-attach, registration in
SageMaker's Model Registry, the endpoint, and the provider's deferrable operators, which defer
to the real triggerer process and resume on a worker.

1. A run triggered through the REST API with conf succeeds; moto holds each job once, one
   Approved model package and an InService endpoint on it; the deferred operators (crawl,
   Athena, Data Quality, the endpoint) went through ``deferred``, their triggers waited out
   the settling time (airsage.airflow.deferral) and fired in the triggerer, and no task needed
   a second try (Airflow 3.3.2's stale-success race retried two Athena checks before).
2. Clearing the finished ``train.job`` task through the REST API re-attaches: the task finds
   its completed training job and returns it (no second job in moto).
3. Clearing the whole ``train`` group re-attaches too: its request finds the completed job,
   the job task is skipped, collect reads the job; moto still holds one training job.

The tests run in this order on the one run (2 needs the route's original choice of the job).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from airflow_services import AirflowServices
from aws_helpers import BUCKET, LAKE_ROOT, REGION, ROLE, client, sagemaker_jobs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAY = "2026-02-10"  # the day the tests/aws helpers state Glue, Athena and Data Quality for
MODEL = "reviews-sentiment"  # registry.model_name and serving.endpoint of the shipped config
PREFIX = LAKE_ROOT.split("/", 3)[3]
DEFERRED_TASKS = ("crawl.run_crawler", "quality_gate.evaluate", "deploy.endpoint")


def _state_aws_day(moto: Any, tmp: Any) -> None:
    """Land the day in moto's S3 and state what the crawl, the queries, the ruleset and each
    SageMaker job produce (see the module doc)."""
    from test_daily_dag_aws import crawled_table, seed_athena, state_rule_outcomes
    from test_ml_jobs_dag_aws import _local_jobs, _Recording, _state_job_ends

    from airsage.airflow.names import DATASET
    from airsage.config import load_settings
    from airsage.jobs.local import LocalJobRunner
    from airsage.lake.layout import LakeLayout
    from airsage.monitoring.step import create_baseline

    client("s3").create_bucket(Bucket=BUCKET)
    settings = load_settings()
    crawled_table(settings)
    seed_athena(moto, settings, {})
    state_rule_outcomes(moto, settings)
    lake, requests = _local_jobs(tmp, settings)
    train = next(r for r in requests if r.kind == "training")
    # the baseline job of the version this run registers: the first package of the group
    local = load_settings(environ={}, overrides={"home": str(tmp / "local"),
                                                  "lake": {"root": str(tmp / "lake")}})
    baseline = _Recording(LocalJobRunner(local, jobs_dir=tmp / "jobs"))
    create_baseline(settings, lake, DATASET, DAY, model_name=MODEL, model_version="1",
                    model_artifact_key=train.outputs["model"], runner=baseline)
    _state_job_ends(moto, lake, [*requests, *baseline.requests])
    s3 = client("s3")  # the raw partition as ingest lands it (ingest.source none: landed)
    for key in lake.list(LakeLayout(DATASET).raw_partition(DAY)):
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}", Body=lake.read_bytes(key))


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AirflowServices, Any]]:
    from moto_ext import MotoServer

    root = tmp_path_factory.mktemp("real-airflow-aws")
    moto = MotoServer().start()
    connection = json.dumps({"conn_type": "aws", "login": "testing", "password": "testing",
                             "extra": {"region_name": REGION, "endpoint_url": moto.url}})
    aws_env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": moto.url,
               "AWS_EC2_METADATA_DISABLED": "true"}
    airsage_env = {
        "AIRSAGE_TARGET": "aws", "AIRSAGE_LAKE_ROOT": LAKE_ROOT,
        "AIRSAGE_HOME": str(root / "airsage"), "AIRSAGE__AWS__ROLE_ARN": ROLE,
        "AIRSAGE__AWS__REGION": REGION, "AIRSAGE__AWS__JOBS__POLL_SECONDS": "1",
        "AIRSAGE__INGEST__GENERATOR__ROWS_PER_DAY": "200",
        # the day is landed beforehand; any other day has no data and fails at ingest
        "AIRSAGE__INGEST__SOURCE": "none",
        "AIRSAGE__LAKE__ENDPOINT_URL": moto.url,  # curate's DuckDB reads moto's S3
        # no feature store: moto has no sagemaker-featurestore-runtime and its Athena runs no
        # SQL (tests/features tests the aws feature store); prepare writes the channels directly
        "AIRSAGE__FEATURES__ENABLED": "false",
        "HF_HUB_OFFLINE": "1",
    }
    services = AirflowServices(root, {**airsage_env, **aws_env},
                               airflow_env={"AIRFLOW_CONN_AWS_DEFAULT": connection})
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {**airsage_env, **aws_env,
                                "AIRFLOW_CONN_AWS_DEFAULT": connection}.items():
                patch.setenv(name, value)
            _state_aws_day(moto, root)
            yield services.start(), moto
    finally:
        services.stop()
        moto.stop()


def _deferrals(services: AirflowServices, run_id: str, task_id: str) -> dict[str, list[str]]:
    """What a task's logs say about deferring: the worker's "Pausing task as DEFERRED." lines,
    and from the trigger logs the triggerer process writes beside the task's
    (``attempt=N.log.trigger.<id>.log``), its settling waits and the events it fired."""
    folder = (services.home / "logs" / "dag_id=reviews_daily" / f"run_id={run_id}" /
              f"task_id={task_id}")
    told: dict[str, list[str]] = {"paused": [], "settled": [], "fired": []}
    for log in sorted(folder.rglob("attempt=*.log*")):
        for line in log.read_text(errors="replace").splitlines():
            event = str(json.loads(line).get("event")).strip()
            if ".trigger." not in log.name:
                if event == "Pausing task as DEFERRED.":
                    told["paused"].append(log.name)
            elif event.startswith("waiting 5 s for the deferring try"):
                told["settled"].append(event)
            elif event == "Trigger fired event":
                told["fired"].append(str(json.loads(line).get("result")))
    return told


def _tries(services: AirflowServices, run_id: str) -> dict[str, int]:
    """Each task instance's try number (``task_id[map_index]``), as the REST API reports it."""
    found = services.api("GET", f"/api/v2/dags/reviews_daily/dagRuns/{quote(run_id, safe='')}"
                                "/taskInstances?limit=100")
    return {f"{ti['task_id']}[{ti['map_index']}]": int(ti["try_number"])
            for ti in found["task_instances"]}


@pytest.fixture(scope="module")
def daily_run(airflow: tuple[AirflowServices, Any]) -> dict[str, Any]:
    services, _ = airflow
    services.api("PATCH", "/api/v2/dags/reviews_daily", {"is_paused": False})
    run = services.api("POST", "/api/v2/dags/reviews_daily/dagRuns", {
        "logical_date": dt.datetime.now(dt.UTC).isoformat(),
        "conf": {"partition_date": DAY, "auto_approve": True, "accuracy_threshold": 0.0},
    })
    done = services.wait_for_run(run["dag_run_id"], timeout=360)
    return {"run_id": run["dag_run_id"], "done": done}


def test_a_daily_run_on_the_aws_target_defers_to_the_real_triggerer_and_deploys(
        airflow: Any, daily_run: dict[str, Any]) -> None:
    services, _ = airflow
    run_id = daily_run["run_id"]
    assert daily_run["done"]["state"] == "success", services.explain(run_id)
    states = services.task_states(run_id)
    assert states["deploy.collect"] == "success" and states["auto_approved"] == "success", states

    jobs = sagemaker_jobs()  # each job once: bias, evaluate and baseline processing, one training job
    assert len(jobs["training"]) == 1, jobs
    assert len(jobs["processing"]) == 3, jobs
    for step in ("bias", "evaluate", "baseline"):
        assert len([name for name in jobs["processing"] if f"-{step}" in name]) == 1, (step, jobs)

    sagemaker = client("sagemaker")
    packages = sagemaker.list_model_packages(ModelPackageGroupName=MODEL)["ModelPackageSummaryList"]
    assert [p["ModelApprovalStatus"] for p in packages] == ["Approved"], packages
    endpoint = sagemaker.describe_endpoint(EndpointName=MODEL)
    assert endpoint["EndpointStatus"] == "InService", endpoint
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    [training_job] = jobs["training"]
    assert training_job in model["PrimaryContainer"]["ModelDataUrl"], model

    for task_id in DEFERRED_TASKS:  # deferred to the triggerer, resumed on a worker
        told = _deferrals(services, run_id, task_id)
        assert told["paused"] and told["settled"], (task_id, told, services.explain(run_id))
        assert told["fired"] and all("'status': 'success'" in e for e in told["fired"]), (task_id, told)
    # no try was failed by the scheduler's stale-success race (airsage.airflow.deferral)
    retried = {task: n for task, n in _tries(services, run_id).items() if n > 1}
    assert not retried, (retried, services.explain(run_id))


def _clear(services: AirflowServices, run_id: str, task_ids: list[str]) -> dict[str, Any]:
    """Clear tasks of a finished run through the REST API, as a user does from the grid, and
    wait for the run to finish again."""
    services.api("POST", "/api/v2/dags/reviews_daily/clearTaskInstances", {
        "dag_run_id": run_id, "task_ids": task_ids, "dry_run": False, "only_failed": False,
        "include_downstream": False, "include_upstream": False, "reset_dag_runs": True})
    done: dict[str, Any] = services.wait_for_run(run_id, timeout=240)
    return done


def test_clearing_the_finished_training_job_task_reattaches_to_its_job(
        airflow: Any, daily_run: dict[str, Any]) -> None:
    """The job task alone (its route had chosen it): it finds its completed job and returns
    it, where the provider's operator would fail on ``action_if_job_exists="fail"``."""
    services, _ = airflow
    run_id = daily_run["run_id"]
    assert daily_run["done"]["state"] == "success", services.explain(run_id)
    before = sagemaker_jobs()
    done = _clear(services, run_id, ["train.job"])
    assert done["state"] == "success", services.explain(run_id)
    assert services.task_states(run_id)["train.job"] == "success"
    assert _tries(services, run_id)["train.job[0]"] == 2
    folder = (services.home / "logs" / "dag_id=reviews_daily" / f"run_id={run_id}" /
              "task_id=train.job" / "map_index=0")
    told = (folder / "attempt=2.log").read_text(errors="replace")
    assert f"{before['training'][0]} exists (Completed): re-attached, not created again" in told, told
    assert sagemaker_jobs() == before


def test_clearing_the_finished_train_group_reattaches_to_its_training_job(
        airflow: Any, daily_run: dict[str, Any]) -> None:
    services, _ = airflow
    run_id = daily_run["run_id"]
    assert daily_run["done"]["state"] == "success", services.explain(run_id)
    before = sagemaker_jobs()
    group = ["train.request", "train.route", "train.job", "train.wait", "train.collect"]
    done = _clear(services, run_id, group)
    assert done["state"] == "success", services.explain(run_id)
    states = services.task_states(run_id)
    assert states["train.collect"] == "success", states
    assert states["train.job"] == "skipped" and states["train.wait"] == "skipped", states
    tries = _tries(services, run_id)
    told = json.dumps(services.task_log(run_id, "train.request", try_number=tries["train.request[-1]"]))
    assert "collect" in told and before["training"][0] in told, told[-3000:]
    assert sagemaker_jobs() == before

