"""The training logic the job script runs: read channels, fit a family, score it.

Plain functions over DataFrames and paths, so the script (``include/jobs/train.py``), tests
and benchmarks share one implementation and the script only speaks the SageMaker contract.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from airsage.errors import ConfigurationError, InputDataError
from airsage.training.model import LABELS, SentimentModel, TfidfLinearModel

TEXT_COLUMN = "review_text"
LABEL_COLUMN = "sentiment"
FAMILY_NAMES = ("tfidf_linear", "bert")

# on_epoch(step, train_loss, metrics of the validation channel or {})
EpochReporter = Callable[[int, float, dict[str, float]], None]


def parse_hyperparameter(value: Any) -> Any:
    """SageMaker hands hyperparameters over as strings (JSON-encoded by the SDK): decode them."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def parse_hyperparameters(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key): parse_hyperparameter(value) for key, value in raw.items()}


def read_channel(directory: Path, channel: str) -> Any:
    """Every ``*.parquet`` / ``*.csv`` file of a channel directory, as one DataFrame."""
    import pandas as pd

    directory = Path(directory)
    files = sorted(p for p in directory.rglob("*") if p.suffix in (".parquet", ".csv") and p.is_file())
    if not files:
        raise InputDataError(
            f"training channel '{channel}' at {directory} holds no .parquet or .csv file; "
            "point the channel at the prepare step's features split"
        )
    frames = [pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p) for p in files]
    frame = pd.concat(frames, ignore_index=True)
    missing = [c for c in (TEXT_COLUMN, LABEL_COLUMN) if c not in frame.columns]
    if missing:
        raise InputDataError(
            f"training channel '{channel}' ({directory}) lacks column(s) {missing}; "
            f"found {list(frame.columns)}"
        )
    frame = frame.dropna(subset=[LABEL_COLUMN])
    if frame.empty:
        raise InputDataError(f"training channel '{channel}' ({directory}) has no labelled rows")
    unknown = sorted(set(frame[LABEL_COLUMN].astype(int)) - set(LABELS))
    if unknown:
        raise InputDataError(
            f"training channel '{channel}': sentiment values {unknown} are not in {list(LABELS)}"
        )
    return frame


def texts_and_labels(frame: Any) -> tuple[list[str], np.ndarray]:
    texts = frame[TEXT_COLUMN].fillna("").astype(str).tolist()
    return texts, frame[LABEL_COLUMN].astype(int).to_numpy()


def classification_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, labels: tuple[int, ...]
) -> dict[str, float]:
    """Accuracy, macro and weighted F1 and log loss of predicted probabilities."""
    from sklearn.metrics import accuracy_score, f1_score, log_loss

    y_pred = np.asarray(labels)[probabilities.argmax(axis=1)]
    scores = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
    }
    if set(np.asarray(y_true).tolist()) <= set(labels):  # log loss is undefined for unseen labels
        clipped = np.clip(probabilities, 1e-12, 1.0)
        scores["loss"] = float(log_loss(y_true, clipped, labels=list(labels)))
    return scores


def fit_model(
    family: str,
    train: Any,
    hyperparameters: dict[str, Any],
    *,
    validation: Any = None,
    on_epoch: EpochReporter | None = None,
) -> tuple[SentimentModel, float]:
    """Fit ``family`` on the train frame; return the model and its training loss."""
    texts, labels = texts_and_labels(train)
    if len(set(labels.tolist())) < 2:
        raise InputDataError(
            f"the train channel holds a single sentiment value {sorted(set(labels.tolist()))}; "
            "a classifier needs at least two"
        )
    if family == "tfidf_linear":
        model = TfidfLinearModel.fit(texts, labels, hyperparameters)
        train_loss = classification_metrics(labels, model.predict_proba(texts), model.labels)["loss"]
        return model, train_loss
    if family == "bert":
        from airsage.training.bert import BertSentimentModel

        validation_pair = texts_and_labels(validation) if validation is not None else None
        losses: list[float] = []
        classes = tuple(sorted(set(labels.tolist())))

        def epoch_done(step: int, loss: float, probabilities: np.ndarray | None) -> None:
            losses.append(loss)
            if on_epoch is not None:
                scores = (
                    classification_metrics(validation_pair[1], probabilities, classes)
                    if probabilities is not None and validation_pair is not None
                    else {}
                )
                on_epoch(step, loss, scores)

        bert = BertSentimentModel.fit(
            texts, labels, hyperparameters, validation=validation_pair, on_epoch=epoch_done
        )
        return bert, losses[-1]
    raise ConfigurationError(
        f"unknown model_family {family!r}; known families: {', '.join(FAMILY_NAMES)}"
    )
