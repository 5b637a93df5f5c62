"""The job steps on the aws target: one task group per step, SageMaker's provider operators.

Each group has the id of the local task it replaces (``bias_gate``, ``train``, ``evaluate``,
``baseline``, ``monitor``; ``champion_evaluation`` is the part of the local ``register``
task that runs a job, :mod:`airsage.airflow.aws_registry`) and the seam's three phases
(DESIGN.md, "The step seam"):

- ``<step>.request`` runs the step's body (the same function the local task runs, in
  :mod:`airsage.airflow.tasks`) with a runner that records the step's :class:`JobRequest` and
  stops the step there (:class:`JobRequested`). It then asks SageMaker what became of the
  request's deterministic job name (:func:`airsage.airflow.aws_steps.reattach_job`) and, for
  a new job, stages its code, config and manifests and builds the Create*Job arguments
  (:mod:`airsage.jobs.aws`). A body that finishes without asking for a job (the monitor
  reading a Model Monitor report) has its result passed through by ``collect``: the body
  never runs twice, so nothing it does happens twice.
- ``<step>.route`` picks ``job`` (``SageMakerProcessingOperator`` /
  ``SageMakerTrainingOperator``, ``deferrable=True``, ``action_if_job_exists="fail"``: the
  re-attach decided, never a timestamped second job; run again — a retry, a cleared task — it
  re-attaches to the job of that name: :class:`ReattachesToItsJob`), ``wait`` (a job an earlier try started
  is still running: :class:`SageMakerJobWaitOperator`, deferred) or nothing (the job of that
  name completed: collect it).
- ``<step>.collect`` runs the body again with a runner that answers with the completed job's
  :class:`JobOutcome` (read from ``Describe*Job``; the job must be the request's, or its
  ``-rN`` attempt) — the body's own collect, judgement, alerts and result are the local
  target's, line for line.

:func:`ml_job_steps` hands a DAG either these groups or the local tasks; the target is fixed
when the DAG file is parsed (``AIRSAGE_TARGET``, no file I/O).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from airflow.sdk import TaskGroup, task
from airflow.sdk.exceptions import AirflowSkipException

from airsage.airflow import names
from airsage.airflow.aws_steps import SageMakerJobWaitOperator
from airsage.airflow.deferral import settled
from airsage.airflow.runtime import builds_for_aws
from airsage.jobs.request import AttemptingRunner

if TYPE_CHECKING:
    from airsage.jobs.request import JobOutcome, JobRequest, MetricCallback
    from airsage.lake.base import Lake

# step -> (the kind of job its group runs, the body in airsage.airflow.tasks)
JOB_STEPS: dict[str, tuple[str, str]] = {
    names.BIAS_GATE: ("processing", "bias_gate_step"),
    names.TRAIN: ("training", "train_step"),
    names.EVALUATE: ("processing", "evaluate_step"),
    names.CHAMPION_EVALUATION: ("processing", "champion_evaluation_step"),
    names.BASELINE: ("processing", "baseline_step"),
    names.MONITOR: ("processing", "monitor_step"),
}
JOB_TASK, WAIT_TASK = "job", "wait"


class JobSteps(NamedTuple):
    """The job steps of the DAGs, as local tasks or aws task groups (same ids, same calls)."""

    bias_gate: Callable[[Any], Any]
    train: Callable[[Any], Any]
    evaluate: Callable[[Any], Any]
    baseline: Callable[[Any], Any]  # takes the tasks it runs after (the approval paths)
    monitor: Callable[[], Any]


def ml_job_steps(target: str | None = None) -> JobSteps:
    """The job steps for the target: the local tasks, or the aws task groups."""
    if builds_for_aws(target):
        return JobSteps(bias_gate, train, evaluate, baseline, monitor)
    from airsage.airflow import tasks

    def local_baseline(after: Any) -> Any:
        baselined = tasks.baseline()
        after >> baselined
        return baselined

    return JobSteps(tasks.bias_gate, tasks.train, tasks.evaluate, local_baseline, tasks.monitor)


# -- the two runners ----------------------------------------------------------------------------


class JobRequested(BaseException):
    """Raised by :class:`RequestRecorder` to stop a step at its job: the request phase ends
    there. A BaseException, so a step's ``except Exception`` cannot swallow it."""

    def __init__(self, request: JobRequest) -> None:
        super().__init__(request.job_name)
        self.request = request


