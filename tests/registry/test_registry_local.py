"""MlflowRegistry round trip on a temporary SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest

from airsage.errors import ConfigurationError, InputDataError
from airsage.registry.base import STATUS_TAG, ApprovalStatus, ModelVersion
from airsage.registry.local import code_version

EVALUATION = {"multiclass_classification_metrics": {
    "accuracy": {"value": 0.81, "standard_deviation": 0.02},
    "macro_f1": {"value": 0.77, "standard_deviation": 0.02},
    "baseline_accuracy": {"value": 0.4, "standard_deviation": 0.01},
}}


def test_training_run_carries_lineage_tags(registry, models) -> None:
    run_id = registry.log_training(
        job_name="train-2024-05-01-a", dataset="reviews", day="2024-05-01",
        params={"C": 5.0, "max_features": 500}, metrics={"validation:accuracy": 0.8},
        model_artifact_uri=str(models["good"]), dataset_hash="abc123",
        lineage={"rows": 240},
    )
    run = registry.client.get_run(run_id)
    tags = run.data.tags
    assert tags["airsage.dataset"] == "reviews"
    assert tags["airsage.partition_day"] == "2024-05-01"
    assert tags["airsage.dataset_hash"] == "abc123"
    assert tags["airsage.training_job_name"] == "train-2024-05-01-a"
    assert tags["airsage.model_artifact_uri"] == str(models["good"])
    assert tags["airsage.code_version"] == code_version() and code_version()
    assert tags["lineage.rows"] == "240"
    assert run.data.metrics["validation:accuracy"] == pytest.approx(0.8)
    assert run.data.params["C"] == "5.0"
    assert run.info.status == "FINISHED"
    assert registry.find_run("train-2024-05-01-a") == run_id
    assert registry.find_run("never-ran") is None

    trial = registry.log_training(
        job_name="trial-1", dataset="reviews", day="2024-05-01", params={"C": 0.1},
        metrics={}, model_artifact_uri=None, status="Failed", parent_run_id=run_id)
    trial_run = registry.client.get_run(trial)
    assert trial_run.data.tags["mlflow.parentRunId"] == run_id
    assert trial_run.info.status == "FAILED"


def test_register_status_and_lookup_round_trip(registry, models) -> None:
    name = "roundtrip-model"
    assert registry.latest_version(name) is None
    assert registry.list_versions(name) == []
    run_id = registry.log_training(
        job_name="train-rt", dataset="reviews", day="2024-05-01", params={}, metrics={},
        model_artifact_uri=str(models["good"]))
    first = registry.register(name, str(models["good"]), run_id=run_id, evaluation=EVALUATION,
                              lineage={"dataset": "reviews", "dataset_hash": "abc"})
    assert isinstance(first, ModelVersion)
    assert first.version == "1" and first.status == "PendingManualApproval"
    assert first.tags[STATUS_TAG] == "PendingManualApproval"
    assert first.tags["lineage.dataset_hash"] == "abc"
    assert first.metrics == {"accuracy": 0.81, "macro_f1": 0.77, "baseline_accuracy": 0.4}
    stored = Path(first.artifact_uri)
    assert stored.is_file() and stored.name == "model.tar.gz"
    assert stored.read_bytes() == models["good"].read_bytes()
    assert str(registry.artifact_root) in str(stored)
    assert first.run_id == run_id
    assert registry.client.get_run(run_id).data.metrics["test:accuracy"] == pytest.approx(0.81)

    assert registry.latest_version(name) is None
    approved = registry.set_status(name, "1", ApprovalStatus.APPROVED)
    assert approved.status == "Approved"
    second = registry.register(name, str(models["weak"]), run_id=None, evaluation=EVALUATION,
                               lineage={}, status="Approved")
    assert second.artifact_uri == str(models["weak"])
    assert registry.latest_version(name).version == "2"
    registry.set_status(name, "2", "Rejected")
    assert registry.latest_version(name).version == "1"
    assert registry.latest_version(name, status=None).version == "2"
    assert [v.version for v in registry.list_versions(name)] == ["1", "2"]
    assert registry.get_version(name, "2").status == "Rejected"
    assert ModelVersion.from_dict(second.to_dict()) == second


def test_errors_name_the_problem(registry, models, tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="valid statuses"):
        registry.set_status("roundtrip-model", "1", "Approve")
    with pytest.raises(InputDataError):
        registry.get_version("roundtrip-model", "99")
    with pytest.raises(InputDataError, match=r"no model\.tar\.gz"):
        registry.register("x", str(tmp_path / "missing.tar.gz"), run_id=None, evaluation={},
                          lineage={})


def test_a_rejection_records_who_and_when(registry, tmp_path) -> None:
    from airsage.registry.base import DECIDED_AT_TAG, DECIDED_BY_TAG, DECISION_COMMENT_TAG

    artifact = tmp_path / "model.tar.gz"
    artifact.write_bytes(b"not a real model, only registered")
    version = registry.register("rejected-model", str(artifact), run_id=None, evaluation={},
                                lineage={"partition_day": "2026-03-01"})
    rejected = registry.set_status("rejected-model", version.version, "Rejected",
                                   decided_by="alice", decided_at="2026-03-02T10:00:00+00:00",
                                   comment="Rejected on the Required Actions page")
    assert rejected.status == "Rejected"
    assert rejected.tags[DECIDED_BY_TAG] == "alice"
    assert rejected.tags[DECIDED_AT_TAG] == "2026-03-02T10:00:00+00:00"
    assert rejected.tags[DECISION_COMMENT_TAG] == "Rejected on the Required Actions page"
    assert registry.champion("rejected-model") is None
