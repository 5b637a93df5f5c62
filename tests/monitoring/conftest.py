"""Fixtures for the monitor tests: a trained model, a baseline, settings and a lake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from monitoring_helpers import make_reviews

from airsage.config import load_settings
from airsage.lake.local import LocalLake
from airsage.monitoring.base import MonitoringSettings
from airsage.monitoring.baseline import build_baseline
from airsage.training.model import TfidfLinearModel, pack_model, save_model


@pytest.fixture(scope="session")
def model() -> TfidfLinearModel:
    train = make_reviews(1200, seed=1)
    return TfidfLinearModel.fit(train["review_text"], train["sentiment"],
                                {"max_features": 5000, "ngram_max": 1, "C": 1.0})


@pytest.fixture(scope="session")
def model_tar(tmp_path_factory: pytest.TempPathFactory, model: TfidfLinearModel) -> Path:
    root = tmp_path_factory.mktemp("model")
    save_model(model, root / "model")
    return pack_model(root / "model", root / "model.tar.gz")


@pytest.fixture(scope="session")
def monitoring_settings() -> MonitoringSettings:
    return MonitoringSettings()


@pytest.fixture(scope="session")
def baseline_frame() -> pd.DataFrame:
    return make_reviews(2000, seed=2)


@pytest.fixture(scope="session")
def baseline_docs(baseline_frame: pd.DataFrame, model: TfidfLinearModel,
                  monitoring_settings: MonitoringSettings) -> Any:
    probabilities = model.predict_proba(baseline_frame["review_text"].tolist())
    predicted = np.asarray(model.labels)[probabilities.argmax(axis=1)]
    accuracy = float((predicted == baseline_frame["sentiment"].to_numpy()).mean())
    return build_baseline(
        {name: baseline_frame[name].tolist() for name in monitoring_settings.features},
        probabilities=probabilities, labels=model.labels, settings=monitoring_settings,
        quality={"accuracy": accuracy, "n": len(baseline_frame), "reference": "train"},
    )


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return load_settings(environ={}, overrides={"home": str(tmp_path),
                                                "lake": {"root": str(tmp_path / "lake")}})


@pytest.fixture
def lake(tmp_path: Path) -> LocalLake:
    return LocalLake(root=tmp_path / "lake")