class RequestRecorder:
    """The request phase's runner: records what the step asks of its job and stops the step."""

    def run(self, lake: Lake, request: JobRequest, *,
            on_metric: MetricCallback | None = None) -> JobOutcome:
        raise JobRequested(request)

    def attempt(self, lake: Lake, request: JobRequest, *,
                on_metric: MetricCallback | None = None) -> JobOutcome:
        raise JobRequested(request)


def comparable(request: JobRequest) -> dict[str, Any]:
    """The request without the worker's path to its script (workers may differ)."""
    from pathlib import PurePath

    return {**request.to_dict(), "script": PurePath(request.script).name}


class CompletedJob(AttemptingRunner):
    """The collect phase's runner: answers the step with the SageMaker job that ran for its
    request (the request must be the one the request phase recorded, and the job its own)."""

    def __init__(self, recorded: JobRequest, job_name: str, client: Any) -> None:
        self.recorded, self.job_name, self.client = recorded, job_name, client

    def attempt(self, lake: Lake, request: JobRequest, *,
                on_metric: MetricCallback | None = None) -> JobOutcome:
        from airsage.errors import StepFailed
        from airsage.jobs.aws import check_collected, describe, outcome_from_description

        check_collected(request, self.job_name)
        if comparable(request) != comparable(self.recorded):
            raise StepFailed(
                f"job {request.job_name}: the step now asks for {comparable(request)}, but the "
                f"job ran for {comparable(self.recorded)}; clear the whole task group to run "
                "the step again")
        return outcome_from_description(
            request, describe(self.client, request.kind, self.job_name), lake)


# -- the job task: re-attach when its job exists ----------------------------------------------


class ReattachesToItsJob:
    """Mixin for the provider's SageMaker job operators (``<step>.job``): a job of the
    config's name that already exists is never created again. The request phase decided to
    submit that name; when the job task itself runs again — its retry after the worker died
    past CreateTrainingJob, or a user clearing the finished task — it re-attaches instead of
    failing on ``action_if_job_exists="fail"``: a job still running is waited for (deferred,
    the provider's trigger and ``execute_complete``), a completed one is returned as the
    provider returns it, a failed or stopped one fails the task and says to clear the group
    (its request then starts the ``-rN`` attempt)."""

    # What the provider's operator provides (the mixin never runs without it).
    config: dict[str, Any]
    hook: Any
    task_id: str
    log: Any
    check_interval: int
    max_attempts: int
    aws_conn_id: str | None
    region_name: str | None
    defer: Callable[..., NoReturn]
    execute_complete: Callable[..., Any]

    def existing_job(self) -> tuple[str, str, str]:
        """(kind as :func:`~airsage.jobs.reattach.sagemaker_status` names it, the job's name,
        the provider trigger's ``job_type``) of the job this operator's config creates."""
        if "TrainingJobName" in self.config:
            return "training", self.config["TrainingJobName"], "training"
        if "ProcessingJobName" in self.config:
            return "processing", self.config["ProcessingJobName"], "processing"
        transform = self.config.get("Transform", self.config)  # the provider takes either form
        return "transform", transform["TransformJobName"], "Transform"

    def reattached(self, context: Any, name: str) -> Any:
        """What the task returns for a completed job it did not create: the provider's own
        result of a finished job."""
        return self.execute_complete(context, {"status": "success", "job_name": name})

    def execute(self, context: Any) -> Any:
        from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger
        from airflow.sdk.exceptions import AirflowFailException

        from airsage.jobs.reattach import FINISHED_BADLY, RUNNING, sagemaker_status

        kind, name, job_type = self.existing_job()
        status = sagemaker_status(self.hook.conn, kind)(name)
        if status is None:
            return super().execute(context)  # type: ignore[misc]
        group = str(self.task_id).split(".", 1)[0]
        self.log.info("SageMaker %s job %s exists (%s): re-attached, not created again",
                      kind, name, status)
        if status in RUNNING:
            self.defer(trigger=SageMakerTrigger(
                job_name=name, job_type=job_type, waiter_delay=self.check_interval,
                waiter_max_attempts=self.max_attempts, aws_conn_id=self.aws_conn_id,
                region_name=self.region_name), method_name="execute_complete")
        if status in FINISHED_BADLY:
            raise AirflowFailException(
                f"SageMaker {kind} job {name} ended {status}: clear the whole {group} task "
                "group to run the step again (its request starts the next attempt, -rN)")
        return self.reattached(context, name)


