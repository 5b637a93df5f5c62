"""The provider's SageMaker operators with the one check each that airsage adds before its call.

Imported only while an aws DAG's task groups are built (:mod:`airsage.airflow.aws_registry`,
:mod:`airsage.airflow.aws_serving`), never when a DAG file is imported: the provider's
operator modules load boto3.

- :class:`RegisterModelVersionOnceOperator`: ``SageMakerRegisterModelVersionOperator`` creates
  a model package on every try; this one first looks for the version of the same model data
  in the group and returns its ARN (a retried task re-attaches, never a second version).
- :class:`OrderedEndpointOperator`: ``SageMakerEndpointOperator`` with the deploy step's
  ordering rule asked again right before ``CreateEndpoint`` / ``UpdateEndpoint``: a run for
  an older partition never replaces a model trained on newer data, even when a newer run's
  deployment finished between this run's request and this call.
- :class:`ReattachingTransformOperator`: ``SageMakerTransformOperator`` that, run again after
  its job was created (a retry, a cleared task), re-attaches to the job of its name instead
  of creating a second one (batch scoring, :mod:`airsage.airflow.batch_steps`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.providers.amazon.aws.operators.sagemaker import (
    SageMakerEndpointOperator,
    SageMakerRegisterModelVersionOperator,
    SageMakerTransformOperator,
)
from airflow.sdk.exceptions import AirflowSkipException

from airsage.airflow.aws_jobs import ReattachesToItsJob
from airsage.airflow.deferral import SettlesBeforeResuming


class RegisterModelVersionOnceOperator(SageMakerRegisterModelVersionOperator):
    """``SageMakerRegisterModelVersionOperator`` that re-attaches on retry: a version of
    ``model_url`` already in ``package_group_name`` (registered by an earlier try, whose task
    died before it could say so) is returned instead of a second ``CreateModelPackage``.
    Returns the model package's ARN either way, as the provider's operator does."""

    def execute(self, context: Any) -> str:
        from airsage.registry.aws import registered_package_arn

        existing = registered_package_arn(self.hook.conn, self.package_group_name, self.model_url)
        if existing is not None:
            self.log.info("%s is already registered as %s (an earlier try): not registering "
                          "it again", self.model_url, existing)
            return existing
        arn: str = super().execute(context)
        return arn


class OrderedEndpointOperator(SageMakerEndpointOperator):
    """``SageMakerEndpointOperator`` that asks the deploy step's question again right before
    its call (``plan``: the request phase's ``EndpointPlan.to_dict()``): when a model trained
    on newer data serves by now, the task skips and logs why; when the endpoint already uses
    the plan's config (an earlier try's call went through) it skips for collect to judge;
    when the endpoint changed in a way the plan did not foresee, it fails saying what to
    clear. SageMaker refuses a second update while one is in progress, so between this check
    and the call only an update that starts *and finishes* could slip in. Right before an
    update it deregisters the variants the update removes from Application Auto Scaling
    (SageMaker refuses to remove a registered variant); a refused call puts them back."""

    def __init__(self, *, plan: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = dict(plan)

    def execute(self, context: Any) -> dict[str, Any]:
        from airsage.airflow.aws_serving import recheck, release_scaling, restore_scaling
        from airsage.serving.aws import RECHECK_DONE, RECHECK_KEPT

        answer, reason = recheck(self.plan)
        if answer == RECHECK_KEPT:
            self.log.warning("not deployed: %s", reason)
            raise AirflowSkipException(f"not deployed: {reason}")
        if answer == RECHECK_DONE:  # collect judges the endpoint
            self.log.info("nothing to call: %s", reason)
            raise AirflowSkipException(f"nothing to call: {reason}")
        release_scaling(self.plan)
        try:
            result: dict[str, Any] = super().execute(context)
        except Exception:
            restore_scaling(self.plan)  # the call did not go through: scaling as it was
            raise
        return result


# The mixin declares the provider's attributes it reads (``hook`` among them, final there).
class ReattachingTransformOperator(ReattachesToItsJob, SettlesBeforeResuming,  # type: ignore[misc]
                                   SageMakerTransformOperator):
    """``SageMakerTransformOperator`` that never creates a job of its config's name twice
    (:class:`~airsage.airflow.aws_jobs.ReattachesToItsJob`: a running job is waited for, a
    failed or stopped one fails the task saying to clear the group). Deferral settles first
    (:mod:`airsage.airflow.deferral`)."""

    def reattached(self, context: Any, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.serialize_result(name)  # the provider's own return value
        return result
