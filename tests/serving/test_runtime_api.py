"""The SageMaker Runtime API on the local server, with boto3's sagemaker-runtime as the client."""

from __future__ import annotations

import json

import pytest

from airsage.serving.base import CaptureConfig, ServingConfig
from airsage.serving.client import EndpointClient, runtime_client

GOOD = json.dumps({"instances": [{"review_id": 7, "review_text": "love this dress"}]})
ENDPOINT = "reviews-sentiment"


@pytest.fixture
def live(start_server, models):
    config = ServingConfig(port=0, max_body_bytes=2048,
                           capture=CaptureConfig(sampling_percent=100, flush_seconds=0.05))
    running = start_server(config, endpoint=ENDPOINT)
    running.server.add_variant("blue", models.v1, model_name="m", model_version="1")
    running.server.set_weights({"blue": 1})
    running.extra["runtime"] = runtime_client(running.url)
    return running


def _invoke(live, **kwargs):
    arguments = {"EndpointName": ENDPOINT, "ContentType": "application/json", "Body": GOOD,
                 **kwargs}
    return live.extra["runtime"].invoke_endpoint(**arguments)


def test_a_prediction_names_the_invoked_variant(live):
    response = _invoke(live, Accept="application/json")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "blue"
    assert response["ResponseMetadata"]["RequestId"]
    prediction = json.loads(response["Body"].read())["predictions"][0]
    assert prediction["label"] in (-1, 0, 1)
    csv = _invoke(live, Accept="text/csv")
    assert csv["ContentType"] == "text/csv"
    assert int(csv["Body"].read()) == prediction["label"]


def test_airsage_client_is_boto3(live):
    answer = EndpointClient(ENDPOINT, endpoint_url=live.url).invoke(
        [{"review_text": "lovely"}, {"review_text": "awful"}])
    assert answer.variant == "blue" and len(answer.predictions) == 2


def test_target_variant_during_blue_green(live, models):
    """Green is loaded at weight 0 (the deployer's state before a shift): only a targeted
    request reaches it, and the response names it."""
    live.server.add_variant("green", models.v2, model_name="m", model_version="2")
    assert {_invoke(live)["InvokedProductionVariant"] for _ in range(10)} == {"blue"}
    assert _invoke(live, TargetVariant="green")["InvokedProductionVariant"] == "green"
    runtime = live.extra["runtime"]
    with pytest.raises(runtime.exceptions.ValidationError, match="'purple' does not exist"):
        _invoke(live, TargetVariant="purple")


def test_unknown_endpoint_answers_the_aws_message(live):
    runtime = live.extra["runtime"]
    with pytest.raises(runtime.exceptions.ValidationError) as info:
        _invoke(live, EndpointName="no-such-endpoint")
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert error["Message"] == "Endpoint no-such-endpoint of account 000000000000 not found."
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_bad_requests_are_validation_errors(live):
    runtime = live.extra["runtime"]
    with pytest.raises(runtime.exceptions.ValidationError, match=r"has oversize body.*2048"):
        _invoke(live, Body="x" * 5000)
    with pytest.raises(runtime.exceptions.ValidationError, match="inferenceId"):
        _invoke(live, InferenceId="i" * 65)
    with pytest.raises(runtime.exceptions.ValidationError, match="customAttributes"):
        _invoke(live, CustomAttributes="a" * 1025)
    assert _invoke(live)["InvokedProductionVariant"] == "blue"  # still serving


def test_a_body_the_model_refuses_is_a_model_error_with_its_400(live):
    """As on AWS: the runtime forwards the body; the container's 400 comes back wrapped."""
    runtime = live.extra["runtime"]
    with pytest.raises(runtime.exceptions.ModelError) as info:
        _invoke(live, Body='{"instances": [')
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 400
    assert "not valid JSON" in json.loads(response["OriginalMessage"])["message"]
    assert response["Error"]["Message"].startswith("Received client error (400) from primary")


def test_a_model_that_raises_is_a_model_error_with_its_message(live, models):
    live.server.add_variant("flaky", models.broken_predict)
    runtime = live.extra["runtime"]
    with pytest.raises(runtime.exceptions.ModelError) as info:
        _invoke(live, TargetVariant="flaky",
                Body=json.dumps({"instances": [{"review_text": "{oops}"}]}))
    response = info.value.response
    assert response["OriginalStatusCode"] == 500
    assert "KeyError" in response["OriginalMessage"] and "oops" in response["OriginalMessage"]
    assert response["Error"]["Message"].startswith("Received server error (500) from primary")
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-invoked-production-variant"] == "flaky"
    metrics = live.server.endpoint.metrics()["variants"]["flaky"]
    assert metrics["errors_5xx"] == 1  # the bake alarms see it


def test_capture_records_the_inference_id(live):
    _invoke(live, InferenceId="order-17/line-2")
    _invoke(live)
    live.server.stop()
    records = [json.loads(line) for key in live.lake.list(f"capture/{ENDPOINT}/")
               for line in live.lake.read_bytes(key).decode().splitlines()]
    ids = sorted(str(r["eventMetadata"].get("inferenceId")) for r in records)
    assert ids == ["None", "order-17/line-2"]


def test_no_variant_in_service_is_service_unavailable(start_server):
    running = start_server(ServingConfig(port=0), endpoint=ENDPOINT)
    runtime = runtime_client(running.url, attempts=1)
    with pytest.raises(runtime.exceptions.ServiceUnavailable, match="no variant in service"):
        runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="application/json", Body=GOOD)