@functools.cache
def job_operator(kind: str) -> Any:
    """The provider's operator for a job step of ``kind``: settled deferral, re-attach."""
    from airflow.providers.amazon.aws.operators.sagemaker import (
        SageMakerProcessingOperator,
        SageMakerTrainingOperator,
    )

    provider: type = SageMakerTrainingOperator if kind == "training" else SageMakerProcessingOperator
    base = settled(provider)
    metaclass: type = type(base)
    return metaclass(provider.__name__, (ReattachesToItsJob, base), {
        "__module__": __name__, "__qualname__": provider.__name__,
        "__doc__": f"{provider.__name__} that re-attaches to its existing job (see ReattachesToItsJob)."})


# -- the task group -----------------------------------------------------------------------------


def _body(step: str) -> Callable[..., dict[str, Any]]:
    from airsage.airflow import tasks

    body: Callable[..., dict[str, Any]] = getattr(tasks, JOB_STEPS[step][1])
    return body


def _sagemaker_client(settings: Any) -> Any:
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    from airsage.awsconf import AwsSettings

    aws = AwsSettings.from_settings(settings)
    return SageMakerHook(aws_conn_id=aws.conn_id or None, region_name=aws.region).conn


def _submission(settings: Any, lake: Any, request: JobRequest, kind: str) -> dict[str, Any]:
    """Re-attach, and for a new job its staging and Create*Job arguments."""
    from airsage.airflow.aws_steps import _connection, reattach_job
    from airsage.airflow.tasklog import log
    from airsage.awsconf import SageMakerJobSettings
    from airsage.errors import ConfigurationError
    from airsage.jobs.aws import JobTarget, job_config, max_polls, stage
    from airsage.jobs.reattach import SUBMIT

    if request.kind != kind:
        raise ConfigurationError(
            f"job {request.job_name} is a {request.kind} job, but this step's task group runs "
            f"{kind} jobs on aws")
    job = reattach_job(settings, kind, request.job_name)
    log.info("SageMaker %s job %s: %s%s", kind, job.job_name, job.action,
             "".join(f"; earlier {name} {status}" for name, status in job.history))
    config = None
    if job.action == SUBMIT:
        target = JobTarget.from_settings(settings)
        config = job_config(request, job.job_name, target, stage(lake, request, job.job_name))
    poll = SageMakerJobSettings.from_settings(settings).poll_seconds
    return {"kind": kind, "request": request.to_dict(), "job": job.to_dict(), "config": config,
            "max_attempts": max_polls(request, poll), "poll_seconds": poll,
            **_connection(settings)}


