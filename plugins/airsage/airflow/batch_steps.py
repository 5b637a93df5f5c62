"""The ``score`` step of ``reviews_batch_scoring``: the local task, or the aws task group.

Locally ``score`` is one task: resolve day and version, check the version is Approved, stage
the JSON Lines, run ``include/jobs/batch_transform.py`` through the target's job runner,
collect (:func:`airsage.batch.scoring.score_partition`).

On aws ``score`` is a task group with the seam's phases (DESIGN.md):

- ``score.request``: the same resolution and approval check, the pure
  :class:`~airsage.batch.base.TransformRequest`, then :func:`airsage.batch.aws.plan_transform`
  (re-attach by the job's deterministic name; for a new job the staged input and code, and
  ``CreateModel`` only when SageMaker has no model of that version);
- ``score.route``: ``transform`` (the provider's ``SageMakerTransformOperator``, deferred,
  re-attaching on its own retry), ``wait`` (an earlier try's job still runs) or straight to
  collect (its job completed);
- ``score.collect``: :func:`airsage.batch.scoring.collect_predictions`, the local collect,
  stamped with the job's end time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import TaskGroup, task
from airflow.sdk.exceptions import AirflowFailException

from airsage.airflow import names
from airsage.airflow.assets import MODEL_DEPLOYED
from airsage.airflow.runtime import builds_for_aws, lake_for, step_errors, task_settings
from airsage.airflow.tasklog import narrated

if TYPE_CHECKING:
    from airsage.config import Settings
    from airsage.lake.base import Lake
    from airsage.registry.base import ModelVersion

TRANSFORM_TASK, WAIT_TASK = "transform", "wait"


def deployed_event(context: dict[str, Any]) -> dict[str, Any] | None:
    """The extra of the newest deploy event that triggered this run (None for other runs)."""
    events = list((context.get("triggering_asset_events") or {}).get(MODEL_DEPLOYED) or [])
    if not events:
        return None
    newest = max(events, key=lambda event: str(getattr(event, "timestamp", "")))
    return dict(getattr(newest, "extra", None) or {})


def newest_curated_day(lake: Lake, up_to: str) -> str:
    """The newest curated day of the dataset up to ``up_to`` (a manual run with no date)."""
    from airsage.lake.layout import LakeLayout

    layout = LakeLayout(names.DATASET)
    days = [day for day in layout.curated_days(list(lake.list(layout.curated_prefix())))
            if day <= up_to]
    if not days:
        raise AirflowFailException(
            f"{names.SCORE}: no curated partition of {names.DATASET} up to {up_to} under "
            f"{lake.uri(layout.curated_prefix())}; run reviews_daily first or give partition_date")
    return days[-1]


def scoring_target(context: dict[str, Any], settings: Settings,
                   lake: Lake) -> tuple[str, ModelVersion]:
    """The day and the (Approved) version this run scores with (see batch_params)."""
    from airsage.airflow.batch_params import requested
    from airsage.batch.scoring import require_approved, resolve_version
    from airsage.registry.step import registry_settings
    from airsage.targets import Engines

    deployed = deployed_event(context)
    try:
        day, version = requested(dict(context.get("params") or {}), deployed)
    except ValueError as exc:
        raise AirflowFailException(f"{names.SCORE}: {exc}") from exc
    if day is None:
        run = context.get("dag_run")
        up_to = (run.run_after if run is not None else context["logical_date"]).date().isoformat()
        day = newest_curated_day(lake, up_to)
    with step_errors(names.SCORE, lake=lake, day=day, quarantine_batch=False):
        model_name = registry_settings(settings)[0]
        if deployed and deployed.get("model_name") not in (None, model_name):
            raise AirflowFailException(
                f"{names.SCORE}: the deploy event names model {deployed.get('model_name')!r}, "
                f"but registry.model_name is {model_name!r}")
        chosen = require_approved(resolve_version(Engines(settings).registry, model_name, version))
    return day, chosen


def _told(result: dict[str, Any]) -> list[str]:
    counts = ", ".join(f"{label}: {count}" for label, count in result["label_counts"].items())
    return [f"{names.SCORE}: {result['rows']} row(s) of {result['dataset']} dt={result['day']} "
            f"scored by {result['model_name']} v{result['model_version']} "
            f"(job {result['job_name']})",
            f"  predicted labels: {counts}", f"  predictions: {result['predictions_uri']}"]


@task(task_id=names.SCORE)
def score(**context: Any) -> dict[str, Any]:
    """Score a curated partition with an Approved model version (Batch Transform semantics):
    one prediction per row, with the version, under predictions/."""
    from airsage.batch.scoring import score_partition
    from airsage.targets import Engines

    settings = task_settings()
    lake = lake_for(settings)
    day, version = scoring_target(context, settings, lake)
    engines = Engines(settings)
    with step_errors(names.SCORE, lake=lake, day=day, quarantine_batch=False):
        result = score_partition(settings, lake, names.DATASET, day, registry=engines.registry,
                                 runner=engines.jobs, model_version=version.version,
                                 model_name=version.name).to_dict()
    return narrated(names.SCORE, result, _told(result))


def _client(settings: Settings) -> Any:
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    from airsage.awsconf import AwsSettings

    aws = AwsSettings.from_settings(settings)
    return SageMakerHook(aws_conn_id=aws.conn_id or None, region_name=aws.region).conn


@task(task_id="request")
def _request(**context: Any) -> list[dict[str, Any]]:
    """The transform request and SageMaker's plan for it (re-attach, or the calls to make)."""
    from airsage.airflow.aws_steps import POLL_SECONDS, _connection
    from airsage.airflow.tasklog import log
    from airsage.batch.aws import plan_transform
    from airsage.batch.scoring import transform_request

    settings = task_settings()
    lake = lake_for(settings)
    day, version = scoring_target(context, settings, lake)
    with step_errors(names.SCORE, lake=lake, day=day, quarantine_batch=False):
        request = transform_request(settings, names.DATASET, day, version)
        plan = plan_transform(settings, lake, request, _client(settings))
    log.info("SageMaker transform job %s: %s (model %s)%s", plan.job_name, plan.action,
             "new" if plan.model else "exists",
             "".join(f"; earlier {name} {status}" for name, status in plan.history))
    attempts = max(1, request.timeout_seconds // POLL_SECONDS)
    return [{"plan": plan.to_dict(), "poll_seconds": POLL_SECONDS, "max_attempts": attempts,
             "max_ingestion_time": request.timeout_seconds, **_connection(settings)}]


@task.branch(task_id="route")
def _route(payload: list[dict[str, Any]]) -> list[str]:
    """Submit the transform job, wait for an earlier try's job, or collect a completed one."""
    from airsage.jobs.reattach import SUBMIT, WAIT

    action = payload[0]["plan"]["action"]
    return {SUBMIT: [f"{names.SCORE}.{TRANSFORM_TASK}"],
            WAIT: [f"{names.SCORE}.{WAIT_TASK}"]}.get(action, [])


def _transform_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    from airsage.batch.aws import TransformPlan

    plan = TransformPlan.from_dict(payload["plan"])
    if plan.transform is None:
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(f"transform: not submitted ({plan.action})")
    return {"config": plan.operator_config(), "check_interval": payload["poll_seconds"],
            "max_attempts": payload["max_attempts"],
            "max_ingestion_time": payload["max_ingestion_time"],
            "aws_conn_id": payload["aws_conn_id"], "region_name": payload["region_name"]}


def _wait_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    return {"job_name": payload["plan"]["job_name"], "job_type": "transform",
            "max_attempts": payload["max_attempts"], "poll_seconds": payload["poll_seconds"],
            "aws_conn_id": payload["aws_conn_id"], "region_name": payload["region_name"]}


@task(task_id="collect", trigger_rule="none_failed_min_one_success")
def _collect(payload: list[dict[str, Any]]) -> dict[str, Any]:
    """Read the ``.out`` back: one prediction per input row, with the version (the local
    collect), stamped with the job's end time."""
    from airsage.batch.aws import TransformPlan, scored_at
    from airsage.batch.base import TransformRequest
    from airsage.batch.scoring import collect_predictions

    settings = task_settings()
    lake = lake_for(settings)
    plan = TransformPlan.from_dict(payload[0]["plan"])
    request = TransformRequest.from_dict(plan.request)
    with step_errors(names.SCORE, lake=lake, day=request.day, quarantine_batch=False):
        ended = scored_at(_client(settings), plan.job_name)
        result = collect_predictions(lake, request, scored_at=ended).to_dict()
    result["job_name"] = plan.job_name  # the attempt that ran (-rN after a failed one)
    return narrated(names.SCORE, result, _told(result))


def score_group() -> Any:
    """``score`` on SageMaker: request → route → transform | wait → collect."""
    from airsage.airflow.aws_operators import ReattachingTransformOperator
    from airsage.airflow.aws_steps import SageMakerJobWaitOperator

    with TaskGroup(group_id=names.SCORE, tooltip="SageMaker batch transform (aws target)"):
        request = _request()
        route = _route(request)
        transform = ReattachingTransformOperator.partial(
            task_id=TRANSFORM_TASK, deferrable=True, wait_for_completion=True,
            check_if_job_exists=False, check_if_model_exists=False,
        ).expand_kwargs(request.map(_transform_kwargs))
        wait = SageMakerJobWaitOperator.partial(task_id=WAIT_TASK).expand_kwargs(
            request.map(_wait_kwargs))
        result = _collect(request)
        route >> [transform, wait]
        [transform, wait] >> result
    return result


def batch_scoring_step(target: str | None = None) -> Any:
    """The ``score`` step for the target the DAG is parsed for: builds it when called."""
    if builds_for_aws(target):
        return score_group
    return score
