"""The bias job script under its processing contract, run by LocalBiasJob in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from bias_helpers import confusion_frame

from airsage import targets
from airsage.bias.local import LocalBiasJob
from airsage.bias.metrics import posttraining_metrics, pretraining_metrics
from airsage.bias.report import read_metrics
from airsage.errors import InputDataError, StepFailed

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


def test_the_registry_resolves_the_local_bias_job(settings):
    assert isinstance(targets.implementation("bias", settings), LocalBiasJob)


def test_job_writes_the_same_metrics_as_the_library(settings, tmp_path: Path):
    data = tmp_path / "batch.parquet"
    FRAME.to_parquet(data, index=False)
    out = tmp_path / "out"
    analysis = LocalBiasJob(settings).run(data, CONFIG, out)
    assert json.loads((out / "analysis.json").read_text()) == analysis
    expected = pretraining_metrics(FRAME, facet="department_name", facet_values=["Intimate"],
                                   label="sentiment", label_values=[1], group="age")
    assert read_metrics(analysis, facet="department_name") == pytest.approx(expected)
    section = analysis["pre_training_bias_metrics"]
    assert section["label_value_or_threshold"] == "1"
    assert section["facets"]["department_name"][0]["value_or_threshold"] == "Intimate"


def test_job_reads_csv_and_computes_post_training_and_threshold_facets(settings, tmp_path):
    frame = confusion_frame({"TP": 6, "FP": 1, "FN": 2, "TN": 3}, {"TP": 2, "FP": 1, "FN": 3,
                                                                   "TN": 4})
    frame["age"] = [20 + i for i in range(len(frame))]
    data = tmp_path / "batch.csv"
    frame.to_csv(data, index=False)
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
    analysis = LocalBiasJob(settings).run(data, config, tmp_path / "out")
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


def test_a_facet_value_absent_from_the_batch_is_bad_input_not_a_retry(settings, tmp_path):
    data = tmp_path / "batch.parquet"
    FRAME.to_parquet(data, index=False)
    config = {**CONFIG, "facet": [{"name_or_index": "department_name",
                                   "value_or_threshold": ["Intimates"]}]}
    with pytest.raises(InputDataError, match="Intimates") as caught:
        LocalBiasJob(settings).run(data, config, tmp_path / "out")
    assert not caught.value.retryable
    assert "Intimates" in (tmp_path / "out" / "failure").read_text()


def test_a_crashing_job_is_a_step_failure_with_the_stderr_tail(settings, tmp_path):
    script = tmp_path / "crash.py"
    script.write_text("import sys\nprint('loading', file=sys.stderr)\n"
                      "raise RuntimeError('engine exploded')\n")
    data = tmp_path / "batch.parquet"
    FRAME.to_parquet(data, index=False)
    with pytest.raises(StepFailed, match="engine exploded") as caught:
        LocalBiasJob(settings, script=script).run(data, CONFIG, tmp_path / "out")
    assert caught.value.retryable
    assert "exited with code 1" in str(caught.value)


def test_a_missing_dataset_is_refused_before_starting(settings, tmp_path):
    with pytest.raises(InputDataError, match="does not exist"):
        LocalBiasJob(settings).run(tmp_path / "nope.parquet", CONFIG, tmp_path / "out")
