"""The tune step's request and collect phases, without a tuning run and without Airflow."""

from __future__ import annotations

import json

import pytest

from airsage.errors import ConfigurationError, StepFailed
from airsage.jobs.request import JobRequest
from airsage.lake.layout import LakeLayout
from airsage.training.job import TrainingJobResult
from airsage.tuning.job import TrialResult, TuningRequest, TuningResult
from airsage.tuning.space import TuningSpace
from airsage.tuning.step import collect_tuning, run_tuning, tuning_request

DAY = "2024-05-01"
CHANNELS = {"train": f"features/reviews/dt={DAY}/train/",
            "validation": f"features/reviews/dt={DAY}/validation/"}


def _request(settings, **kwargs) -> TuningRequest:
    return tuning_request(settings, "reviews", DAY, CHANNELS, **kwargs)


def test_the_request_names_the_job_the_base_training_job_and_the_space(settings):
    settings = settings.with_overrides({"tuning": {
        "strategy": "Random", "max_parallel_jobs": 2, "early_stopping": "Off",
        "warm_start": {"parents": ["reviews-20240430-hpo-0a1b2c3d"]}}})
    request = _request(settings, max_jobs=3, hyperparameters={"max_features": 3000})

    assert request.tuning_job_name.startswith("reviews-20240501-hpo-")
    assert len(request.tuning_job_name) <= 32
    assert request.training.kind == "training" and request.training.inputs == CHANNELS
    assert request.training.config["max_features"] == 3000
    assert request.training.outputs == {
        "model": LakeLayout("reviews").model_artifact(request.training.job_name)}
    assert (request.strategy, request.max_jobs, request.max_parallel_jobs,
            request.early_stopping) == ("Random", 3, 2, "Off")
    assert request.warm_start_parents == ("reviews-20240430-hpo-0a1b2c3d",)
    assert request.space == TuningSpace.from_settings(settings).with_changes(
        max_jobs=3, max_parallel_jobs=2).to_dict()
    assert request.report_key == LakeLayout("reviews").report("tuning", DAY, "tuning_result.json")


def test_the_request_is_deterministic_and_round_trips_through_json(settings):
    request = _request(settings, max_jobs=2)
    assert _request(settings, max_jobs=2) == request
    assert _request(settings, max_jobs=3).tuning_job_name != request.tuning_job_name
    assert _request(settings, max_jobs=2, hyperparameters={"C": 2.0}).tuning_job_name != \
        request.tuning_job_name
    text = json.dumps(request.to_dict(), allow_nan=False)
    again = TuningRequest.from_dict(json.loads(text))
    assert again == request
    assert again.search_space() == request.search_space()
    spec = again.base_spec()
    assert spec.job_name == request.training.job_name and dict(spec.channels) == CHANNELS
    assert dict(spec.hyperparameters) == request.training.config


def test_the_request_refuses_a_bad_name_a_processing_job_or_a_bad_space(settings):
    request = _request(settings)
    raw = request.to_dict()
    with pytest.raises(ConfigurationError, match="not a valid SageMaker tuning job name"):
        TuningRequest.from_dict({**raw, "tuning_job_name": "x" * 33})
    processing = JobRequest(kind="processing", job_name="reviews-20240501-bias", script="bias.py",
                            inputs={}, outputs={})
    with pytest.raises(ConfigurationError, match="a tuning job varies a training job"):
        TuningRequest.from_dict({**raw, "training": processing.to_dict()})
    with pytest.raises(ConfigurationError, match=r"exceeds tuning\.max_jobs"):
        TuningRequest.from_dict({**raw, "space": {**raw["space"], "max_parallel_jobs": 99}})
    with pytest.raises(ConfigurationError, match="lacks 'space'"):
        TuningRequest.from_dict({k: v for k, v in raw.items() if k != "space"})


def _result(request: TuningRequest) -> TuningResult:
    job = TrainingJobResult(
        job_name=f"{request.tuning_job_name}-001", status="Completed",
        model_artifact_key="models/reviews/j/model.tar.gz", model_artifact_uri="file:///m",
        final_metrics={"validation:macro_f1": 0.75}, failure_reason=None, log_tail="done",
        duration_seconds=1.5, hyperparameters={"C": 0.5, "model_family": "tfidf_linear"},
        metric_history={"validation:macro_f1": (0.5, 0.75)})
    failed = TrialResult(0, f"{request.tuning_job_name}-000", "Failed", {"C": 9.0}, None)
    best = TrialResult(1, job.job_name, "Completed", dict(job.hyperparameters), 0.75, (0.5, 0.75),
                       job)
    return TuningResult(tuning_job_name=request.tuning_job_name, best=job, trials=[failed, best],
                        objective="validation:macro_f1", objective_type="Maximize",
                        best_value=0.75, duration_seconds=3.0, warm_start_parents=("p",),
                        storage="sqlite:///x.db", space=dict(request.space))


class _FakeTuner:
    """Stands in for the target's tuner: records what it was given, returns a fixed result."""

    def __init__(self, result: TuningResult) -> None:
        self.result = result
        self.calls: list[tuple] = []

    def tune(self, lake, dataset, base_spec, space, *, tuning_job_name=None) -> TuningResult:
        self.calls.append((dataset, base_spec, space, tuning_job_name))
        return self.result


def test_run_hands_the_tuner_the_request_and_collect_reads_the_same_result_back(settings, lake):
    request = _request(settings, max_jobs=2)
    tuner = _FakeTuner(_result(request))
    run_tuning(lake, request, tuner=tuner)
    [(dataset, base_spec, space, name)] = tuner.calls
    assert (dataset, name) == ("reviews", request.tuning_job_name)
    assert base_spec == request.base_spec() and space == request.search_space()

    collected = collect_tuning(lake, request)
    assert collected == tuner.result
    assert isinstance(collected.best, TrainingJobResult)
    assert collected.trials[1].training_job == tuner.result.best


def test_collect_refuses_a_missing_or_foreign_result(settings, lake):
    request = _request(settings, max_jobs=2)
    with pytest.raises(StepFailed, match="left no result"):
        collect_tuning(lake, request)
    other = _request(settings, max_jobs=3)
    lake.write_bytes(request.report_key, json.dumps(_result(other).to_dict()).encode())
    with pytest.raises(StepFailed, match="not " + request.tuning_job_name):
        collect_tuning(lake, request)
