"""The local target's SQL engine: Athena SQL, transpiled, run by DuckDB on the catalog."""

from __future__ import annotations

import datetime as dt_
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airsage.catalog.base import DEFAULT_DATABASE
from airsage.catalog.local import META_SCHEMA, LocalCatalog
from airsage.config import INCLUDE_DIR, Settings
from airsage.errors import InputDataError
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout, partition_value
from airsage.sql.athena import render, transpile_athena
from airsage.sql.checks import (
    SKIPPED,
    SqlCheck,
    SqlCheckReport,
    SqlCheckResult,
    judge_value,
    load_checks,
    raise_if_failed,
)

if TYPE_CHECKING:
    import pandas as pd

REPORT_KIND = "sql"
REPORT_FILE = "results.json"
EMPTY_CHECK = "partition_not_empty"  # the check an empty partition fails (the others skip)


class DuckDBSqlEngine:
    """Run Athena SQL against ``<home>/catalog.duckdb`` (read-only)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = LocalCatalog(settings)
        self.database = str(settings.section("catalog").get("database") or DEFAULT_DATABASE)
        folder = Path(str(settings.section("sql").get("checks_dir") or "sql"))
        self.sql_dir = folder if folder.is_absolute() else INCLUDE_DIR / folder

    def checks_dir(self, dataset: str) -> Path:
        return self.sql_dir / dataset / "checks"

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"database": self.database, **params}

    def query(self, sql: str, **params: Any) -> pd.DataFrame:
        """Render ``sql`` (Athena SQL with Jinja placeholders), transpile it, run it."""
        duck_sql = transpile_athena(render(sql, **self._params(params)))
        with self.catalog.connect(read_only=True) as con:
            return con.execute(duck_sql).fetchdf()

    @staticmethod
    def _partition_rows(con: Any, params: dict[str, Any]) -> int | None:
        """Rows of the partition (None when counting fails: the checks then run and say why)."""
        sql = render("SELECT count(*) FROM {{ database }}.{{ table }} WHERE dt = '{{ ds }}'",
                     **params)
        try:
            return int(con.execute(transpile_athena(sql)).fetchone()[0])
        except Exception:  # every check reports the same broken table on its own
            return None

    @staticmethod
    def _empty_partition(checks: list[SqlCheck], params: dict[str, Any]
                         ) -> tuple[SqlCheckResult, ...]:
        """One failure for an empty partition; the other checks are skipped, saying why.

        Run on no rows, every count_if would measure NULL and fail as "measured None",
        burying the one fact that matters under five meaningless failures.
        """
        reason = ("the partition has no rows: the batch is empty or header-only, so there "
                  "is nothing to check or train on; land a batch with data rows")
        results = []
        for check in checks:
            sql = render(check.template, **params)
            if check.name == EMPTY_CHECK:
                results.append(SqlCheckResult(check.name, str(check.expectation), 0, "FAIL",
                                              sql, description=check.description,
                                              error=reason))
            else:
                results.append(SqlCheckResult(check.name, str(check.expectation), None,
                                              SKIPPED, sql, description=check.description,
                                              error=f"not run: {reason}"))
        if not any(r.name == EMPTY_CHECK for r in results):
            results.append(SqlCheckResult(EMPTY_CHECK, "> 0", 0, "FAIL", "", error=reason,
                                          description="rows in the day's partition"))
        return tuple(results)

    def _run_one(self, con: Any, check: SqlCheck, params: dict[str, Any]) -> SqlCheckResult:
        athena_sql = render(check.template, **params)
        expected = str(check.expectation)
        try:
            duck_sql = transpile_athena(athena_sql)
        except Exception as exc:
            return SqlCheckResult(check.name, expected, None, "ERROR", athena_sql,
                                  description=check.description, error=str(exc))
        try:
            rows = con.execute(duck_sql).fetchall()
        except Exception as exc:  # a broken query must fail the gate, not pass it
            return SqlCheckResult(check.name, expected, None, "ERROR", athena_sql, duck_sql,
                                  check.description, f"{type(exc).__name__}: {exc}")
        return judge_value(check.name, check.expectation, rows, athena_sql, duck_sql,
                           check.description)

    def run_checks(self, lake: Lake, dataset: str, day: dt_.date | str) -> SqlCheckReport:
        """Run every assertion of ``include/sql/<dataset>/checks/`` on the crawled partition.

        Results go to ``reports/sql/<dataset>/dt=<day>/results.json`` whatever the outcome;
        any failed or erroring check raises :class:`GateFailedError` (gate ``sql``).
        """
        self.settings.dataset(dataset)
        day = partition_value(day)
        checks = load_checks(self.checks_dir(dataset))
        if not checks:
            raise InputDataError(
                f"sql: no checks in {self.checks_dir(dataset)}; ship at least one assertion "
                "query (a gate without checks would pass anything)"
            )
        params = self._params({"ds": day, "table": dataset})
        with self.catalog.connect(read_only=True) as con:
            registered = con.execute(
                f"SELECT count(*) FROM {META_SCHEMA}.partitions "
                "WHERE database = ? AND table_name = ? AND dt = ?",
                [self.database, dataset, day],
            ).fetchone()[0]
            if not registered:
                raise InputDataError(
                    f"sql: {self.database}.{dataset} dt={day} is not in the catalog; "
                    "run the crawl step for that date first"
                )
            rows = self._partition_rows(con, params)
            if rows == 0:
                results = self._empty_partition(checks, params)
            else:
                results = tuple(self._run_one(con, check, params) for check in checks)
        key = LakeLayout(dataset).report(REPORT_KIND, day, REPORT_FILE)
        report = SqlCheckReport(dataset, day, self.database, results, key, lake.uri(key))
        lake.write_bytes(key, json.dumps(report.to_dict(), indent=2).encode())
        raise_if_failed(report)
        return report
