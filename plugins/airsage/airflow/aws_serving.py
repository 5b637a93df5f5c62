"""The deploy step on the aws target: a task group of the provider's SageMaker operators.

The group has the local task's id, ``deploy``, and the seam's three phases (DESIGN.md):

- ``deploy.request``: the version this run registered (never the registry's newest), skipped
  unless it is Approved; the :class:`~airsage.serving.request.DeploymentRequest` (the same
  pure function as locally); then :meth:`SageMakerEndpointDeployer.prepare` describes the
  endpoint and decides: ``create`` (no endpoint yet), ``update`` (blue/green), ``noop`` (the
  endpoint already runs this version's config: a retried run re-attaches) or ``kept`` (a
  model trained on newer data serves: the task skips, as the local task does). For create
  and update it stages the inference code and puts the rollback alarms.
- the provider's operators for the calls that remain: ``SageMakerModelOperator`` and
  ``SageMakerEndpointConfigOperator`` for what does not exist yet, then
  ``SageMakerEndpointOperator`` with the plan's ``operation`` (``create`` or ``update``;
  ``deferrable``: the triggerer waits for InService) — as
  :class:`~airsage.airflow.aws_operators.OrderedEndpointOperator`, which asks the ordering
  question again right before its call: a run for an older day whose request ran before a
  newer run's deployment finished skips there, saying which model keeps serving. Each is
  mapped over the request; a call the plan does not need raises a skip while its arguments
  are built. (A branch does not do it here: measured with Airflow 3, a mapped update
  operator that the branch had skipped still ran once the endpoint config task upstream of
  it succeeded.)
- ``deploy.collect`` judges the endpoint with the same code as ``SageMakerEndpointDeployer.run``:
  on this version's config, serving this version — a failed or rolled-back update fails
  here, naming SageMaker's reason, while the previous model keeps serving; an endpoint that
  a model trained on newer data took over skips, as the request does. Either way it makes
  Application Auto Scaling match the variant that serves (``serving.autoscaling``): the new
  one after a switch, the previous one again after a rollback (the endpoint task released
  it right before the update).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import TaskGroup, task
from airflow.sdk.exceptions import AirflowSkipException

from airsage.airflow import names
from airsage.airflow.assets import MODEL_DEPLOYED, deployed_extra
from airsage.airflow.aws_steps import POLL_SECONDS, _connection
from airsage.airflow.deferral import settled
from airsage.airflow.runtime import builds_for_aws, lake_for, step_errors, task_settings
from airsage.airflow.tasklog import log, narrated


def deploy_step(target: str | None = None) -> Any:
    """The ``deploy`` step for the target the DAG is parsed for: the local task, or this
    module's task group (both take the baseline's result and have the id ``deploy``)."""
    if builds_for_aws(target):
        return deploy
    from airsage.airflow import tasks

    return tasks.deploy


def _keep_serving(registry: Any, version: Any) -> Any:
    """The local deploy task's rule: never over a model trained on newer data (a variant this
    registry does not know — deployed by hand — does not keep)."""
    from airsage.errors import InputDataError
    from airsage.registry.base import older_than_serving

    def keep_serving(serving: Any) -> str | None:
        reasons = []
        for variant in serving:
            try:
                current = registry.get_version(variant["model_name"], str(variant["model_version"]))
            except InputDataError:
                continue
            reason = older_than_serving(version, current)
            if reason:
                reasons.append(reason)
        return "; ".join(reasons) or None

    return keep_serving


def _own_keep_serving(settings: Any, request: Any) -> Any:
    """:func:`_keep_serving` for the version a deployment request names."""
    from airsage.targets import Engines

    registry = Engines(settings).registry
    return _keep_serving(registry, registry.get_version(request.model_name, request.model_version))


def recheck(plan: dict[str, Any]) -> tuple[str, str]:
    """The ordering question asked again right before the endpoint call (``plan``: the
    request's ``EndpointPlan.to_dict()``): :meth:`SageMakerEndpointDeployer.recheck`'s answer."""
    from airsage.serving.aws import EndpointPlan, SageMakerEndpointDeployer
    from airsage.serving.request import DeploymentRequest

    settings = task_settings()
    planned = EndpointPlan.from_dict(plan)
    with step_errors(names.DEPLOY, quarantine_batch=False):
        keep_serving = _own_keep_serving(settings, DeploymentRequest.from_dict(planned.request))
        return SageMakerEndpointDeployer(settings).recheck(planned, keep_serving=keep_serving)


def release_scaling(plan: dict[str, Any]) -> tuple[str, ...]:
    """Before the endpoint call: :meth:`SageMakerEndpointDeployer.release_scaling`."""
    from airsage.serving.aws import EndpointPlan, SageMakerEndpointDeployer

    with step_errors(names.DEPLOY, quarantine_batch=False):
        return SageMakerEndpointDeployer(task_settings()).release_scaling(
            EndpointPlan.from_dict(plan))


def restore_scaling(plan: dict[str, Any]) -> None:
    """After a refused endpoint call: autoscaling as the endpoint serves now (best effort:
    the call's own error is the one the task reports; ``collect`` of a retry converges)."""
    from airsage.serving.aws import EndpointPlan, SageMakerEndpointDeployer
    from airsage.serving.request import DeploymentRequest

    try:
        SageMakerEndpointDeployer(task_settings()).apply_scaling(
            DeploymentRequest.from_dict(EndpointPlan.from_dict(plan).request))
    except Exception as exc:
        log.error("deploy: restoring autoscaling after the refused call failed: %s", exc)


@task(task_id="request")
def _deploy_request(baselined: dict[str, Any]) -> list[dict[str, Any]]:
    """The deployment request and SageMaker's plan for it (see the module doc), as the one
    element the operators are mapped over."""
    from airsage.serving.aws import SageMakerEndpointDeployer
    from airsage.serving.request import deployment_request
    from airsage.targets import Engines

    settings = task_settings()
    lake = lake_for(settings)
    registry = Engines(settings).registry
    own = baselined["model_version"]
    with step_errors(names.DEPLOY, quarantine_batch=False):
        version = registry.get_version(own["name"], own["version"])
    if version.status != "Approved":
        raise AirflowSkipException(
            f"{version.name} v{version.version} is {version.status}, not Approved: not deployed")
    with step_errors(names.DEPLOY, quarantine_batch=False):
        request = deployment_request(settings, version.to_dict())
        plan = SageMakerEndpointDeployer(settings).prepare(
            lake, request, keep_serving=_keep_serving(registry, version))
    if plan.action == "kept":
        log.warning("not deployed: %s", plan.reason)
        raise AirflowSkipException(f"not deployed: {plan.reason}")
    log.info("endpoint %s: %s to %s v%s (model %s, config %s)", request.endpoint, plan.action,
             request.model_name, request.model_version,
             "new" if plan.create_model else "exists", "new" if plan.create_config else "exists")
    return [{"plan": plan.to_dict(), **_connection(settings)}]


def _arguments(payload: dict[str, Any], part: str, needed: bool) -> dict[str, Any]:
    """An operator's arguments; a call the plan does not need skips its task (raised while
    the mapped task instance is expanded)."""
    if not needed:
        raise AirflowSkipException(f"{part}: not needed ({payload['plan']['action']})")
    return {"config": dict(payload["plan"][part]), "aws_conn_id": payload["aws_conn_id"],
            "region_name": payload["region_name"]}


def _model_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    return _arguments(payload, "model", payload["plan"]["create_model"])


def _config_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    return _arguments(payload, "endpoint_config", payload["plan"]["create_config"])


def _endpoint_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    action = payload["plan"]["action"]
    return {**_arguments(payload, "endpoint", action in ("create", "update")),
            "operation": action, "plan": payload["plan"]}


@task(task_id="collect", trigger_rule="none_failed_min_one_success", outlets=[MODEL_DEPLOYED])
def _deploy_collect(payload: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
    """The endpoint serves this version on its config, or the step fails saying why; a
    deployment emits the model-deployed asset event (batch scoring runs on it)."""
    from airsage.serving.aws import EndpointPlan, SageMakerEndpointDeployer

    settings = task_settings()
    plan = EndpointPlan.from_dict(payload[0]["plan"])
    with step_errors(names.DEPLOY, quarantine_batch=False):
        from airsage.serving.request import DeploymentRequest

        keep_serving = _own_keep_serving(settings, DeploymentRequest.from_dict(plan.request))
        result = SageMakerEndpointDeployer(settings).collect(plan, keep_serving=keep_serving)
    if result.action == "kept":
        log.warning("not deployed: %s", result.reason)
        raise AirflowSkipException(f"not deployed: {result.reason}")
    _emit_deployed(settings, DeploymentRequest.from_dict(plan.request), context)
    return narrated(names.DEPLOY, result.to_dict())


def _emit_deployed(settings: Any, request: Any, context: dict[str, Any]) -> None:
    """The model-deployed asset event, naming the version and its data day."""
    from airsage.targets import Engines

    version = Engines(settings).registry.get_version(request.model_name, request.model_version)
    context["outlet_events"][MODEL_DEPLOYED].extra = deployed_extra(version)


def deploy(baselined: Any) -> Any:
    """The ``deploy`` step on SageMaker: model, endpoint config, endpoint created or updated
    blue/green (deferred), then judged."""
    from airflow.providers.amazon.aws.operators.sagemaker import (
        SageMakerEndpointConfigOperator,
        SageMakerModelOperator,
    )

    from airsage.airflow.aws_operators import OrderedEndpointOperator

    with TaskGroup(group_id=names.DEPLOY, tooltip="SageMaker endpoint, blue/green (aws target)"):
        request = _deploy_request(baselined)
        model = SageMakerModelOperator.partial(task_id="model").expand_kwargs(
            request.map(_model_kwargs))
        config = SageMakerEndpointConfigOperator.partial(
            task_id="endpoint_config", trigger_rule="none_failed",
        ).expand_kwargs(request.map(_config_kwargs))
        endpoint = settled(OrderedEndpointOperator).partial(
            task_id="endpoint", deferrable=True, check_interval=POLL_SECONDS,
            trigger_rule="none_failed",
        ).expand_kwargs(request.map(_endpoint_kwargs))
        model >> config >> endpoint
        result = _deploy_collect(request)
        endpoint >> result
    return result
