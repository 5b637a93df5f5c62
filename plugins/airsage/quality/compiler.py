"""Compile a DQDL ruleset into one aggregate SELECT and judge the metrics it returns.

Why one SELECT: every aggregate rule (counts, completeness, compliance of a row predicate,
mean, variance, correlation, entropy…) becomes an expression of a single
``SELECT … FROM <relation>``, so a batch is read once however many rules the ruleset holds;
the engine (DuckDB locally, Athena or Spark elsewhere) only has to run SQL. What cannot live
in that scan costs a query of its own: ``CustomSql`` rules (arbitrary SQL over ``primary``),
the comparisons with reference datasets (RowCountMatch, SchemaMatch, ReferentialIntegrity,
DatasetMatch, AggregateMatch) and, *only when a batch does have duplicates*, the exact
Uniqueness and UniqueValueRatio (values seen exactly once; the scan already proves
uniqueness when distinct count = non-null count).

Semantics and metric names follow Deequ, which Glue Data Quality runs (the cases of
awslabs/deequ's DQDL specs are tests/quality/upstream/deequ_dqdl_cases.json):

- Completeness = non-null rows / rows. Uniqueness = rows whose value occurs exactly once /
  rows (NULLs are never unique). IsComplete / IsUnique = the metric is exactly 1.0;
  IsPrimaryKey = both, over one or several columns. UniqueValueRatio = values seen once /
  distinct values. Variance and StandardDeviation are the population ones; Entropy is in
  nats over non-null values; ColumnCorrelation is Pearson's.
- ColumnValues, ColumnLength, ColumnDataType and DataFreshness judge each row; NULL rows
  fail, except for the negated forms (``!=``, ``not in``, ``not between``, ``not matches``)
  which let NULL pass unless NULL is listed (ColumnDataType: NULL is of every type). The
  metric is a compliance = passing rows / rows; without ``with threshold`` every row must
  pass, with it the threshold judges the compliance. ColumnLength treats NULL as length 0.
- ``between a and b`` is exclusive on both ends, as in Glue's own DQDL library.
- Metric names do not depend on a ``where`` clause (``Column.age.Completeness`` with or
  without one), as in Glue's results.
- A rule that sees no rows (an empty batch, or a where clause that keeps none): RowCount is
  0 and ColumnCount as usual; DataFreshness and ColumnDataType PASS, as Deequ's row-level
  executors do; ratios and statistics are undefined, so those rules FAIL with a message
  saying there are no rows (fail closed, no division).
- Dynamic operands (``avg(last(7)) * 0.9``) and DetectAnomalies read the same metric in
  the history of earlier runs the caller passes; without one they are ERROR.
- A rule naming a column the batch lacks, or that the local target cannot run (File*
  rules on a relation), is ERROR with a reason; the other rules still run. A comparison
  with a reference dataset that is absent FAILs, in Deequ's words.
"""

from __future__ import annotations

import datetime as dt_
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from airsage.quality.dqdl import (
    NEGATED_OPS,
    RANGE_OPS,
    REGEX_OPS,
    SET_OPS,
    AnyRule,
    CompositeRule,
    Condition,
    DateExpr,
    Duration,
    DynamicOperandError,
    Keyword,
    Rule,
    Ruleset,
    data_type_sql,
)
from airsage.quality.results import ERROR, FAIL, PASS, RuleResult


class SqlRunner(Protocol):
    """Runs one SQL statement and returns its rows (the engine-specific part)."""

    def __call__(self, sql: str) -> Sequence[Sequence[Any]]: ...


RELATION_ALIAS = "__airsage_batch"
ROW_COUNT_SQL = "count(*)"
PRIMARY_ALIAS = "__airsage_primary"

_NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                  "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL", "INT")
_TEMPORAL_TYPES = ("DATE", "TIMESTAMP", "TIME")


def type_kind(sql_type: str) -> str:
    """``numeric``, ``string``, ``temporal``, ``boolean`` or ``other`` for an SQL type name."""
    upper = sql_type.upper()
    if upper.startswith(_NUMERIC_TYPES):
        return "numeric"
    if upper.startswith(("VARCHAR", "CHAR", "TEXT", "STRING")):
        return "string"
    if upper.startswith(_TEMPORAL_TYPES):
        return "temporal"
    if upper.startswith("BOOL"):
        return "boolean"
    return "other"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**63 else repr(float(value))


def _fmt(value: Any) -> str:
    if value is None:
        return "undefined"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class _RuleError(Exception):
    """A rule cannot be evaluated on this batch (unknown column, wrong type…): ERROR."""


@dataclass
class _Verdict:
    result: str
    message: str
    metrics: dict[str, Any]
    measured: Any
    expected: str


Judge = Callable[[Mapping[str, Any], SqlRunner], _Verdict]


@dataclass
class _Plan:
    aggregates: dict[str, str]
    judge: Judge


