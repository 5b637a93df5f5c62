"""SageMakerEndpointDeployer against moto's SageMaker and CloudWatch (server mode, 127.0.0.1).

moto 5.2.5 answers ``UpdateEndpoint`` with 500 and replaces an existing endpoint on
``CreateEndpoint``; ``tests/aws/moto_ext.py`` adds UpdateEndpoint (switch the config, record
the DeploymentConfig as ``LastDeploymentConfig``) and, on a test's request, ends the next
update as SageMaker's automatic rollback does (previous config kept, ``FailureReason`` set).
moto does not shift traffic, bake or evaluate alarms: the tests assert on the requests and
the recorded resources, and state the rollback outcome themselves.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_helpers import LAKE_ROOT, ROLE, client
from aws_helpers import approved_version as version

from airsage.errors import ConfigurationError, StepFailed
from airsage.lake.aws import S3Lake
from airsage.registry.base import LINEAGE_ARTIFACT_KEY, ModelVersion
from airsage.serving.aws import (
    SageMakerEndpointDeployer,
    alarm_names,
    deployment_config,
    endpoint_config,
)
from airsage.serving.request import deployment_request

ENDPOINT = "reviews-sentiment"


@pytest.fixture
def settings(aws_settings) -> Any:
    return aws_settings.with_overrides({"serving": {
        "traffic_shift": "canary", "canary_percent": 10, "bake_seconds": 300,
        "max_error_rate": 0.05, "max_p99_latency_ms": 800, "capture": {"sampling_percent": 25}}})


@pytest.fixture
def deployer(aws_env, settings) -> SageMakerEndpointDeployer:
    return SageMakerEndpointDeployer(settings)


@pytest.fixture
def lake(aws_env, settings) -> S3Lake:
    return S3Lake(settings)


def test_the_first_deploy_creates_model_config_with_capture_and_endpoint(deployer, lake) -> None:
    result = deployer.deploy(lake, version(1))
    assert (result.action, result.model_version, result.variant_name) == \
        ("created", "1", "reviews-sentiment-v1")
    sagemaker = client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointConfigName"] == "reviews-sentiment-reviews-sentiment-v1"
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    capture = config["DataCaptureConfig"]
    assert capture["InitialSamplingPercentage"] == 25 and capture["EnableCapture"] is True
    # SageMaker appends <endpoint>/<variant>/yyyy/mm/dd/hh: the lake's capture/<endpoint>/...
    assert capture["DestinationS3Uri"] == f"{LAKE_ROOT}/capture"
    variant = config["ProductionVariants"][0]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", 1)
    model = sagemaker.describe_model(ModelName="reviews-sentiment-v1")
    container = model["PrimaryContainer"]
    assert container["ModelDataUrl"] == f"{LAKE_ROOT}/models/reviews/train-1/output/model.tar.gz"
    assert container["Image"].endswith("sagemaker-scikit-learn:1.9-0-cpu-py3")
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert lake.exists("models/reviews/train-1/input/inference.tar.gz")
    assert model["ExecutionRoleArn"] == ROLE
    described = deployer.describe()
    assert described.status == "InService"
    assert [(v["model_name"], v["model_version"]) for v in described.variants] == \
        [("reviews-sentiment", "1")]


def test_a_second_deploy_updates_blue_green_with_rollback_alarms_instead_of_recreating(
        deployer, lake) -> None:
    deployer.deploy(lake, version(1))
    sagemaker = client("sagemaker")
    created = sagemaker.describe_endpoint(EndpointName=ENDPOINT)["CreationTime"]
    result = deployer.deploy(lake, version(2, "2026-02-11"))
    assert result.action == "updated" and result.replaced_variants == ("reviews-sentiment-v1",)
    assert result.traffic_steps == (10.0, 100.0)
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["CreationTime"] == created  # updated, not recreated
    assert endpoint["EndpointConfigName"] == "reviews-sentiment-reviews-sentiment-v2"
    policy = endpoint["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY", "WaitIntervalInSeconds": 300,
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}}
    alarms = [a["AlarmName"] for a in endpoint["LastDeploymentConfig"]
              ["AutoRollbackConfiguration"]["Alarms"]]
    assert alarms == ["reviews-sentiment-reviews-sentiment-v2-5xx-rate",
                      "reviews-sentiment-reviews-sentiment-v2-p99-latency"]
    found = {a["AlarmName"]: a for a in client("cloudwatch").describe_alarms(
        AlarmNames=alarms)["MetricAlarms"]}
    assert set(found) == set(alarms)
    latency = found[alarms[1]]
    assert (latency["MetricName"], latency["ExtendedStatistic"], latency["Threshold"]) == \
        ("ModelLatency", "p99", 800_000.0)
    assert {d["Name"]: d["Value"] for d in latency["Dimensions"]} == \
        {"EndpointName": ENDPOINT, "VariantName": "reviews-sentiment-v2"}
    errors = found[alarms[0]]
    assert errors["Threshold"] == 0.05
    assert [m["Id"] for m in errors["Metrics"]] == ["errors", "invocations", "error_rate"]
    assert [(v["model_name"], v["model_version"]) for v in deployer.describe().variants] == \
        [("reviews-sentiment", "2")]


def test_the_same_version_again_is_a_noop(deployer, lake) -> None:
    deployer.deploy(lake, version(1))
    again = deployer.deploy(lake, version(1))
    assert again.action == "noop" and again.variant_name == "reviews-sentiment-v1"
    assert "LastDeploymentConfig" not in client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)


def test_keep_serving_keeps_the_endpoint_untouched(deployer, lake) -> None:
    deployer.deploy(lake, version(2, "2026-02-12"))
    asked: list[Any] = []

    def keep(serving: Any) -> str:
        asked.append(list(serving))
        return "v2 was trained on newer data"

    kept = deployer.deploy(lake, version(3, "2026-02-10"), keep_serving=keep)
    assert kept.action == "kept" and kept.reason == "v2 was trained on newer data"
    assert [(v["model_name"], v["model_version"]) for v in asked[0]] == [("reviews-sentiment", "2")]
    sagemaker = client("sagemaker")
    assert sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == \
        "reviews-sentiment-reviews-sentiment-v2"
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"]] == ["reviews-sentiment-v2"]


def test_recheck_right_before_the_call_sees_what_changed_since_the_plan(deployer, lake) -> None:
    """The endpoint operator's question, asked again after the request phase planned: a newer
    model that took over keeps serving; an endpoint already on the plan's config (an earlier
    try's call) needs no call; one created by another run needs a new plan."""
    from airsage.serving.aws import RECHECK_CALL, RECHECK_DONE, RECHECK_KEPT

    def newer_day(serving: Any) -> str | None:
        return "v2 was trained on newer data" if any(
            v["model_version"] == "2" for v in serving) else None

    create = deployer.prepare(lake, deployment_request(deployer.settings, version(1).to_dict()))
    assert create.action == "create"
    assert deployer.recheck(create, keep_serving=newer_day) == (RECHECK_CALL, "")
    deployer.deploy(lake, version(9))  # another run created the endpoint meanwhile
    with pytest.raises(StepFailed, match="created by another run after this run planned"):
        deployer.recheck(create, keep_serving=newer_day)

    update = deployer.prepare(lake, deployment_request(deployer.settings, version(1).to_dict()))
    assert update.action == "update"
    assert deployer.recheck(update, keep_serving=newer_day) == (RECHECK_CALL, "")
    deployer.deploy(lake, version(2, "2026-02-12"))  # a newer day's run deployed meanwhile
    assert deployer.recheck(update, keep_serving=newer_day) == \
        (RECHECK_KEPT, "v2 was trained on newer data")
    kept = deployer.collect(update, keep_serving=newer_day)
    assert kept.action == "kept" and kept.reason == "v2 was trained on newer data"

    mine = deployer.prepare(lake, deployment_request(deployer.settings, version(3).to_dict()))
    deployer.execute(mine)  # this plan's own call went through before its task died
    answer, why = deployer.recheck(mine)
    assert answer == RECHECK_DONE and "already uses config" in why


