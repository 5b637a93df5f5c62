"""A Debugger rule that fired under ``mark_candidate`` refuses the blessing: nothing is
registered, the champion keeps serving, and blessing.json says which rule and why."""

from __future__ import annotations

import json

from evaldata import DATASET, DAY, upload_model, write_split

from airsage.evaluation.step import evaluate_model
from airsage.lake.layout import LakeLayout
from airsage.registry.step import condition_and_register

PREPARE = {"dataset": DATASET, "day": DAY, "dataset_hash": "sha256:feedbeef",
           "rows": {"train": 240, "validation": 0, "test": 90}}
OVERFIT = {"RuleConfigurationName": "Overfit", "RuleEvaluationStatus": "IssuesFound",
           "StatusDetails": "at epoch 2 validation loss 0.65 vs training loss 0.2: "
                            "(validation - training) / training = 2.25 > ratio_threshold=0.1",
           "Measured": 2.25, "Threshold": 0.1}
QUIET = {"RuleConfigurationName": "ClassImbalance", "RuleEvaluationStatus": "NoIssuesFound",
         "StatusDetails": "largest / smallest = 1.3", "Measured": 1.3, "Threshold": 10.0}


def training(lake, job_name: str, key: str, rules: list[dict]) -> dict:
    return {"job_name": job_name, "status": "Completed", "model_artifact_key": key,
            "model_artifact_uri": lake.uri(key), "final_metrics": {"validation:accuracy": 0.9},
            "failure_reason": None, "log_tail": "", "duration_seconds": 1.0,
            "hyperparameters": {"C": 5.0}, "debug_rule_evaluations": rules}


def test_a_fired_rule_refuses_the_candidate_and_the_champion_keeps_serving(
        settings, registry, lake, job_runner, frames, models):
    settings = settings.with_overrides({"registry": {"model_name": "debugger-model"}})
    write_split(lake, frames[1], "test")
    key = upload_model(lake, models["good"], "train-good")
    report = evaluate_model(settings, lake, DATASET, DAY, key, runner=job_runner)

    refused = condition_and_register(settings, lake, DATASET, DAY, registry=registry,
                                     runner=job_runner, candidate=report, prepare_lineage=PREPARE,
                                     training=training(lake, "train-good", key, [OVERFIT, QUIET]))
    assert not refused.blessed and refused.model_version is None
    assert [f["check"] for f in refused.blessing["failures"]] == ["debugger:Overfit"]
    (failure,) = refused.blessing["failures"]
    assert failure["measured"] == 2.25 and failure["expected"] == 0.1
    assert "ratio_threshold=0.1" in failure["message"]
    passed = {c["check"]: c["passed"] for c in refused.blessing["checks"]}
    assert passed["debugger:ClassImbalance"] is True
    assert registry.latest_version("debugger-model") is None
    kept = json.loads(lake.read_bytes(LakeLayout(DATASET).report("evaluation", DAY, "blessing.json")))
    assert kept["blessed"] is False and kept["failures"][0]["check"] == "debugger:Overfit"

    # the same model without a finding is blessed and becomes the champion ...
    first = condition_and_register(settings, lake, DATASET, DAY, registry=registry,
                                   runner=job_runner, candidate=report, prepare_lineage=PREPARE,
                                   training=training(lake, "train-good", key, [QUIET]))
    assert first.blessed and first.model_version.version == "1"
    # ... and a later candidate a rule marked does not replace it
    later = condition_and_register(settings, lake, DATASET, DAY, registry=registry,
                                   runner=job_runner, candidate=report, prepare_lineage=PREPARE,
                                   training=training(lake, "train-later", key, [OVERFIT]))
    assert not later.blessed and later.champion_version.version == "1"
    assert "debugger:Overfit" in {f["check"] for f in later.blessing["failures"]}
    assert [v.version for v in registry.list_versions("debugger-model")] == ["1"]
