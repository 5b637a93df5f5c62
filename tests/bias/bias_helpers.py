"""Frame builders shared by the bias tests (a uniquely named module: every test folder has
its own ``conftest``, so ``from conftest import ...`` would be ambiguous)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def sentiment_of(rating: pd.Series) -> np.ndarray:
    """The labs' sentiment: rating 1-2 -> -1, 3 -> 0, 4-5 -> 1."""
    return np.select([rating <= 2, rating == 3], [-1, 0], 1)


def confusion_frame(a: dict[str, int], d: dict[str, int], *, facet_value: str = "Intimate",
                    other_value: str = "Tops") -> pd.DataFrame:
    """Rows with the given confusion counts per facet (label 1 = positive, -1 = negative)."""
    rows = []
    for value, counts in ((other_value, a), (facet_value, d)):
        for kind, (label, predicted) in {"TP": (1, 1), "FP": (-1, 1), "FN": (1, -1),
                                         "TN": (-1, -1)}.items():
            rows += [{"department_name": value, "sentiment": label, "predicted": predicted}] \
                * counts.get(kind, 0)
    return pd.DataFrame(rows)
