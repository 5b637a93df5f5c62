"""include/jobs/train.py's own contract: hyperparameter sources and their precedence."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from airsage.config import INCLUDE_DIR
from airsage.training.trainer import classification_metrics, parse_hyperparameters

SPEC = importlib.util.spec_from_file_location("airsage_train_script", INCLUDE_DIR / "jobs" / "train.py")
train_script = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(train_script)


def test_cli_pairs_are_parsed_like_sagemaker_passes_them():
    assert train_script.parse_cli(["--C", "0.5", "--model_family", "bert", "--x=-1", "--flag"]) == {
        "C": "0.5", "model_family": "bert", "x": "-1", "flag": "true"
    }
    with pytest.raises(ValueError, match="unexpected argument"):
        train_script.parse_cli(["stray"])


def test_hyperparameters_json_then_sm_hps_then_cli(tmp_path: Path, monkeypatch):
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(
        json.dumps({"C": "1.0", "ngram_max": "2", "model_family": "\"tfidf_linear\"", "a": "x"})
    )
    monkeypatch.setenv("AIRSAGE_JOB_ROOT", str(tmp_path))
    monkeypatch.delenv("SM_INPUT_CONFIG_DIR", raising=False)
    monkeypatch.setenv("SM_HPS", json.dumps({"C": 2.0, "b": [1, 2]}))

    merged = train_script.load_hyperparameters(["--C", "3.5"])
    assert merged == {"C": 3.5, "ngram_max": 2, "model_family": "tfidf_linear", "a": "x", "b": [1, 2]}


def test_parse_hyperparameters_decodes_json_strings_and_keeps_plain_text():
    assert parse_hyperparameters({"n": "3", "lr": "5e-05", "name": "bert", "flag": "true"}) == {
        "n": 3, "lr": 5e-05, "name": "bert", "flag": True
    }


def test_classification_metrics_skip_log_loss_for_unseen_labels():
    import numpy as np

    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    scores = classification_metrics(np.array([0, 1, 1]), probabilities, (0, 1))
    assert scores["accuracy"] == pytest.approx(2 / 3)
    assert "loss" in scores
    assert "loss" not in classification_metrics(np.array([0, 1, 2]), probabilities, (0, 1))
