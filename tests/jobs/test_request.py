"""Job requests: deterministic SageMaker-valid names, lake keys only, JSON-safe round trips."""

from __future__ import annotations

import datetime as dt_
import json

import pytest

from airsage.errors import ConfigurationError
from airsage.jobs.request import JOB_NAME_PATTERN, JobOutcome, JobRequest, job_name
from airsage.training.step import job_name_for


def _request(**changes: object) -> JobRequest:
    fields: dict[str, object] = {
        "kind": "processing", "job_name": "reviews-20240501-bias-gate", "script": "bias.py",
        "inputs": {"data": "curated/reviews/dt=2024-05-01/reviews.parquet"},
        "outputs": {"analysis": "reports/bias/reviews/dt=2024-05-01/pre_training/"},
        "config": {"label": "sentiment"}, "timeout_seconds": 60,
    }
    fields.update(changes)
    return JobRequest(**fields)  # type: ignore[arg-type]


def test_job_names_are_deterministic_distinct_per_step_and_valid_for_sagemaker() -> None:
    name = job_name("reviews", "2024-05-01", "evaluate-candidate")
    assert name == "reviews-20240501-evaluate-candidate"
    assert name == job_name("reviews", dt_.date(2024, 5, 1), "evaluate-candidate")
    assert name != job_name("reviews", "2024-05-01", "evaluate-champion")
    hourly = job_name("reviews-sentiment", dt_.datetime(2024, 5, 1, 10), "monitor", {"end": 1})
    assert hourly.startswith("reviews-sentiment-2024050110-monitor-")
    assert hourly != job_name("reviews-sentiment", dt_.datetime(2024, 5, 1, 10), "monitor",
                              {"end": 2})
    long = job_name("a_very/long dataset name " * 5, "2024-05-01", "bias_gate", {"x": 1})
    assert len(long) <= 63 and JOB_NAME_PATTERN.match(long)
    assert long.endswith("-20240501-bias-gate-" + long.rsplit("-", 1)[1])


def test_training_job_names_keep_their_format() -> None:
    """The train and tune steps name jobs as before (reruns re-attach to their own)."""
    name = job_name_for("reviews", "2024-05-01", "tfidflinear", {"C": 0.5})
    assert name.startswith("reviews-20240501-tfidflinear-") and len(name.rsplit("-", 1)[1]) == 8
    assert len(job_name_for("reviews" * 10, "2024-05-01", "hpo", {}, max_length=32)) <= 32


def test_a_request_round_trips_through_json() -> None:
    request = _request(inputs={"endpoint": ("capture/e/v/2024/05/01/10/a.jsonl",),
                               "baseline": "monitoring/baselines/m/1/", "groundtruth": ()})
    raw = json.loads(json.dumps(request.to_dict()))
    assert raw["inputs"]["endpoint"] == ["capture/e/v/2024/05/01/10/a.jsonl"]
    assert JobRequest.from_dict(raw) == request


@pytest.mark.parametrize(("changes", "message"), [
    ({"job_name": "bad_name"}, "not a valid SageMaker job name"),
    ({"job_name": "x" * 64}, "not a valid SageMaker job name"),
    ({"kind": "batch"}, "kind 'batch'"),
    ({"inputs": {"data": "/tmp/worker/file.parquet"}}, "not a lake key"),
    ({"inputs": {"data": "raw/../secrets"}}, "not a lake key"),
    ({"inputs": {"config": "x/config.json"}}, "reserved"),
    ({"inputs": {"bad channel": "x/y"}}, "input channel"),
    ({"outputs": {"analysis": "reports/bias/analysis.json"}}, "lake prefix ending in '/'"),
    ({"config": {"threshold": float("nan")}}, "config must be a JSON object"),
    ({"config": {"when": dt_.date(2024, 1, 1)}}, "config must be a JSON object"),
    ({"timeout_seconds": 0}, "timeout_seconds"),
    ({"metric_definitions": ({"Name": "acc", "Regex": "acc=[0-9.]+"},)}, "capture group"),
])
def test_a_bad_request_is_refused_naming_the_problem(changes: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        _request(**changes)


def test_a_training_request_has_one_output_the_model_archive() -> None:
    common = {"kind": "training", "script": "train.py", "inputs": {"train": "features/t/"}}
    ok = _request(**common, outputs={"model": "models/reviews/j/output/model.tar.gz"})
    assert ok.output("model").endswith("model.tar.gz")
    with pytest.raises(ConfigurationError, match="one output, 'model'"):
        _request(**common, outputs={"model": "models/reviews/j/output/"})
    with pytest.raises(ConfigurationError, match="no output 'report'"):
        ok.output("report")


def test_an_outcome_keeps_every_metric_value_and_reports_the_last() -> None:
    outcome = JobOutcome(job_name="j", status="Completed", exit_code=0, failure_reason=None,
                         last_stderr_line="", log_tail="", duration_seconds=1.0,
                         metric_history={"acc": (0.1, 0.7), "none": ()})
    assert outcome.final_metrics == {"acc": 0.7}
    assert json.loads(json.dumps(outcome.to_dict()))["metric_history"] == {"acc": [0.1, 0.7],
                                                                          "none": []}
    with pytest.raises(ValueError, match="not one of"):
        JobOutcome(job_name="j", status="InProgress", exit_code=None, failure_reason=None,
                   last_stderr_line="", log_tail="", duration_seconds=0.0)