class RuleCompiler:
    """Plans the aggregates of every rule of a ruleset over one relation and judges them."""

    def __init__(self, relation_sql: str, schema: Mapping[str, str], *,
                 now: dt_.datetime | None = None,
                 history: Sequence[Mapping[str, Any]] | None = None,
                 references: Mapping[str, str] | None = None) -> None:
        self.relation_sql = relation_sql
        self.schema = dict(schema)
        self._lower = {name.lower(): name for name in self.schema}
        self.now = (now or dt_.datetime.now(dt_.UTC)).replace(tzinfo=None, microsecond=0)
        # earlier runs' metrics, oldest first, for dynamic rules and DetectAnomalies;
        # None means no history was given (not: an empty history)
        self.history = None if history is None else list(history)
        self.references = dict(references or {})

    # -- helpers -----------------------------------------------------------------------
    def column(self, name: str) -> tuple[str, str]:
        """(quoted SQL identifier, SQL type) of a column; _RuleError when it does not exist."""
        actual = name if name in self.schema else self._lower.get(name.lower())
        if actual is None:
            raise _RuleError(
                f"Column '{name}' does not exist in the dataset; its columns are "
                f"{sorted(self.schema)}. Fix the rule or the batch's schema."
            )
        return quote_ident(actual), self.schema[actual]

    @staticmethod
    def _filter(rule: Rule, extra: str | None = None) -> str:
        parts = [p for p in (rule.where and f"({rule.where})", extra) if p]
        return f" FILTER (WHERE {' AND '.join(parts)})" if parts else ""

    def _rows(self, rule: Rule) -> str:
        return f"count(*){self._filter(rule)}"

    @staticmethod
    def _count_true(rule: Rule, predicate: str) -> str:
        """Rows where ``predicate`` is TRUE (NULL counts as not passing)."""
        if rule.where:
            return f"count(*) FILTER (WHERE ({rule.where}) AND ({predicate}))"
        return f"count_if({predicate})"

    def now_literal(self) -> str:
        return f"TIMESTAMP '{self.now.isoformat(sep=' ')}'"

    @staticmethod
    def _metric_key(rule: Rule, key: str) -> str:
        """Glue and Deequ name a metric the same with or without a where clause."""
        del rule
        return key

    def _compare(self, cond: Condition | None, key: str, value: float | None, *,
                 rows: int | None = None) -> _Verdict:
        """Judge ``value`` by ``cond``, computing dynamic operands from the history of ``key``."""
        assert cond is not None
        if cond.dynamic:
            if self.history is None:
                raise _RuleError(f"'{cond.text}' is a dynamic rule: it needs the metrics history, "
                                 "which only the gate's run over the lake provides")
            past = [float(m[key]) for m in self.history
                    if m.get(key) is not None and math.isfinite(float(m[key]))]
            try:
                cond = cond.resolved(past)
            except DynamicOperandError as exc:
                raise _RuleError(f"cannot compute '{cond.text}' from {len(past)} earlier "
                                 f"value(s) of {key}: {exc}") from exc
        return _compare(cond, key, value, rows=rows)

    # -- planning ----------------------------------------------------------------------
    def plan(self, rule: Rule) -> _Plan:
        """The aggregates a rule needs and how to judge them (raises _RuleError)."""
        if rule.rule_type in _ROW_LEVEL and rule.condition is not None and rule.condition.dynamic:
            raise _RuleError(f"dynamic operands such as last(k) or avg(...) compare a rule's "
                             f"metric with its history; {rule.rule_type} judges each row, so "
                             "give it fixed values")
        method = getattr(self, f"_plan_{rule.rule_type}", None)
        if method is None:
            raise _RuleError(f"{rule.rule_type} is valid DQDL but the local gate cannot "
                             "evaluate it")
        return method(rule)

    def _plan_RowCount(self, rule: Rule) -> _Plan:
        key = self._metric_key(rule, "Dataset.*.RowCount")

        def judge(v: Mapping[str, Any], _: SqlRunner) -> _Verdict:
            return self._compare(rule.condition, key, int(v["n"]))
        return _Plan({"n": self._rows(rule)}, judge)

    def _plan_ColumnCount(self, rule: Rule) -> _Plan:
        count = len(self.schema)

        def judge(v: Mapping[str, Any], _: SqlRunner) -> _Verdict:
            return self._compare(rule.condition, "Dataset.*.ColumnCount", count)
        return _Plan({}, judge)

    def _plan_ColumnExists(self, rule: Rule) -> _Plan:
        name = rule.column_name
        exists = name in self.schema or name.lower() in self._lower

        key = f"Dataset.{name}.ColumnExists"

        def judge(v: Mapping[str, Any], _: SqlRunner) -> _Verdict:
            if exists:
                return _Verdict(PASS, "", {key: 1.0}, True, "column exists")
            return _Verdict(FAIL, f"Column '{name}' does not exist; columns are "
                            f"{sorted(self.schema)}", {key: 0.0}, False, "column exists")
        return _Plan({}, judge)

    def _completeness(self, rule: Rule, columns: Sequence[str]) -> tuple[dict[str, str], list[str]]:
        aggs = {"n": self._rows(rule)}
        keys = []
        for i, name in enumerate(columns):
            ident, _ = self.column(name)
            aggs[f"nn{i}"] = f"count({ident}){self._filter(rule)}"
            keys.append(self._metric_key(rule, f"Column.{name}.Completeness"))
        return aggs, keys

    def _plan_Completeness(self, rule: Rule, *, exact: bool = False) -> _Plan:
        aggs, (key,) = self._completeness(rule, rule.params)

        def judge(v: Mapping[str, Any], _: SqlRunner) -> _Verdict:
            n = int(v["n"])
            value = None if n == 0 else int(v["nn0"]) / n
            if exact:
                return _is_one(key, value, n, "null")
            return self._compare(rule.condition, key, value, rows=n)
        return _Plan(aggs, judge)

    def _plan_IsComplete(self, rule: Rule) -> _Plan:
        return self._plan_Completeness(rule, exact=True)

    def _uniqueness(
        self, rule: Rule, columns: Sequence[str]
    ) -> tuple[dict[str, str], Callable[[Mapping[str, Any], SqlRunner], tuple[float | None, int]]]:
        idents = [self.column(c)[0] for c in columns]
        all_present = " AND ".join(f"{i} IS NOT NULL" for i in idents)
        if len(idents) == 1:
            # count() and count(DISTINCT) skip NULLs already; no FILTER keeps the scan lean
            aggs = {
                "n": self._rows(rule),
                "u_nn": f"count({idents[0]}){self._filter(rule)}",
                "u_d": f"count(DISTINCT {idents[0]}){self._filter(rule)}",
            }
        else:
            key_expr = "row(" + ", ".join(idents) + ")"
            aggs = {
                "n": self._rows(rule),
                "u_nn": f"count(*){self._filter(rule, all_present)}",
                "u_d": f"count(DISTINCT {key_expr}){self._filter(rule, all_present)}",
            }
        where = f"({rule.where}) AND " if rule.where else ""
        cols = ", ".join(idents)

        def value(v: Mapping[str, Any], run: SqlRunner) -> tuple[float | None, int]:
            n, nn, distinct = int(v["n"]), int(v["u_nn"]), int(v["u_d"])
            if n == 0:
                return None, 0
            if distinct == nn:
                return nn / n, 0
            rows = run(
                f"SELECT count(*) FROM (SELECT {cols} FROM {self.relation_sql} AS {RELATION_ALIAS} "
                f"WHERE {where}{all_present} GROUP BY {cols} HAVING count(*) = 1)"
            )
            return int(rows[0][0]) / n, nn - distinct
        return aggs, value

    def _uniqueness_key(self, rule: Rule) -> str:
        if len(rule.params) == 1:
            return self._metric_key(rule, f"Column.{rule.params[0]}.Uniqueness")
        return self._metric_key(rule, f"Multicolumn.{','.join(rule.params)}.Uniqueness")

    def _plan_Uniqueness(self, rule: Rule, *, exact: bool = False) -> _Plan:
        aggs, value_of = self._uniqueness(rule, rule.params)
        key = self._uniqueness_key(rule)

        def judge(v: Mapping[str, Any], run: SqlRunner) -> _Verdict:
            value, extra = value_of(v, run)
            if exact:
                verdict = _is_one(key, value, int(v["n"]), "duplicate or null")
                if extra and verdict.result == FAIL:
                    verdict.message += f" ({extra} repeated occurrence(s) of existing values)"
                return verdict
            return self._compare(rule.condition, key, value, rows=int(v["n"]))
        return _Plan(aggs, judge)

    def _plan_IsUnique(self, rule: Rule) -> _Plan:
        return self._plan_Uniqueness(rule, exact=True)

    def _plan_IsPrimaryKey(self, rule: Rule) -> _Plan:
        comp_aggs, comp_keys = self._completeness(rule, rule.params)
        uniq_aggs, value_of = self._uniqueness(rule, rule.params)
        key = self._uniqueness_key(rule)

        def judge(v: Mapping[str, Any], run: SqlRunner) -> _Verdict:
            n = int(v["n"])
            metrics: dict[str, Any] = {}
            problems = []
            for i, ckey in enumerate(comp_keys):
                value = None if n == 0 else int(v[f"nn{i}"]) / n
                metrics[ckey] = value
                if value != 1.0:
                    problems.append(f"{ckey} is {_fmt(value)}")
            uniq, extra = value_of(v, run)
            metrics[key] = uniq
            if uniq != 1.0:
                detail = f" ({extra} repeated occurrence(s))" if extra else ""
                problems.append(f"{key} is {_fmt(uniq)}{detail}")
            expected = "Completeness = 1.0 and Uniqueness = 1.0"
            if n == 0:
                return _Verdict(FAIL, "The batch has no rows: a primary key cannot be checked",
                                metrics, None, expected)
            if problems:
                return _Verdict(FAIL, "; ".join(problems) + f"; expected {expected}", metrics,
                                uniq if uniq != 1.0 else min(metrics.values()), expected)
            return _Verdict(PASS, "", metrics, 1.0, expected)
        return _Plan({**comp_aggs, **uniq_aggs}, judge)

    def _statistic(self, rule: Rule, metric: str, sql: Callable[[str], str], *,
                   numeric: bool = True) -> _Plan:
        ident, sql_type = self.column(rule.column_name)
        if numeric and type_kind(sql_type) != "numeric":
            raise _RuleError(f"{rule.rule_type} needs a numeric column; "
                             f"'{rule.column_name}' is {sql_type}")
        key = self._metric_key(rule, f"Column.{rule.column_name}.{metric}")
        aggs = {"n": self._rows(rule), "stat": f"{sql(ident)}{self._filter(rule)}"}

        def judge(v: Mapping[str, Any], _: SqlRunner) -> _Verdict:
            n = int(v["n"])
            value = None if n == 0 or v["stat"] is None else float(v["stat"])
            if isinstance(value, float) and metric == "Entropy":
                value = value * math.log(2.0)
            if metric == "DistinctValuesCount":
                value = int(v["stat"] or 0)
                return self._compare(rule.condition, key, value)
            return self._compare(rule.condition, key, value, rows=n)
        return _Plan(aggs, judge)

    def _plan_Mean(self, rule: Rule) -> _Plan:
        return self._statistic(rule, "Mean", lambda c: f"avg({c})")

    def _plan_Sum(self, rule: Rule) -> _Plan:
        return self._statistic(rule, "Sum", lambda c: f"sum({c})")

    def _plan_StandardDeviation(self, rule: Rule) -> _Plan:
        return self._statistic(rule, "StandardDeviation", lambda c: f"stddev_pop({c})")

    def _plan_Entropy(self, rule: Rule) -> _Plan:
        return self._statistic(rule, "Entropy", lambda c: f"entropy({c})", numeric=False)

    def _plan_DistinctValuesCount(self, rule: Rule) -> _Plan:
        return self._statistic(rule, "DistinctValuesCount", lambda c: f"count(DISTINCT {c})",
                               numeric=False)

    # -- row-level rules: compliance of a predicate -------------------------------------
    def _compliance(self, rule: Rule, predicate: str, metric: str,
                    extra: Mapping[str, tuple[str, str]] | None = None, *,
                    zero_rows_pass: bool = False, key: str | None = None) -> _Plan:
        """Rows passing ``predicate`` / rows, judged by the threshold or required to be 1.

        ``zero_rows_pass``: Deequ's row-by-row executors (DataFreshness, ColumnDataType) pass
        a rule that sees no rows (an empty batch, or a where clause that keeps none)."""
        key = key or f"Column.{rule.column_name}.{metric}.Compliance"
        aggs = {"n": self._rows(rule), "ok": self._count_true(rule, predicate)}
        extra = dict(extra or {})
        for name, (_, sql) in extra.items():
            aggs[name] = f"{sql}{self._filter(rule)}"
        expected = rule.condition.text if rule.condition else ""
        if rule.threshold is not None:
            expected += f" with threshold {rule.threshold.text}"

        def judge(v: Mapping[str, Any], _: SqlRunner) -> _Verdict:
            n, ok = int(v["n"]), int(v["ok"] or 0)  # count_if of no rows is NULL
            metrics: dict[str, Any] = {key: None if n == 0 else ok / n}
            for name, (metric_key, _sql) in extra.items():
                metrics[self._metric_key(rule, metric_key)] = v[name]
            value = metrics[key]
            if n == 0 and zero_rows_pass:
                return _Verdict(PASS, "No rows matched the filter" if rule.where else
                                "The batch has no rows: nothing to check", {}, None, expected)
            if n == 0:
                return _Verdict(FAIL, f"The batch has no rows: {key} is undefined", metrics,
                                None, expected)
            passed = rule.threshold.check(value) if rule.threshold is not None else ok == n
            if passed:
                return _Verdict(PASS, "", metrics, value, expected)
            failed_rows = n - ok
            message = (f"{failed_rows} of {n} rows ({failed_rows / n:.2%}) do not satisfy "
                       f"{rule.condition.text if rule.condition else metric}; "
                       f"{key} is {_fmt(value)}")
            if rule.threshold is not None:
                message += f", expected {rule.threshold.text}"
            return _Verdict(FAIL, message, metrics, value, expected)
        return _Plan(aggs, judge)

    def _plan_ColumnValues(self, rule: Rule) -> _Plan:
        ident, sql_type = self.column(rule.column_name)
        assert rule.condition is not None
        predicate = self.value_predicate(ident, sql_type, rule.condition)
        extra = {}
        numeric_ops = rule.condition.op not in SET_OPS + REGEX_OPS
        if numeric_ops and all(isinstance(o, float) for o in rule.condition.operands) and (
            type_kind(sql_type) == "numeric"
        ):
            extra = {"mn": (f"Column.{rule.column_name}.Minimum", f"min({ident})"),
                     "mx": (f"Column.{rule.column_name}.Maximum", f"max({ident})")}
        return self._compliance(rule, predicate, "ColumnValues", extra)

    def _plan_ColumnLength(self, rule: Rule) -> _Plan:
        ident, sql_type = self.column(rule.column_name)
        text = ident if type_kind(sql_type) == "string" else f"CAST({ident} AS VARCHAR)"
        length = f"coalesce(length({text}), 0)"
        assert rule.condition is not None
        predicate = _numeric_predicate(length, rule.condition)
        extra = {"mn": (f"Column.{rule.column_name}.MinimumLength", f"min({length})"),
                 "mx": (f"Column.{rule.column_name}.MaximumLength", f"max({length})")}
        return self._compliance(rule, predicate, "ColumnLength", extra,
                                key=f"Column.{rule.column_name}.LengthCompliance")

    def _plan_ColumnDataType(self, rule: Rule) -> _Plan:
        ident, _ = self.column(rule.column_name)
        cond = rule.condition
        assert cond is not None
        names = [str(o) for o in cond.operands]
        unknown = [n for n in names if data_type_sql(n) is None]
        fmt = rule.tags.get("format")
        problem = None
        if unknown:
            problem = (f"Unrecognized data type: {unknown[0]}; ColumnDataType knows "
                       "Boolean, Date, Timestamp, Integer, Long, Short, Byte, Double, Float, "
                       "Decimal, DECIMAL(p,s) and String")
        elif rule.tags and fmt is None and any(data_type_sql(n) == "DATE" for n in names):
            problem = "Unsupported rule format: the only tag a DATE type takes is 'format'"
        if problem is not None:
            expected = cond.text

            def refuse(v: Mapping[str, Any], _: SqlRunner) -> _Verdict:
                return _Verdict(FAIL, problem, {}, None, expected)
            return _Plan({}, refuse)
        castable = [self._castable(ident, n, fmt) for n in names]
        any_castable = " OR ".join(f"({c})" for c in castable)
        # NULL is of every type: a NULL row complies with = and in, fails != and not in
        test = f"({ident} IS NULL OR {any_castable})"
        predicate = f"NOT coalesce({test}, FALSE)" if cond.negated else f"coalesce({test}, FALSE)"
        return self._compliance(rule, predicate, "ColumnDataType", zero_rows_pass=True)

    _JAVA_DATE_PARTS = (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"))
    _DATE_FORMATS = ("dd-MM-yyyy", "MM-dd-yyyy", "yyyy-MM-dd", "dd/MM/yyyy", "MM/dd/yyyy",
                     "yyyy/MM/dd", "MM-yyyy", "dd-MM", "MM-dd", "yyyy-MM", "MM/yyyy", "dd/MM",
                     "MM/dd", "yyyy/MM")

    def _castable(self, ident: str, type_name: str, fmt: str | None) -> str:
        """An SQL test that a value converts to the DQDL type (Deequ: a non-null cast)."""
        target = data_type_sql(type_name)
        assert target is not None
        if target == "DATE" and fmt is not None:
            if fmt not in self._DATE_FORMATS:
                return "FALSE"  # Deequ: an unsupported format matches nothing
            pattern = fmt
            for java, strf in self._JAVA_DATE_PARTS:
                pattern = pattern.replace(java, strf)
            text = f"CAST({ident} AS VARCHAR)"
            if "%Y" not in pattern:  # a day and month: any leap year validates 29 Feb
                sep = "-" if "-" in fmt else "/"
                text, pattern = f"({text} || '{sep}2000')", f"{pattern}{sep}%Y"
            if "%d" not in pattern:
                sep = "-" if "-" in fmt else "/"
                text, pattern = f"({text} || '{sep}01')", f"{pattern}{sep}%d"
            return f"try_strptime({text}, {sql_string(pattern)}) IS NOT NULL"
        return f"TRY_CAST({ident} AS {target}) IS NOT NULL"

    def _plan_DataFreshness(self, rule: Rule) -> _Plan:
        ident, sql_type = self.column(rule.column_name)
        if type_kind(sql_type) not in ("temporal", "string"):
            raise _RuleError(f"DataFreshness needs a date or timestamp column; "
                             f"'{rule.column_name}' is {sql_type}")
        age = (f"(date_diff('second', TRY_CAST({ident} AS TIMESTAMP), {self.now_literal()}) "
               "/ 3600.0)")
        assert rule.condition is not None
        condition = Condition(rule.condition.op,
                              tuple(o.hours if isinstance(o, Duration) else o
                                    for o in rule.condition.operands),
                              rule.condition.text)
        predicate = _numeric_predicate(age, condition, null_passes=False)
        return self._compliance(rule, predicate, "DataFreshness", zero_rows_pass=True)

    def _with_sources(self, statement: str) -> str:
        """``statement`` over ``primary`` (the batch) and the reference datasets' aliases."""
        ctes = [f"{PRIMARY_ALIAS} AS (SELECT * FROM {self.relation_sql} AS {RELATION_ALIAS})"]
        ctes += [f"{quote_ident(alias)} AS (SELECT * FROM {sql} AS {RELATION_ALIAS})"
                 for alias, sql in self.references.items()]
        return f"WITH {', '.join(ctes)} {_replace_primary(statement)}"

    def _plan_CustomSql(self, rule: Rule) -> _Plan:
        if rule.condition is None:
            return self._custom_sql_rows(rule)
        sql = self._with_sources(rule.params[0])

        def judge(v: Mapping[str, Any], run: SqlRunner) -> _Verdict:
            try:
                rows = run(sql)
            except Exception as exc:
                raise _RuleError(f"CustomSql statement failed: {exc}") from exc
            if len(rows) != 1 or len(rows[0]) != 1:
                raise _RuleError("CustomSql must return exactly one value (one row, one column); "
                                 f"it returned {len(rows)} row(s)")
            raw = rows[0][0]
            value = None if raw is None else float(raw)
            return self._compare(rule.condition, "Dataset.*.CustomSQL", value)
        return _Plan({}, judge)

    def _custom_sql_rows(self, rule: Rule) -> _Plan:
        """Row-level CustomSql: the statement selects the batch's passing rows (Deequ)."""
        key = "Dataset.*.CustomSQL.Compliance"
        statement = self._with_sources(rule.params[0])
        expected = f"with threshold {rule.threshold.text}" if rule.threshold else "= 1.0"

        def judge(v: Mapping[str, Any], run: SqlRunner) -> _Verdict:
            total = int(v["n"])
            if total == 0:
                return _Verdict(FAIL, "Custom SQL rule could not be evaluated due to data frame "
                                "being empty", {}, None, expected)
            try:
                described = run(f"DESCRIBE {statement}")
            except Exception as exc:
                return _Verdict(FAIL, f"Error executing SQL statement: {exc}", {}, None, expected)
            columns = [str(r[0]) for r in described]
            unknown = [c for c in columns if c not in self.schema]
            if len(unknown) == len(columns):
                return _Verdict(FAIL, "The output from CustomSQL must contain at least one "
                                "column that matches the input dataset. Ensure that matching "
                                "columns are returned from the SQL.", {}, None, expected)
            if unknown:
                return _Verdict(FAIL, "The columns returned from the SQL statement should only "
                                "belong to the primary table. Columns not found: "
                                f"{', '.join(unknown)}", {}, None, expected)
            match = " AND ".join(f"s.{quote_ident(c)} IS NOT DISTINCT FROM p.{quote_ident(c)}"
                                 for c in columns)
            counted = run(f"SELECT count(*) FROM {self.relation_sql} AS p WHERE EXISTS "
                          f"(SELECT 1 FROM ({statement}) AS s WHERE {match})")
            ratio = int(counted[0][0]) / total
            passed = rule.threshold.check(ratio) if rule.threshold else ratio == 1.0
            if passed:
                return _Verdict(PASS, "", {key: ratio}, ratio, expected)
            return _Verdict(FAIL, f"Value: {ratio} does not meet the constraint requirement.",
                            {key: ratio}, ratio, expected)
        return _Plan({"n": ROW_COUNT_SQL}, judge)

    # -- more statistics (Deequ analyzers) ------------------------------------------------
    def _plan_Variance(self, rule: Rule) -> _Plan:
        return self._statistic(rule, "Variance", lambda c: f"var_pop({c})")

    def _plan_UniqueValueRatio(self, rule: Rule) -> _Plan:
        """Values seen exactly once / distinct values (Deequ's UniqueValueRatio; no NULLs)."""
        ident, _ = self.column(rule.column_name)
        key = f"Column.{rule.column_name}.UniqueValueRatio"
        aggs = {"n": self._rows(rule), "u_nn": f"count({ident}){self._filter(rule)}",
                "u_d": f"count(DISTINCT {ident}){self._filter(rule)}"}
        where = f"({rule.where}) AND " if rule.where else ""

        def judge(v: Mapping[str, Any], run: SqlRunner) -> _Verdict:
            nn, distinct = int(v["u_nn"]), int(v["u_d"])
            if distinct == 0:
                return self._compare(rule.condition, key, None, rows=int(v["n"]))
            if distinct == nn:
                return self._compare(rule.condition, key, 1.0)
            once = run(f"SELECT count(*) FROM (SELECT {ident} FROM {self.relation_sql} AS "
                       f"{RELATION_ALIAS} WHERE {where}{ident} IS NOT NULL GROUP BY {ident} "
                       "HAVING count(*) = 1)")
            return self._compare(rule.condition, key, int(once[0][0]) / distinct)
        return _Plan(aggs, judge)

    def _plan_ColumnCorrelation(self, rule: Rule) -> _Plan:
        first, second = rule.params
        (a, a_type), (b, b_type) = self.column(first), self.column(second)
        for name, sql_type in ((first, a_type), (second, b_type)):
            if type_kind(sql_type) != "numeric":
                raise _RuleError(f"ColumnCorrelation needs numeric columns; '{name}' is {sql_type}")
        key = f"Multicolumn.{first},{second}.ColumnCorrelation"
        aggs = {"n": self._rows(rule), "stat": f"corr({a}, {b}){self._filter(rule)}"}

        def judge(v: Mapping[str, Any], _: SqlRunner) -> _Verdict:
            raw = v["stat"]
            value = None if raw is None or math.isnan(float(raw)) else float(raw)
            return self._compare(rule.condition, key, value, rows=int(v["n"]))
        return _Plan(aggs, judge)

    def _plan_ColumnNamesMatchPattern(self, rule: Rule) -> _Plan:
        try:
            pattern = re.compile(rule.params[0])
        except re.error as exc:
            raise _RuleError(f"Invalid regex pattern '{rule.params[0]}' for "
                             f"ColumnNamesMatchPattern rule: {exc}") from exc
        columns = list(self.schema)
        unmatched = [c for c in columns if pattern.search(c) is None]
        key = "Dataset.*.ColumnNamesPatternMatchRatio"

        def judge(v: Mapping[str, Any], _: SqlRunner) -> _Verdict:
            ratio = (len(columns) - len(unmatched)) / len(columns) if columns else None
            if not unmatched:
                return _Verdict(PASS, "", {key: ratio}, ratio, f"matches {rule.params[0]!r}")
            return _Verdict(FAIL, "Columns that do not match the pattern: "
                            f"{', '.join(unmatched)}", {key: ratio}, ratio,
                            f"matches {rule.params[0]!r}")
        return _Plan({}, judge)

    # -- comparisons with other datasets (DataSources' AdditionalDataSources) -------------
    def _reference(self, alias: str) -> str | None:
        return self.references.get(alias)

    @staticmethod
    def _missing(alias: str, rule: Rule) -> _Verdict:
        # Deequ's wording differs by rule type; tools that read results match on it
        where = ("additional data sources" if rule.rule_type == "RowCountMatch"
                 else "additional sources")
        return _Verdict(FAIL, f"Reference dataset '{alias}' not found in {where}: name it in "
                        "DataSources' AdditionalDataSources and give the gate its relation", {},
                        None, rule.condition.text if rule.condition else "")

    def _absent(self, columns: Sequence[str]) -> list[str]:
        return [c for c in columns if c not in self.schema and c.lower() not in self._lower]

    def _schema_of(self, relation: str, run: SqlRunner) -> dict[str, str]:
        rows = run(f"DESCRIBE SELECT * FROM {relation} AS {RELATION_ALIAS}")
        return {str(r[0]): str(r[1]) for r in rows}

    def _plan_RowCountMatch(self, rule: Rule) -> _Plan:
        alias = rule.params[0]
        key = f"Dataset.{alias}.RowCountMatch"

        def judge(v: Mapping[str, Any], run: SqlRunner) -> _Verdict:
            reference = self._reference(alias)
            if reference is None:
                return self._missing(alias, rule)
            ref_rows = int(run(f"SELECT count(*) FROM {reference} AS {RELATION_ALIAS}")[0][0])
            rows = int(v["n"])
            ratio = rows / ref_rows if ref_rows else (math.inf if rows else math.nan)
            return self._compare(rule.condition, key, ratio)
        return _Plan({"n": ROW_COUNT_SQL}, judge)

    def _plan_SchemaMatch(self, rule: Rule) -> _Plan:
        alias = rule.params[0]
        key = f"Dataset.{alias}.SchemaMatch"

        def judge(v: Mapping[str, Any], run: SqlRunner) -> _Verdict:
            reference = self._reference(alias)
            if reference is None:
                return self._missing(alias, rule)
            theirs = self._schema_of(reference, run)
            expected = rule.condition.text if rule.condition else ""
            if not self.schema or not theirs:
                return _Verdict(FAIL, "One or both DataFrames have no columns", {key: 0.0}, 0.0,
                                expected)
            if len(self.schema) != len(theirs):
                return _Verdict(FAIL, "Column counts do not match", {key: 0.0}, 0.0, expected)
            same = sum(1 for name, sql_type in self.schema.items() if theirs.get(name) == sql_type)
            return self._compare(rule.condition, key, same / len(self.schema))
        return _Plan({}, judge)

    def _plan_ReferentialIntegrity(self, rule: Rule) -> _Plan:
        primary_columns = [c.strip() for c in rule.params[0].split(",")]
        spec = rule.params[1]
        braces = re.fullmatch(r"(.+)\.\{(.+)\}", spec)
        if braces:
            alias, ref_columns = braces.group(1), [c.strip() for c in braces.group(2).split(",")]
        elif "." in spec:
            alias, column = spec.rsplit(".", 1)
            ref_columns = [column]
        else:
            raise _RuleError(f"ReferentialIntegrity needs '<alias>.<column>' or "
                             f"'<alias>.{{<col>,<col>}}' as its second parameter, got {spec!r}")
        if len(ref_columns) != len(primary_columns):
            raise _RuleError(f"ReferentialIntegrity compares {len(primary_columns)} column(s) "
                             f"with {len(ref_columns)}; give as many on each side")
        key = f"Column.{alias}.ReferentialIntegrity"

        def judge(v: Mapping[str, Any], run: SqlRunner) -> _Verdict:
            reference = self._reference(alias)
            if reference is None:
                return self._missing(alias, rule)
            if self._absent(primary_columns):
                return _Verdict(FAIL, f"Column {', '.join(self._absent(primary_columns))} does "
                                "not exist in the primary dataset", {}, None,
                                rule.condition.text if rule.condition else "")
            idents = [self.column(c)[0] for c in primary_columns]
            theirs = self._schema_of(reference, run)
            absent = [c for c in ref_columns if c not in theirs]
            if absent:
                return _Verdict(FAIL, f"Column {', '.join(absent)} does not exist in reference "
                                f"dataset '{alias}'", {}, None, rule.condition.text if rule.condition
                                else "")
            total = int(v["n"])
            match = " AND ".join(f"r.{quote_ident(rc)} = p.{pi}"
                                 for rc, pi in zip(ref_columns, idents, strict=True))
            found = int(run(f"SELECT count(*) FROM {self.relation_sql} AS p WHERE EXISTS "
                            f"(SELECT 1 FROM {reference} AS r WHERE {match})")[0][0])
            return self._compare(rule.condition, key, found / total if total else None,
                                 rows=total)
        return _Plan({"n": ROW_COUNT_SQL}, judge)

    @staticmethod
    def _mappings(spec: str) -> list[tuple[str, str]]:
        pairs = []
        for part in spec.split(","):
            left, _, right = part.strip().partition("->")
            pairs.append((left.strip(), (right or left).strip()))
        return pairs

    def _plan_DatasetMatch(self, rule: Rule) -> _Plan:
        alias = rule.params[0]
        keys = self._mappings(rule.params[1])
        key_names = {left for left, _ in keys}
        matches = (self._mappings(rule.params[2]) if len(rule.params) > 2 else
                   [(c, c) for c in self.schema if c not in key_names])
        key = f"Dataset.{alias}.DatasetMatch"

        def judge(v: Mapping[str, Any], run: SqlRunner) -> _Verdict:
            reference = self._reference(alias)
            if reference is None:
                return self._missing(alias, rule)
            total = int(v["n"])
            if total == 0:
                return _Verdict(FAIL, "Cannot evaluate: primary DataFrame is empty", {}, None,
                                rule.condition.text if rule.condition else "")
            theirs = self._schema_of(reference, run)
            expected = rule.condition.text if rule.condition else ""
            missing_keys = self._absent([left for left, _ in keys]) + [
                right for _, right in keys if right not in theirs]
            if missing_keys:
                return _Verdict(FAIL, f"The key columns were not found: {missing_keys}", {},
                                None, expected)
            missing = self._absent([left for left, _ in matches]) + [
                right for _, right in matches if right not in theirs]
            if missing:
                return _Verdict(FAIL, f"The match columns were not found: {missing}", {}, None,
                                expected)
            on = [f"r.{quote_ident(right)} = p.{quote_ident(left)}" for left, right in keys]
            on += [f"r.{quote_ident(right)} IS NOT DISTINCT FROM p.{quote_ident(left)}"
                   for left, right in matches]
            found = int(run(f"SELECT count(*) FROM {self.relation_sql} AS p WHERE EXISTS "
                            f"(SELECT 1 FROM {reference} AS r WHERE {' AND '.join(on)})")[0][0])
            return self._compare(rule.condition, key, found / total)
        return _Plan({"n": ROW_COUNT_SQL}, judge)

    _AGGREGATE_RE = re.compile(r"(sum|avg|SUM|AVG)\((.*)\)")

    def _plan_AggregateMatch(self, rule: Rule) -> _Plan:
        sides = []
        for expression in rule.params:
            found = self._AGGREGATE_RE.fullmatch(expression.strip())
            if found is None:
                raise _RuleError(f"AggregateMatch compares sum(...) or avg(...) of a column; "
                                 f"got {expression!r}")
            function, target = found.group(1).lower(), found.group(2).replace('"', "")
            alias, _, column = target.rpartition(".")
            sides.append((function, alias or "primary", column))
        (_, _, first), (_, _, second) = sides
        key = (f"Column.{first}.AggregateMatch" if first == second
               else f"Column.{first},{second}.AggregateMatch")

        def side(function: str, alias: str, column: str, run: SqlRunner) -> float | str:
            relation = self.relation_sql if alias == "primary" else self._reference(alias)
            if relation is None:
                return f"{alias} not found in additional sources"
            columns = self.schema if alias == "primary" else self._schema_of(relation, run)
            if column not in columns:
                return f"Column '{column}' does not exist in {alias}"
            raw = run(f"SELECT {function}(CAST({quote_ident(column)} AS DOUBLE)) FROM "
                      f"{relation} AS {RELATION_ALIAS}")[0][0]
            if raw is None:
                return f"{function}({column}) of {alias} is undefined (no non-null values)"
            return float(raw)

        def judge(v: Mapping[str, Any], run: SqlRunner) -> _Verdict:
            left, right = (side(*s, run) for s in sides)
            for value in (left, right):
                if isinstance(value, str):
                    return _Verdict(FAIL, value, {}, None, rule.condition.text
                                    if rule.condition else "")
            assert isinstance(left, float) and isinstance(right, float)
            ratio = 1.0 if left == 0 and right == 0 else 0.0 if right == 0 else left / right
            return self._compare(rule.condition, key, ratio)
        return _Plan({}, judge)

    # -- the metrics history: DetectAnomalies ----------------------------------------------
    ANOMALY_MIN_HISTORY = 3
    ANOMALY_DEVIATIONS = 3.0

    def _plan_DetectAnomalies(self, rule: Rule) -> _Plan:
        """The metric against its history: anomalous when more than three standard deviations
        from the mean of earlier runs (Glue fits a model over the same history; this is the
        transparent baseline, and it needs at least three earlier values)."""
        metric_type, *params = rule.params
        if metric_type not in _ANOMALY_METRICS:
            raise _RuleError(f"DetectAnomalies cannot watch {metric_type!r}; it watches "
                             f"{', '.join(_ANOMALY_METRICS)}")
        inner = _metric_rule(rule, metric_type, tuple(params))
        plan = self.plan(inner)
        expected = (f"within {self.ANOMALY_DEVIATIONS:g} standard deviations of the mean of "
                    "earlier runs")

        def judge(v: Mapping[str, Any], run: SqlRunner) -> _Verdict:
            measured = plan.judge(v, run)
            if not measured.metrics:
                raise _RuleError(f"DetectAnomalies: {metric_type} could not be measured: "
                                 f"{measured.message}")
            key, value = next(iter(measured.metrics.items()))
            if self.history is None:
                raise _RuleError("DetectAnomalies needs the metrics history, which only the "
                                 "gate's run over the lake provides")
            if value is None:
                return _Verdict(FAIL, f"{key} is undefined on this batch", measured.metrics,
                                None, expected)
            past = [float(m[key]) for m in self.history
                    if m.get(key) is not None and math.isfinite(float(m[key]))]
            if len(past) < self.ANOMALY_MIN_HISTORY:
                return _Verdict(PASS, f"not enough history: {len(past)} earlier value(s) of "
                                f"{key}, {self.ANOMALY_MIN_HISTORY} needed", measured.metrics,
                                value, expected)
            mean = sum(past) / len(past)
            deviation = math.sqrt(sum((p - mean) ** 2 for p in past) / len(past))
            distance = abs(float(value) - mean)
            if distance <= self.ANOMALY_DEVIATIONS * deviation:
                return _Verdict(PASS, "", measured.metrics, value, expected)
            return _Verdict(FAIL, f"{key} is {_fmt(value)}, an anomaly against the mean "
                            f"{mean:.6g} (standard deviation {deviation:.6g}) of {len(past)} "
                            "earlier run(s)", measured.metrics, value, expected)
        return _Plan(plan.aggregates, judge)

    # -- rules that need files --------------------------------------------------------------
    def _files_only(self, rule: Rule) -> _Plan:
        raise _RuleError(f"{rule.rule_type} checks files (S3 objects): it runs on the aws "
                         "target's Glue Data Quality; the local gate evaluates a relation, "
                         "which has no files to check")

    _plan_FileFreshness = _files_only
    _plan_FileSize = _files_only
    _plan_FileMatch = _files_only
    _plan_FileUniqueness = _files_only

    def _plan_AllStatistics(self, rule: Rule) -> _Plan:
        columns = list(self.schema) if rule.params[0] == "AllColumns" else [rule.params[0]]
        plans = []
        for name in columns:
            _, sql_type = self.column(name)
            kinds = ["Completeness", "DistinctValuesCount", "UniqueValueRatio"]
            if type_kind(sql_type) == "numeric":
                kinds += ["Mean", "Sum", "StandardDeviation"]
            plans += [self.plan(_metric_rule(rule, kind, (name,))) for kind in kinds]
        aggregates = {f"{i}:{alias}": sql for i, p in enumerate(plans)
                      for alias, sql in p.aggregates.items()}

        def judge(v: Mapping[str, Any], run: SqlRunner) -> _Verdict:
            metrics: dict[str, Any] = {}
            for i, p in enumerate(plans):
                local = {alias: v[f"{i}:{alias}"] for alias in p.aggregates}
                metrics.update(p.judge(local, run).metrics)
            return _Verdict(PASS, "", metrics, None, "")
        return _Plan(aggregates, judge)

    # -- predicates --------------------------------------------------------------------
    def value_predicate(self, ident: str, sql_type: str, cond: Condition) -> str:
        """An SQL predicate for ``ColumnValues`` with DQDL's NULL semantics.

        Positive forms are left raw: a NULL row yields NULL, which is not counted as
        passing. Negated forms are ``coalesce(NOT …, TRUE)``: a NULL row passes unless
        NULL itself is listed (``col IS NULL`` is never NULL, so listing it decides).
        """
        kind = type_kind(sql_type)
        as_text = ident if kind == "string" else f"CAST({ident} AS VARCHAR)"
        as_num = ident if kind == "numeric" else f"TRY_CAST({ident} AS DOUBLE)"
        as_time = f"TRY_CAST({ident} AS TIMESTAMP)"

        def lhs_for(operand: Any) -> tuple[str, str]:
            if isinstance(operand, float):
                return as_num, sql_number(operand)
            if isinstance(operand, DateExpr):
                return as_time, self.date_literal(operand)
            return as_text, sql_string(str(operand))

        def keyword_test(word: Keyword) -> str:
            if word.name == "NULL":
                return f"{ident} IS NULL"
            if word.name == "EMPTY":
                return f"{as_text} = ''"
            return f"regexp_full_match({as_text}, '\\s+')"

        def finish(test: str) -> str:
            return f"coalesce(NOT ({test}), TRUE)" if cond.negated else f"({test})"

        op = cond.op
        if op in SET_OPS:
            parts = [keyword_test(o) for o in cond.operands if isinstance(o, Keyword)]
            groups: dict[str, list[str]] = {}
            for operand in cond.operands:
                if not isinstance(operand, Keyword):
                    lhs, literal = lhs_for(operand)
                    groups.setdefault(lhs, []).append(literal)
            parts += [f"{lhs} IN ({', '.join(vals)})" for lhs, vals in groups.items()]
            return finish(" OR ".join(parts))
        if op in REGEX_OPS:
            return finish(f"regexp_full_match({as_text}, {sql_string(str(cond.operands[0]))})")
        if op in RANGE_OPS:
            low, high = cond.operands
            lhs, low_sql = lhs_for(low)
            _, high_sql = lhs_for(high)
            return finish(f"{lhs} > {low_sql} AND {lhs} < {high_sql}")
        (operand,) = cond.operands
        if isinstance(operand, Keyword):
            if op not in ("=", "!="):
                raise _RuleError(f"{operand.name} can only be compared with = or !=")
            return finish(keyword_test(operand))
        lhs, literal = lhs_for(operand)
        return finish(f"{lhs} {'=' if op == '!=' else op} {literal}")

    def date_literal(self, expr: DateExpr) -> str:
        if expr.iso_date is not None:
            return f"TIMESTAMP '{expr.iso_date} 00:00:00'"
        moment = expr.moment(self.now)
        return f"TIMESTAMP '{moment.isoformat(sep=' ')}'"

    # -- evaluation --------------------------------------------------------------------
    def evaluate(self, ruleset: Ruleset, run: SqlRunner) -> tuple[list[RuleResult], dict[str, Any]]:
        """Run the single scan (plus CustomSql, dataset comparisons and duplicate follow-ups);
        judge every rule; measure every analyzer (its metrics join the report's, no verdict)."""
        analyzers = [rule if rule.rule_type == "AllStatistics"
                     else _metric_rule(rule, rule.rule_type, rule.params)
                     for rule in ruleset.analyzers]
        targets = [*ruleset.leaves(), *analyzers]
        plans: dict[int, _Plan | str] = {}
        for leaf in targets:
            try:
                plans[id(leaf)] = self.plan(leaf)
            except _RuleError as exc:
                plans[id(leaf)] = str(exc)
        # The row count is always measured: the metrics history and anomaly checks need it
        # even when no rule asks for it, and it costs nothing in the same scan.
        aliases: dict[str, str] = {ROW_COUNT_SQL: "m0"}
        for plan in plans.values():
            if isinstance(plan, _Plan):
                for sql in plan.aggregates.values():
                    aliases.setdefault(sql, f"m{len(aliases)}")
        values: dict[str, Any] = {}
        if aliases:
            select = ", ".join(f"{sql} AS {alias}" for sql, alias in aliases.items())
            query = f"SELECT {select} FROM {self.relation_sql} AS {RELATION_ALIAS}"
            try:
                row = run(query)[0]
                values = dict(zip(aliases.values(), row, strict=True))
            except Exception:
                values = self._isolate(plans, aliases, run)
        verdicts: dict[int, _Verdict | str] = {}
        for leaf in targets:
            plan = plans[id(leaf)]
            if isinstance(plan, str):
                verdicts[id(leaf)] = plan
                continue
            if any(sql not in aliases or aliases[sql] not in values
                   for sql in plan.aggregates.values()):
                verdicts[id(leaf)] = values.get(f"error:{id(leaf)}", "the rule's SQL failed")
                continue
            local = {name: values[aliases[sql]] for name, sql in plan.aggregates.items()}
            try:
                verdicts[id(leaf)] = plan.judge(local, run)
            except _RuleError as exc:
                verdicts[id(leaf)] = str(exc)
            except Exception as exc:  # an engine error in a follow-up query: this rule only
                verdicts[id(leaf)] = f"The rule's SQL failed on this batch: {exc}"
        results: list[RuleResult] = []
        metrics: dict[str, Any] = {"Dataset.*.RowCount": values.get("m0"),
                                   "Dataset.*.ColumnCount": len(self.schema)}
        for index, rule in enumerate(ruleset.rules, start=1):
            verdict = _combine(rule, verdicts)
            metrics.update(verdict.metrics)
            results.append(RuleResult(
                name=f"Rule_{index}", description=rule.text, result=verdict.result,
                evaluation_message=verdict.message, evaluated_metrics=verdict.metrics,
                measured=verdict.measured, expected=verdict.expected,
            ))
        for analyzer in analyzers:
            measured = verdicts[id(analyzer)]
            if isinstance(measured, _Verdict):
                metrics.update(measured.metrics)
        return results, metrics

    def _isolate(self, plans: Mapping[int, _Plan | str], aliases: Mapping[str, str],
                 run: SqlRunner) -> dict[str, Any]:
        """The combined scan failed (a bad where clause…): run each rule alone to find it."""
        values: dict[str, Any] = {}
        try:
            values[aliases[ROW_COUNT_SQL]] = run(
                f"SELECT {ROW_COUNT_SQL} FROM {self.relation_sql} AS {RELATION_ALIAS}")[0][0]
        except Exception:
            values[aliases[ROW_COUNT_SQL]] = None
        for leaf_id, plan in plans.items():
            if not isinstance(plan, _Plan) or not plan.aggregates:
                continue
            sqls = list(dict.fromkeys(plan.aggregates.values()))
            select = ", ".join(f"{sql} AS {aliases[sql]}" for sql in sqls)
            try:
                row = run(f"SELECT {select} FROM {self.relation_sql} AS {RELATION_ALIAS}")[0]
            except Exception as exc:
                values[f"error:{leaf_id}"] = f"The rule's SQL failed on this batch: {exc}"
                continue
            values.update({aliases[sql]: value for sql, value in zip(sqls, row, strict=True)})
        return values


# --------------------------------------------------------------------------------------
# judging helpers
# --------------------------------------------------------------------------------------


def _compare(cond: Condition | None, key: str, value: float | None, *,
             rows: int | None = None) -> _Verdict:
    assert cond is not None
    expected = cond.text
    if value is None or (isinstance(value, float) and math.isnan(value)):
        why = ("the batch has no rows" if rows == 0 else "the column has no non-null values")
        return _Verdict(FAIL, f"{key} is undefined because {why}; expected {expected}",
                        {key: None}, None, expected)
    if cond.check(float(value)):
        return _Verdict(PASS, "", {key: value}, value, expected)
    return _Verdict(FAIL, f"Value: {_fmt(value)} does not meet the constraint requirement! "
                    f"{key} is {_fmt(value)}, expected {expected}", {key: value}, value, expected)


def _is_one(key: str, value: float | None, rows: int, what: str) -> _Verdict:
    expected = "= 1.0"
    if value is None:
        return _Verdict(FAIL, f"The batch has no rows: {key} is undefined", {key: None}, None,
                        expected)
    if value == 1.0:
        return _Verdict(PASS, "", {key: value}, value, expected)
    bad = round((1.0 - value) * rows)
    return _Verdict(FAIL, f"Value: {_fmt(value)} does not meet the constraint requirement! "
                    f"{key} is {_fmt(value)} ({bad} of {rows} rows {what}), expected 1.0",
                    {key: value}, value, expected)


def _combine(rule: AnyRule, verdicts: Mapping[int, _Verdict | str]) -> _Verdict:
    if isinstance(rule, Rule):
        verdict = verdicts[id(rule)]
        if isinstance(verdict, str):
            return _Verdict(ERROR, verdict, {}, None, rule.condition.text if rule.condition else "")
        return verdict
    assert isinstance(rule, CompositeRule)
    parts = [_combine(child, verdicts) for child in rule.children]
    metrics: dict[str, Any] = {}
    for part in parts:
        metrics.update(part.metrics)
    outcomes = [p.result for p in parts]
    if rule.op == "and":
        result = FAIL if FAIL in outcomes else ERROR if ERROR in outcomes else PASS
    else:
        result = PASS if PASS in outcomes else ERROR if ERROR in outcomes else FAIL
    messages = [f"({child.text}): {p.result}{' - ' + p.message if p.message else ''}"
                for child, p in zip(rule.children, parts, strict=True)]
    message = "" if result == PASS else f"{rule.op} of: " + "; ".join(messages)
    expected = f" {rule.op} ".join(f"({c.text})" for c in rule.children)
    return _Verdict(result, message, metrics, dict(metrics), expected)


def _numeric_predicate(lhs: str, cond: Condition, *, null_passes: bool | None = None) -> str:
    """A predicate on a numeric SQL expression (lengths, ages) for a numeric condition.

    NULL yields NULL (not passing) for positive forms; negated forms let NULL pass unless
    ``null_passes`` says otherwise.
    """
    nums: list[str] = []
    for operand in cond.operands:
        if not isinstance(operand, (int, float)):  # the parser admits only numbers here
            raise _RuleError(f"'{cond.text}' compares a number; {operand!r} is not one")
        nums.append(sql_number(float(operand)))
    if cond.op in RANGE_OPS:
        test = f"{lhs} > {nums[0]} AND {lhs} < {nums[1]}"
    elif cond.op in SET_OPS:
        test = f"{lhs} IN ({', '.join(nums)})"
    elif cond.op == "!=":
        test = f"{lhs} = {nums[0]}"
    else:
        test = f"{lhs} {cond.op} {nums[0]}"
    if cond.op not in NEGATED_OPS:
        return f"({test})"
    passes = True if null_passes is None else null_passes
    return f"coalesce(NOT ({test}), {'TRUE' if passes else 'FALSE'})"


_QUOTED = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")")


