"""Condition and register on the aws target: the champion's evaluation job, then the registration
through the provider's ``SageMakerRegisterModelVersionOperator``.

Locally ``register`` is one task that evaluates the champion in-process, blesses and registers
in MLflow. On aws that task would block a worker while a SageMaker job ran, and its
``CreateModelPackage`` would bypass the provider, so it becomes two groups with the seam's
phases (DESIGN.md, "The step seam"):

- ``champion_evaluation`` (:func:`airsage.airflow.aws_jobs.champion_evaluation`): the serving
  champion evaluated by the evaluation job on the candidate's evaluation set, as a SageMaker
  processing job (request → route → ``SageMakerProcessingOperator``, deferred, or the wait
  for the job an earlier try started → collect). Without a champion its request names no job:
  ``job`` and ``wait`` skip and the request's log says why.
- ``register``: ``register.request`` blesses the candidate against that evaluation (the same
  :func:`airsage.registry.step.condition` as locally; a champion that changed since its
  evaluation fails the step) and, for a blessed candidate, prepares the model package
  (:meth:`SageMakerModelRegistry.prepare_registration`: the group, the staged inference code,
  the ``CreateModelPackage`` arguments, and the version an earlier try already registered);
  ``register.model_package`` is :class:`~airsage.airflow.aws_operators.RegisterModelVersionOnceOperator`
  (the provider's operator that looks before it registers), skipped when the candidate is not
  blessed or its version exists; ``register.collect`` reads the version back and returns the
  local task's result. ``approval_route`` and the HITL approval read ``register.collect``.

:func:`registration_steps` hands the DAG either the local task or these groups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.sdk import TaskGroup, task
from airflow.sdk.exceptions import AirflowSkipException

from airsage.airflow import names
from airsage.airflow.runtime import builds_for_aws, parsed_target

PACKAGE_TASK = "model_package"


def register_result_task(target: str | None = None) -> str:
    """The task whose XCom is the register step's result: ``register``, or on aws its group's
    ``register.collect``."""
    return f"{names.REGISTER}.collect" if (target or parsed_target()) == "aws" else names.REGISTER


def registration_steps(target: str | None = None) -> Callable[[Any, Any, Any], Any]:
    """``(trained, evaluated, prepared) -> registered`` for the target: the local ``register``
    task, or on aws ``champion_evaluation`` then the ``register`` group."""
    if builds_for_aws(target):
        return _aws_registration
    from airsage.airflow import tasks

    return tasks.register


def _aws_registration(trained: Any, evaluated: Any, prepared: Any) -> Any:
    from airsage.airflow.aws_jobs import champion_evaluation

    return register(trained, evaluated, prepared, champion_evaluation(evaluated))


@task(task_id="request")
def _register_request(trained: dict[str, Any], evaluated: dict[str, Any],
                      prepared: dict[str, Any], champion: dict[str, Any],
                      **context: Any) -> list[dict[str, Any]]:
    """Bless the candidate against the champion's evaluation; for a blessed one, the model
    package to create (or the one an earlier try created)."""
    from airsage.airflow.aws_steps import _connection
    from airsage.airflow.runtime import lake_for, step_errors, task_settings
    from airsage.airflow.tasklog import log
    from airsage.errors import ConfigurationError, InputDataError
    from airsage.evaluation.base import EvaluationReport
    from airsage.registry.aws import PACKAGE_ARN_TAG, SageMakerModelRegistry
    from airsage.registry.step import ChampionEvaluation, condition, registry_settings, training_run
    from airsage.targets import Engines

    settings = task_settings()
    lake = lake_for(settings)
    day = evaluated["day"]
    params = dict(context.get("params") or {})
    with step_errors(names.REGISTER, lake=lake, day=day, quarantine_batch=False):
        registry = Engines(settings).registry
        if not isinstance(registry, SageMakerModelRegistry):
            raise ConfigurationError(
                f"register: the aws target registers in SageMaker Model Registry, but the "
                f"settings' registry is {type(registry).__name__}")
        decided = condition(
            settings, lake, names.DATASET, day, registry=registry,
            champion=ChampionEvaluation.from_dict(champion), training=trained,
            candidate=EvaluationReport.from_dict(evaluated), prepare_lineage=prepared,
            auto_approve=params.get("auto_approve"),
            accuracy_threshold=params.get("accuracy_threshold"))
        payload: dict[str, Any] = {
            "result": decided.result(None).to_dict(), "day": day,
            "model_artifact_key": trained["model_artifact_key"], "package": None,
            "existing_arn": None, **_connection(settings)}
        request = decided.request
        if request is None:
            log.info("not blessed: nothing is registered")
            return [payload]
        if not lake.exists(request.model_artifact_key):
            raise InputDataError(
                f"register: the blessed model's artifact {lake.uri(request.model_artifact_key)} "
                "disappeared before registration; rerun the training task group")
        model_name, _ = registry_settings(settings)
        run_id = training_run(registry, lake, day, dataset=names.DATASET, training=trained,
                              prepare_lineage=prepared, model_name=model_name)
        existing, package = registry.prepare_registration(
            request.model_package_group_name, lake.uri(request.model_artifact_key),
            run_id=run_id, evaluation=EvaluationReport.from_dict(evaluated).evaluation,
            lineage=request.lineage, status=request.approval_status)
    if existing is not None:
        log.info("%s v%s already holds this model (an earlier try registered it): collected",
                 existing.name, existing.version)
        payload["existing_arn"] = existing.tags[PACKAGE_ARN_TAG]
    else:
        payload["package"] = package
    return [payload]


def _package_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    """The operator's arguments: the provider's own fields, and the rest of
    ``CreateModelPackage``'s arguments as its ``extras`` (see :mod:`airsage.registry.aws`).
    Not blessed, or registered by an earlier try: the task skips."""
    from airflow.providers.amazon.aws.utils.sagemaker import ApprovalStatus

    if payload["package"] is None:
        raise AirflowSkipException(
            "registered by an earlier try" if payload["existing_arn"]
            else "not blessed: nothing to register")
    extras = dict(payload["package"])
    container = extras["InferenceSpecification"]["Containers"][0]
    return {"image_uri": container["Image"], "model_url": container["ModelDataUrl"],
            "package_group_name": extras.pop("ModelPackageGroupName"),
            "package_desc": extras.pop("ModelPackageDescription"),
            "model_approval": ApprovalStatus(extras.pop("ModelApprovalStatus")),
            "extras": extras, "aws_conn_id": payload["aws_conn_id"],
            "region_name": payload["region_name"]}


@task(task_id="collect", trigger_rule="none_failed_min_one_success")
def _register_collect(payload: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
    """The registered version read back from SageMaker: the local register task's result."""
    from airsage.airflow.runtime import step_errors, task_settings
    from airsage.airflow.tasks import registered_result
    from airsage.errors import StepFailed
    from airsage.registry.aws import SageMakerModelRegistry

    item = payload[0]
    result = dict(item["result"])
    if result["blessed"]:
        arn = item["existing_arn"] or context["ti"].xcom_pull(
            task_ids=f"{names.REGISTER}.{PACKAGE_TASK}", map_indexes=0)
        with step_errors(names.REGISTER, quarantine_batch=False):
            if not arn:
                raise StepFailed(
                    f"register: {names.REGISTER}.{PACKAGE_TASK} returned no model package ARN; "
                    "clear the register task group to register the model again")
            version = SageMakerModelRegistry(task_settings()).describe_package(str(arn))
        result["model_version"] = version.to_dict()
    return registered_result(result, item["day"], item["model_artifact_key"])


def register(trained: Any, evaluated: Any, prepared: Any, champion: Any) -> Any:
    """The ``register`` group (see the module doc): request → model_package → collect."""
    from airsage.airflow.aws_operators import RegisterModelVersionOnceOperator

    with TaskGroup(group_id=names.REGISTER,
                   tooltip="bless, then SageMakerRegisterModelVersionOperator (aws target)"):
        request = _register_request(trained, evaluated, prepared, champion)
        package = RegisterModelVersionOnceOperator.partial(task_id=PACKAGE_TASK).expand_kwargs(
            request.map(_package_kwargs))
        result = _register_collect(request)
        package >> result
    return result
