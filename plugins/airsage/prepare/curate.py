"""Curate one partition: airsage's typed columns plus the ``sentiment`` label, as Parquet.

The catalog gives a DuckDB relation over the raw partition whatever its format (CSV, JSON
lines, Parquet); curation fixes the types once, so the bias job, prepare and the monitor's
baseline all read the same typed file instead of re-parsing raw text.
"""

from __future__ import annotations

import datetime as dt_
import tempfile
from pathlib import Path

from airsage.config import Settings
from airsage.errors import InputDataError, StepFailed
from airsage.lake.base import Lake, configure_duckdb
from airsage.lake.layout import LakeLayout, partition_value
from airsage.prepare.base import CURATED_FILE, SENTIMENT_LABELS, CurateResult

PARTITION_COLUMN = "dt"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sentiment_sql(rating_column: str) -> str:
    """The labs' label as SQL: 1-2 → -1, 3 → 0, 4-5 → 1, anything else NULL."""
    rating = _quote(rating_column)
    return (
        f"CASE WHEN {rating} IN (1, 2) THEN -1 WHEN {rating} = 3 THEN 0 "
        f"WHEN {rating} IN (4, 5) THEN 1 ELSE NULL END"
    )


def curate_partition(
    settings: Settings, lake: Lake, dataset: str, day: dt_.date | str, relation_sql: str
) -> CurateResult:
    """Write ``curated/<dataset>/dt=<day>/reviews.parquet`` from ``relation_sql``.

    ``relation_sql`` is anything DuckDB accepts after FROM (``read_csv(...)``, a subquery)
    holding the dataset's columns; when it carries ``dt``, only the day's rows are kept, so the
    catalog may hand over the whole table. A rerun overwrites the file.
    """
    import duckdb

    spec = settings.dataset(dataset)
    day_value = partition_value(day)
    key = LakeLayout(dataset).curated(day_value) + CURATED_FILE
    resource = f"{dataset} partition dt={day_value}"
    connection = configure_duckdb(duckdb.connect(), lake)
    try:
        try:
            described = connection.execute(f"DESCRIBE SELECT * FROM {relation_sql}").fetchall()
        except duckdb.Error as exc:
            raise InputDataError(
                f"curate: cannot read {resource} through {relation_sql!r}: {exc}; check that "
                "the catalog relation points at the landed files"
            ) from exc
        available = {row[0] for row in described}
        missing = [column for column in spec.columns if column not in available]
        if missing:
            raise InputDataError(
                f"curate: {resource} lacks column(s) {missing}; it has {sorted(available)}, "
                f"the dataset contract in {settings.source} needs {list(spec.columns)}"
            )
        selects = [
            f"CAST({_quote(column)} AS {sql_type}) AS {_quote(column)}"
            for column, sql_type in spec.columns.items()
        ]
        if PARTITION_COLUMN in available:
            selects.append(f"CAST({_quote(PARTITION_COLUMN)} AS DATE) AS {PARTITION_COLUMN}")
            where = f"WHERE CAST({_quote(PARTITION_COLUMN)} AS DATE) = DATE '{day_value}'"
        else:
            selects.append(f"DATE '{day_value}' AS {PARTITION_COLUMN}")
            where = ""
        selects.append(f"CAST({sentiment_sql(spec.label_column)} AS INTEGER) AS sentiment")
        query = (
            f"CREATE TABLE curated AS SELECT {', '.join(selects)} FROM {relation_sql} {where} "
            f"ORDER BY {_quote(spec.primary_key)}"
        )
        try:
            connection.execute(query)
        except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
            raise InputDataError(
                f"curate: {resource} does not match the types of the dataset contract: {exc}; "
                "the quality gate should have refused it, so check the ruleset's type rules"
            ) from exc
        except duckdb.Error as exc:
            raise StepFailed(f"curate: DuckDB failed on {resource}: {exc}") from exc
        rows = connection.execute("SELECT count(*) FROM curated").fetchall()[0][0]
        if rows == 0:
            raise InputDataError(
                f"curate: {resource} has no rows in {relation_sql!r}; land data for "
                f"{day_value} or run the day that has it"
            )
        counted = dict(
            connection.execute(
                "SELECT sentiment, count(*) FROM curated WHERE sentiment IS NOT NULL "
                "GROUP BY sentiment"
            ).fetchall()
        )
        with tempfile.TemporaryDirectory(prefix="airsage-curate-") as tmp:
            path = Path(tmp) / CURATED_FILE
            connection.execute(
                f"COPY curated TO '{path.as_posix()}' (FORMAT parquet, COMPRESSION zstd)"
            )
            uri = lake.upload(path, key)
    finally:
        connection.close()
    counts = {str(label): int(counted.get(label, 0)) for label in SENTIMENT_LABELS}
    return CurateResult(
        key=key,
        rows=int(rows),
        sentiment_counts=counts,
        unlabelled=int(rows) - sum(counts.values()),
        uri=uri,
    )
