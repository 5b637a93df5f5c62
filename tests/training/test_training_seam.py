"""The train step's request and collect phases, without a job run and without Airflow."""

from __future__ import annotations

import json

import pytest
from featuredata import DAY

from airsage.errors import InputDataError, StepFailed
from airsage.jobs.request import JobOutcome, JobRequest
from airsage.lake.layout import LakeLayout
from airsage.training.job import TrainingSettings
from airsage.training.step import collect_training, train_request

CHANNELS = {"train": f"features/reviews/dt={DAY}/train/",
            "validation": f"features/reviews/dt={DAY}/validation/"}


def test_the_request_names_channels_hyperparameters_and_the_model_key(settings):
    request = train_request(settings, "reviews", DAY, CHANNELS, hyperparameters={"C": 0.5})
    assert request.kind == "training" and request.script.endswith("include/jobs/train.py")
    assert request.inputs == CHANNELS
    assert request.job_name.startswith("reviews-20240501-tfidflinear-")
    assert request.outputs == {"model": LakeLayout("reviews").model_artifact(request.job_name)}
    assert request.config["C"] == 0.5 and request.config["model_family"] == "tfidf_linear"
    assert request.config["max_features"] == 20000  # the family's configured defaults
    config = TrainingSettings.from_settings(settings)
    assert request.timeout_seconds == config.timeout_seconds
    # the configured metrics first, then the ones the Debugger rules read (issue 15)
    names = [d["Name"] for d in request.metric_definitions]
    assert names[:len(config.metric_definitions)] == [d["Name"] for d in config.metric_definitions]
    assert "train:epoch_loss" in names[len(config.metric_definitions):]
    assert set(request.debugger["rules"]) == {"LossNotDecreasing", "Overfit", "ClassImbalance"}
    assert train_request(settings, "reviews", DAY, CHANNELS, hyperparameters={"C": 0.5}) == request
    assert train_request(settings, "reviews", DAY, CHANNELS,
                         hyperparameters={"C": 2.0}).job_name != request.job_name
    assert JobRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request


def _outcome(request: JobRequest, status: str = "Completed", exit_code: int | None = 0,
             reason: str | None = None) -> JobOutcome:
    return JobOutcome(job_name=request.job_name, status=status, exit_code=exit_code,
                      failure_reason=reason, last_stderr_line="", log_tail="last line",
                      duration_seconds=2.5,
                      metric_history={"validation:accuracy": (0.5, 0.8), "train:loss": ()},
                      output_keys=(request.output("model"),) if status == "Completed" else ())


def test_collect_returns_the_result_with_the_artifact_read_back(settings, lake):
    request = train_request(settings, "reviews", DAY, CHANNELS)
    lake.write_bytes(request.output("model"), b"tar")
    result = collect_training(lake, request, _outcome(request))
    assert result.status == "Completed"
    assert result.model_artifact_key == request.output("model")
    assert result.model_artifact_uri == lake.uri(request.output("model"))
    assert result.final_metrics == {"validation:accuracy": 0.8}
    assert result.metric_history["validation:accuracy"] == (0.5, 0.8)
    assert result.hyperparameters == request.config


def test_collect_refuses_a_job_that_did_not_complete_or_left_no_model(settings, lake):
    request = train_request(settings, "reviews", DAY, CHANNELS)
    with pytest.raises(StepFailed, match=r"model artifact .* is not in the lake"):
        collect_training(lake, request, _outcome(request))
    with pytest.raises(InputDataError, match="lacks column"):
        collect_training(lake, request, _outcome(request, "Failed", 2, "lacks column sentiment"))
    with pytest.raises(StepFailed, match="ended Stopped: stopped: the job exceeded"):
        collect_training(lake, request, _outcome(request, "Stopped", None,
                                                 "stopped: the job exceeded its 5 s time limit"))
