"""Rule suggestion (what Deequ's constraint suggestion and Glue's recommendations do).

A relation is profiled in one aggregate scan (plus one small query listing the values of
low-cardinality columns); :func:`rules_from_profile` then writes DQDL that the profiled data
passes. The profile is plain data, so the rule writing is engine independent; only
:func:`suggest_ruleset` opens a DuckDB connection.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airsage.config import DatasetSpec
from airsage.quality.compiler import RELATION_ALIAS, quote_ident, type_kind

MAX_CATEGORIES_TEXT = 20
MAX_CATEGORIES_INT = 10


@dataclass(frozen=True)
class ColumnProfile:
    name: str
    sql_type: str
    non_null: int
    distinct: int
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    values: tuple[Any, ...] | None = None  # the distinct values of a low-cardinality column

    @property
    def kind(self) -> str:
        return type_kind(self.sql_type)

    @property
    def integral(self) -> bool:
        return self.kind == "numeric" and "INT" in self.sql_type.upper()


@dataclass(frozen=True)
class Profile:
    rows: int
    columns: tuple[ColumnProfile, ...] = field(default_factory=tuple)


def profile_queries(relation_sql: str, schema: Mapping[str, str]) -> str:
    """The one aggregate SELECT that profiles every column."""
    items = ["count(*)"]
    for name, sql_type in schema.items():
        col = quote_ident(name)
        items += [f"count({col})", f"count(DISTINCT {col})"]
        kind = type_kind(sql_type)
        if kind == "numeric":
            items += [f"min({col})::DOUBLE", f"max({col})::DOUBLE"]
        elif kind == "string":
            items += ["NULL", f"max(length({col}))"]
        else:
            items += ["NULL", "NULL"]
    return f"SELECT {', '.join(items)} FROM {relation_sql} AS {RELATION_ALIAS}"


def _floor2(value: float) -> float:
    return math.floor(value * 100) / 100


def _categorical(column: ColumnProfile) -> bool:
    limit = MAX_CATEGORIES_INT if column.integral else MAX_CATEGORIES_TEXT
    return (column.kind == "string" or column.integral) and 0 < column.distinct <= limit


def _dqdl_value(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _threshold(column: ColumnProfile, rows: int) -> str:
    """Rows with NULL fail row-level rules: allow them as the profile saw them."""
    if column.non_null == rows:
        return ""
    return f" with threshold >= {_floor2(column.non_null / rows):g}"


def rules_from_profile(profile: Profile, dataset: DatasetSpec | None = None) -> list[str]:
    """DQDL rules (one string each) that the profiled data passes."""
    rows = profile.rows
    rules = [f"ColumnCount = {len(profile.columns)}"]
    if rows == 0:
        return ["RowCount >= 0", *rules]
    rules.insert(0, "RowCount > 0")
    by_name = {c.name: c for c in profile.columns}
    key = dataset.primary_key if dataset else None
    keyed = key in by_name and by_name[key].non_null == rows and by_name[key].distinct == rows
    if keyed:
        rules.append(f'IsPrimaryKey "{key}"')
    for column in profile.columns:
        name = column.name
        if column.non_null == 0 or (keyed and name == key):
            continue
        if column.non_null == rows:
            rules.append(f'IsComplete "{name}"')
        elif column.non_null / rows >= 0.05:
            rules.append(f'Completeness "{name}" >= {_floor2(column.non_null / rows):g}')
        if name != key and column.distinct == rows == column.non_null and rows > 1 and (
            column.kind in ("string", "numeric")
        ):
            rules.append(f'IsUnique "{name}"')
        threshold = _threshold(column, rows)
        if _categorical(column) and column.values is not None:
            values = ", ".join(_dqdl_value(v) for v in sorted(column.values, key=str))
            rules.append(f'ColumnValues "{name}" in [{values}]{threshold}')
        elif column.kind == "numeric" and column.minimum is not None and column.maximum is not None:
            low = math.floor(column.minimum) - 1
            high = math.ceil(column.maximum) + 1
            rules.append(f'ColumnValues "{name}" between {low} and {high}{threshold}')
        elif column.kind == "string" and column.max_length is not None:
            rules.append(f'ColumnLength "{name}" <= {column.max_length}')
    return rules


def to_dqdl(rules: Sequence[str], header: str = "") -> str:
    lines = [f"# {line}" for line in header.splitlines()] if header else []
    body = ",\n".join(f"    {rule}" for rule in rules)
    return "\n".join([*lines, "Rules = [", body, "]"]) + "\n"


def suggest_ruleset(relation_sql: str, *, dataset: DatasetSpec | None = None) -> str:
    """Profile ``relation_sql`` with DuckDB and return a DQDL ruleset the data passes."""
    import duckdb

    from airsage.errors import InputDataError

    con = duckdb.connect(":memory:")
    try:
        try:
            described = con.execute(
                f"DESCRIBE SELECT * FROM {relation_sql} AS {RELATION_ALIAS}").fetchall()
        except Exception as exc:
            raise InputDataError(f"rule suggestion: DuckDB cannot read {relation_sql[:200]}: {exc}") from exc
        schema = {str(r[0]): str(r[1]) for r in described}
        # aggregate queries: exactly one row each
        row = con.execute(profile_queries(relation_sql, schema)).fetchall()[0]
        rows = int(row[0])
        columns = []
        for i, (name, sql_type) in enumerate(schema.items()):
            non_null, distinct, a, b = row[1 + 4 * i: 5 + 4 * i]
            kind = type_kind(sql_type)
            columns.append(ColumnProfile(
                name=name, sql_type=sql_type, non_null=int(non_null), distinct=int(distinct),
                minimum=a if kind == "numeric" else None,
                maximum=b if kind == "numeric" else None,
                max_length=int(b) if kind == "string" and b is not None else None,
            ))
        small = [c for c in columns if _categorical(c)]
        if small:
            lists = ", ".join(f"list(DISTINCT {quote_ident(c.name)})" for c in small)
            values = con.execute(f"SELECT {lists} FROM {relation_sql} AS {RELATION_ALIAS}").fetchall()[0]
            listed = {c.name: tuple(x for x in (v or ()) if x is not None)
                      for c, v in zip(small, values, strict=True)}
            columns = [
                ColumnProfile(**{**c.__dict__, "values": listed.get(c.name)}) for c in columns
            ]
    finally:
        con.close()
    profile = Profile(rows=rows, columns=tuple(columns))
    header = (f"Suggested by airsage from a profile of {rows} row(s); review before use."
              if dataset is None else
              f"Suggested by airsage for dataset '{dataset.name}' from a profile of {rows} "
              "row(s); review before use.")
    return to_dqdl(rules_from_profile(profile, dataset), header)
