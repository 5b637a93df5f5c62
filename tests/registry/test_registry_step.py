"""condition_and_register: a good first model is registered, a weakened one is refused."""

from __future__ import annotations

import json

from evaldata import DATASET, DAY, upload_model, write_split

from airsage.evaluation.step import evaluate_model
from airsage.lake.layout import LakeLayout
from airsage.registry.step import condition_and_register

PREPARE = {"dataset": DATASET, "day": DAY, "dataset_hash": "sha256:feedbeef",
           "rows": {"train": 240, "validation": 0, "test": 90},
           "expectations": {"large": ["report"] * 50}}


def training(lake, job_name: str, key: str) -> dict:
    return {"job_name": job_name, "status": "Completed", "model_artifact_key": key,
            "model_artifact_uri": lake.uri(key), "final_metrics": {"validation:accuracy": 0.9},
            "failure_reason": None, "log_tail": "", "duration_seconds": 1.0,
            "hyperparameters": {"C": 5.0}}


def test_champion_stays_when_a_weakened_candidate_is_evaluated(settings, registry, lake, job_runner,
                                                              frames, models):
    write_split(lake, frames[1], "test")
    layout = LakeLayout(DATASET)

    good_key = upload_model(lake, models["good"], "train-good")
    candidate = evaluate_model(settings, lake, DATASET, DAY, good_key, runner=job_runner)
    first = condition_and_register(settings, lake, DATASET, DAY, registry=registry, runner=job_runner,
                                   training=training(lake, "train-good", good_key),
                                   candidate=candidate, prepare_lineage=PREPARE)
    assert first.blessed and first.champion_version is None
    champion = first.model_version
    assert champion.status == "Approved" and champion.version == "1"
    for tag, value in (("lineage.dataset", DATASET), ("lineage.partition_day", DAY),
                       ("lineage.dataset_hash", "sha256:feedbeef"),
                       ("lineage.training_job_name", "train-good"),
                       ("lineage.model_artifact_key", good_key),
                       ("lineage.prepare.rows", json.dumps(PREPARE["rows"], sort_keys=True))):
        assert champion.tags[tag] == value
    assert "lineage.prepare.expectations" not in champion.tags
    run_tags = registry.client.get_run(champion.run_id).data.tags
    assert run_tags["airsage.training_job_name"] == "train-good"
    assert run_tags["airsage.dataset_hash"] == "sha256:feedbeef"

    weak_key = upload_model(lake, models["weak"], "train-weak")
    weak = evaluate_model(settings, lake, DATASET, DAY, weak_key, runner=job_runner)
    assert weak.accuracy < candidate.accuracy
    second = condition_and_register(settings, lake, DATASET, DAY, registry=registry, runner=job_runner,
                                    training=training(lake, "train-weak", weak_key),
                                    candidate=weak, prepare_lineage=PREPARE)
    assert not second.blessed and second.model_version is None
    assert second.champion_version.version == "1"
    checks = {f["check"]: f for f in second.blessing["failures"]}
    # the champion comparison is a paired test on the same rows (issue 13), and says so
    paired = checks["champion_bootstrap_macro_f1"]
    assert paired["measured"]["test"] == "bootstrap_macro_f1"
    assert paired["measured"]["ci_low"] <= paired["measured"]["difference"] < 0
    assert paired["measured"]["rows"] == weak.test_rows
    assert "paired bootstrap" in paired["message"] and "champion stays" in paired["message"]
    assert registry.latest_version("reviews-sentiment").version == "1"
    assert [v.version for v in registry.list_versions("reviews-sentiment")] == ["1"]
    champion_report = json.loads(lake.read_bytes(
        layout.report("evaluation", DAY, "champion/evaluation.json")))
    assert champion_report["multiclass_classification_metrics"]["accuracy"]["value"] \
        == candidate.accuracy
    blessing = json.loads(lake.read_bytes(layout.report("evaluation", DAY, "blessing.json")))
    assert blessing["blessed"] is False and blessing == second.blessing


def test_threshold_override_manual_approval_and_failed_training(settings, registry, lake, job_runner,
                                                                 frames, models):
    import pytest

    from airsage.errors import InputDataError

    strict = settings.with_overrides({"registry": {"model_name": "strict-model"}})
    write_split(lake, frames[1], "test")
    key = upload_model(lake, models["good"], "train-strict")
    candidate = evaluate_model(strict, lake, DATASET, DAY, key, runner=job_runner)
    job = training(lake, "train-strict", key)
    refused = condition_and_register(strict, lake, DATASET, DAY, registry=registry, runner=job_runner,
                                     training=job,
                                     candidate=candidate, prepare_lineage=PREPARE,
                                     accuracy_threshold=1.01)
    assert not refused.blessed and refused.champion_version is None
    assert "accuracy_threshold" in {f["check"] for f in refused.blessing["failures"]}
    assert registry.list_versions("strict-model") == []

    pending = condition_and_register(strict, lake, DATASET, DAY, registry=registry, runner=job_runner,
                                     training=job,
                                     candidate=candidate, prepare_lineage=PREPARE,
                                     auto_approve=False)
    assert pending.blessed and pending.model_version.status == "PendingManualApproval"
    assert registry.latest_version("strict-model") is None
    assert json.loads(json.dumps(pending.to_dict()))["model_version"]["version"] == "1"
    with pytest.raises(InputDataError, match="Completed"):
        condition_and_register(strict, lake, DATASET, DAY, registry=registry, runner=job_runner,
                               training={**job, "status": "Failed"},
                               candidate=candidate, prepare_lineage=PREPARE)


def test_every_tuning_trial_is_tracked_under_its_tuning_run_and_reruns_add_nothing(settings, registry):
    from airsage.registry.step import track_training

    def trial(number: int, state: str, accuracy: float | None) -> dict:
        job = {"job_name": f"tune-7-trial-{number}", "status": state, "model_artifact_uri": None,
               "final_metrics": {"validation:accuracy": accuracy} if accuracy is not None else {}}
        return {"number": number, "job_name": job["job_name"], "state": state,
                "hyperparameters": {"C": 0.1 * (number + 1)}, "training_job": job}

    trials = [trial(0, "Completed", 0.71), trial(1, "Completed", 0.78), trial(2, "Stopped", None)]
    training = {**trials[1]["training_job"], "hyperparameters": trials[1]["hyperparameters"],
                "tuning": {"tuning_job_name": "tune-7", "objective": "validation:accuracy",
                           "objective_type": "Maximize", "best_value": 0.78, "trials": trials}}
    lineage = {"dataset_hash": "abc123", "report_key": "reports/prepare/x.json"}

    runs = track_training(registry, "reviews", "2026-01-07", training=training, prepare_lineage=lineage)
    assert set(runs) == {"tune-7", "tune-7-trial-0", "tune-7-trial-1", "tune-7-trial-2"}
    client = registry.client
    for name in ("tune-7-trial-0", "tune-7-trial-1", "tune-7-trial-2"):
        run = client.get_run(runs[name])
        assert run.data.tags["mlflow.parentRunId"] == runs["tune-7"]
        assert run.data.tags["airsage.dataset_hash"] == "abc123"
    assert client.get_run(runs["tune-7-trial-1"]).data.metrics["validation:accuracy"] == 0.78
    assert client.get_run(runs["tune-7-trial-2"]).info.status == "FAILED"
    again = track_training(registry, "reviews", "2026-01-07", training=training, prepare_lineage=lineage)
    assert again == runs
