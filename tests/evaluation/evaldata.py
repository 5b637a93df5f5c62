"""Tiny features splits and model artifacts with a known signal, for evaluation tests.

Sentiment is carried by one class word per text, and the facet (division_name) is assigned
in a balanced cycle independent of the label, so a good model shows little post-training
bias; a model trained on shuffled labels is the deliberately weak candidate.
"""

from __future__ import annotations

import datetime as dt_
import io
from pathlib import Path

import numpy as np
import pandas as pd

from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout
from airsage.training.model import TfidfLinearModel, pack_model, save_model

DATASET = "reviews"
DAY = "2024-05-01"
WORDS = {
    1: ["love", "perfect", "beautiful", "gorgeous"],
    0: ["okay", "average", "decent", "ordinary"],
    -1: ["returned", "awful", "itchy", "ripped"],
}
FILLER = ["the", "dress", "fabric", "color", "size", "fit", "was", "this", "summer", "wear"]
DIVISIONS = ["General", "Initmates"]


def make_features(rows: int, seed: int = 0) -> pd.DataFrame:
    """Rows in the features contract; labels and divisions cycle so every pair is balanced."""
    rng = np.random.default_rng(seed)
    labels = np.array([(-1, 0, 1)[i % 3] for i in range(rows)], dtype="int64")
    divisions = [DIVISIONS[(i // 3) % 2] for i in range(rows)]
    texts = []
    for label in labels:
        words = [str(rng.choice(WORDS[int(label)])), *rng.choice(FILLER, size=5)]
        rng.shuffle(words)
        texts.append(" ".join(words))
    return pd.DataFrame({
        "review_id": np.arange(rows, dtype="int64") + seed * 10_000,
        "review_text": texts,
        "sentiment": labels,
        "rating": np.where(labels == 1, 5, np.where(labels == 0, 3, 1)).astype("int64"),
        "age": rng.integers(18, 80, size=rows).astype("int64"),
        "division_name": divisions,
        "department_name": "Dresses",
        "class_name": "Dresses",
    })


def write_split(lake: Lake, frame: pd.DataFrame, split: str, day: str = DAY) -> str:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    prefix = LakeLayout(DATASET).features(day, split)
    lake.write_bytes(prefix + "part-0.parquet", buffer.getvalue())
    return prefix


def build_model(
    frame: pd.DataFrame, workdir: Path, *, shuffle_labels: bool = False, seed: int = 0
) -> tuple[TfidfLinearModel, Path]:
    """Fit a tiny TF-IDF model; return it and its packed model.tar.gz."""
    labels = frame["sentiment"].to_numpy()
    if shuffle_labels:
        labels = np.random.default_rng(seed).permutation(labels)
    model = TfidfLinearModel.fit(frame["review_text"].tolist(), labels.tolist(),
                                 {"max_features": 500, "ngram_max": 1, "C": 5.0})
    name = "shuffled" if shuffle_labels else "model"
    model_dir = save_model(model, workdir / name)
    return model, pack_model(model_dir, workdir / f"{name}.tar.gz")


def upload_model(lake: Lake, tar_path: Path, job_name: str) -> str:
    key = LakeLayout(DATASET).model_artifact(job_name)
    lake.upload(tar_path, key)
    return key


def date(day: str = DAY) -> dt_.date:
    return dt_.date.fromisoformat(day)
