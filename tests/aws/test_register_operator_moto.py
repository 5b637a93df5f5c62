"""register.model_package on moto: the provider's SageMakerRegisterModelVersionOperator with the
arguments airsage's request phase prepares, and the re-attach it lacks (a retried try)."""

from __future__ import annotations

from typing import Any

from aws_helpers import LAKE_ROOT, REGION, client

MODEL = "reviews-sentiment"
KEY = "models/reviews/train-x/output/model.tar.gz"


def _prepared(aws_settings: Any) -> dict[str, Any]:
    """The register request's payload for a blessed candidate (what ``register.request``
    hands the operator's task)."""
    from airsage.registry.aws import SageMakerModelRegistry

    existing, package = SageMakerModelRegistry(aws_settings).prepare_registration(
        MODEL, f"{LAKE_ROOT}/{KEY}", run_id=None,
        evaluation={"multiclass_classification_metrics": {"accuracy": {"value": 0.81}}},
        lineage={"dataset": "reviews", "partition_day": "2026-02-10",
                 "training_job_name": "train-x", "model_artifact_key": KEY},
        status="PendingManualApproval")
    assert existing is None
    return {"package": package, "existing_arn": None, "aws_conn_id": "aws_default",
            "region_name": REGION}


def _packages() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client("sagemaker").list_model_packages(
        ModelPackageGroupName=MODEL)["ModelPackageSummaryList"]
    return found


def test_a_retried_model_package_task_returns_the_version_its_first_try_registered(
        aws_env, aws_settings) -> None:
    from airsage.airflow.aws_operators import RegisterModelVersionOnceOperator
    from airsage.airflow.aws_registry import _package_kwargs

    kwargs = _package_kwargs(_prepared(aws_settings))
    first = RegisterModelVersionOnceOperator(task_id="model_package", **kwargs).execute({})
    retried = RegisterModelVersionOnceOperator(task_id="model_package", **kwargs).execute({})
    assert retried == first
    assert [p["ModelPackageArn"] for p in _packages()] == [first]
    package = client("sagemaker").describe_model_package(ModelPackageName=first)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"  # the operator's field
    assert package["ModelPackageDescription"].startswith("airsage: train-x")
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == f"{LAKE_ROOT}/{KEY}"
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"  # from extras
    assert package["CustomerMetadataProperties"]["metric.accuracy"] == "0.81"


def test_the_providers_operator_alone_registers_a_retry_twice(aws_env, aws_settings) -> None:
    """Why the subclass exists: the provider's operator has no existence check."""
    from airflow.providers.amazon.aws.operators.sagemaker import (
        SageMakerRegisterModelVersionOperator,
    )

    from airsage.airflow.aws_registry import _package_kwargs

    kwargs = _package_kwargs(_prepared(aws_settings))
    first = SageMakerRegisterModelVersionOperator(task_id="model_package", **kwargs).execute({})
    second = SageMakerRegisterModelVersionOperator(task_id="model_package", **kwargs).execute({})
    assert first != second and len(_packages()) == 2


def test_the_operator_task_skips_when_nothing_is_to_be_registered() -> None:
    import pytest
    from airflow.sdk.exceptions import AirflowSkipException

    from airsage.airflow.aws_registry import _package_kwargs

    base = {"aws_conn_id": None, "region_name": REGION, "package": None}
    with pytest.raises(AirflowSkipException, match="not blessed"):
        _package_kwargs({**base, "existing_arn": None})
    with pytest.raises(AirflowSkipException, match="registered by an earlier try"):
        _package_kwargs({**base, "existing_arn": "arn:aws:sagemaker:x:1:model-package/m/1"})
