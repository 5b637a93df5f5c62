"""The evaluate step end to end: the job in a subprocess, reports in the lake."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from evaldata import DATASET, DAY, upload_model
from sklearn.metrics import accuracy_score, f1_score

from airsage.errors import InputDataError, StepFailed
from airsage.evaluation.base import EvaluationReport
from airsage.evaluation.step import evaluate_model
from airsage.lake.layout import LakeLayout


def test_evaluation_outputs_shape_and_values(settings, lake, staged, good_model, test_frame,
                                             job_runner):
    report = evaluate_model(settings, lake, DATASET, DAY, staged, runner=job_runner)
    model = good_model[0]
    predicted = model.predict(test_frame["review_text"].tolist())
    truth = test_frame["sentiment"].to_numpy()

    key = LakeLayout(DATASET).report("evaluation", DAY, "candidate/evaluation.json")
    assert report.report_key == key
    document = json.loads(lake.read_bytes(key))
    metrics = document["multiclass_classification_metrics"]
    assert metrics["accuracy"]["value"] == pytest.approx(accuracy_score(truth, predicted))
    assert metrics["macro_f1"]["value"] == pytest.approx(f1_score(truth, predicted, average="macro"))
    assert report.accuracy == metrics["accuracy"]["value"]
    assert metrics["baseline_accuracy"]["value"] == pytest.approx(1 / 3)
    assert sum(sum(row.values()) for row in metrics["confusion_matrix"].values()) == len(truth)
    assert document["metadata"]["test_rows"] == len(truth)
    assert document["metadata"]["model_artifact_key"] == staged

    bias = json.loads(lake.read_bytes(report.bias_report_key))
    groups = bias["post_training_bias_metrics"]["facets"]["division_name"]
    names = {m["name"] for m in groups[0]["metrics"]}
    assert {"DPPL", "DI"} <= names
    assert groups[0]["value_or_threshold"] == "Initmates"
    assert report.posttraining_bias == bias

    explanations = json.loads(lake.read_bytes(report.explanations_key))["explanations"]
    assert set(explanations["model_top_features"]) == {"-1", "0", "1"}
    occlusion = explanations["word_occlusion"]
    assert occlusion["texts"] == 10
    top_positive = {e["feature"] for e in occlusion["per_label"]["1"]}
    assert top_positive & {"love", "perfect", "beautiful", "gorgeous"}

    again = EvaluationReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report


def test_missing_test_split_is_an_input_error(settings, lake, good_model, job_runner):
    key = upload_model(lake, good_model[1], "train-good")
    with pytest.raises(InputDataError, match="no test split"):
        evaluate_model(settings, lake, DATASET, DAY, key, runner=job_runner)


def test_crashing_job_raises_step_failed_with_its_last_lines(settings, lake, staged, tmp_path,
                                                            job_runner):
    broken = tmp_path / "broken.tar.gz"
    with tarfile.open(broken, "w:gz") as archive:
        for name, data in (("airsage_model.json",
                            b'{"family": "tfidf_linear", "labels": [-1, 0, 1]}'),
                           ("pipeline.joblib", b"not a pickle")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    key = upload_model(lake, Path(broken), "train-broken")
    with pytest.raises(StepFailed, match="exited with code") as caught:
        evaluate_model(settings, lake, DATASET, DAY, key, runner=job_runner)
    assert "evaluate failed" in str(caught.value) or "Error" in str(caught.value)


def test_split_without_the_sensitive_group_records_unmeasurable_bias(
    settings, lake, good_model, test_frame, job_runner
):
    from evaldata import write_split

    write_split(lake, test_frame.assign(division_name="General"), "test")
    key = upload_model(lake, good_model[1], "train-good")
    report = evaluate_model(settings, lake, DATASET, DAY, key, report_name="champion",
                            runner=job_runner)
    assert report.report_key.endswith("champion/evaluation.json")
    metrics = report.posttraining_bias["post_training_bias_metrics"]["facets"]["division_name"]
    dppl = next(m for m in metrics[0]["metrics"] if m["name"] == "DPPL")
    assert dppl["value"] is None and "not measurable" in dppl["error"]
