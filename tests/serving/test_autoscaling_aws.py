"""The deploy step's Application Auto Scaling of the production variant, against moto.

moto 5.2.5 (server mode, 127.0.0.1) stores Application Auto Scaling's sagemaker targets and
policies as sent; ``tests/aws/moto_ext.py`` adds what AWS enforces and moto does not: an
UpdateEndpoint that drops a registered variant is refused (SageMaker's guide, "Update endpoints
that use auto scaling") and RegisterScalableTarget refuses a variant the endpoint does not
have. moto creates no target-tracking alarms for the sagemaker namespace, so the tests assert
on the stored targets and policies, not on alarms. No Stubber: every call here reaches moto.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from aws_helpers import approved_version as version
from aws_helpers import client

from airsage.errors import ConfigurationError, StepFailed
from airsage.lake.aws import S3Lake
from airsage.serving.aws import (
    SCALABLE_DIMENSION,
    SageMakerEndpointDeployer,
    carried_capacity,
    scaling_policy_request,
)
from airsage.serving.request import deployment_request

ENDPOINT = "reviews-sentiment"
NAMESPACE = "sagemaker"


@pytest.fixture
def settings(aws_settings) -> Any:
    return aws_settings.with_overrides({"serving": {"autoscaling": {
        "min_capacity": 1, "max_capacity": 5, "target_invocations_per_instance": 120,
        "scale_in_cooldown": 600, "scale_out_cooldown": 30}}})


@pytest.fixture
def deployer(aws_env, settings) -> SageMakerEndpointDeployer:
    return SageMakerEndpointDeployer(settings)


@pytest.fixture
def lake(aws_env, settings) -> S3Lake:
    return S3Lake(settings)


def targets() -> dict[str, tuple[int, int]]:
    """Application Auto Scaling's sagemaker targets: resource id → (min, max)."""
    found = client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace=NAMESPACE)["ScalableTargets"]
    assert all(t["ScalableDimension"] == SCALABLE_DIMENSION for t in found)
    return {t["ResourceId"]: (t["MinCapacity"], t["MaxCapacity"]) for t in found}


def policies() -> dict[str, dict[str, Any]]:
    """The sagemaker scaling policies: resource id → the policy as stored."""
    found = client("application-autoscaling").describe_scaling_policies(
        ServiceNamespace=NAMESPACE)["ScalingPolicies"]
    return {p["ResourceId"]: p for p in found}


