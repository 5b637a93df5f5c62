"""Fixtures for batch scoring: a curated partition, a tiny real model in the lake, a registry
(MLflow with a SQLite store, the local target's) holding an Approved and a pending version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from batchdata import DAY, MODEL, TEXTS

from airsage.config import Settings, load_settings
from airsage.lake.layout import LakeLayout
from airsage.lake.local import LocalLake
from airsage.training.model import TfidfLinearModel, pack_model, save_model


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("batch-home")


@pytest.fixture(scope="module")
def settings(home: Path) -> Settings:
    return load_settings(environ={}, overrides={
        "home": str(home), "lake": {"root": str(home / "lake")},
        "registry": {"model_name": MODEL}, "batch": {"max_payload_mb": 1}})


@pytest.fixture(scope="module")
def lake(settings: Settings) -> LocalLake:
    return LocalLake(root=Path(settings.lake_root))


@pytest.fixture(scope="module")
def model_key(lake: LocalLake, home: Path) -> str:
    texts = [TEXTS[label] for label in (1, -1, 0)] * 4
    labels = [1, -1, 0] * 4
    model = TfidfLinearModel.fit(texts, labels, {"max_features": 100, "C": 2.0})
    tar = pack_model(save_model(model, home / "model"), home / "model.tar.gz")
    key = LakeLayout("reviews").model_artifact("reviews-20260302-train-abc12345")
    lake.upload(tar, key)
    return key


@pytest.fixture(scope="module")
def registry(settings: Settings) -> Any:
    from airsage.registry.local import MlflowRegistry

    return MlflowRegistry(settings)


@pytest.fixture(scope="module")
def versions(registry: Any, lake: LocalLake, model_key: str) -> dict[str, Any]:
    """v1 Approved (the champion), v2 pending approval, v3 rejected — all the same model."""
    made = {}
    for status in ("Approved", "PendingManualApproval", "Rejected"):
        made[status] = registry.register(
            MODEL, str(Path(lake.root) / model_key), run_id=None, evaluation={},
            lineage={"model_artifact_key": model_key, "partition_day": DAY},
            status="PendingManualApproval" if status == "Rejected" else status)
    made["Rejected"] = registry.set_status(MODEL, made["Rejected"].version, "Rejected",
                                           decided_by="tester", comment="not good enough")
    return made