def test_a_rolled_back_update_fails_clearly_and_the_previous_model_keeps_serving(
        deployer, lake, aws_env) -> None:
    deployer.deploy(lake, version(1))
    aws_env.roll_back_next_update(
        ENDPOINT, "Alarm reviews-sentiment-reviews-sentiment-v2-5xx-rate went into ALARM")
    with pytest.raises(StepFailed) as failed:
        deployer.deploy(lake, version(2, "2026-02-11"))
    message = str(failed.value)
    assert "did not take" in message and "still serving reviews-sentiment v1" in message
    assert "went into ALARM" in message
    assert [(v["model_name"], v["model_version"]) for v in deployer.describe().variants] == \
        [("reviews-sentiment", "1")]


def test_an_endpoint_being_updated_is_refused_for_a_retry(deployer, lake) -> None:
    """moto's endpoints are InService at once; a stubbed DescribeEndpoint states Updating."""
    from botocore.stub import Stubber

    sagemaker = client("sagemaker")
    stubbed = SageMakerEndpointDeployer(deployer.settings, client=sagemaker, cloudwatch=object())
    with Stubber(sagemaker) as stub:
        stub.add_response("describe_endpoint", {
            "EndpointName": ENDPOINT, "EndpointArn": "arn:aws:sagemaker:::endpoint/x",
            "EndpointConfigName": "c", "EndpointStatus": "Updating",
            "CreationTime": "2026-02-10T00:00:00Z", "LastModifiedTime": "2026-02-10T00:00:00Z"},
            {"EndpointName": ENDPOINT})
        request = deployment_request(deployer.settings, version(2).to_dict())
        with pytest.raises(StepFailed, match="is Updating"):
            stubbed.prepare(lake, request)


