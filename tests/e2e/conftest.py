"""End-to-end harness: run the real DAGs with dag.test() on the local target.

Each test gets a fresh airsage home (lake, catalog, registry, alert log) and the shared,
migrated Airflow database; endpoints a test deploys are stopped when it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_harness import Pipeline

from airsage.airflow.runner import load_dag
from airsage.config import load_settings
from airsage.lake.local import LocalLake


@pytest.fixture(scope="session")
def dags(airflow_db: Path) -> dict[str, Any]:
    return {dag_id: load_dag(dag_id) for dag_id in ("reviews_daily", "reviews_drift_monitor",
                                                    "reviews_batch_scoring")}


@pytest.fixture
def pipeline(airsage_home: Path, dags: dict[str, Any], monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[Pipeline]:
    monkeypatch.setenv("AIRSAGE__INGEST__GENERATOR__ROWS_PER_DAY", "1500")
    monkeypatch.setenv("AIRSAGE__SERVING__PORT", "0")
    monkeypatch.setenv("AIRSAGE__SERVING__BAKE_SECONDS", "1")
    settings = load_settings()
    pipe = Pipeline(airsage_home, settings, LocalLake(settings), dags)
    yield pipe
    endpoint_state = airsage_home / "endpoints"
    if endpoint_state.exists():
        from airsage.serving.local import LocalEndpointDeployer

        deployer = LocalEndpointDeployer(load_settings())
        for state in endpoint_state.glob("*.json"):
            deployer.stop(state.stem)