def test_the_first_deploy_registers_the_variant_with_the_limits_and_target_tracking(
        deployer, lake) -> None:
    deployer.deploy(lake, version(1, "2026-02-10"))
    assert targets() == {"endpoint/reviews-sentiment/variant/reviews-sentiment-v1": (1, 5)}
    policy = policies()["endpoint/reviews-sentiment/variant/reviews-sentiment-v1"]
    assert policy["PolicyName"] == "reviews-sentiment-reviews-sentiment-v1-invocations-per-instance"
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["TargetTrackingScalingPolicyConfiguration"] == {
        "TargetValue": 120.0,
        "PredefinedMetricSpecification": {
            "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleInCooldown": 600, "ScaleOutCooldown": 30}


def test_a_blue_green_update_moves_the_target_to_the_new_variant(deployer, lake) -> None:
    deployer.deploy(lake, version(1, "2026-02-10"))
    result = deployer.deploy(lake, version(2, "2026-02-11"))
    assert result.action == "updated"
    new = "endpoint/reviews-sentiment/variant/reviews-sentiment-v2"
    assert targets() == {new: (1, 5)}
    assert list(policies()) == [new]  # the old variant's policy went with its target


def test_the_update_is_refused_while_the_old_variant_is_registered(deployer, lake) -> None:
    """What release_scaling is for: without it SageMaker (here moto_ext) refuses the update."""
    deployer.deploy(lake, version(1, "2026-02-10"))
    plan = deployer.prepare(lake, deployment_request(deployer.settings,
                                                     version(2, "2026-02-11").to_dict()))
    assert plan.action == "update"
    deployer.client.create_model(**plan.model)
    deployer.client.create_endpoint_config(**plan.endpoint_config)
    with pytest.raises(Exception, match="registered as scalable targets"):
        deployer.client.update_endpoint(**plan.endpoint)
    assert deployer.release_scaling(plan) == ("reviews-sentiment-v1",)
    assert targets() == {}
    deployer.client.update_endpoint(**plan.endpoint)  # now SageMaker takes it


def test_a_rolled_back_update_leaves_the_previous_variants_scaling_in_place(
        deployer, lake, aws_env) -> None:
    deployer.deploy(lake, version(1, "2026-02-10"))
    before = policies()
    aws_env.roll_back_next_update(ENDPOINT, "Alarm reviews-sentiment-v2-5xx-rate in ALARM")
    with pytest.raises(StepFailed, match="Autoscaling restored on reviews-sentiment-v1"):
        deployer.deploy(lake, version(2, "2026-02-11"))
    old = "endpoint/reviews-sentiment/variant/reviews-sentiment-v1"
    assert targets() == {old: (1, 5)}
    after = policies()
    assert list(after) == [old]
    assert after[old]["TargetTrackingScalingPolicyConfiguration"] == \
        before[old]["TargetTrackingScalingPolicyConfiguration"]


def test_a_refused_update_call_puts_the_released_target_back(deployer, lake) -> None:
    deployer.deploy(lake, version(1, "2026-02-10"))
    plan = deployer.prepare(lake, deployment_request(deployer.settings,
                                                     version(2, "2026-02-11").to_dict()))
    broken = replace(plan, endpoint={**plan.endpoint, "EndpointConfigName": "no-such-config"})
    with pytest.raises(Exception, match="no-such-config"):
        deployer.execute(broken)  # released v1, then SageMaker refused the call
    assert targets() == {"endpoint/reviews-sentiment/variant/reviews-sentiment-v1": (1, 5)}


def test_applying_again_is_idempotent_and_a_redeploy_is_a_noop(deployer, lake) -> None:
    def state() -> tuple[Any, ...]:  # moto gives a re-put policy a new ARN and time
        return targets(), {r: (p["PolicyName"], p["TargetTrackingScalingPolicyConfiguration"])
                           for r, p in policies().items()}

    deployer.deploy(lake, version(1, "2026-02-10"))
    first = state()
    request = deployment_request(deployer.settings, version(1, "2026-02-10").to_dict())
    assert deployer.apply_scaling(request) == {"registered": ["reviews-sentiment-v1"],
                                               "deregistered": []}
    assert deployer.deploy(lake, version(1, "2026-02-10")).action == "noop"
    assert state() == first


def test_autoscaling_off_registers_nothing_but_still_releases_for_an_update(
        aws_env, settings, lake) -> None:
    on = SageMakerEndpointDeployer(settings)
    on.deploy(lake, version(1, "2026-02-10"))
    off = SageMakerEndpointDeployer(settings.with_overrides(
        {"serving": {"autoscaling": {"enabled": False}}}))
    assert off.deploy(lake, version(2, "2026-02-11")).action == "updated"
    assert targets() == {} and policies() == {}


def test_registering_a_variant_the_endpoint_lacks_is_refused(deployer, lake) -> None:
    with pytest.raises(Exception, match="does not exist"):
        client("application-autoscaling").register_scalable_target(
            ServiceNamespace=NAMESPACE, ResourceId="endpoint/nope/variant/v1",
            ScalableDimension=SCALABLE_DIMENSION, MinCapacity=1, MaxCapacity=2)


def test_the_new_variant_starts_with_the_instances_the_old_one_scaled_to(settings) -> None:
    request = deployment_request(settings, version(2, "2026-02-11").to_dict())
    scaled = {"ProductionVariants": [{"VariantName": "v1", "CurrentInstanceCount": 3}]}
    assert carried_capacity(request, scaled) == 3
    beyond = {"ProductionVariants": [{"VariantName": "v1", "CurrentInstanceCount": 9}]}
    assert carried_capacity(request, beyond) == 5  # max_capacity
    assert carried_capacity(request, {"ProductionVariants": []}) == 1
    policy = scaling_policy_request(request, request.variant_name)
    assert policy["ResourceId"] == "endpoint/reviews-sentiment/variant/reviews-sentiment-v2"


@pytest.mark.parametrize(("autoscaling", "workers", "message"), [
    ({"min_capacity": 3, "max_capacity": 2}, 1, "max_capacity 2 is below min_capacity 3"),
    ({"min_capacity": 0}, 1, "min_capacity 0 must be >= 1"),
    ({"target_invocations_per_instance": 0}, 1, "target_invocations_per_instance 0.0 must be > 0"),
    ({"scale_in_cooldown": -5}, 1, "scale_in_cooldown -5 must be a whole number >= 0"),
    ({"min_capacity": 2, "max_capacity": 3}, 1,
     r"initial_instance_count 1 is outside autoscaling's \[min_capacity, max_capacity\]"),
    ({}, 0, r"workers 0 must be a whole number in \[1, 64\]"),
])
def test_bad_scaling_settings_are_refused_naming_the_key(
        aws_settings, autoscaling: dict[str, Any], workers: int, message: str) -> None:
    from airsage.serving.base import ServingConfig

    bad = aws_settings.with_overrides({"serving": {"autoscaling": autoscaling,
                                                   "workers": workers}})
    with pytest.raises(ConfigurationError, match=message):
        ServingConfig.from_settings(bad)


def test_an_update_carries_the_serving_instance_count_into_the_new_variant(
        aws_env, settings, lake) -> None:
    """The serving variant runs 3 instances (here: deployed so; on AWS: scaled out); the
    new variant's config starts with 3, not with initial_instance_count (1)."""
    three = settings.with_overrides({"serving": {"initial_instance_count": 3}})
    SageMakerEndpointDeployer(three).deploy(lake, version(1, "2026-02-10"))
    SageMakerEndpointDeployer(settings).deploy(lake, version(2, "2026-02-11"))
    config = client("sagemaker").describe_endpoint_config(
        EndpointConfigName="reviews-sentiment-reviews-sentiment-v2")
    assert [v["InitialInstanceCount"] for v in config["ProductionVariants"]] == [3]