def test_requests_for_linear_and_all_at_once_and_whole_percent_sampling(settings) -> None:
    from airsage.awsconf import AwsSettings

    linear = deployment_request(settings.with_overrides(
        {"serving": {"traffic_shift": "linear", "linear_steps": 4, "bake_seconds": 30}}),
        version(1).to_dict())
    routing = deployment_config(linear)["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {"Type": "LINEAR", "WaitIntervalInSeconds": 30,
                       "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25}}
    whole = deployment_request(settings.with_overrides(
        {"serving": {"traffic_shift": "all_at_once"}}), version(1).to_dict())
    assert deployment_config(whole)["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"][
        "Type"] == "ALL_AT_ONCE"
    assert deployment_config(whole)["AutoRollbackConfiguration"]["Alarms"] == \
        [{"AlarmName": n} for n in alarm_names(whole)]
    fraction = deployment_request(settings.with_overrides(
        {"serving": {"capture": {"sampling_percent": 12.5}}}), version(1).to_dict())
    with pytest.raises(ConfigurationError, match=r"sampling_percent 12\.5 must be a whole"):
        endpoint_config(AwsSettings.from_settings(settings), fraction)


def test_a_version_without_a_training_jobs_artifact_key_is_refused(deployer, lake) -> None:
    odd = ModelVersion(name="reviews-sentiment", version="4", status="Approved",
                       artifact_uri=f"{LAKE_ROOT}/somewhere/model.tar.gz",
                       tags={LINEAGE_ARTIFACT_KEY: "somewhere/model.tar.gz"})
    with pytest.raises(ConfigurationError, match=r"is not a training job.s model\.tar\.gz"):
        deployer.deploy(lake, odd)


def test_the_serving_image_has_the_scikit_learn_the_models_are_pickled_with(settings) -> None:
    """Models are joblib pickles of the pinned scikit-learn; a container with another minor
    version may fail to load them, so the configured image must match the environment's."""
    import sklearn

    from airsage.awsconf import AwsSettings

    aws = AwsSettings.from_settings(settings)
    major, minor = sklearn.__version__.split(".")[:2]
    assert aws.inference_framework == "sklearn"
    assert aws.inference_framework_version.startswith(f"{major}.{minor}-"), (
        f"aws.inference_framework_version {aws.inference_framework_version} does not serve "
        f"scikit-learn {sklearn.__version__}")


def test_an_unknown_framework_version_names_the_setting(settings) -> None:
    from airsage.awsconf import AwsSettings
    from airsage.serving.aws import inference_image

    aws = AwsSettings.from_settings(settings.with_overrides(
        {"aws": {"inference_framework_version": "0.1-9"}}))
    with pytest.raises(ConfigurationError, match=r"inference_framework 'sklearn' version '0\.1-9'"):
        inference_image(aws, "ml.m5.large")


def test_an_endpoint_that_fails_to_create_fails_the_step_with_sagemakers_reason(deployer, lake) -> None:
    """moto's endpoints are InService at once; botocore's Stubber states what SageMaker
    answers when the new endpoint's container does not start (the waiter sees Failed)."""
    from botocore.stub import ANY, Stubber

    sagemaker = client("sagemaker")
    stubbed = SageMakerEndpointDeployer(deployer.settings, client=sagemaker,
                                        cloudwatch=client("cloudwatch"))
    request = deployment_request(deployer.settings, version(1).to_dict())
    missing = {"service_error_code": "ValidationException",
               "service_message": "Could not find it", "http_status_code": 400}
    failed = {"EndpointName": ENDPOINT, "EndpointArn": "arn:aws:sagemaker:us-east-1:1:endpoint/x",
              "EndpointConfigName": request.endpoint_config_name, "EndpointStatus": "Failed",
              "FailureReason": "The primary container for production variant "
                               "reviews-sentiment-v1 did not pass the ping health check.",
              "CreationTime": "2026-02-10T00:00:00Z", "LastModifiedTime": "2026-02-10T00:00:00Z"}
    with Stubber(sagemaker) as stub:
        stub.add_client_error("describe_endpoint", **missing)
        stub.add_client_error("describe_model", **missing)
        stub.add_client_error("describe_endpoint_config", **missing)
        stub.add_client_error("describe_endpoint", **missing)  # asked again before the call
        stub.add_response("create_model", {"ModelArn": "arn:aws:sagemaker:us-east-1:1:model/m"},
                          {"ModelName": "reviews-sentiment-v1", "ExecutionRoleArn": ROLE,
                           "PrimaryContainer": ANY, "Tags": ANY})
        stub.add_response("create_endpoint_config",
                          {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:1:endpoint-config/c"},
                          {"EndpointConfigName": request.endpoint_config_name,
                           "ProductionVariants": ANY, "DataCaptureConfig": ANY, "Tags": ANY})
        stub.add_response("create_endpoint", {"EndpointArn": failed["EndpointArn"]},
                          {"EndpointName": ENDPOINT, "EndpointConfigName": request.endpoint_config_name,
                           "Tags": ANY})
        stub.add_response("describe_endpoint", failed, {"EndpointName": ENDPOINT})  # the waiter
        stub.add_response("describe_endpoint", failed, {"EndpointName": ENDPOINT})  # collect
        stub.add_client_error("describe_endpoint_config", **missing)
        with pytest.raises(StepFailed) as raised:
            stubbed.run(lake, request)
        stub.assert_no_pending_responses()
    message = str(raised.value)
    assert "the create to reviews-sentiment v1" in message and "is Failed" in message
    assert "did not pass the ping health check" in message


def test_stop_refuses_to_delete_a_sagemaker_endpoint_and_says_how(deployer, lake) -> None:
    assert deployer.stop() is False  # nothing to stop
    deployer.deploy(lake, version(1))
    with pytest.raises(ConfigurationError, match="aws sagemaker delete-endpoint --endpoint-name "
                                                 "reviews-sentiment --region us-east-1"):
        deployer.stop()
    assert client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == \
        "InService"
