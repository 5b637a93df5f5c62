"""The local target's quality gate: the DQDL ruleset compiled to SQL and run by DuckDB.

Only the engine lives here (an in-memory DuckDB connection that reads the batch relation);
parsing, compilation, judging, history and anomaly checks are the shared modules an AWS
implementation reuses.
"""

from __future__ import annotations

import datetime as dt_
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airsage.config import INCLUDE_DIR, Settings
from airsage.errors import ConfigurationError, GateFailedError, GateFailure, InputDataError
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout, partition_value
from airsage.quality import dqdl
from airsage.quality.compiler import RuleCompiler
from airsage.quality.history import (
    REPORT_FILE,
    REPORT_KIND,
    MetricsHistory,
    QualitySettings,
    check_anomalies,
    check_size_floor,
)
from airsage.quality.results import QualityReport

GATE_NAME = "quality"


def load_ruleset(settings: Settings) -> dqdl.Ruleset:
    """The configured ruleset file (``quality.ruleset``, relative to ``include/``), parsed."""
    configured = QualitySettings.from_settings(settings).ruleset
    path = Path(configured)
    if not path.is_absolute():
        path = INCLUDE_DIR / path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"quality gate: cannot read the DQDL ruleset {path} (quality.ruleset = "
            f"{configured!r} in {settings.source}); point the setting at an existing file"
        ) from exc
    return dqdl.parse(text, source=str(path))


class DuckDBQualityGate:
    """Evaluates DQDL rulesets over any DuckDB-readable relation, in one aggregate scan."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.quality = QualitySettings.from_settings(settings)

    # -- engine ------------------------------------------------------------------------
    def _connect(self) -> Any:
        import duckdb

        con = duckdb.connect(":memory:")
        if self.settings.lake_root.startswith("s3://"):  # the batch relation reads the lake in place
            from airsage.lake.base import configure_duckdb
            from airsage.lake.local import lake_for_root

            configure_duckdb(con, lake_for_root(self.settings))
        return con

    @staticmethod
    def _schema(con: Any, relation_sql: str) -> dict[str, str]:
        try:
            rows = con.execute(f"DESCRIBE SELECT * FROM {relation_sql} AS __airsage_batch").fetchall()
        except Exception as exc:
            raise InputDataError(
                f"quality gate: DuckDB cannot read the batch relation {relation_sql[:200]}: {exc}; "
                "check that the files exist and the relation SQL is valid"
            ) from exc
        return {str(row[0]): str(row[1]) for row in rows}

    # -- public API --------------------------------------------------------------------
    def reference_datasets(self) -> tuple[str, ...]:
        """The datasets the configured ruleset compares the batch with (DataSources'
        AdditionalDataSources): the caller hands :meth:`run` a relation for each."""
        return load_ruleset(self.settings).additional_sources

    def evaluate(self, relation_sql: str, ruleset: dqdl.Ruleset, *,
                 now: dt_.datetime | None = None,
                 history: Sequence[Mapping[str, Any]] | None = None,
                 references: Mapping[str, str] | None = None) -> QualityReport:
        """Every rule of ``ruleset`` judged on ``relation_sql``, without side effects.

        ``history``: earlier runs' metrics, oldest first, for dynamic rules (``last(k)``…)
        and DetectAnomalies; without it those rules are ERROR. ``references``: the relation
        of each dataset alias named in DataSources, for RowCountMatch, SchemaMatch,
        ReferentialIntegrity, DatasetMatch, AggregateMatch and CustomSql.
        """
        now = now or dt_.datetime.now(dt_.UTC)
        con = self._connect()
        try:
            schema = self._schema(con, relation_sql)
            compiler = RuleCompiler(relation_sql, schema, now=now, history=history,
                                    references=references)

            def run(sql: str) -> Sequence[Sequence[Any]]:
                return con.execute(sql).fetchall()

            results, metrics = compiler.evaluate(ruleset, run)
        finally:
            con.close()
        return QualityReport(rule_results=tuple(results), metrics=metrics,
                             ruleset_source=ruleset.source,
                             evaluated_at=now.replace(microsecond=0).isoformat())

    def run(self, lake: Lake, dataset: str, day: dt_.date | str, relation_sql: str, *,
            references: Mapping[str, str] | None = None) -> QualityReport:
        """Evaluate the configured ruleset plus anomaly checks; persist; raise if refused.

        Dynamic rules and DetectAnomalies read the days before ``day`` from the metrics
        history (as many as the largest ``last(k)`` or the history window, whichever is
        more). Writes ``reports/quality/<dataset>/dt=<day>/results.json`` and the day's
        metrics history before raising :class:`GateFailedError`, so a failed gate leaves
        its evidence; a refused day's metrics are marked refused and never enter a later
        day's anomaly baseline. The size floor is judged on every day, with or without history.
        """
        day_value = partition_value(day)
        ruleset = load_ruleset(self.settings)
        history = MetricsHistory(lake, dataset)
        lookback = max(self.quality.history_window_days, ruleset.lookback())
        earlier = [metrics for _, metrics in history.trailing(day_value, lookback)]
        report = self.evaluate(relation_sql, ruleset, history=earlier, references=references)
        trailing = history.trailing(day_value, self.quality.history_window_days)
        anomalies = check_anomalies(self.quality.anomaly, report.metrics, trailing,
                                    self.quality.history_window_days)
        size = check_size_floor(self.quality.size, report.metrics)
        report = QualityReport(
            rule_results=report.rule_results + size + anomalies, metrics=report.metrics,
            ruleset_source=report.ruleset_source, dataset=dataset, day=day_value,
            evaluated_at=report.evaluated_at,
        )
        history.write(day_value, report.metrics,
                      refused_by=None if report.outcome == "PASS" else GATE_NAME)
        key = LakeLayout(dataset).report(REPORT_KIND, day_value, REPORT_FILE)
        report_uri = lake.write_bytes(
            key, json.dumps(report.to_dict(), indent=2).encode("utf-8"))
        if report.outcome != "PASS":
            raise GateFailedError(
                gate=GATE_NAME,
                resource=f"{dataset} dt={day_value}",
                failures=[
                    GateFailure(check=r.description, measured=r.measured, expected=r.expected,
                                message=f"{r.name} {r.result}: {r.evaluation_message}")
                    for r in report.failed
                ],
                report_uri=report_uri,
            )
        return report
