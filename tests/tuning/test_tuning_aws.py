"""The aws tuning job's request (pure): one search space for Optuna and SageMaker, the
CreateHyperParameterTuningJob kwargs from a training job's CreateTrainingJob kwargs, names
within 32 characters, re-attach, and how a warm-start parent is judged."""

from __future__ import annotations

import math
from typing import Any

import pytest
from aws_training_job import IMAGE, ROLE, create_training_job_kwargs

from airsage.config import load_settings
from airsage.errors import ConfigurationError, StepFailed
from airsage.jobs.reattach import COLLECT, SUBMIT, WAIT, attempt_name, decide
from airsage.lake.layout import LakeLayout
from airsage.tuning.aws import (
    TUNING_NAME,
    previous_tuning_job,
    tuning_job_config,
    warm_start_from_previous,
    warm_start_type,
)
from airsage.tuning.job import TUNING_JOB_NAME_MAX, check_tuning_job_name
from airsage.tuning.space import TuningSpace, WarmStart
from airsage.tuning.step import tuning_request

DAY = "2024-04-01"
TUNED = ("C", "max_features", "ngram_max")


def _settings(**tuning: Any) -> Any:
    return load_settings(environ={}, overrides={"tuning": tuning} if tuning else {})


def _request(settings: Any = None, day: str = DAY, dataset: str = "reviews", **kwargs: Any) -> Any:
    layout = LakeLayout(dataset)
    channels = {split: layout.features(day, split) for split in ("train", "validation")}
    return tuning_request(settings or _settings(), dataset, day, channels, **kwargs)


# -- one space, two engines -------------------------------------------------------------------


def _sagemaker_view(ranges: dict[str, list[dict[str, Any]]]) -> dict[str, tuple[Any, ...]]:
    """SageMaker's ParameterRanges as (kind, low, high, scaling) or (kind, values)."""
    view: dict[str, tuple[Any, ...]] = {}
    for item in ranges["ContinuousParameterRanges"]:
        view[item["Name"]] = ("Continuous", float(item["MinValue"]), float(item["MaxValue"]),
                              item["ScalingType"])
    for item in ranges["IntegerParameterRanges"]:
        view[item["Name"]] = ("Integer", int(item["MinValue"]), int(item["MaxValue"]), item["ScalingType"])
    for item in ranges["CategoricalParameterRanges"]:
        view[item["Name"]] = ("Categorical", tuple(item["Values"]))
    return view


