"""Helpers of the end-to-end tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airsage.airflow.runner import RunSummary, run_dag
from airsage.config import Settings
from airsage.lake.local import LocalLake

DATA_PLANE = ["ingest", "crawl", "validate_sql", "quality_gate"]


@dataclass
class Pipeline:
    home: Path
    settings: Settings
    lake: LocalLake
    dags: dict[str, Any]

    def run(self, day: str | dt.date | None = None, *, dag_id: str = "reviews_daily",
            conf: dict[str, Any] | None = None, until: list[str] | None = None,
            logical_date: dt.datetime | None = None) -> RunSummary:
        """Run a DAG (or its upstream subset ending at ``until``) for a partition day."""
        dag = self.dags[dag_id]
        if until:
            dag = dag.partial_subset(task_ids=until, include_upstream=True, include_downstream=False)
        when = logical_date or (dt.datetime.fromisoformat(str(day)).replace(tzinfo=dt.UTC)
                                if day is not None else None)
        partition = day if day is not None and dag_id == "reviews_daily" else None
        return run_dag(dag_id, logical_date=when, conf=conf, dag=dag, partition=partition)

    def land(self, path: Path, day: str) -> None:
        from airsage.ingest import land_file

        land_file(self.lake, self.settings.dataset("reviews"), path, day)

    def alerts(self) -> list[Any]:
        from airsage.alerts.sinks import log_sink

        return log_sink(self.settings).read()

    def snapshot(self, prefix: str) -> dict[str, str]:
        return {key: hashlib.sha256(self.lake.read_bytes(key)).hexdigest()
                for key in self.lake.list(prefix)}
