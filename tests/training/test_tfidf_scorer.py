"""The TF-IDF + logistic regression fast path answers exactly what scikit-learn's pipeline does.

The model server predicts through ``TfidfLinearModel.predict_proba``; these tests hold its
fast path (``TfidfLinearScorer``) to bit-identical probabilities against
``Pipeline.predict_proba`` on the real review sample, one review at a time (the server's
shape) and in batches, and check that any shape it does not replay falls back to the pipeline.
"""

from __future__ import annotations

import csv
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from airsage.config import load_settings
from airsage.serving.contract import predictions
from airsage.training.model import TfidfLinearModel
from airsage.training.tfidf_scorer import TfidfLinearScorer


def _sample(path: Path) -> tuple[list[str], list[int]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    texts = [row["Review Text"] for row in rows]
    labels = [-1 if int(r["Rating"]) <= 2 else 0 if int(r["Rating"]) == 3 else 1 for r in rows]
    return texts, labels


class Reference:
    """The same model answering through scikit-learn's own pipeline only."""

    def __init__(self, model: TfidfLinearModel) -> None:
        self.labels = model.labels
        self.model = model

    def predict_proba(self, texts: list[str | None]) -> np.ndarray:
        return self.model.reference_predict_proba(texts)


@pytest.fixture
def sample(shared_sample: Path) -> tuple[list[str], list[int]]:
    """The real 1k-row review sample: texts (some empty) and sentiment labels."""
    return _sample(shared_sample)


@pytest.mark.parametrize("hyperparameters", [
    "shipped", {"ngram_max": 1, "max_features": 500}, {"C": 0.1, "class_weight": "balanced"}])
def test_probabilities_equal_the_pipeline_on_the_real_sample(sample, hyperparameters: Any) -> None:
    texts, labels = sample
    if hyperparameters == "shipped":
        hyperparameters = dict(load_settings(environ={}).section("training")["hyperparameters"])
    model = TfidfLinearModel.fit(texts, labels, hyperparameters)
    assert model._scorer is not None, "the shipped model shape must take the fast path"
    everything: list[str | None] = [*texts, None, "", "   ", "zzzz qqqq"]
    assert np.array_equal(model.predict_proba(everything), model.reference_predict_proba(everything))
    for text in everything:  # the server's shape: one review per call
        assert np.array_equal(model.predict_proba([text]), model.reference_predict_proba([text]))
    for start in range(0, len(texts), 7):  # micro-batches of the server's batcher
        batch = texts[start:start + 7]
        assert np.array_equal(model.predict_proba(batch), model.reference_predict_proba(batch))


def test_the_served_predictions_are_those_of_the_pipeline(sample) -> None:
    texts, labels = sample
    model = TfidfLinearModel.fit(texts, labels, {})
    instances = [{"review_id": i, "review_text": text} for i, text in enumerate(texts)]
    assert predictions(model, instances) == predictions(Reference(model), instances)
    assert [predictions(model, [one]) for one in instances[:200]] == [
        predictions(Reference(model), [one]) for one in instances[:200]]


def test_binary_labels_equal_the_pipeline(sample) -> None:
    texts, labels = sample
    model = TfidfLinearModel.fit(texts, [1 if label == 1 else 0 for label in labels], {})
    assert model._scorer is not None
    assert np.array_equal(model.predict_proba(texts), model.reference_predict_proba(texts))
    assert np.array_equal(model.predict_proba(texts[:1]), model.reference_predict_proba(texts[:1]))


def test_the_fast_path_does_not_call_the_pipeline(sample, monkeypatch) -> None:
    texts, labels = sample
    model = TfidfLinearModel.fit(texts[:300], labels[:300], {})
    expected = model.reference_predict_proba(texts[:20])

    def refuse(_texts: Any) -> Any:
        raise AssertionError("Pipeline.predict_proba was called on the fast path")

    monkeypatch.setattr(model.pipeline, "predict_proba", refuse)
    assert np.array_equal(model.predict_proba(texts[:20]), expected)


def test_a_pipeline_changed_after_load_is_scored_as_it_is_now(sample) -> None:
    """``set_params`` after fit: the counting options apply at once, the TF-IDF weighting
    keeps the fitted transformer's (scikit-learn's own rule); the fast path follows both."""
    texts, labels = sample
    model = TfidfLinearModel.fit(texts[:300], labels[:300], {})
    vectorizer = model.pipeline.named_steps["tfidf"]
    vectorizer.set_params(binary=True, lowercase=False, sublinear_tf=False, norm="l1")
    assert np.array_equal(model.predict_proba(texts), model.reference_predict_proba(texts))
    vectorizer.set_params(use_idf=False, norm=None, preprocessor=str.upper, ngram_range=(1, 1))
    assert np.array_equal(model.predict_proba(texts), model.reference_predict_proba(texts))


def test_other_shapes_fall_back_to_the_pipeline(sample) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, RidgeClassifier
    from sklearn.pipeline import Pipeline

    texts, labels = sample
    texts, labels = texts[:300], labels[:300]

    class Vectorizer(TfidfVectorizer):  # a subclass may compute anything
        pass

    other = Pipeline([("tfidf", TfidfVectorizer()), ("clf", RidgeClassifier())]).fit(texts, labels)
    subclass = Pipeline([("tfidf", Vectorizer()), ("clf", LogisticRegression())]).fit(texts, labels)
    unfitted = Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression())])
    for pipeline in (other, subclass, unfitted):
        assert TfidfLinearScorer.compile(pipeline) is None
    model = TfidfLinearModel(subclass, [-1, 0, 1])
    assert model._scorer is None
    assert np.array_equal(model.predict_proba(texts), subclass.predict_proba(texts))
    # a step replaced after load by one it does not replay: the pipeline answers
    model = TfidfLinearModel.fit(texts, labels, {})
    model.pipeline.steps[1] = ("clf", RidgeClassifier().fit(
        model.pipeline.named_steps["tfidf"].transform(texts), labels))
    assert model._scorer is not None and model._scorer(texts[:3]) is None
    with pytest.raises(AttributeError):  # what scikit-learn itself does: no predict_proba
        model.predict_proba(texts[:3])


def test_a_pickled_model_keeps_its_fast_path(sample) -> None:
    texts, labels = sample
    model = TfidfLinearModel.fit(texts[:300], labels[:300], {})
    copy = pickle.loads(pickle.dumps(model))
    assert copy._scorer is not None
    assert np.array_equal(copy.predict_proba(texts), model.reference_predict_proba(texts))
