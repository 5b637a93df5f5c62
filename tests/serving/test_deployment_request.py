"""The deploy step's request: pure, JSON-safe, and what the deployer's run carries out."""

from __future__ import annotations

import dataclasses
import json

import pytest

from airsage.errors import ConfigurationError
from airsage.lake.local import LocalLake
from airsage.serving.request import DeploymentRequest, deployment_request, variant_name

MODEL_KEY = "models/reviews/reviews-20240501-tfidflinear-1/output/model.tar.gz"
VERSION = {"name": "reviews-sentiment", "version": "7", "status": "Approved",
           "artifact_uri": "/registry/mlartifacts/7/model/model.tar.gz", "run_id": "run-7",
           "metrics": {"accuracy": 0.9}, "tags": {"lineage.model_artifact_key": MODEL_KEY}}


def test_the_request_names_model_variant_instances_capture_and_deployment(settings_factory):
    settings = settings_factory(traffic_shift="linear", linear_steps=4, bake_seconds=2,
                                max_error_rate=0.01, instance_type="ml.c5.xlarge",
                                initial_instance_count=2, capture={"sampling_percent": 25})
    request = deployment_request(settings, VERSION)
    assert (request.endpoint, request.model_name, request.model_version) == (
        "reviews-sentiment", "reviews-sentiment", "7")
    assert request.artifact_uri == VERSION["artifact_uri"]
    assert request.model_artifact_key == MODEL_KEY and request.run_id == "run-7"
    assert request.variant_name == "reviews-sentiment-v7"
    assert (request.instance_type, request.initial_instance_count) == ("ml.c5.xlarge", 2)
    assert request.capture.enabled and request.capture.sampling_percent == 25.0
    assert request.capture.destination_prefix == "capture/reviews-sentiment/"
    deployment = request.deployment
    assert deployment.traffic_shift == "linear"
    assert deployment.traffic_steps == (25.0, 50.0, 75.0, 100.0)
    assert (deployment.bake_seconds, deployment.max_error_rate) == (2.0, 0.01)
    assert request.endpoint_config_name == "reviews-sentiment-reviews-sentiment-v7"
    other = deployment_request(settings, VERSION, endpoint="shadow")
    assert other.endpoint == "shadow" and other.capture.destination_prefix == "capture/shadow/"


def test_the_request_is_deterministic_and_round_trips_through_json(settings_factory):
    settings = settings_factory(traffic_shift="canary", canary_percent=10)
    request = deployment_request(settings, VERSION)
    assert deployment_request(settings, dict(VERSION)) == request
    text = json.dumps(request.to_dict(), allow_nan=False)
    assert DeploymentRequest.from_dict(json.loads(text)) == request
    assert variant_name("reviews sentiment", "12") == "reviews-sentiment-v12"
    assert len(variant_name("m" * 80, "1")) == 63


def test_bad_requests_and_settings_are_refused(settings_factory):
    request = deployment_request(settings_factory(), VERSION)
    raw = request.to_dict()
    with pytest.raises(ConfigurationError, match="not a valid SageMaker name"):
        DeploymentRequest.from_dict({**raw, "variant_name": "bad_name!"})
    with pytest.raises(ConfigurationError, match="rise from above 0 to 100"):
        DeploymentRequest.from_dict({**raw, "deployment": {**raw["deployment"],
                                                           "traffic_steps": [50, 40, 100]}})
    with pytest.raises(ConfigurationError, match="names no artifact"):
        DeploymentRequest.from_dict({**raw, "artifact_uri": "", "model_artifact_key": ""})
    with pytest.raises(ConfigurationError, match="lacks 'version'"):
        deployment_request(settings_factory(), {"name": "m"})
    with pytest.raises(ConfigurationError, match="initial_instance_count"):
        deployment_request(settings_factory(initial_instance_count=0), VERSION)


def test_run_carries_out_the_request_it_is_given(deployer_factory, models):
    """The request's variant and traffic steps are what happens, not the deployer's settings;
    the artifact is read from the lineage key when the registry's copy is not reachable."""
    deployer = deployer_factory(traffic_shift="all_at_once")
    lake = LocalLake(deployer.settings)
    lake.write_bytes(MODEL_KEY, models.v1.read_bytes())
    request = deployment_request(deployer.settings, VERSION)  # artifact_uri does not exist
    request = dataclasses.replace(
        request, variant_name="blue-seven",
        deployment=dataclasses.replace(request.deployment, traffic_shift="canary",
                                       traffic_steps=(50.0, 100.0), bake_seconds=0.2))
    result = deployer.run(lake, request)
    assert result.action == "created" and result.variant_name == "blue-seven"
    assert result.traffic_steps == (50.0, 100.0)
    assert [(v["variant_name"], v["model_version"], v["weight"])
            for v in deployer.describe().variants] == [("blue-seven", "7", 100.0)]
    assert deployer.run(lake, request).action == "noop"