def _replace_primary(statement: str) -> str:
    """``primary`` (DQDL's name for the batch) -> the CTE alias, outside quoted text."""
    pieces = _QUOTED.split(statement)
    return "".join(
        piece if i % 2 else re.sub(r"\bprimary\b", PRIMARY_ALIAS, piece, flags=re.IGNORECASE)
        for i, piece in enumerate(pieces)
    )


# Rule types whose metric DetectAnomalies and Analyzers can watch.
_ANOMALY_METRICS = ("RowCount", "ColumnCount", "Completeness", "Uniqueness", "Mean", "Sum",
                    "StandardDeviation", "Variance", "Entropy", "DistinctValuesCount",
                    "UniqueValueRatio", "ColumnCorrelation", "ColumnLength", "CustomSql",
                    "RowCountMatch", "ReferentialIntegrity", "DatasetMatch", "SchemaMatch",
                    "AggregateMatch")
_ALWAYS = Condition(">=", (-math.inf,), "", "number")


def _metric_rule(origin: Rule, rule_type: str, params: tuple[str, ...]) -> Rule:
    """A rule that only measures ``rule_type``'s metric (its condition always holds)."""
    return Rule(rule_type=rule_type, params=params, condition=_ALWAYS, threshold=None,
                where=origin.where, text=origin.text, line=origin.line, column=origin.column)
_ROW_LEVEL = ("ColumnValues", "ColumnLength", "DataFreshness", "ColumnDataType")