def _optuna_view(distributions: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Optuna's distributions in the same terms (a ``__one_minus`` name is 1 - x, log)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    view: dict[str, tuple[Any, ...]] = {}
    for name, d in distributions.items():
        if isinstance(d, CategoricalDistribution):
            view[name] = ("Categorical", tuple(d.choices))
        elif name.endswith("__one_minus"):
            view[name.removesuffix("__one_minus")] = (
                "Continuous", 1.0 - d.high, 1.0 - d.low, "ReverseLogarithmic")
        else:
            kind = "Integer" if isinstance(d, IntDistribution) else "Continuous"
            view[name] = (kind, d.low, d.high, "Logarithmic" if d.log else "Linear")
    return view


@pytest.mark.parametrize("ranges", [
    None,  # the shipped space
    {"C": {"type": "Continuous", "min": 0.001, "max": 10.0},  # Auto: >= 100x, logarithmic
     "alpha": {"type": "Continuous", "min": 0.1, "max": 0.9},  # Auto: linear
     "trees": {"type": "Integer", "min": 1, "max": 1000},  # Auto: logarithmic integers
     "beta": {"type": "Continuous", "min": 0.9, "max": 0.999, "scaling": "ReverseLogarithmic"},
     "model_family": {"type": "Categorical", "values": ["tfidf_linear", "bert"]}},
])
def test_one_space_definition_gives_sagemaker_and_optuna_the_same_ranges(ranges) -> None:
    settings = _settings(parameter_ranges=ranges) if ranges else _settings()
    space = TuningSpace.from_settings(settings)
    sagemaker = _sagemaker_view(space.parameter_ranges_dict())
    optuna = _optuna_view(space.optuna_distributions())
    assert set(sagemaker) == set(space.tuned_names())
    assert sagemaker.keys() == optuna.keys()
    for name, expected in sagemaker.items():
        got = optuna[name]
        if got[0] == "Categorical":
            assert got == expected, name
        else:
            assert (got[0], got[3]) == (expected[0], expected[3]), name
            assert math.isclose(got[1], expected[1]) and math.isclose(got[2], expected[2]), name
    if ranges:  # Auto is sent resolved, as Optuna samples it
        assert sagemaker["C"][3] == "Logarithmic" and sagemaker["alpha"][3] == "Linear"
        assert sagemaker["trees"] == ("Integer", 1, 1000, "Logarithmic")


# -- CreateHyperParameterTuningJob from CreateTrainingJob ------------------------------------


def test_the_tuning_job_config_carries_the_training_job_and_the_shared_space() -> None:
    request = _request()
    training = create_training_job_kwargs(request.training)
    config = tuning_job_config(training, request)
    assert config["HyperParameterTuningJobName"] == request.tuning_job_name == "reviews-20240401-hpo-31770ad8"
    hpo = config["HyperParameterTuningJobConfig"]
    assert hpo["Strategy"] == "Bayesian"
    assert hpo["HyperParameterTuningJobObjective"] == {
        "Type": "Maximize", "MetricName": "validation:macro_f1"}
    assert hpo["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 1}
    assert hpo["TrainingJobEarlyStoppingType"] == "Auto"
    assert hpo["ParameterRanges"] == request.search_space().parameter_ranges_dict() == {
        "ContinuousParameterRanges": [
            {"Name": "C", "MinValue": "0.01", "MaxValue": "10.0", "ScalingType": "Logarithmic"}],
        "IntegerParameterRanges": [
            {"Name": "max_features", "MinValue": "2000", "MaxValue": "50000", "ScalingType": "Linear"}],
        "CategoricalParameterRanges": [{"Name": "ngram_max", "Values": ["1", "2"]}],
    }
    definition = config["TrainingJobDefinition"]
    assert definition["AlgorithmSpecification"] == {
        "TrainingImage": IMAGE, "TrainingInputMode": "File",
        "MetricDefinitions": training["AlgorithmSpecification"]["MetricDefinitions"]}
    static = definition["StaticHyperParameters"]
    assert not set(TUNED) & set(static)
    assert static == {k: v for k, v in training["HyperParameters"].items() if k not in TUNED}
    assert static["model_family"] == "tfidf_linear" and static["sagemaker_program"] == '"train.py"'
    for key in ("InputDataConfig", "OutputDataConfig", "ResourceConfig", "StoppingCondition",
                "EnableManagedSpotTraining", "Environment"):
        assert definition[key] == training[key], key
    assert definition["RoleArn"] == ROLE
    assert [c["DataSource"]["S3DataSource"]["S3Uri"] for c in definition["InputDataConfig"]] == [
        "s3://airsage-lake/prod/features/reviews/dt=2024-04-01/train/",
        "s3://airsage-lake/prod/features/reviews/dt=2024-04-01/validation/"]
    assert "TrainingJobName" not in definition and "DebugHookConfig" not in definition
    assert config["Tags"] == training["Tags"]
    assert "WarmStartConfig" not in config


def test_limits_follow_the_params_and_early_stopping_the_config() -> None:
    request = _request(_settings(early_stopping="Off", max_jobs=8, max_parallel_jobs=3), max_jobs=2)
    config = tuning_job_config(create_training_job_kwargs(request.training), request)
    assert config["HyperParameterTuningJobConfig"]["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 2}
    assert config["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] == "Off"


def test_a_found_warm_start_is_used_unless_the_config_names_parents() -> None:
    request = _request()
    training = create_training_job_kwargs(request.training)
    found = WarmStart(("reviews-20240331-hpo-0a1b2c3d",), "TransferLearning")
    config = tuning_job_config(training, request, warm_start=found)
    assert config["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "reviews-20240331-hpo-0a1b2c3d"}],
        "WarmStartType": "TransferLearning"}
    pinned = _request(_settings(warm_start={"parents": ["reviews-20240301-hpo-99999999"]}))
    config = tuning_job_config(create_training_job_kwargs(pinned.training), pinned, warm_start=found)
    assert config["WarmStartConfig"]["ParentHyperParameterTuningJobs"] == [
        {"HyperParameterTuningJobName": "reviews-20240301-hpo-99999999"}]
    assert config["WarmStartConfig"]["WarmStartType"] == "IdenticalDataAndAlgorithm"
    itself = WarmStart(("reviews-20240331-hpo-0a1b2c3d", request.tuning_job_name))
    with pytest.raises(ConfigurationError, match="lists itself as a warm-start parent"):
        tuning_job_config(training, request, warm_start=itself)


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t["AlgorithmSpecification"].update(MetricDefinitions=[
        {"Name": "validation:accuracy", "Regex": "validation:accuracy=([0-9\\.]+)"}]),
     r"capture no 'validation:macro_f1' metric \(the tuning objective\)"),
    (lambda t: t["HyperParameters"].update(epochs=3), r"hyperparameters \['epochs'\] that are not strings"),
    (lambda t: t.pop("RoleArn"), r"lack \['RoleArn'\]"),
    (lambda t: t.update(Profiler={"x": 1}), r"have keys \['Profiler'\] a tuning job's TrainingJobDefinition"),
    (lambda t: t["AlgorithmSpecification"].pop("TrainingImage"), r"name neither a TrainingImage"),
])
def test_a_training_job_the_tuning_job_cannot_carry_is_refused_naming_why(change, message) -> None:
    request = _request()
    training = create_training_job_kwargs(request.training)
    change(training)
    with pytest.raises(ConfigurationError, match=f"tuning job {request.tuning_job_name}: .*{message}"):
        tuning_job_config(training, request)


def test_warm_start_from_previous_is_on_by_default_and_must_be_a_boolean() -> None:
    assert warm_start_from_previous(_settings()) is True
    assert warm_start_from_previous(_settings(warm_start={"from_previous": False})) is False
    with pytest.raises(ConfigurationError, match="from_previous must be true or false, got 'yes'"):
        warm_start_from_previous(_settings(warm_start={"from_previous": "yes"}))


# -- names and re-attach ----------------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["reviews", "customer-reviews-sentiment-europe-west"])
def test_tuning_job_names_and_their_attempts_stay_within_32_characters(dataset) -> None:
    request = _request(dataset=dataset)
    names = [attempt_name(request.tuning_job_name, n, max_length=TUNING_JOB_NAME_MAX) for n in range(1, 6)]
    assert all(len(name) <= 32 and check_tuning_job_name(name) == name for name in names)
    assert len(set(names)) == 5 and names[1].endswith("-r2")
    assert all(TUNING_NAME.match(name) for name in names)
    # SageMaker names the trials <tuning job>-NNN-<8 hex>: within the 63 of a training job
    assert len(names[-1]) + len("-001-0123abcd") <= 63
    assert _request(dataset=dataset).tuning_job_name == request.tuning_job_name  # deterministic
    with pytest.raises(ConfigurationError, match="not a valid SageMaker tuning job name: use 1-32"):
        check_tuning_job_name("a" * 33)


@pytest.mark.parametrize(("statuses", "action", "attempt"), [
    ({}, SUBMIT, 1),
    ({1: "InProgress"}, WAIT, 1),
    ({1: "Completed"}, COLLECT, 1),
    ({1: "Failed"}, SUBMIT, 2),
    ({1: "Stopped", 2: "Failed"}, SUBMIT, 3),
    ({1: "Failed", 2: "Stopping"}, WAIT, 2),
])
def test_decide_over_tuning_job_statuses(statuses, action, attempt) -> None:
    base = _request(dataset="customer-reviews-sentiment").tuning_job_name
    by_name = {attempt_name(base, n, max_length=32): s for n, s in statuses.items()}
    decision = decide(base, by_name.get, max_length=32)
    assert (decision.action, decision.attempt) == (action, attempt)
    assert decision.job_name == attempt_name(base, attempt, max_length=32) and len(decision.job_name) <= 32


def test_five_failed_attempts_need_a_person() -> None:
    with pytest.raises(StepFailed, match="5 attempts ended without completing"):
        decide("reviews-20240401-hpo-31770ad8", lambda name: "Failed", max_length=32)


# -- warm start ------------------------------------------------------------------------------


def _parent(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A DescribeHyperParameterTuningJob answer for a job created with ``config``."""
    described = {"HyperParameterTuningJobName": "reviews-20240331-hpo-0a1b2c3d",
                 "HyperParameterTuningJobStatus": "Completed",
                 "HyperParameterTuningJobConfig": config["HyperParameterTuningJobConfig"],
                 "TrainingJobDefinition": config["TrainingJobDefinition"]}
    described.update(changes)
    return described


def test_the_warm_start_type_follows_the_data_window_and_a_mismatch_is_no_parent() -> None:
    today = _request()
    config = tuning_job_config(create_training_job_kwargs(today.training), today)
    assert warm_start_type(_parent(config), config) == "IdenticalDataAndAlgorithm"
    yesterday = _request(day="2024-03-31")
    earlier = tuning_job_config(create_training_job_kwargs(yesterday.training), yesterday)
    assert warm_start_type(_parent(earlier), config) == "TransferLearning"
    other_image = tuning_job_config(create_training_job_kwargs(today.training, image="other:1"), today)
    assert warm_start_type(_parent(other_image), config) == "TransferLearning"
    more = dict(config["TrainingJobDefinition"],
                StaticHyperParameters={**config["TrainingJobDefinition"]["StaticHyperParameters"], "x": "1"})
    assert warm_start_type(_parent(config, TrainingJobDefinition=more), config) is None
    categorical_c = _request(_settings(parameter_ranges={
        "C": {"type": "Categorical", "values": ["0.1", "1"]},
        "max_features": {"type": "Integer", "min": 2000, "max": 50000},
        "ngram_max": {"type": "Categorical", "values": ["1", "2"]}}))
    changed = tuning_job_config(create_training_job_kwargs(categorical_c.training), categorical_c)
    assert warm_start_type(_parent(changed), config) is None


def test_a_tuning_name_that_is_not_airsages_cannot_look_for_its_parent() -> None:
    with pytest.raises(ConfigurationError, match="is not <scope>-<yyyymmdd>-hpo-<hash>"):
        previous_tuning_job(object(), {"HyperParameterTuningJobName": "my-tuning-job"})


def test_a_parent_with_another_objective_or_too_many_static_tuned_switches_is_no_parent() -> None:
    import copy

    today = _request()
    config = tuning_job_config(create_training_job_kwargs(today.training), today)
    minimize = copy.deepcopy(config)
    minimize["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["Type"] = "Minimize"
    assert warm_start_type(_parent(minimize), config) is None

    def switched(count: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """A child tuning ``count`` more hyperparameters that its parent held static."""
        child, parent = copy.deepcopy(config), copy.deepcopy(config)
        names = [f"h{i}" for i in range(count)]
        child["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"] += [
            {"Name": n, "MinValue": "0.0", "MaxValue": "1.0", "ScalingType": "Linear"} for n in names]
        parent["TrainingJobDefinition"]["StaticHyperParameters"].update({n: "0.5" for n in names})
        return child, parent

    child, parent = switched(10)
    assert warm_start_type(_parent(parent), child) == "IdenticalDataAndAlgorithm"
    child, parent = switched(11)
    assert warm_start_type(_parent(parent), child) is None


def test_the_plan_lists_the_tuning_steps_calls_in_order() -> None:
    from airsage.tuning.aws import tuning_calls

    request = _request()
    config = tuning_job_config(create_training_job_kwargs(request.training), request)
    calls = tuning_calls(config)
    assert [(c.service, c.operation) for c in calls] == [
        ("sagemaker", "DescribeHyperParameterTuningJob"), ("sagemaker", "ListHyperParameterTuningJobs"),
        ("sagemaker", "CreateHyperParameterTuningJob"), ("sagemaker", "DescribeHyperParameterTuningJob"),
        ("sagemaker", "ListTrainingJobsForHyperParameterTuningJob"), ("sagemaker", "DescribeTrainingJob"),
        ("s3", "CopyObject")]
    assert calls[2].parameters == config
    assert calls[0].to_dict()["parameters"] == {"HyperParameterTuningJobName": request.tuning_job_name}