@task(task_id="request")
def _request(step: str, upstream: dict[str, Any] | None, **context: Any) -> list[dict[str, Any]]:
    """Run the step up to its job: the job's request, what SageMaker already has of it, and
    for a new job the staged code and the Create*Job arguments (or, for a step that needed
    no job, its result)."""
    from airsage.airflow.runtime import lake_for, step_errors, task_settings

    kind = JOB_STEPS[step][0]
    try:
        result = _body(step)(upstream, context, RequestRecorder())
    except JobRequested as asked:
        settings = task_settings()
        lake = lake_for(settings)
        day = (upstream or {}).get("day")
        with step_errors(step, lake=lake, day=day, quarantine_batch=False):
            return [{"step": step, "result": None,
                     **_submission(settings, lake, asked.request, kind)}]
    return [{"step": step, "result": result, "kind": kind, "job": None}]


@task.branch(task_id="route")
def _route(payload: list[dict[str, Any]]) -> list[str]:
    """Submit the job, wait for the one an earlier try started, or collect a completed one."""
    from airsage.jobs.reattach import SUBMIT, WAIT

    step, job = payload[0]["step"], payload[0]["job"]
    if job is None:
        return []
    return {SUBMIT: [f"{step}.{JOB_TASK}"], WAIT: [f"{step}.{WAIT_TASK}"]}.get(job["action"], [])


def _job_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    return {"config": payload["config"], "max_attempts": payload["max_attempts"],
            "check_interval": payload["poll_seconds"], "aws_conn_id": payload["aws_conn_id"],
            "region_name": payload["region_name"]}


def _wait_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    return {"job_name": payload["job"]["job_name"], "job_type": payload["kind"],
            "max_attempts": payload["max_attempts"], "poll_seconds": payload["poll_seconds"],
            "aws_conn_id": payload["aws_conn_id"], "region_name": payload["region_name"]}


@task(task_id="collect", trigger_rule="none_failed_min_one_success")
def _collect(payload: list[dict[str, Any]], upstream: dict[str, Any] | None,
             **context: Any) -> dict[str, Any]:
    """The step's own collect and verdict over the completed job (or the result of a step
    that needed no job, passed through)."""
    from airsage.airflow.runtime import task_settings
    from airsage.jobs.request import JobRequest

    if not payload:  # the request was skipped (train: the tuning path ran instead)
        raise AirflowSkipException(f"{step_of(context)}: the request did not run")
    item = payload[0]
    if item["job"] is None:
        result: dict[str, Any] = item["result"]
        return result
    recorded = JobRequest.from_dict(item["request"])
    runner = CompletedJob(recorded, item["job"]["job_name"], _sagemaker_client(task_settings()))
    return _body(item["step"])(upstream, context, runner)


def step_of(context: dict[str, Any]) -> str:
    """The step (task group) a task belongs to, for messages."""
    return str(context["ti"].task_id).split(".", 1)[0]


def _job_group(step: str, upstream: Any = None, *, after: Any = None,
               before: Callable[[], Any] | None = None) -> Any:
    """``<step>``: request → route → job | wait → collect. ``after``: the tasks the request
    runs after (at least one must succeed); ``before``: builds tasks inside the group that the
    request runs after (the drift monitor's wait for a Model Monitor report)."""
    kind = JOB_STEPS[step][0]
    operator: Any = job_operator(kind)
    extra = {"print_log": False} if kind == "training" else {}
    with TaskGroup(group_id=step, tooltip=f"SageMaker {kind} job (aws target)"):
        if before is not None:
            after = before()
        request = _request.override(
            trigger_rule="none_failed_min_one_success" if after is not None else "all_success",
        )(step, upstream)
        if after is not None:
            after >> request
        route = _route(request)
        job = operator.partial(
            task_id=JOB_TASK, deferrable=True, wait_for_completion=True,
            action_if_job_exists="fail", **extra,
        ).expand_kwargs(request.map(_job_kwargs))
        wait = SageMakerJobWaitOperator.partial(task_id=WAIT_TASK).expand_kwargs(
            request.map(_wait_kwargs))
        route >> [job, wait]
        result = _collect(request, upstream)
        [job, wait] >> result
    return result


