"""Fixtures for the registry tests: an MLflow SQLite store in a temp home, staged models.

The data builders are shared with the evaluation tests (``tests/evaluation/evaldata.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))

from evaldata import build_model, make_features

from airsage.config import Settings, load_settings
from airsage.lake.local import LocalLake

BIAS = {
    "facet": "division_name", "facet_values": ["Initmates"], "facet_threshold": None,
    "label": "sentiment", "label_values": [1], "group": None,
    "post_training_thresholds": {"DPPL": {"warn": 0.15, "fail": 0.25},
                                 "DI": {"warn": 0.2, "fail": 0.35}},
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One MLflow store per test module: creating its tables takes a few seconds."""
    return tmp_path_factory.mktemp("registry-home")


@pytest.fixture(scope="module")
def settings(home: Path) -> Settings:
    return load_settings(
        environ={},
        overrides={"home": str(home), "bias": BIAS,
                   "evaluation": {"bootstrap_samples": 20, "attribution_samples": 5,
                                  "accuracy_threshold": 0.6, "champion_tolerance": 0.0},
                   "registry": {"model_name": "reviews-sentiment", "auto_approve": True}},
    )


@pytest.fixture(scope="module")
def registry(settings: Settings):
    from airsage.registry.local import MlflowRegistry

    return MlflowRegistry(settings)


@pytest.fixture
def lake(tmp_path: Path) -> LocalLake:
    return LocalLake(root=tmp_path / "lake")


@pytest.fixture(scope="module")
def frames():
    return make_features(240, seed=1), make_features(90, seed=2)


@pytest.fixture(scope="module")
def models(frames, tmp_path_factory: pytest.TempPathFactory):
    """A good model and a deliberately weak one (trained on shuffled labels)."""
    workdir = tmp_path_factory.mktemp("models")
    good = build_model(frames[0], workdir)
    weak = build_model(frames[0], workdir, shuffle_labels=True, seed=5)
    return {"good": good[1], "weak": weak[1]}
