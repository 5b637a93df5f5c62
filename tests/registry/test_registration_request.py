"""The register step's request and run phases, without MLflow's store and without Airflow."""

from __future__ import annotations

import json

import pytest

from airsage.errors import ConfigurationError, InputDataError
from airsage.evaluation.base import METRICS_KEY, EvaluationReport
from airsage.registry.base import ModelVersion, RegistrationRequest
from airsage.registry.step import register_model, registration_request

DATASET, DAY = "reviews", "2024-05-01"
MODEL_KEY = "models/reviews/reviews-20240501-tfidflinear-1/output/model.tar.gz"
REPORT_KEY = f"reports/evaluation/reviews/dt={DAY}/candidate/evaluation.json"
TRAINING = {"job_name": "reviews-20240501-tfidflinear-1", "status": "Completed",
            "model_artifact_key": MODEL_KEY, "hyperparameters": {"C": 1.0}}
PREPARE = {"dataset_hash": "sha256:feedbeef", "rows": {"train": 240, "test": 90},
           "class_counts": {"0": 10, "1": 80}, "expectations": {"large": ["report"] * 50}}
BLESSING = f"file:///lake/reports/evaluation/reviews/dt={DAY}/blessing.json"


def _candidate() -> EvaluationReport:
    evaluation = {METRICS_KEY: {"accuracy": {"value": 0.875}, "macro_f1": {"value": 0.8},
                                "weighted_f1": {"value": 0.86}}}
    return EvaluationReport(dataset=DATASET, day=DAY, report_name="candidate",
                            model_artifact_key=MODEL_KEY, evaluation=evaluation,
                            report_key=REPORT_KEY)


def _request(settings, **kwargs) -> RegistrationRequest:
    arguments = {"training": TRAINING, "candidate": _candidate(), "prepare_lineage": PREPARE,
                 "blessing_uri": BLESSING, "champion_version": "3", **kwargs}
    return registration_request(settings, DATASET, DAY, **arguments)


def test_the_request_names_the_artifact_group_metrics_approval_and_lineage(settings):
    request = _request(settings)
    assert request.model_package_group_name == "reviews-sentiment"
    assert request.model_artifact_key == MODEL_KEY
    assert request.training_job_name == TRAINING["job_name"]
    assert request.metrics == {"accuracy": 0.875, "macro_f1": 0.8, "weighted_f1": 0.86}
    assert request.evaluation_report_key == REPORT_KEY
    assert request.approval_status == "Approved"  # registry.auto_approve in the test settings
    assert _request(settings, auto_approve=False).approval_status == "PendingManualApproval"
    lineage = request.lineage
    assert (lineage["dataset"], lineage["partition_day"], lineage["dataset_hash"]) == (
        DATASET, DAY, "sha256:feedbeef")
    assert lineage["model_artifact_key"] == MODEL_KEY and lineage["champion_version"] == "3"
    assert lineage["blessing_uri"] == BLESSING
    assert lineage["prepare.rows"] == {"train": 240, "test": 90}
    assert "prepare.expectations" not in lineage  # large reports stay in the lake


def test_the_request_is_deterministic_and_round_trips_through_json(settings):
    request = _request(settings)
    assert _request(settings) == request
    again = RegistrationRequest.from_dict(json.loads(json.dumps(request.to_dict(),
                                                                allow_nan=False)))
    assert again == request


def test_the_request_refuses_an_incomplete_job_paths_and_bad_statuses(settings):
    with pytest.raises(InputDataError, match="only a Completed job's model"):
        _request(settings, training={**TRAINING, "status": "Failed"})
    raw = _request(settings).to_dict()
    with pytest.raises(ConfigurationError, match="not a lake key"):
        RegistrationRequest.from_dict({**raw, "model_artifact_key": "/tmp/model.tar.gz"})
    with pytest.raises(ConfigurationError, match="unknown model approval status"):
        RegistrationRequest.from_dict({**raw, "approval_status": "Maybe"})
    with pytest.raises(ConfigurationError, match="never Rejected"):
        RegistrationRequest.from_dict({**raw, "approval_status": "Rejected"})
    with pytest.raises(ConfigurationError, match="finite numbers"):
        RegistrationRequest.from_dict({**raw, "metrics": {"accuracy": float("nan")}})
    with pytest.raises(ConfigurationError, match="lacks 'approval_status'"):
        RegistrationRequest.from_dict({k: v for k, v in raw.items() if k != "approval_status"})


class _RecordingRegistry:
    """Stands in for the registry engine: records what register() was given."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def register(self, model_name, model_artifact_uri, *, run_id, evaluation, lineage, status):
        with open(model_artifact_uri, "rb") as artifact:
            content = artifact.read()
        self.calls.append({"model_name": model_name, "content": content, "run_id": run_id,
                           "evaluation": evaluation, "lineage": lineage, "status": status})
        return ModelVersion(name=model_name, version="4", status=str(status),
                            artifact_uri=model_artifact_uri, run_id=run_id)


def test_run_registers_exactly_what_the_request_names(settings, lake):
    request = _request(settings, auto_approve=False)
    registry = _RecordingRegistry()
    with pytest.raises(InputDataError, match="disappeared before registration"):
        register_model(registry, lake, request, run_id="r1", evaluation={})
    lake.write_bytes(MODEL_KEY, b"model bytes")
    version = register_model(registry, lake, request, run_id="r1",
                             evaluation=_candidate().evaluation)
    [call] = registry.calls
    assert call["model_name"] == request.model_package_group_name
    assert call["content"] == b"model bytes" and call["run_id"] == "r1"
    assert call["lineage"] == request.lineage
    assert call["status"] == "PendingManualApproval"
    assert version.status == "PendingManualApproval" and version.version == "4"