def bias_gate(curated: Any) -> Any:
    """airsage's bias job (Clarify's metrics, ``analysis.json``) as a processing job, judged
    by the local gate's code."""
    return _job_group(names.BIAS_GATE, curated)


@task.branch(task_id=names.TRAIN_MODE)
def _train_mode(prepared: dict[str, Any], **context: Any) -> list[str]:
    """The tuning Param on: a SageMaker tuning job (``tune``); off: one training job (``train``)."""
    tuning = bool(dict(context.get("params") or {}).get("tuning"))
    return [f"{names.TUNE}.request"] if tuning else [f"{names.TRAIN}.request"]


@task(task_id=names.TRAINED, trigger_rule="none_failed_min_one_success")
def _trained(prepared: dict[str, Any], **context: Any) -> dict[str, Any]:
    """The train step's result, whichever path ran: the training job's (tracked by its
    collect), or the tuning job's best trial, tracked here with every trial as the local
    train task tracks a tuning run."""
    from airsage.airflow.runtime import lake_for, step_errors, task_settings
    from airsage.airflow.tasklog import narrated
    from airsage.registry.step import track_training
    from airsage.targets import Engines

    ti = context["ti"]
    job: dict[str, Any] | None = ti.xcom_pull(task_ids=f"{names.TRAIN}.collect")
    if job:
        return job
    tuned: dict[str, Any] = ti.xcom_pull(task_ids=f"{names.TUNE}.collect")
    settings = task_settings()
    with step_errors(names.TRAIN, lake=lake_for(settings), day=tuned["day"], quarantine_batch=False):
        tuned["tracking_runs"] = track_training(Engines(settings).registry, names.DATASET,
                                                tuned["day"], training=tuned,
                                                prepare_lineage=prepared)
    return narrated(names.TRAIN, tuned)


def _training_job_config(settings: Any, request: JobRequest) -> dict[str, Any]:
    """The CreateTrainingJob arguments of a tuning job's training definition: the same staged
    code, image and resources as the training step's own job (:mod:`airsage.jobs.aws`)."""
    from airsage.airflow.runtime import lake_for
    from airsage.jobs.aws import JobTarget, job_config, stage

    lake = lake_for(settings)
    return job_config(request, request.job_name, JobTarget.from_settings(settings),
                      stage(lake, request, request.job_name))


def train(prepared: Any) -> Any:
    """``include/jobs/train.py`` as a SageMaker training job in script mode (``train``), or with
    the tuning Param a Bayesian tuning job over the same training definition (``tune``,
    :mod:`airsage.airflow.aws_tuning`); both deferred, joined in ``trained``."""
    from airsage.airflow.aws_tuning import tuning_group

    mode = _train_mode(prepared)
    trained = _job_group(names.TRAIN, prepared, after=mode)
    tuned = tuning_group(prepared, training_config=_training_job_config, group_id=names.TUNE, after=mode)
    joined = _trained(prepared)
    [trained, tuned] >> joined
    return joined


def evaluate(trained: Any) -> Any:
    """The evaluation job (``evaluation.json``, post-training bias, attribution)."""
    return _job_group(names.EVALUATE, trained)


def baseline(after: Any) -> Any:
    """The monitor baseline job, after whichever approval path ran (skipped when none did)."""
    return _job_group(names.BASELINE, after=after)


def champion_evaluation(evaluated: Any) -> Any:
    """The serving champion evaluated on the candidate's evaluation set by the evaluation job
    (``register`` compares the two); without a champion no job runs and the result says why."""
    return _job_group(names.CHAMPION_EVALUATION, evaluated)


def monitor() -> Any:
    """airsage's monitor job over the interval's captures (Model Monitor's formats), or, with
    ``monitoring.source: model_monitor``, a deferred wait for the schedule's report first
    (:func:`airsage.airflow.monitor_steps.report_wait`) and no job."""
    from airsage.airflow.monitor_steps import report_wait

    return _job_group(names.MONITOR, before=report_wait)
