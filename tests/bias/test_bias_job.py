"""The bias job script under the job contract, run by the one local runner in a subprocess."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from bias_helpers import confusion_frame

from airsage import targets
from airsage.bias.metrics import posttraining_metrics, pretraining_metrics
from airsage.bias.report import read_metrics
from airsage.errors import InputDataError, StepFailed
from airsage.jobs.local import LocalJobRunner
from airsage.jobs.request import JobRequest

FRAME = pd.DataFrame({
    "department_name": ["Tops"] * 6 + ["Intimate"] * 4,
    "sentiment": [1, 1, 0, 1, 1, -1, 1, -1, 0, -1],
    "age": [30, 31, 30, 45, 45, 45, 30, 31, 45, 45],
})
CONFIG = {
    "dataset_type": "application/x-parquet",
    "label": "sentiment",
    "label_values_or_threshold": [1],
    "label_type": "values",  # 10 rows of -1/0/1: Clarify alone would infer a threshold
    "facet": [{"name_or_index": "department_name", "value_or_threshold": ["Intimate"]}],
    "group_variable": "age",
    "methods": {"pre_training_bias": {"methods": "all"}},
}


OUTPUT = "reports/bias-job-test/"


def _put(lake, frame: pd.DataFrame, name: str = "batch.parquet") -> str:
    key = f"curated/test/{name}"
    buffer = io.BytesIO()
    if name.endswith(".csv"):
        buffer.write(frame.to_csv(index=False).encode())
    else:
        frame.to_parquet(buffer, index=False)
    lake.write_bytes(key, buffer.getvalue())
    return key


def _request(data_key: str, config: dict, script: str = "bias.py") -> JobRequest:
    return JobRequest(kind="processing", job_name="reviews-20240301-bias-test", script=script,
                      inputs={"data": data_key}, outputs={"analysis": OUTPUT}, config=config,
                      timeout_seconds=120)


def _run(runner, lake, data_key: str, config: dict, script: str = "bias.py") -> dict:
    runner.run(lake, _request(data_key, config, script))
    return json.loads(lake.read_bytes(OUTPUT + "analysis.json"))


def test_the_local_target_runs_the_bias_job_with_the_one_job_runner(settings):
    assert isinstance(targets.Engines(settings).jobs, LocalJobRunner)


def test_job_writes_the_same_metrics_as_the_library(job_runner, lake):
    analysis = _run(job_runner, lake, _put(lake, FRAME), CONFIG)
    expected = pretraining_metrics(FRAME, facet="department_name", facet_values=["Intimate"],
                                   label="sentiment", label_values=[1], group="age")
    assert read_metrics(analysis, facet="department_name") == pytest.approx(expected)
    section = analysis["pre_training_bias_metrics"]
    assert section["label_value_or_threshold"] == "1"
    assert section["facets"]["department_name"][0]["value_or_threshold"] == "Intimate"


def test_job_reads_csv_and_computes_post_training_and_threshold_facets(job_runner, lake):
    frame = confusion_frame({"TP": 6, "FP": 1, "FN": 2, "TN": 3}, {"TP": 2, "FP": 1, "FN": 3,
                                                                   "TN": 4})
    frame["age"] = [20 + i for i in range(len(frame))]
    data = _put(lake, frame, "batch.csv")
    config = {
        "dataset_type": "text/csv",
        "label": "sentiment",
        "label_values_or_threshold": [1],
        "label_type": "values",
        "predicted_label": "predicted",
        "facet": [{"name_or_index": "department_name", "value_or_threshold": ["Intimate"]},
                  {"name_or_index": "age", "value_or_threshold": [30]}],
        "methods": {"pre_training_bias": {"methods": ["CI", "DPL"]},
                    "post_training_bias": {"methods": "all"}},
    }
    analysis = _run(job_runner, lake, data, config)
    post = read_metrics(analysis, stage="post_training", facet="department_name")
    expected = posttraining_metrics(frame, facet="department_name", facet_values=["Intimate"],
                                    label="sentiment", label_values=[1],
                                    predicted_label="predicted")
    assert post == pytest.approx(expected)
    # FT: Clarify's k-NN over the columns left once facet, label and prediction are dropped
    assert post["FT"] is not None
    by_age = read_metrics(analysis, facet="age")  # a number on a numeric column: a threshold
    assert set(by_age) == {"CI", "DPL"}
    above = int((frame["age"] > 30).sum())
    assert by_age["CI"] == pytest.approx((len(frame) - 2 * above) / len(frame))
    # Clarify names a threshold group by its interval (threshold, max]
    groups = analysis["pre_training_bias_metrics"]["facets"]["age"]
    assert [g["value_or_threshold"] for g in groups] == [f"(30, {frame['age'].max()}]"]


def test_a_facet_value_absent_from_the_batch_is_bad_input_not_a_retry(job_runner, lake):
    data = _put(lake, FRAME)
    config = {**CONFIG, "facet": [{"name_or_index": "department_name",
                                   "value_or_threshold": ["Intimates"]}]}
    with pytest.raises(InputDataError, match="Intimates") as caught:
        _run(job_runner, lake, data, config)
    assert not caught.value.retryable
    # the job's failure file (ExitMessage) is kept beside its log
    assert "Intimates" in (job_runner.jobs_dir / _request(data, config).job_name
                           / "failure").read_text()
    assert not list(lake.list(OUTPUT))  # a failed job uploads nothing


def test_a_crashing_job_is_a_step_failure_with_the_stderr_tail(job_runner, lake, tmp_path):
    script = tmp_path / "crash.py"
    script.write_text("import sys\nprint('loading', file=sys.stderr)\n"
                      "raise RuntimeError('engine exploded')\n")
    with pytest.raises(StepFailed, match="engine exploded") as caught:
        _run(job_runner, lake, _put(lake, FRAME), CONFIG, script=str(script))
    assert caught.value.retryable
    assert "exited with code 1" in str(caught.value)


def test_a_missing_dataset_is_refused_before_starting(job_runner, lake):
    with pytest.raises(InputDataError, match="does not exist"):
        _run(job_runner, lake, "curated/test/nope.parquet", CONFIG)
    assert not (job_runner.jobs_dir / "reviews-20240301-bias-test" / "job.log").exists()
