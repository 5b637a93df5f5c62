"""The Optuna tuner runs real training jobs per trial, prunes poor ones and warm starts."""

from __future__ import annotations

import json
from pathlib import Path

import optuna

from airsage.training.job import TrainingJobSpec
from airsage.tuning.local import OptunaTuner
from airsage.tuning.space import TuningSpace

PROBE = Path(__file__).resolve().parents[1] / "training" / "probe_script.py"
METRICS = ("validation:accuracy", "validation:macro_f1", "train:loss")
SPACE = {
    "objective": {"metric": "validation:macro_f1", "type": "Maximize"},
    "max_jobs": 4,
    "early_stopping": "Off",
    "parameter_ranges": {
        "C": {"type": "Continuous", "min": 0.0001, "max": 10.0, "scaling": "Logarithmic"},
        "ngram_max": {"type": "Categorical", "values": ["1", "2"]},
    },
}


def _base(features, **changes) -> TrainingJobSpec:
    spec = TrainingJobSpec(
        job_name="reviews-tune",
        hyperparameters={"model_family": "tfidf_linear", "max_features": 2000},
        channels=dict(features),
    )
    return spec.with_changes(**changes)


def test_four_trials_find_an_objective_better_than_the_worst(settings, lake, features):
    space = TuningSpace.from_mapping(SPACE, metric_names=METRICS)
    result = OptunaTuner(settings).tune(lake, "reviews", _base(features), space, tuning_job_name="hpo-a")

    assert len(result.trials) == 4 and all(t.state == "Completed" for t in result.trials)
    values = [t.objective_value for t in result.trials]
    assert result.best_value == max(values) > min(values)
    assert result.best.final_metrics["validation:macro_f1"] == result.best_value
    assert result.best.job_name.startswith("hpo-a-")
    assert lake.exists(result.best.model_artifact_key)
    assert {t.hyperparameters["ngram_max"] for t in result.trials} <= {"1", "2"}
    assert all(1e-4 <= t.hyperparameters["C"] <= 10 for t in result.trials)
    json.dumps(result.to_dict())
    study = optuna.load_study(study_name="hpo-a", storage=result.storage)
    assert len(study.trials) == 4


def test_poor_trials_are_pruned_and_their_jobs_stopped(settings, lake, features):
    space = TuningSpace.from_mapping(
        {
            **SPACE,
            "max_jobs": 6,
            "early_stopping": "Auto",
            "strategy": "Random",
            "parameter_ranges": {"quality": {"type": "Continuous", "min": 0.05, "max": 1.0}},
        },
        metric_names=METRICS,
    )
    base = _base(features, entry_point=PROBE, hyperparameters={"probe_mode": "epochs"})
    result = OptunaTuner(settings).tune(lake, "reviews", base, space, tuning_job_name="hpo-prune")

    stopped = [t for t in result.trials if t.state == "Stopped"]
    assert stopped, [(t.hyperparameters["quality"], t.state) for t in result.trials]
    for trial in stopped:
        assert len(trial.intermediate_values) < 6  # killed before its final report
        assert trial.training_job.model_artifact_key is None
        assert trial.objective_value is None
    study = optuna.load_study(study_name="hpo-prune", storage=result.storage)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert len(pruned) == len(stopped)
    assert result.best.status == "Completed"


def test_a_postgres_storage_url_is_reported_without_its_password() -> None:
    from airsage.tuning.local import _without_password

    assert _without_password("postgresql+psycopg2://airflow:s3cret@postgres/optuna") == (
        "postgresql+psycopg2://airflow:***@postgres/optuna")
    assert _without_password("sqlite:////tmp/optuna.db") == "sqlite:////tmp/optuna.db"
