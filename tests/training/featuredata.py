"""Small features splits with a learnable sentiment signal, in the prepare step's format.

The data generator (``airsage.data.generator``) is written elsewhere; these tests build their
own frames so that the signal (and so what a model must learn) is known and controlled.
"""

from __future__ import annotations

import datetime as dt_
import io

import numpy as np
import pandas as pd

from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout

WORDS = {
    1: ["love", "perfect", "beautiful", "comfortable", "flattering", "gorgeous", "great"],
    0: ["okay", "average", "fine", "decent", "mixed", "ordinary", "alright"],
    -1: ["returned", "cheap", "awful", "itchy", "disappointed", "poor", "ripped"],
}
FILLER = ["the", "dress", "top", "fabric", "color", "size", "fit", "i", "it", "was", "this",
          "and", "for", "summer", "ordered", "wear", "shirt", "pants", "very"]
DAY = "2024-05-01"  # the partition the tests write features to
DIVISIONS = ["General", "General Petite", "Initmates"]


def make_features(rows: int, seed: int = 0, noise: float = 0.3) -> pd.DataFrame:
    """Rows in the features contract; each text holds 2 words of its class, sometimes 1 decoy."""
    rng = np.random.default_rng(seed)
    labels = rng.choice([-1, 0, 1], size=rows)
    texts = []
    for label in labels:
        words = list(rng.choice(WORDS[int(label)], size=2)) + list(rng.choice(FILLER, size=6))
        if rng.random() < noise:
            other = int(rng.choice([x for x in (-1, 0, 1) if x != label]))
            words.append(str(rng.choice(WORDS[other])))
        rng.shuffle(words)
        texts.append(" ".join(words))
    rating = np.where(labels == 1, 5, np.where(labels == 0, 3, 1))
    return pd.DataFrame({
        "review_id": np.arange(rows, dtype="int64") + seed * 100_000,
        "review_text": texts,
        "sentiment": labels.astype("int64"),
        "rating": rating.astype("int64"),
        "age": rng.integers(18, 80, size=rows).astype("int64"),
        "division_name": rng.choice(DIVISIONS, size=rows),
        "department_name": "Dresses",
        "class_name": "Dresses",
    })


def write_features(
    lake: Lake, dataset: str, day: dt_.date | str, sizes: dict[str, int], seed: int = 0
) -> dict[str, str]:
    """Write each split as ``part-0.parquet``; return split -> lake prefix."""
    layout = LakeLayout(dataset)
    prefixes = {}
    for offset, (split, rows) in enumerate(sizes.items()):
        buffer = io.BytesIO()
        make_features(rows, seed=seed + offset).to_parquet(buffer, index=False)
        prefix = layout.features(day, split)
        lake.write_bytes(prefix + "part-0.parquet", buffer.getvalue())
        prefixes[split] = prefix
    return prefixes
