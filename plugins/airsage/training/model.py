"""The model artifact contract: what ``model.tar.gz`` holds and how every step loads it.

Evaluation, the model server's ``model_fn``, the monitor's baseline and the registry all read a
model only through :func:`load_model`, so a new model family is one class registered in
``FAMILIES``. A model directory holds ``airsage_model.json`` (family, labels, hyperparameters)
and the family's own files.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from airsage.errors import InputDataError
from airsage.training.tfidf_scorer import TfidfLinearScorer

MANIFEST_FILE = "airsage_model.json"
FORMAT_VERSION = 1
LABELS: tuple[int, ...] = (-1, 0, 1)


@runtime_checkable
class SentimentModel(Protocol):
    """A fitted text classifier over the sentiment labels."""

    family: str
    labels: tuple[int, ...]

    def predict_proba(self, texts: Sequence[str | None]) -> np.ndarray:
        """Rows of class probabilities, columns ordered as ``labels`` (a missing text reads
        as the empty one, as the serving container and the monitor send them)."""

    def predict(self, texts: Sequence[str | None]) -> np.ndarray:
        """The most probable label of each text."""

    def top_features(self, k: int = 10) -> dict[int, list[tuple[str, float]]]:
        """Global attribution: per label, the k features that push predictions toward it."""

    def save(self, model_dir: Path) -> None:
        """Write the family's files (the manifest is written by :func:`save_model`)."""


class TfidfLinearModel:
    """TF-IDF n-grams and a multinomial logistic regression: fast, strong on review text."""

    family = "tfidf_linear"

    def __init__(self, pipeline: Any, labels: Sequence[int]) -> None:
        self.pipeline = pipeline
        self.labels = tuple(int(label) for label in labels)
        self._scorer: TfidfLinearScorer | None = None
        self._scored_pipeline: Any = None
        self._compile()

    def _compile(self) -> None:
        """Build the scorer for the current pipeline (at load, so no request pays for it)."""
        self._scorer = TfidfLinearScorer.compile(self.pipeline)
        self._scored_pipeline = self.pipeline

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the pipeline and labels only; the scorer is rebuilt from them."""
        return {"pipeline": self.pipeline, "labels": self.labels}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.pipeline, self.labels = state["pipeline"], state["labels"]
        self._compile()

    @classmethod
    def fit(
        cls, texts: Sequence[str], labels: Sequence[int] | np.ndarray, hyperparameters: dict[str, Any]
    ) -> TfidfLinearModel:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline

        pipeline = Pipeline(
            [
                (
                    "tfidf",
                    TfidfVectorizer(
                        max_features=int(hyperparameters.get("max_features", 20000)),
                        ngram_range=(1, int(hyperparameters.get("ngram_max", 2))),
                        min_df=int(hyperparameters.get("min_df", 1)),
                        sublinear_tf=True,
                        lowercase=True,
                    ),
                ),
                (
                    "clf",
                    LogisticRegression(
                        C=float(hyperparameters.get("C", 1.0)),
                        max_iter=int(hyperparameters.get("max_iter", 1000)),
                        class_weight=hyperparameters.get("class_weight") or None,
                    ),
                ),
            ]
        )
        pipeline.fit(list(texts), np.asarray(labels, dtype=int))
        return cls(pipeline, pipeline.classes_.tolist())

    def predict_proba(self, texts: Sequence[str | None]) -> np.ndarray:
        """The pipeline's probabilities, bit for bit; computed by a :class:`TfidfLinearScorer`
        when the pipeline has a shape it replays (a one-review request then costs a tenth)."""
        documents = [_as_text(t) for t in texts]
        if self._scored_pipeline is not self.pipeline:  # the pipeline was replaced
            self._compile()
        probabilities = self._scorer(documents) if self._scorer is not None else None
        return self.pipeline.predict_proba(documents) if probabilities is None else probabilities

    def reference_predict_proba(self, texts: Sequence[str | None]) -> np.ndarray:
        """scikit-learn's own ``Pipeline.predict_proba``: what the scorer must equal."""
        return self.pipeline.predict_proba([_as_text(t) for t in texts])

    def predict(self, texts: Sequence[str | None]) -> np.ndarray:
        probabilities = self.predict_proba(texts)
        return np.asarray(self.labels)[probabilities.argmax(axis=1)]

    def top_features(self, k: int = 10) -> dict[int, list[tuple[str, float]]]:
        vocabulary = self.pipeline.named_steps["tfidf"].get_feature_names_out()
        coefficients = self.pipeline.named_steps["clf"].coef_
        if coefficients.shape[0] == 1:  # binary: one row for the second class
            coefficients = np.vstack([-coefficients[0], coefficients[0]])
        result: dict[int, list[tuple[str, float]]] = {}
        for row, label in zip(coefficients, self.labels, strict=True):
            order = np.argsort(row)[::-1][:k]
            result[label] = [(str(vocabulary[i]), float(row[i])) for i in order]
        return result

    def save(self, model_dir: Path) -> None:
        import joblib

        joblib.dump(self.pipeline, model_dir / "pipeline.joblib")

    @classmethod
    def load(cls, model_dir: Path, manifest: dict[str, Any]) -> TfidfLinearModel:
        import joblib

        return cls(joblib.load(model_dir / "pipeline.joblib"), manifest["labels"])


def _as_text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


# family name -> loader(model_dir, manifest). Other families register here (e.g. "bert").
FAMILIES: dict[str, Callable[[Path, dict[str, Any]], SentimentModel]] = {
    TfidfLinearModel.family: TfidfLinearModel.load,
}


def save_model(
    model: SentimentModel, model_dir: Path, *, extra: dict[str, Any] | None = None
) -> Path:
    """Write the family's files and the manifest that :func:`load_model` dispatches on."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save(model_dir)
    manifest = {
        "format_version": FORMAT_VERSION,
        "family": model.family,
        "labels": list(model.labels),
        **(extra or {}),
    }
    (model_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return model_dir


def read_manifest(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / MANIFEST_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputDataError(
            f"{model_dir} is not an airsage model directory: {MANIFEST_FILE} is missing"
        ) from None
    except json.JSONDecodeError as exc:
        raise InputDataError(f"{path} is not valid JSON: {exc}") from exc


def load_model(model_dir: Path) -> SentimentModel:
    """Load any family from an extracted model directory."""
    manifest = read_manifest(model_dir)
    family = manifest.get("family")
    if family not in FAMILIES:
        _register_optional_families()
    loader = FAMILIES.get(family) if isinstance(family, str) else None
    if loader is None:
        raise InputDataError(
            f"model in {model_dir} has unknown family {family!r}; known: {sorted(FAMILIES)}"
        )
    return loader(Path(model_dir), manifest)


def _register_optional_families() -> None:
    """Families with heavy dependencies register themselves when their module is imported."""
    import importlib

    for module in ("airsage.training.bert",):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def pack_model(model_dir: Path, tar_path: Path) -> Path:
    """``model.tar.gz`` with the directory's files at its root, as SageMaker packs SM_MODEL_DIR."""
    tar_path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar_path, "w:gz") as archive:
        for path in sorted(Path(model_dir).rglob("*")):
            archive.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
    return tar_path


def unpack_model(tar_path: Path, destination: Path) -> Path:
    """Extract a ``model.tar.gz`` safely (no absolute paths or ``..``); return the directory."""
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tar_path, "r:gz") as archive:
            archive.extractall(destination, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputDataError(f"model artifact {tar_path} is not a readable model.tar.gz: {exc}") from exc
    return destination
