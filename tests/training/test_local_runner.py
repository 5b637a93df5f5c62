"""The local runner runs a script under SageMaker's script-mode contract and collects its output."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from featuredata import DAY, make_features

from airsage.errors import InputDataError, StepFailed
from airsage.lake.layout import LakeLayout
from airsage.training.job import TrainingJobSpec
from airsage.training.local import LocalTrainingRunner
from airsage.training.model import load_model, unpack_model
from airsage.training.step import build_spec, train_model

PROBE = Path(__file__).with_name("probe_script.py")


def _probe_spec(features: dict[str, str], name: str, **hyperparameters: object) -> TrainingJobSpec:
    return TrainingJobSpec(
        job_name=name,
        hyperparameters={"probe_mode": "record", **hyperparameters},
        channels={"train": features["train"], "validation": features["validation"]},
        metric_definitions=(
            {"Name": "validation:accuracy", "Regex": r"validation:accuracy=([0-9\.]+)"},
            {"Name": "train:loss", "Regex": r"train:loss=([0-9\.]+)"},
            {"Name": "custom:score", "Regex": r"custom:score=([0-9\.]+)"},
        ),
        entry_point=PROBE,
    )


def _extract(lake, key: str, tmp_path: Path) -> Path:
    tar = lake.download(key, tmp_path / "model.tar.gz")
    return unpack_model(tar, tmp_path / "unpacked")


def test_train_script_runs_under_the_contract_and_its_model_predicts(settings, lake, features, tmp_path):
    spec = TrainingJobSpec(
        job_name="contract-tfidf",
        hyperparameters={"model_family": "tfidf_linear", "C": 2.0, "ngram_max": 1},
        channels={"train": features["train"], "validation": features["validation"]},
    )
    result = LocalTrainingRunner(settings).train(lake, "reviews", spec)

    assert result.status == "Completed"
    assert result.model_artifact_key == LakeLayout("reviews").model_artifact("contract-tfidf")
    assert lake.exists(result.model_artifact_key)
    assert set(result.final_metrics) == {"validation:accuracy", "validation:macro_f1", "train:loss"}
    assert result.final_metrics["validation:accuracy"] > 0.8
    model = load_model(_extract(lake, result.model_artifact_key, tmp_path))
    test = make_features(60, seed=99)
    predictions = model.predict(test["review_text"].tolist())
    assert (predictions == test["sentiment"].to_numpy()).mean() > 0.8
    assert model.labels == (-1, 0, 1)
    json.dumps(result.to_dict())


def test_runner_hands_over_channels_hyperparameters_and_env_as_sagemaker(settings, lake, features, tmp_path):
    spec = _probe_spec(features, "contract-probe", C=0.5, model_family="tfidf_linear", flag=True)
    result = LocalTrainingRunner(settings).train(lake, "reviews", spec)

    contract = json.loads((_extract(lake, result.model_artifact_key, tmp_path) / "contract.json").read_text())
    assert contract["hyperparameters_json"] == {
        "probe_mode": "record", "C": "0.5", "model_family": "tfidf_linear", "flag": "true"
    }
    assert contract["argv"][:2] == ["--probe_mode", "record"] and "--C" in contract["argv"]
    env = contract["env"]
    assert json.loads(env["SM_HPS"])["C"] == 0.5
    assert json.loads(env["SM_CHANNELS"]) == ["train", "validation"]
    assert env["SM_CHANNEL_TRAIN"].endswith("input/data/train")
    assert env["SM_MODEL_DIR"].endswith("/model")
    assert env["SM_OUTPUT_DATA_DIR"].endswith("output/data")
    assert contract["resourceconfig"]["current_host"] == "algo-1"
    assert contract["channel_files"] == [
        "input/data/train/part-0.parquet", "input/data/validation/part-0.parquet"
    ]
    with tarfile.open(tmp_path / "model.tar.gz") as archive:
        assert "contract.json" in archive.getnames()  # files at the archive root


def test_metrics_are_captured_by_regex_last_value_wins_with_history(settings, lake, features):
    result = LocalTrainingRunner(settings).train(lake, "reviews", _probe_spec(features, "metrics-probe"))

    assert result.final_metrics == {"validation:accuracy": 0.7, "train:loss": 0.25, "custom:score": 4.0}
    assert result.metric_history["validation:accuracy"] == (0.1, 0.5, 0.7)
    assert result.metric_history["custom:score"] == (3.0, 4.0)


def test_crashing_script_raises_step_failed_with_last_lines_and_failure_file(settings, lake, features):
    spec = _probe_spec(features, "crash-probe", probe_mode="crash")
    with pytest.raises(StepFailed) as caught:
        LocalTrainingRunner(settings).train(lake, "reviews", spec)

    message = str(caught.value)
    assert "crash-probe" in message and "code 3" in message
    assert "the probe failed on purpose" in message  # the failure file
    assert "about to fail: last words" in message  # the log's last lines
    assert not lake.exists(LakeLayout("reviews").model_artifact("crash-probe"))


def test_train_script_failure_writes_the_failure_file_with_its_traceback(settings, lake):
    bad = io.BytesIO()
    pd.DataFrame({"review_text": ["a", "b"], "rating": [1, 5]}).to_parquet(bad)
    lake.write_bytes(LakeLayout("reviews").features(DAY, "train") + "part-0.parquet", bad.getvalue())
    train = LakeLayout("reviews").features(DAY, "train")
    spec = TrainingJobSpec(job_name="bad-input", hyperparameters={}, channels={"train": train})
    result = LocalTrainingRunner(settings).run(lake, "reviews", spec)

    assert result.status == "Failed"
    assert "lacks column(s) ['sentiment']" in result.failure_reason
    assert "Traceback" in result.failure_reason  # written by train.py into output/failure
    assert result.model_artifact_key is None


def test_job_exceeding_its_timeout_is_stopped(settings, lake, features):
    spec = _probe_spec(features, "sleep-probe", probe_mode="sleep").with_changes(timeout_seconds=1)
    result = LocalTrainingRunner(settings).train(lake, "reviews", spec)

    assert result.status == "Stopped"
    assert "time limit" in result.failure_reason
    assert result.model_artifact_key is None


def test_empty_channel_is_an_input_error_naming_the_prefix(settings, lake, features):
    spec = _probe_spec(features, "no-data").with_changes(
        channels={"train": LakeLayout("reviews").features("2020-01-01", "train")}
    )
    with pytest.raises(InputDataError, match="dt=2020-01-01/train/"):
        LocalTrainingRunner(settings).train(lake, "reviews", spec)


def test_train_model_step_names_jobs_deterministically_and_reruns_in_place(
    settings, lake, features, job_runner
):
    first = train_model(settings, lake, "reviews", DAY, hyperparameters={"C": 0.5},
                        runner=job_runner)
    again = train_model(settings, lake, "reviews", DAY, hyperparameters={"C": 0.5},
                        runner=job_runner)
    other = build_spec(settings, lake, "reviews", DAY, hyperparameters={"C": 2.0})

    assert first.job_name == again.job_name != other.job_name
    assert first.job_name.startswith("reviews-20240501-tfidflinear-")
    assert first.hyperparameters["max_features"] == 20000  # the family's configured defaults
    assert first.status == "Completed"
    # train and validation only: test is held out for the evaluation step
    assert "rows=train:300,validation:90 " in first.log_tail
    assert [k for k in lake.list(LakeLayout("reviews").job(first.job_name))] == [first.model_artifact_key]
