"""Data builders of the batch scoring tests (a module of its own: every test folder has a
``conftest``, so test modules cannot import from theirs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airsage.lake.layout import LakeLayout
from airsage.lake.local import LocalLake
from airsage.prepare.base import CURATED_FILE

DAY = "2026-03-02"
MODEL = "reviews-sentiment"
TEXTS = {1: "love this dress, great fit", -1: "terrible fabric, awful seams",
         0: "it is okay, nothing special"}
RATINGS = {1: 5, -1: 1, 0: 3}


def curated_rows(count: int) -> list[dict[str, Any]]:
    """``count`` curated reviews cycling through the three sentiments."""
    rows = []
    for i in range(count):
        label = (1, -1, 0)[i % 3]
        rows.append({"review_id": 1000 + 7 * i, "review_text": f"{TEXTS[label]} #{i}",
                     "rating": RATINGS[label], "sentiment": label, "division_name": "General"})
    rows[4]["review_text"] = None  # a review without text is still scored (as empty text)
    return rows


def write_curated(lake: LocalLake, day: str, rows: list[dict[str, Any]]) -> str:
    import pandas as pd

    key = LakeLayout("reviews").curated(day) + CURATED_FILE
    path = Path(lake.root) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path, index=False)
    return key
