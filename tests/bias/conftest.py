"""Fixtures for the bias tests: settings on a temporary home, a local lake, the real sample."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from bias_helpers import sentiment_of

from airsage.config import Settings


@pytest.fixture
def real_sample(settings: Settings, shared_sample: Path) -> pd.DataFrame:
    """The public 1k sample with airsage's column names and sentiment (skips when absent)."""
    mapping = dict(settings.dataset("reviews").source_columns)
    frame = pd.read_csv(shared_sample)
    frame = frame.rename(columns={"Unnamed: 0": "review_id", **mapping})
    frame["sentiment"] = sentiment_of(frame["rating"])
    return frame
