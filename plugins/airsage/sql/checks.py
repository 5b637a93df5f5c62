"""Assertion queries: one ``.sql`` file per check, its expectation in a header comment.

File format (``include/sql/<dataset>/checks/<name>.sql``)::

    -- expect: 0
    -- description: ratings outside 1..5
    SELECT count(*) FROM {{ database }}.{{ table }}
    WHERE dt = '{{ ds }}' AND (rating < 1 OR rating > 5)

The header is the run of ``-- key: value`` lines at the top. ``expect`` is required:
``<number>`` or ``= <number>`` (equal), ``!= <number>``, ``< <number>``, ``<= <number>``,
``> <number>``, ``>= <number>``, or ``between <low> and <high>`` (inclusive). The query
must return one row with one value; the check passes when that value satisfies the
expectation. NULL, several rows or a query error fail the check (fail closed). The check's
name is the file name without ``.sql``. Placeholders: ``{{ ds }}`` (the partition date,
YYYY-MM-DD), ``{{ database }}``, ``{{ table }}``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from airsage.errors import ConfigurationError, GateFailedError, GateFailure

SKIPPED = "SKIPPED"  # not run because the partition is empty (partition_not_empty says so)
_HEADER = re.compile(r"^--\s*([A-Za-z_]+)\s*:\s*(.*?)\s*$")
_BETWEEN = re.compile(r"^between\s+(\S+)\s+and\s+(\S+)$", re.IGNORECASE)
_COMPARE = re.compile(r"^(==|=|!=|<>|<=|>=|<|>)?\s*(\S+)$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}


def _number(text: str, source: str) -> float | int:
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"{source}: expectation value {text!r} is not a number") from None
    return int(value) if value.is_integer() else value


@dataclass(frozen=True)
class Expectation:
    """What a check's single value must satisfy."""

    op: str
    value: float | int
    high: float | int | None = None

    @classmethod
    def parse(cls, text: str, source: str = "check") -> Expectation:
        text = text.strip()
        between = _BETWEEN.match(text)
        if between:
            low, high = (_number(v, source) for v in between.groups())
            return cls("between", low, high)
        compare = _COMPARE.match(text)
        if not compare:
            raise ConfigurationError(
                f"{source}: cannot read the expectation {text!r}; write e.g. '0', '> 0', "
                "'<= 10' or 'between 1 and 5'"
            )
        op = {None: "=", "==": "=", "<>": "!="}.get(compare.group(1), compare.group(1))
        return cls(op, _number(compare.group(2), source))

    def holds(self, measured: Any) -> bool:
        if isinstance(measured, bool) or not isinstance(measured, int | float):
            return False
        if isinstance(measured, float) and math.isnan(measured):
            return False
        if self.op == "between":
            return self.value <= measured <= self.high  # type: ignore[operator]
        return _OPS[self.op](measured, self.value)

    def __str__(self) -> str:
        if self.op == "between":
            return f"between {self.value} and {self.high}"
        return f"{self.op} {self.value}"


@dataclass(frozen=True)
class SqlCheck:
    """One assertion query as shipped (Athena SQL template) with its expectation."""

    name: str
    template: str
    expectation: Expectation
    description: str = ""
    path: str = ""

    @classmethod
    def from_file(cls, path: Path) -> SqlCheck:
        text = path.read_text(encoding="utf-8")
        header: dict[str, str] = {}
        for line in text.splitlines():
            if not line.strip():
                continue
            match = _HEADER.match(line.strip())
            if not match:
                break
            header[match.group(1).lower()] = match.group(2)
        if "expect" not in header:
            raise ConfigurationError(
                f"SQL check {path} has no '-- expect: ...' header line; every assertion query "
                "declares what its single value must be (see airsage.sql.checks)"
            )
        return cls(
            name=path.stem,
            template=text,
            expectation=Expectation.parse(header["expect"], str(path)),
            description=header.get("description", ""),
            path=str(path),
        )


def load_checks(folder: Path) -> list[SqlCheck]:
    """Every ``*.sql`` check in ``folder``, by name."""
    return [SqlCheck.from_file(p) for p in sorted(folder.glob("*.sql"))]


def json_value(value: Any) -> Any:
    """A JSON-safe scalar for a database value."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


@dataclass(frozen=True)
class SqlCheckResult:
    """One check's verdict: PASS, FAIL (value outside the expectation), ERROR or SKIPPED."""

    name: str
    expected: str
    measured: Any
    outcome: str
    sql: str
    engine_sql: str = ""
    description: str = ""
    error: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome == "PASS"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "outcome": self.outcome,
            "expected": self.expected,
            "measured": json_value(self.measured),
            "description": self.description,
            "sql": self.sql,
            "engine_sql": self.engine_sql,
            "error": self.error,
        }


@dataclass(frozen=True)
class SqlCheckReport:
    """All checks of one partition, as written to ``reports/sql/<dataset>/dt=.../results.json``."""

    dataset: str
    day: str
    database: str
    results: tuple[SqlCheckResult, ...] = field(default_factory=tuple)
    report_key: str | None = None
    report_uri: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def failed(self) -> tuple[SqlCheckResult, ...]:
        """FAIL and ERROR results (a SKIPPED check is neither: another one failed for it)."""
        return tuple(r for r in self.results if not r.passed and r.outcome != SKIPPED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "day": self.day,
            "database": self.database,
            "passed": self.passed,
            "checks": [r.to_dict() for r in self.results],
            "report_key": self.report_key,
            "report_uri": self.report_uri,
        }


def judge_value(name: str, expectation: Expectation, rows: list[Any] | tuple[Any, ...], sql: str,
                engine_sql: str = "", description: str = "") -> SqlCheckResult:
    """A check's verdict from the rows its query returned (any engine): one row with one value
    that satisfies the expectation passes; several rows or columns are an ERROR."""
    expected = str(expectation)
    if len(rows) != 1 or len(rows[0]) != 1:
        shape = f"{len(rows)} row(s) x {len(rows[0]) if rows else 0} column(s)"
        return SqlCheckResult(name, expected, None, "ERROR", sql, engine_sql, description,
                              f"expected one value, got {shape}")
    measured = json_value(rows[0][0])
    outcome = "PASS" if expectation.holds(measured) else "FAIL"
    return SqlCheckResult(name, expected, measured, outcome, sql, engine_sql, description)


def raise_if_failed(report: SqlCheckReport) -> None:
    """The SQL gate: any failed or erroring check raises, naming measured and expected."""
    if report.passed:
        return
    raise GateFailedError(
        gate="sql",
        resource=f"{report.database}.{report.dataset} dt={report.day}",
        failures=[
            GateFailure(
                check=r.name,
                measured=r.measured if r.outcome == "FAIL" else f"ERROR: {r.error}",
                expected=r.expected,
                # a failure with its own reason (an empty partition) says that, not its SQL
                message=r.error if r.outcome == "FAIL" and r.error else r.sql.strip(),
            )
            for r in report.failed
        ],
        report_uri=report.report_uri,
    )
