"""The data plane's steps on the aws target: one task group per step, the provider's operators.

Each group has the id of the local task it replaces (``crawl``, ``validate_sql``,
``quality_gate``) and three phases (DESIGN.md, "The step seam"):

- ``<step>.request``: the pure request of the capability (``airsage.catalog.aws`` …) and the
  operators' arguments, as a list the operators are mapped over (one element; one per check
  for Athena): everything an operator needs (connection, region, worker count) comes from
  the configuration at run time, none of it at parse time. A branch picks Create or Update
  (a crawler or ruleset that exists is updated or reused, never created twice).
- the provider's operators, ``deferrable=True``: the triggerer waits for Glue and Athena.
- ``<step>.collect``: reads the outcome back and judges it with the same code as the local
  target; a refusal quarantines the batch and alerts, as locally.

The target is fixed when the DAG file is parsed, from ``AIRSAGE_TARGET`` (no file I/O at
parse time): :func:`data_plane_steps` hands the DAG either these groups or the local tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from airflow.sdk import BaseOperator, TaskGroup, task
from airflow.sdk.exceptions import AirflowException

from airsage.airflow import names
from airsage.airflow.deferral import SettlesBeforeResuming, settled
from airsage.airflow.runtime import builds_for_aws, lake_for, step_errors, task_settings
from airsage.airflow.tasklog import log, narrated
from airsage.jobs.reattach import SUBMIT, WAIT

POLL_SECONDS = 15


def data_plane_steps(target: str | None = None) -> tuple[Callable[..., Any], ...]:
    """(crawl, validate_sql, quality_gate) for the target: local tasks or aws task groups."""
    if builds_for_aws(target):
        return crawl, validate_sql, quality_gate
    from airsage.airflow import tasks

    return tasks.crawl, tasks.validate_sql, tasks.quality_gate


def _aws_settings(upstream: dict[str, Any]) -> tuple[Any, Any, str]:
    """Settings, lake and day (``task_settings`` refuses a run that names another target)."""
    settings = task_settings()
    return settings, lake_for(settings), upstream["day"]


def idempotency_token(*parts: str) -> str:
    """A deterministic token (64 hex characters, within AWS's 1..128 / 32..128 bounds)."""
    import hashlib

    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _connection(settings: Any) -> dict[str, Any]:
    from airsage.awsconf import AwsSettings

    aws = AwsSettings.from_settings(settings)
    return {"aws_conn_id": aws.conn_id or None, "region_name": aws.region}


# -- crawl ----------------------------------------------------------------------------------------


@task(task_id="request")
def _crawl_request(landed: dict[str, Any]) -> list[dict[str, Any]]:
    """The crawl request (pure) and whether Glue already has the crawler."""
    from airsage.catalog.aws import GlueCatalog, crawl_request

    settings, lake, day = _aws_settings(landed)
    with step_errors(names.CRAWL, lake=lake, day=day, quarantine_batch=False):
        request = crawl_request(settings, names.DATASET, day)
        exists = GlueCatalog(settings).crawler_exists(request.crawler_name)
    return [{"request": request.to_dict(), "config": request.crawler_config(),
             "crawler_name": request.crawler_name, "exists": exists, **_connection(settings)}]


@task.branch(task_id="create_or_update")
def _crawler_branch(payload: list[dict[str, Any]]) -> str:
    """Update the crawler when it exists (its S3 target or tags may have changed), else create it."""
    return f"{names.CRAWL}.{'update_crawler' if payload[0]['exists'] else 'create_crawler'}"


def _crawler_config(payload: dict[str, Any]) -> dict[str, Any]:
    return {"config": payload["config"], "aws_conn_id": payload["aws_conn_id"],
            "region_name": payload["region_name"]}


def _crawler_run(payload: dict[str, Any]) -> dict[str, Any]:
    return {"crawler_name": payload["crawler_name"], "aws_conn_id": payload["aws_conn_id"],
            "region_name": payload["region_name"]}


@task(task_id="collect")
def _crawl_collect(payload: list[dict[str, Any]], landed: dict[str, Any]) -> dict[str, Any]:
    """Judge what the crawler wrote: the Glue table against the contract (schema policy)."""
    from airsage.catalog.aws import CrawlRequest, GlueCatalog

    settings, lake, day = _aws_settings(landed)
    with step_errors(names.CRAWL, lake=lake, day=day):
        result = GlueCatalog(settings).collect(CrawlRequest.from_dict(payload[0]["request"]))
    return narrated(names.CRAWL, {**result.to_dict(), "day": day})


def crawl(landed: Any) -> Any:
    """Glue crawler over raw/<dataset>/ (create or update, then run, deferred), then judged."""
    from airflow.providers.amazon.aws.operators.glue_crawler import (
        GlueCrawlerCreateOperator,
        GlueCrawlerRunOperator,
        GlueCrawlerUpdateOperator,
    )

    with TaskGroup(group_id=names.CRAWL, tooltip="Glue crawler (aws target)"):
        request = _crawl_request(landed)
        branch = _crawler_branch(request)
        create = GlueCrawlerCreateOperator.partial(task_id="create_crawler").expand_kwargs(
            request.map(_crawler_config))
        update = GlueCrawlerUpdateOperator.partial(task_id="update_crawler").expand_kwargs(
            request.map(_crawler_config))
        run = settled(GlueCrawlerRunOperator).partial(
            task_id="run_crawler", deferrable=True, poll_interval=POLL_SECONDS,
            fail_on_already_running=False,  # a retry waits for the crawl it started
            trigger_rule="none_failed_min_one_success",
        ).expand_kwargs(request.map(_crawler_run))
        branch >> [create, update] >> run
        result = _crawl_collect(request, landed)
        run >> result
    return result


# -- validate -------------------------------------------------------------------------------------


@task(task_id="request")
def _validate_request(crawled: dict[str, Any], **context: Any) -> list[dict[str, Any]]:
    """The shipped Athena SQL for the day: one AthenaOperator per check, in the request's order.
    Each query carries an idempotency token of (run, check, SQL): a retried query task gets
    the execution it started back from Athena instead of running the query a second time."""
    from airsage.sql.aws import validate_request

    settings, lake, day = _aws_settings(crawled)
    with step_errors(names.VALIDATE_SQL, lake=lake, day=day, quarantine_batch=False):
        request = validate_request(settings, names.DATASET, day)
    connection = _connection(settings)
    return [{"query": q.query, "database": request.database, "workgroup": request.workgroup,
             "output_location": request.output_location,
             "client_request_token": idempotency_token(context["run_id"], q.name, q.query),
             **connection} for q in request.queries]


@task(task_id="collect")
def _validate_collect(execution_ids: Any, crawled: dict[str, Any]) -> dict[str, Any]:
    """Read each query's result back from Athena and judge it as the local engine does (the
    request is rebuilt: it is a pure function of the settings and the day)."""
    from airsage.sql.aws import AthenaSqlEngine, collect_validate, finish_validate, validate_request

    settings, lake, day = _aws_settings(crawled)
    with step_errors(names.VALIDATE_SQL, lake=lake, day=day):
        request = validate_request(settings, names.DATASET, day)
        engine = AthenaSqlEngine(settings)
        outcomes = {q.name: engine.outcome(i)
                    for q, i in zip(request.queries, list(execution_ids), strict=True)}
        report = finish_validate(lake, collect_validate(request, outcomes))
    return narrated(names.VALIDATE_SQL, {**report.to_dict(), "day": day})


def validate_sql(crawled: Any) -> Any:
    """Athena runs the shipped SQL checks (deferred); their results are judged as locally."""
    from airflow.providers.amazon.aws.operators.athena import AthenaOperator

    with TaskGroup(group_id=names.VALIDATE_SQL, tooltip="Athena SQL checks (aws target)"):
        request = _validate_request(crawled)
        queries = settled(AthenaOperator).partial(
            task_id="query", deferrable=True, sleep_time=POLL_SECONDS,
        ).expand_kwargs(request)
        result = _validate_collect(queries.output, crawled)
    return result


# -- quality gate ---------------------------------------------------------------------------------

GLUE_ENGINE = "glue_dq"
DEEQU_RESULTS_FILE = "results.json"


@task(task_id="request")
def _quality_request(validated: dict[str, Any], **context: Any) -> list[dict[str, Any]]:
    """The configured engine's request (pure), whether a Glue ruleset already exists, and for
    PyDeequ the job script staged at its lake key (the processing job reads it from S3)."""
    from airsage.awsconf import AwsSettings
    from airsage.config import INCLUDE_DIR
    from airsage.quality.aws import DEEQU_JOB_SCRIPT, GlueQualityGate, deequ_job_request, glue_dq_request

    settings, lake, day = _aws_settings(validated)
    engine = AwsSettings.from_settings(settings).quality_engine
    with step_errors(names.QUALITY_GATE, lake=lake, day=day, quarantine_batch=False):
        if engine == GLUE_ENGINE:
            request: Any = glue_dq_request(settings, names.DATASET, day)
            exists = GlueQualityGate(settings).ruleset_exists(request.ruleset_name)
        else:
            request = deequ_job_request(settings, names.DATASET, day)
            # a retry re-attaches to the job its first try started (never a second job)
            job = reattach_job(settings, "processing", request.job_name)
            request = replace(request, job_name=job.job_name)
            if job.action == SUBMIT:
                lake.upload(INCLUDE_DIR / "jobs" / DEEQU_JOB_SCRIPT, request.script_key)
            exists = False
            log.info("PyDeequ job %s: %s%s", job.job_name, job.action,
                     "".join(f"; earlier {name} {status}" for name, status in job.history))
    return [{"engine": engine, "request": request.to_dict(), "exists": exists,
             "job": None if engine == GLUE_ENGINE else job.to_dict(),
             "token": idempotency_token(context["run_id"], request.to_dict().get("ruleset_name", ""), day),
             **_connection(settings)}]


@task.branch(task_id="route")
def _quality_route(payload: list[dict[str, Any]]) -> list[str]:
    """Glue DQ: create the ruleset unless it exists (its name follows its text), then evaluate;
    PyDeequ: submit the Spark processing job, wait for the one already running, or go straight
    to collect when the job of this name has completed."""
    group = names.QUALITY_GATE
    if payload[0]["engine"] != GLUE_ENGINE:
        action = payload[0]["job"]["action"]
        return {SUBMIT: [f"{group}.deequ_job"], WAIT: [f"{group}.deequ_wait"]}.get(action, [])
    return [f"{group}.evaluate"] if payload[0]["exists"] else [f"{group}.create_ruleset", f"{group}.evaluate"]


def _ruleset_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    request = payload["request"]
    return {"name": request["ruleset_name"], "ruleset": request["ruleset"],
            "description": f"airsage: {request['ruleset_source']}"[:2048],
            "data_quality_ruleset_kwargs": {
                "TargetTable": {"DatabaseName": request["database"], "TableName": request["table"]},
                "Tags": dict(request["tags"])},
            "aws_conn_id": payload["aws_conn_id"], "region_name": payload["region_name"]}


def _evaluation_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    from airsage.quality.aws import GlueDQRequest

    request = GlueDQRequest.from_dict(payload["request"])
    return {"datasource": request.datasource, "role": request.role,
            "rule_set_names": [request.ruleset_name], "number_of_workers": request.workers,
            # ClientToken: a retried task gets its evaluation run back, not a second one
            "rule_set_evaluation_run_kwargs": {**request.run_options, "ClientToken": payload["token"]},
            "aws_conn_id": payload["aws_conn_id"], "region_name": payload["region_name"]}


def _deequ_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    from airsage.quality.aws import DeequJobRequest

    request = DeequJobRequest.from_dict(payload["request"])
    return {"config": request.processing_config(), "aws_conn_id": payload["aws_conn_id"],
            "region_name": payload["region_name"]}


def _deequ_wait_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    return {"job_name": payload["job"]["job_name"], "aws_conn_id": payload["aws_conn_id"],
            "region_name": payload["region_name"]}


def reattach_job(settings: Any, kind: str, job_name: str) -> Any:
    """What to do with the SageMaker job named ``job_name``: submit, wait or collect
    (:mod:`airsage.jobs.reattach`), asked of SageMaker through the provider's hook."""
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    from airsage.jobs.reattach import decide, sagemaker_status

    connection = _connection(settings)
    client = SageMakerHook(aws_conn_id=connection["aws_conn_id"],
                           region_name=connection["region_name"]).conn
    return decide(job_name, sagemaker_status(client, kind))


class SageMakerJobWaitOperator(SettlesBeforeResuming, BaseOperator):
    """Waits, deferred, for a SageMaker job that an earlier try of the step started (the
    provider's ``SageMakerTrigger``, settled: :mod:`airsage.airflow.deferral`; the provider's
    sensors cannot defer). A job that ends Failed or Stopped fails the task: its retry then
    submits the next attempt."""

    template_fields = ("job_name",)

    def __init__(self, *, job_name: str, job_type: str = "processing", aws_conn_id: str | None = None,
                 region_name: str | None = None, poll_seconds: int = POLL_SECONDS,
                 max_attempts: int = 240, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_name, self.job_type = job_name, job_type
        self.aws_conn_id, self.region_name = aws_conn_id, region_name
        self.poll_seconds, self.max_attempts = poll_seconds, max_attempts

    def execute(self, context: Any) -> str:
        from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger

        self.defer(trigger=SageMakerTrigger(
            job_name=self.job_name, job_type=self.job_type, waiter_delay=self.poll_seconds,
            waiter_max_attempts=self.max_attempts, aws_conn_id=self.aws_conn_id,
            region_name=self.region_name), method_name="execute_complete")

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> str:
        event = event or {}
        if event.get("status") != "success":
            raise AirflowException(
                f"SageMaker {self.job_type} job {self.job_name} ended {event.get('status')}: "
                f"{event.get('message') or 'no reason given'}")
        return self.job_name


def _engine_rule_results(settings: Any, lake: Any, payload: dict[str, Any],
                         ti: Any) -> tuple[Any, list[Any]]:
    """The request and the rule outcomes of whichever engine ran."""
    from airsage.errors import InputDataError
    from airsage.quality.aws import DeequJobRequest, GlueDQRequest, GlueQualityGate

    if payload["engine"] == GLUE_ENGINE:
        request: Any = GlueDQRequest.from_dict(payload["request"])
        run_id = ti.xcom_pull(task_ids=f"{names.QUALITY_GATE}.evaluate", map_indexes=0)
        return request, GlueQualityGate(settings).rule_results(run_id)
    request = DeequJobRequest.from_dict(payload["request"])
    key = request.output_key + DEEQU_RESULTS_FILE
    if not lake.exists(key):
        raise InputDataError(f"quality gate: the PyDeequ job {request.job_name} wrote no {lake.uri(key)}")
    import json

    return request, list(json.loads(lake.read_bytes(key)).get("RuleResults") or [])


@task(task_id="collect", trigger_rule="none_failed_min_one_success")
def _quality_collect(payload: list[dict[str, Any]], validated: dict[str, Any],
                     **context: Any) -> dict[str, Any]:
    """Normalise the engine's rule results, then anomaly rules, history, report and the verdict."""
    from airsage.quality.aws import collect_quality, finish_quality

    settings, lake, day = _aws_settings(validated)
    with step_errors(names.QUALITY_GATE, lake=lake, day=day):
        request, rules = _engine_rule_results(settings, lake, payload[0], context["ti"])
        report = collect_quality(request.ruleset, request.ruleset_source, rules,
                                 dataset=request.dataset, day=request.day)
        report = finish_quality(settings, lake, report)
    return narrated(names.QUALITY_GATE, {**report.to_dict(), "day": day})


def quality_gate(validated: Any) -> Any:
    """The shipped DQDL evaluated by Glue Data Quality or by PyDeequ on a Spark processing job
    (both deferred), then judged as the local gate."""
    from airflow.providers.amazon.aws.operators.glue import (
        GlueDataQualityOperator,
        GlueDataQualityRuleSetEvaluationRunOperator,
    )
    from airflow.providers.amazon.aws.operators.sagemaker import SageMakerProcessingOperator

    with TaskGroup(group_id=names.QUALITY_GATE, tooltip="Glue Data Quality or PyDeequ (aws target)"):
        request = _quality_request(validated)
        route = _quality_route(request)
        create = GlueDataQualityOperator.partial(task_id="create_ruleset").expand_kwargs(
            request.map(_ruleset_kwargs))
        evaluate = settled(GlueDataQualityRuleSetEvaluationRunOperator).partial(
            task_id="evaluate", deferrable=True, waiter_delay=POLL_SECONDS, waiter_max_attempts=240,
            verify_result_status=False, show_results=True, trigger_rule="none_failed",
        ).expand_kwargs(request.map(_evaluation_kwargs))
        deequ = settled(SageMakerProcessingOperator).partial(
            task_id="deequ_job", deferrable=True, wait_for_completion=True,
            check_interval=POLL_SECONDS,
        ).expand_kwargs(request.map(_deequ_kwargs))
        wait = SageMakerJobWaitOperator.partial(task_id="deequ_wait").expand_kwargs(
            request.map(_deequ_wait_kwargs))
        route >> [create, evaluate, deequ, wait]
        create >> evaluate
        result = _quality_collect(request, validated)
        [evaluate, deequ, wait] >> result
    return result
