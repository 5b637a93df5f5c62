"""Debugger rules on the aws target, against moto's SageMaker and S3.

The CreateTrainingJob request carries the built-in rules (``DebugRuleConfigurations`` with
the Debugger rule image resolved offline, the parameters of ``training.debugger``, the
``StopTraining`` action under ``stop_training``), ``DebugHookConfig``, ``ProfilerConfig`` and
the ``ProfilerReport`` rule. moto runs no rule: each test states, through moto_ext's job-end
statement, the ``DebugRuleEvaluationStatuses`` SageMaker's rule containers would report, and
moto drops ``ProfilerConfig``, so those are read from the request as boto3 sent it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_helpers import BUCKET, LAKE_ROOT, REGION, client

from airsage.errors import GateFailedError
from airsage.jobs.aws import SageMakerJobRunner
from airsage.lake.aws import S3Lake
from airsage.lake.layout import LakeLayout

DAY = "2026-02-10"
PREFIX = LAKE_ROOT.split("/", 3)[3]
OVERFIT_FOUND = {"RuleConfigurationName": "Overfit", "RuleEvaluationStatus": "IssuesFound",
                 "StatusDetails": "RuleEvaluationConditionMet: Evaluation of the rule Overfit "
                                  "at step 12 resulted in the condition being met"}
QUIET = [{"RuleConfigurationName": name, "RuleEvaluationStatus": "NoIssuesFound"}
         for name in ("LossNotDecreasing", "ClassImbalance")]


def _settings(aws_settings: Any, action: str) -> Any:
    return aws_settings.with_overrides({"training": {"debugger": {
        "action": action, "rules": {"LossNotDecreasing": {"num_steps": 1},
                                    "Overfit": {"ratio_threshold": 0.25},
                                    "ClassImbalance": {"samples": 50}}}}})


@pytest.fixture
def lake(aws_env, aws_settings) -> S3Lake:
    lake = S3Lake(aws_settings)
    for split in ("train", "validation", "test"):
        lake.write_bytes(LakeLayout("reviews").features(DAY, split) + "part-0.parquet", b"PAR1")
    return lake


def _run(aws_env, settings, lake, statuses, status="Completed"):
    from airsage.training.step import feature_channels, train_model, train_request

    sagemaker = client("sagemaker")
    sent: list[dict[str, Any]] = []
    sagemaker.meta.events.register("provide-client-params.sagemaker.CreateTrainingJob",
                                   lambda params, **_: sent.append(dict(params)))
    request = train_request(settings, "reviews", DAY, feature_channels(lake, "reviews", DAY),
                            hyperparameters={"model_family": "tfidf_linear"})
    model = f"{BUCKET}/{PREFIX}/{request.output('model')}"
    aws_env.state_job_end(request.job_name, status=status, objects={model: b"model"},
                          debug_rule_evaluation_statuses=statuses)
    runner = SageMakerJobRunner(settings, client=sagemaker)

    def train() -> Any:
        return train_model(settings, lake, "reviews", DAY, runner=runner,
                           hyperparameters={"model_family": "tfidf_linear"})
    return request, sent, train


def test_the_training_job_request_carries_the_rules_hook_and_profiler(aws_env, aws_settings, lake):
    from sagemaker.core import image_uris

    settings = _settings(aws_settings, "mark_candidate")
    request, sent, train = _run(aws_env, settings, lake, [OVERFIT_FOUND, *QUIET])
    result = train()

    [params] = sent
    image = image_uris.retrieve("debugger", REGION)
    rules = {r["RuleConfigurationName"]: r for r in params["DebugRuleConfigurations"]}
    assert set(rules) == {"LossNotDecreasing", "Overfit", "ClassImbalance"}
    assert all(r["RuleEvaluatorImage"] == image for r in rules.values())
    assert rules["Overfit"]["RuleParameters"] == {
        "rule_to_invoke": "Overfit", "start_step": "0", "patience": "1", "ratio_threshold": "0.25"}
    assert rules["LossNotDecreasing"]["RuleParameters"]["num_steps"] == "1"
    assert not any("action_json" in r["RuleParameters"] for r in rules.values())
    job_prefix = f"{LAKE_ROOT}/models/reviews/{request.job_name}/"
    assert params["DebugHookConfig"]["S3OutputPath"] == job_prefix + "debug-output/"
    assert params["ProfilerConfig"]["S3OutputPath"] == job_prefix + "profiler-output/"
    assert params["ProfilerRuleConfigurations"] == [{
        "RuleConfigurationName": "ProfilerReport", "RuleEvaluatorImage": image,
        "RuleParameters": {"rule_to_invoke": "ProfilerReport"}}]
    # moto kept the rules; its DescribeTrainingJob answers the statuses the test stated
    described = client("sagemaker").describe_training_job(TrainingJobName=request.job_name)
    assert [r["RuleConfigurationName"] for r in described["DebugRuleConfigurations"]] == list(rules)

    # mark_candidate: the job completed, the finding rides on the result to the blessing
    assert result.status == "Completed"
    found = {e["RuleConfigurationName"]: e["RuleEvaluationStatus"]
             for e in result.debug_rule_evaluations}
    assert found == {"Overfit": "IssuesFound", "LossNotDecreasing": "NoIssuesFound",
                     "ClassImbalance": "NoIssuesFound"}
    from airsage.training.step import rule_evaluations_key

    kept = json.loads(S3Lake(settings).read_bytes(rule_evaluations_key("reviews", DAY)))
    assert kept["DebugRuleEvaluationStatuses"][0]["RuleConfigurationName"] == "Overfit"


def test_stop_training_sends_the_stop_action_and_the_stopped_job_fails_naming_the_rule(
        aws_env, aws_settings, lake):
    settings = _settings(aws_settings, "stop_training")
    request, sent, train = _run(aws_env, settings, lake, [OVERFIT_FOUND, *QUIET], status="Stopped")
    with pytest.raises(GateFailedError) as caught:
        train()
    [params] = sent
    for rule in params["DebugRuleConfigurations"]:  # SageMaker's StopTraining rule action
        action = rule["RuleParameters"]["action_json"]
        assert "stoptraining" in action and request.job_name in action
    assert [f.check for f in caught.value.failures] == ["debugger:Overfit"]
    assert "RuleEvaluationConditionMet" in str(caught.value)


def test_without_rules_the_request_has_no_debugger_configuration(aws_env, aws_settings, lake):
    settings = aws_settings.with_overrides({"training": {"debugger": {"enabled": False}}})
    _, sent, train = _run(aws_env, settings, lake, [])
    result = train()
    [params] = sent
    assert not {"DebugHookConfig", "DebugRuleConfigurations", "ProfilerConfig",
                "ProfilerRuleConfigurations"} & set(params)
    assert result.debug_rule_evaluations == ()
