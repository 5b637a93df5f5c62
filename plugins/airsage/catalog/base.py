"""The catalog interface and its results, the same on every target.

Schema comparison is pure logic here, so a Glue crawler's result (aws target) and the
DuckDB crawler's (local target) are judged by the same rules: against the dataset's
configured columns (the contract; these changes are subject to
``catalog.schema_change_policy``) and against the table's previous schema (reported only).
"""

from __future__ import annotations

import datetime as dt_
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from airsage.errors import ConfigurationError, GateFailedError, GateFailure
from airsage.lake.base import Lake

CHANGE_KINDS = ("new", "missing", "retyped")
POLICIES = ("fail", "log")
DEFAULT_DATABASE = "airsage"


@dataclass(frozen=True)
class SchemaChange:
    """One difference between what a partition holds and what was expected.

    ``baseline`` is ``"config"`` (the dataset's contract) or ``"previous"`` (the schema the
    table had before this crawl). ``found``/``expected`` are types (None when absent).
    """

    kind: str
    column: str
    found: str | None
    expected: str | None
    baseline: str = "config"
    detail: str = ""

    def describe(self) -> str:
        text = {
            "new": f"new column {self.column!r} ({self.found}) not in the {self.baseline} schema",
            "missing": f"column {self.column!r} ({self.expected}) is missing",
            "retyped": f"column {self.column!r} is {self.found}, expected {self.expected}",
        }[self.kind]
        text = f"{text} [vs {self.baseline}]"
        return f"{text}: {self.detail}" if self.detail else text

    def to_failure(self) -> GateFailure:
        return GateFailure(
            check=f"schema.{self.kind}:{self.column}",
            measured=self.found,
            expected=self.expected,
            message=self.describe(),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "column": self.column, "found": self.found,
                "expected": self.expected, "baseline": self.baseline, "detail": self.detail}


@dataclass(frozen=True)
class CrawlResult:
    """A crawled partition: where, what it holds, how its schema compares, what was written."""

    dataset: str
    database: str
    table: str
    day: str
    location: str
    files: tuple[str, ...]
    formats: tuple[str, ...]
    rows: int
    columns: tuple[tuple[str, str], ...]
    inferred: tuple[tuple[str, str, str], ...]
    changes: tuple[SchemaChange, ...] = ()
    warnings: tuple[str, ...] = ()
    partition_created: bool = True
    table_created: bool = False
    report_key: str | None = None

    @property
    def schema_changed(self) -> bool:
        return bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "database": self.database,
            "table": self.table,
            "day": self.day,
            "location": self.location,
            "files": list(self.files),
            "formats": list(self.formats),
            "rows": self.rows,
            "columns": [{"name": n, "type": t} for n, t in self.columns],
            "inferred": [{"source": s, "name": n, "type": t} for s, n, t in self.inferred],
            "changes": [c.to_dict() for c in self.changes],
            "warnings": list(self.warnings),
            "partition_created": self.partition_created,
            "table_created": self.table_created,
            "report_key": self.report_key,
        }


class Catalog(Protocol):
    """What the pipeline needs from a catalog, on any target."""

    def crawl(self, lake: Lake, dataset: str, day: dt_.date | str) -> CrawlResult: ...

    def partition_relation(self, lake: Lake, dataset: str, day: dt_.date | str) -> str: ...


def compare_schema(
    found: Mapping[str, str],
    expected: Mapping[str, str],
    *,
    retyped: Mapping[str, str] | None = None,
    baseline: str = "config",
) -> tuple[SchemaChange, ...]:
    """Changes between ``found`` (name -> type) and ``expected`` (name -> type).

    Against the contract, a column is *retyped* when its values do not cast to the
    configured type (``retyped`` maps such columns to an explanation, e.g. a sample
    value); a different but castable physical type (INTEGER for BIGINT, or a CSV sniffed
    as VARCHAR with no rows) is not a change. Against the previous schema, types are
    compared as they are.
    """
    changes: list[SchemaChange] = []
    for name, type_ in found.items():
        if name not in expected:
            changes.append(SchemaChange("new", name, type_, None, baseline))
    for name, type_ in expected.items():
        if name not in found:
            changes.append(SchemaChange("missing", name, None, type_, baseline))
        elif retyped is not None:
            if name in retyped:
                changes.append(SchemaChange("retyped", name, found[name], type_, baseline,
                                            retyped[name]))
        elif found[name].upper() != type_.upper():
            changes.append(SchemaChange("retyped", name, found[name], type_, baseline))
    return tuple(changes)


def schema_policy(section: Mapping[str, Any]) -> str:
    policy = str(section.get("schema_change_policy") or "fail")
    if policy not in POLICIES:
        raise ConfigurationError(
            f"catalog.schema_change_policy {policy!r} is unknown; use one of {', '.join(POLICIES)}"
        )
    return policy


def enforce_policy(policy: str, resource: str, changes: tuple[SchemaChange, ...],
                   report_uri: str | None = None) -> tuple[str, ...]:
    """Apply the policy to contract changes: raise (fail) or return warnings (log)."""
    contract = tuple(c for c in changes if c.baseline == "config")
    if contract and policy == "fail":
        raise GateFailedError(
            gate="schema",
            resource=resource,
            failures=[c.to_failure() for c in contract],
            report_uri=report_uri,
        )
    return tuple(f"schema change: {c.describe()}" for c in changes)
