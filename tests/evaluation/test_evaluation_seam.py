"""The evaluate step's request and collect phases, without a job run and without Airflow."""

from __future__ import annotations

import json

import pytest
from evaldata import DATASET, DAY, make_features, write_split

from airsage.errors import ConfigurationError, StepFailed
from airsage.evaluation.base import EvaluationSettings
from airsage.evaluation.step import (
    collect_evaluation,
    evaluation_request,
    holdout_inputs,
    job_config,
)
from airsage.jobs.request import JobRequest
from airsage.lake.layout import LakeLayout

MODEL_KEY = "models/reviews/reviews-20240501-tfidflinear-1/output/model.tar.gz"
PREFIX = f"reports/evaluation/reviews/dt={DAY}/candidate/"


def test_the_request_names_the_model_the_test_split_and_the_report_prefix(settings):
    request = evaluation_request(settings, DATASET, DAY, MODEL_KEY)
    assert request.script == "evaluate.py" and request.kind == "processing"
    assert request.inputs == {"model": MODEL_KEY, "test": f"features/reviews/dt={DAY}/test/"}
    assert request.outputs == {"evaluation": PREFIX}
    assert request.config == job_config(settings, DATASET)
    assert request.config["bias"]["facet"] == "division_name"
    assert request.timeout_seconds == EvaluationSettings.from_settings(settings).timeout_seconds
    champion = evaluation_request(settings, DATASET, DAY, MODEL_KEY, report_name="champion",
                                  holdout={"curated": "curated/reviews/dt=x/reviews.parquet"})
    assert champion.job_name != request.job_name
    assert champion.outputs["evaluation"].endswith("/champion/")
    assert champion.inputs["curated"] == "curated/reviews/dt=x/reviews.parquet"
    assert JobRequest.from_dict(json.loads(json.dumps(champion.to_dict()))) == champion
    with pytest.raises(ConfigurationError, match="without '/'"):
        evaluation_request(settings, DATASET, DAY, MODEL_KEY, report_name="a/b")


def test_the_holdout_sources_are_the_curated_day_and_the_splits_that_exist(lake):
    assert holdout_inputs(lake, DATASET, DAY) == {}  # no curated file: the test split is used
    curated = LakeLayout(DATASET).curated(DAY) + "reviews.parquet"
    lake.write_bytes(curated, b"PAR1")
    write_split(lake, make_features(6), "train")
    assert holdout_inputs(lake, DATASET, DAY) == {
        "curated": curated, "train": LakeLayout(DATASET).features(DAY, "train")}


def _evaluation(accuracy: float) -> dict:
    return {"multiclass_classification_metrics": {"accuracy": {"value": accuracy,
                                                               "standard_deviation": 0.01}},
            "metadata": {"test_rows": 90}}


def test_collect_reads_the_documents_back_and_records_their_origin(settings, lake):
    request = evaluation_request(settings, DATASET, DAY, MODEL_KEY)
    lake.write_bytes(PREFIX + "evaluation.json", json.dumps(_evaluation(0.9)).encode())
    lake.write_bytes(PREFIX + "predictions.json",
                     json.dumps({"review_id": [1], "label": [1], "predicted": [1]}).encode())
    report = collect_evaluation(lake, request, dataset=DATASET, day=DAY,
                                report_name="candidate", model_artifact_key=MODEL_KEY)
    assert report.accuracy == 0.9 and report.test_rows == 90
    assert report.report_key == PREFIX + "evaluation.json"
    assert report.predictions_key == PREFIX + "predictions.json"
    assert report.bias_report_key == "" and report.posttraining_bias == {}
    written = json.loads(lake.read_bytes(PREFIX + "evaluation.json"))
    assert written["metadata"] == {"test_rows": 90, "dataset": DATASET, "day": DAY,
                                   "report_name": "candidate", "model_artifact_key": MODEL_KEY,
                                   "test_split": f"features/reviews/dt={DAY}/test/"}


def test_collect_without_evaluation_json_fails_closed(settings, lake):
    request = evaluation_request(settings, DATASET, DAY, MODEL_KEY)
    lake.write_bytes(PREFIX + "predictions.json", b"{}")
    with pytest.raises(StepFailed, match=r"wrote no evaluation\.json"):
        collect_evaluation(lake, request, dataset=DATASET, day=DAY, report_name="candidate",
                           model_artifact_key=MODEL_KEY)
