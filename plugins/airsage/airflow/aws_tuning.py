"""The tuning path of ``train`` on the aws target: a SageMaker tuning job, re-attached on retry.

One task group, three phases (DESIGN.md, "The step seam"), as the data plane's groups in
:mod:`airsage.airflow.aws_steps`:

- ``<group>.request``: the :class:`~airsage.tuning.job.TuningRequest` of the day (the same
  pure function as the local ``train`` task's), the training job's ``CreateTrainingJob``
  kwargs (``training_config``, handed in by whoever builds the group), and what SageMaker
  already has under the tuning job's name (:func:`airsage.tuning.aws.reattach_tuning`):
  submit, wait, collect, or the next attempt (``-r2`` …). Only a job about to be submitted
  looks for a warm-start parent (:func:`airsage.tuning.aws.previous_tuning_job`).
- ``<group>.route`` → ``<group>.tuning_job`` (the provider's ``SageMakerTuningOperator``,
  ``deferrable=True``), ``<group>.tuning_wait`` (a job an earlier try started, waited for by
  the provider's ``SageMakerTrigger`` with ``job_type="tuning"``), or neither (completed).
- ``<group>.collect``: the tuning job read back into the local tuner's result, the best
  trial's model in the lake where evaluate, register and deploy read it.

The group's result is the local ``train`` task's without its tracking runs: the best
training job's result plus ``tuning`` (the whole :class:`~airsage.tuning.job.TuningResult`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow.sdk import TaskGroup, task

from airsage.airflow import names
from airsage.airflow.aws_steps import POLL_SECONDS, SageMakerJobWaitOperator, _aws_settings, _connection
from airsage.airflow.deferral import settled
from airsage.airflow.runtime import step_errors
from airsage.airflow.tasklog import log, narrated
from airsage.jobs.reattach import COLLECT, SUBMIT, WAIT

GROUP_ID = "tune"
# (settings, the base training JobRequest) -> CreateTrainingJob kwargs
TrainingConfig = Callable[[Any, Any], Mapping[str, Any]]


def _sagemaker(settings: Any) -> Any:
    """A boto3 SageMaker client through the provider's hook (credentials of the connection)."""
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    connection = _connection(settings)
    return SageMakerHook(aws_conn_id=connection["aws_conn_id"],
                         region_name=connection["region_name"]).conn


def _tuning_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    return {"config": payload["config"], "aws_conn_id": payload["aws_conn_id"],
            "region_name": payload["region_name"]}


def _wait_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    return {"job_name": payload["job"]["job_name"], "aws_conn_id": payload["aws_conn_id"],
            "region_name": payload["region_name"]}


def tuning_group(prepared: Any, *, training_config: TrainingConfig, group_id: str = GROUP_ID,
                 after: Any = None) -> Any:
    """The tuning path of ``train`` on aws as a task group over ``prepared`` (the prepare
    step's result: its ``day``). ``training_config`` maps the base training job's request
    onto ``CreateTrainingJob`` kwargs; it runs in the request task, never at parse time.
    ``after``: a task the request also runs after (the branch that picks tuning)."""
    from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTuningOperator

    @task(task_id="request")
    def request_task(upstream: dict[str, Any], **context: Any) -> list[dict[str, Any]]:
        """The tuning job's request and CreateHyperParameterTuningJob kwargs, and what to do
        with the job of its name (a retry never starts a second tuning job)."""
        from airsage.training.step import feature_channels
        from airsage.tuning.aws import (
            previous_tuning_job,
            reattach_tuning,
            tuning_job_config,
            warm_start_from_previous,
        )
        from airsage.tuning.step import tuning_request

        settings, lake, day = _aws_settings(upstream)
        params = dict(context.get("params") or {})
        with step_errors(names.TRAIN, lake=lake, day=day, quarantine_batch=False):
            request = tuning_request(
                settings, names.DATASET, day, feature_channels(lake, names.DATASET, day),
                max_jobs=params.get("max_jobs"),
                hyperparameters={"model_family": params.get("model_family") or "tfidf_linear"})
            training_job = training_config(settings, request.training)
            client = _sagemaker(settings)
            job = reattach_tuning(client, request)
            config = tuning_job_config(training_job, request, job_name=job.job_name)
            if job.action == SUBMIT and warm_start_from_previous(settings):
                warm = previous_tuning_job(client, config, base=request.tuning_job_name)
                config = tuning_job_config(training_job, request, job_name=job.job_name,
                                           warm_start=warm)
        log.info("tuning job %s: %s%s%s", job.job_name, job.action,
                 "".join(f"; earlier {name} {status}" for name, status in job.history),
                 "; warm start from " + ", ".join(
                     p["HyperParameterTuningJobName"]
                     for p in config["WarmStartConfig"]["ParentHyperParameterTuningJobs"])
                 if "WarmStartConfig" in config else "")
        return [{"request": request.to_dict(), "job": job.to_dict(), "config": config,
                 **_connection(settings)}]

    @task.branch(task_id="route")
    def route_task(payload: list[dict[str, Any]]) -> list[str]:
        """Submit the tuning job, wait for the one already running, or go straight to collect."""
        action = payload[0]["job"]["action"]
        routes = {SUBMIT: [f"{group_id}.tuning_job"], WAIT: [f"{group_id}.tuning_wait"], COLLECT: []}
        return routes[action]

    @task(task_id="collect", trigger_rule="none_failed_min_one_success")
    def collect_task(payload: list[dict[str, Any]], upstream: dict[str, Any]) -> dict[str, Any]:
        """The tuning job as the local tuner's result; the best model where the next steps look."""
        from airflow.sdk.exceptions import AirflowSkipException

        from airsage.tuning.aws import collect_sagemaker_tuning
        from airsage.tuning.job import TuningRequest

        if not payload:  # the request was skipped: the training path ran instead
            raise AirflowSkipException(f"{group_id}: the tuning request did not run")
        settings, lake, day = _aws_settings(upstream)
        with step_errors(names.TRAIN, lake=lake, day=day, quarantine_batch=False):
            request = TuningRequest.from_dict(payload[0]["request"])
            result = collect_sagemaker_tuning(_sagemaker(settings), lake.client, lake, request,
                                              payload[0]["job"]["job_name"])
        job = result.best.to_dict()
        job["tuning"] = result.to_dict()
        return narrated(names.TRAIN, {**job, "day": day})

    with TaskGroup(group_id=group_id, tooltip="SageMaker hyperparameter tuning (aws target)"):
        request = request_task(prepared)
        if after is not None:
            after >> request
        route = route_task(request)
        tuning = settled(SageMakerTuningOperator).partial(
            task_id="tuning_job", deferrable=True, wait_for_completion=True,
            check_interval=POLL_SECONDS,
        ).expand_kwargs(request.map(_tuning_kwargs))
        wait = SageMakerJobWaitOperator.partial(task_id="tuning_wait", job_type="tuning").expand_kwargs(
            request.map(_wait_kwargs))
        route >> [tuning, wait]
        result = collect_task(request, prepared)
        [tuning, wait] >> result
    return result
