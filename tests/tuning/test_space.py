"""The search space: parsed from settings with clear errors, converted to SageMaker's request."""

from __future__ import annotations

import optuna
import pytest

from airsage.config import load_settings
from airsage.errors import ConfigurationError
from airsage.tuning.space import (
    CategoricalParameterRange,
    ContinuousParameterRange,
    IntegerParameterRange,
    TuningSpace,
    parse_range,
)

METRICS = ("validation:accuracy", "validation:macro_f1", "train:loss")


def _space(**overrides):
    raw = {
        "objective": {"metric": "validation:macro_f1", "type": "Maximize"},
        "parameter_ranges": {"C": {"type": "Continuous", "min": 0.01, "max": 10, "scaling": "Logarithmic"}},
        **overrides,
    }
    return TuningSpace.from_mapping(raw, metric_names=METRICS)


def test_the_shipped_settings_parse():
    space = TuningSpace.from_settings(load_settings(environ={}))
    assert space.objective_metric == "validation:macro_f1"
    assert [p.name for p in space.parameter_ranges] == ["C", "max_features", "ngram_max"]
    assert space.strategy == "Bayesian" and space.early_stopping == "Auto"
    assert space.warm_start is None


def test_parameter_ranges_convert_to_the_create_tuning_job_request():
    space = _space(
        parameter_ranges={
            "C": {"type": "Continuous", "min": 0.01, "max": 10.0, "scaling": "Logarithmic"},
            "max_features": {"type": "Integer", "min": 2000, "max": 50000, "scaling": "Linear"},
            "ngram_max": {"type": "Categorical", "values": [1, 2]},
            "momentum": {"type": "continuous", "min": 0.5, "max": 0.99, "scaling": "ReverseLogarithmic"},
        },
        max_jobs=10, max_parallel_jobs=2,
        warm_start={"parents": ["reviews-20240501-hpo-ab12"], "type": "TransferLearning"},
    )
    assert space.parameter_ranges_dict() == {
        "ContinuousParameterRanges": [
            {"Name": "C", "MinValue": "0.01", "MaxValue": "10.0", "ScalingType": "Logarithmic"},
            {"Name": "momentum", "MinValue": "0.5", "MaxValue": "0.99", "ScalingType": "ReverseLogarithmic"},
        ],
        "IntegerParameterRanges": [
            {"Name": "max_features", "MinValue": "2000", "MaxValue": "50000", "ScalingType": "Linear"},
        ],
        "CategoricalParameterRanges": [{"Name": "ngram_max", "Values": ["1", "2"]}],
    }
    config = space.tuning_job_config()
    assert config["Strategy"] == "Bayesian"
    assert config["HyperParameterTuningJobObjective"] == {
        "Type": "Maximize", "MetricName": "validation:macro_f1"
    }
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 10, "MaxParallelTrainingJobs": 2}
    assert config["TrainingJobEarlyStoppingType"] == "Auto"
    assert space.warm_start_config() == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "reviews-20240501-hpo-ab12"}],
        "WarmStartType": "TransferLearning",
    }


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ({"C": {"type": "Continuous", "min": 5, "max": 1}},
         r"parameter_ranges\.C: min 5 is greater than max 1"),
        ({"C": {"type": "Continuous", "min": 0, "max": 1, "scaling": "Logarithmic"}},
         r"C: Logarithmic scaling needs min > 0"),
        ({"m": {"type": "Continuous", "min": 0.5, "max": 1.5, "scaling": "ReverseLogarithmic"}},
         r"m: ReverseLogarithmic"),
        ({"n": {"type": "Integer", "min": 1.5, "max": 4}}, r"n\.min must be a whole number"),
        ({"n": {"type": "Integer", "min": 1}}, r"parameter_ranges\.n lacks 'max'"),
        ({"n": {"type": "Discrete", "min": 1, "max": 2}}, r"n\.type 'Discrete' is not one of"),
        ({"k": {"type": "Categorical", "values": []}}, r"k: a Categorical range needs values"),
        ({"k": {"type": "Categorical", "values": "ab"}}, r"k\.values must be a list"),
        ({"C": {"type": "Continuous", "min": 1, "max": 2, "scaling": "Exponential"}},
         r"C: scaling 'Exponential'"),
        ({}, r"parameter_ranges is empty"),
    ],
)
def test_bad_ranges_are_refused_naming_the_parameter(ranges, message):
    with pytest.raises(ConfigurationError, match=message):
        _space(parameter_ranges=ranges)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"objective": {"metric": "validation:auc"}}, r"'validation:auc' is not captured"),
        ({"objective": {"metric": "validation:macro_f1", "type": "Maximise"}}, r"type 'Maximise'"),
        ({"max_jobs": 2, "max_parallel_jobs": 3}, r"max_parallel_jobs 3 exceeds tuning.max_jobs 2"),
        ({"max_jobs": 0}, r"max_jobs must be a whole number >= 1"),
        ({"strategy": "Hyperband"}, r"strategy 'Hyperband' is not supported"),
        ({"early_stopping": "On"}, r"early_stopping 'On'"),
        ({"warm_start": {"parents": ["a"], "type": "Clone"}}, r"warm_start.type 'Clone'"),
    ],
)
def test_bad_tuning_settings_are_refused(overrides, message):
    with pytest.raises(ConfigurationError, match=message):
        _space(**overrides)


def test_auto_scaling_and_sampling_stay_inside_the_ranges():
    wide = ContinuousParameterRange("C", 0.001, 10.0)
    narrow = IntegerParameterRange("n", 1, 5)
    reverse = ContinuousParameterRange("beta", 0.9, 0.999, "ReverseLogarithmic")
    choice = CategoricalParameterRange("k", ("a", "b"))
    assert wide.effective_scaling == "Logarithmic" and narrow.effective_scaling == "Linear"
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        assert 0.001 <= wide.suggest(trial) <= 10.0
        assert narrow.suggest(trial) in range(1, 6)
        assert 0.9 <= reverse.suggest(trial) <= 0.999
        assert choice.suggest(trial) in ("a", "b")
        study.tell(trial, 0.0)


def test_parse_range_accepts_lowercase_types():
    assert parse_range("n", {"type": "integer", "min": 1, "max": 3}).kind == "Integer"
