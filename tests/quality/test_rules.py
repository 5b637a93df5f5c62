"""Rule semantics on DuckDB: metrics, NULL handling, thresholds, empty batches, errors."""

from __future__ import annotations

import datetime as dt_
import math
from typing import Any

import pytest

from airsage.quality import dqdl
from airsage.quality.compiler import RuleCompiler
from airsage.quality.local import DuckDBQualityGate
from airsage.quality.results import QualityReport


def values_relation(columns: str, rows: list[str]) -> str:
    """``(SELECT * FROM (VALUES ...) t(cols))``: a self-contained relation for DuckDB."""
    return f"(SELECT * FROM (VALUES {', '.join(rows)}) AS t({columns}))"


# id, name, age, city, score, code
PEOPLE = values_relation(
    "id, name, age, city, score, code",
    [
        "(1, 'Ann', 30, 'Paris', 1.0, '75001')",
        "(2, 'Bob', 40, 'Lyon', 2.0, '69001')",
        "(3, 'Cid', NULL, 'Paris', 3.0, '7500')",
        "(4, NULL, 50, '', 4.0, NULL)",
        "(5, 'Eve', 60, '   ', NULL, 'abc')",
    ],
)
EMPTY = f"(SELECT * FROM {PEOPLE} WHERE false)"


def run(gate: DuckDBQualityGate, relation: str, rules: str, **kw: Any) -> QualityReport:
    return gate.evaluate(relation, dqdl.parse(f"Rules = [ {rules} ]"), **kw)


def one(gate: DuckDBQualityGate, relation: str, rule: str, **kw: Any):
    return run(gate, relation, rule, **kw).rule_results[0]


def test_result_shape_is_glues(gate: DuckDBQualityGate) -> None:
    result = one(gate, PEOPLE, 'Completeness "name" > 0.9')
    assert result.to_dict() == {
        "Name": "Rule_1",
        "Description": 'Completeness "name" > 0.9',
        "Result": "FAIL",
        "EvaluationMessage": result.evaluation_message,
        "EvaluatedMetrics": {"Column.name.Completeness": 0.8},
    }
    assert "0.8" in result.evaluation_message and "> 0.9" in result.evaluation_message
    assert result.measured == 0.8 and result.expected == "> 0.9"


@pytest.mark.parametrize(
    ("rule", "outcome", "metric", "value"),
    [
        ("RowCount = 5", "PASS", "Dataset.*.RowCount", 5),
        ("RowCount > 5", "FAIL", "Dataset.*.RowCount", 5),
        ("ColumnCount = 6", "PASS", "Dataset.*.ColumnCount", 6),
        ('IsComplete "id"', "PASS", "Column.id.Completeness", 1.0),
        ('IsComplete "age"', "FAIL", "Column.age.Completeness", 0.8),
        ('Completeness "age" >= 0.8', "PASS", "Column.age.Completeness", 0.8),
        ('IsUnique "id"', "PASS", "Column.id.Uniqueness", 1.0),
        ('IsUnique "name"', "FAIL", "Column.name.Uniqueness", 0.8),
        ('Uniqueness "city" = 0.6', "PASS", "Column.city.Uniqueness", 0.6),
        ('Mean "score" = 2.5', "PASS", "Column.score.Mean", 2.5),
        ('Sum "score" = 10', "PASS", "Column.score.Sum", 10.0),
        ('StandardDeviation "score" < 1.2', "PASS", "Column.score.StandardDeviation",
         math.sqrt(1.25)),
        ('DistinctValuesCount "city" = 4', "PASS", "Column.city.DistinctValuesCount", 4),
        ('Entropy "city" > 1', "PASS", "Column.city.Entropy",
         -(0.4 * math.log(0.4) + 3 * 0.2 * math.log(0.2))),
    ],
)
def test_aggregate_rules(gate: DuckDBQualityGate, rule: str, outcome: str, metric: str,
                         value: float) -> None:
    result = one(gate, PEOPLE, rule)
    assert result.result == outcome, result.evaluation_message
    assert result.evaluated_metrics[metric] == pytest.approx(value)


def test_uniqueness_counts_values_seen_exactly_once_and_nulls_as_not_unique(
    gate: DuckDBQualityGate,
) -> None:
    relation = values_relation("k", ["(1)", "(1)", "(2)", "(3)", "(NULL)"])
    result = one(gate, relation, 'Uniqueness "k" = 0.4')
    assert result.result == "PASS", result.evaluation_message
    unique = one(gate, relation, 'IsUnique "k"')
    assert unique.result == "FAIL" and "repeated" in unique.evaluation_message


def test_primary_key_single_and_multi_column(gate: DuckDBQualityGate) -> None:
    relation = values_relation("a, b", ["(1, 1)", "(1, 2)", "(2, 1)"])
    assert one(gate, relation, 'IsPrimaryKey "a" "b"').result == "PASS"
    single = one(gate, relation, 'IsPrimaryKey "a"')
    assert single.result == "FAIL"
    assert single.evaluated_metrics == {"Column.a.Completeness": 1.0,
                                        "Column.a.Uniqueness": pytest.approx(1 / 3)}
    with_null = values_relation("a", ["(1)", "(NULL)"])
    result = one(gate, with_null, 'IsPrimaryKey "a"')
    assert result.result == "FAIL" and "Completeness" in result.evaluation_message


def test_column_values_null_semantics(gate: DuckDBQualityGate) -> None:
    # NULL rows fail positive rules...
    assert one(gate, PEOPLE, 'ColumnValues "age" > 0').result == "FAIL"
    # ...but pass negated ones unless NULL is listed
    assert one(gate, PEOPLE, 'ColumnValues "age" != 99').result == "PASS"
    assert one(gate, PEOPLE, 'ColumnValues "age" not in [99]').result == "PASS"
    assert one(gate, PEOPLE, 'ColumnValues "age" not in [99, NULL]').result == "FAIL"
    assert one(gate, PEOPLE, 'ColumnValues "age" in [30, 40, 50, 60, NULL]').result == "PASS"
    assert one(gate, PEOPLE, 'ColumnValues "age" = NULL').result == "FAIL"
    city = 'ColumnValues "city" in ["Paris", "Lyon", EMPTY, WHITESPACES_ONLY]'
    assert one(gate, PEOPLE, city).result == "PASS"
    assert one(gate, PEOPLE, 'ColumnValues "city" in ["Paris", "Lyon", EMPTY]').result == "FAIL"


def test_column_values_threshold_measures_the_passing_fraction(gate: DuckDBQualityGate) -> None:
    result = one(gate, PEOPLE, 'ColumnValues "city" in ["Paris", "Lyon"] with threshold >= 0.6')
    assert result.result == "PASS"
    assert result.evaluated_metrics["Column.city.ColumnValues.Compliance"] == pytest.approx(0.6)
    strict = one(gate, PEOPLE, 'ColumnValues "city" in ["Paris", "Lyon"] with threshold > 0.6')
    assert strict.result == "FAIL" and "> 0.6" in strict.evaluation_message
    without = one(gate, PEOPLE, 'ColumnValues "city" in ["Paris", "Lyon"]')
    assert without.result == "FAIL" and "2 of 5 rows" in without.evaluation_message


def test_column_values_ranges_regex_and_between_exclusive(gate: DuckDBQualityGate) -> None:
    assert one(gate, PEOPLE, 'ColumnValues "id" between 0 and 6').result == "PASS"
    assert one(gate, PEOPLE, 'ColumnValues "id" between 1 and 5').result == "FAIL"
    ranged = one(gate, PEOPLE, 'ColumnValues "id" <= 5')
    assert ranged.evaluated_metrics["Column.id.Minimum"] == 1
    assert ranged.evaluated_metrics["Column.id.Maximum"] == 5
    names = 'ColumnValues "name" matches "[A-Z][a-z]+" with threshold = 0.8'
    assert one(gate, PEOPLE, names).result == "PASS"
    # full match, not search: "abc" does not match [0-9]+ even partly
    codes = one(gate, PEOPLE, 'ColumnValues "code" matches "[0-9]+" with threshold = 0.6')
    assert codes.result == "PASS", codes.evaluation_message
    assert one(gate, PEOPLE, 'ColumnValues "name" = "Ann" with threshold = 0.2').result == "PASS"


def test_column_values_on_dates(gate: DuckDBQualityGate) -> None:
    relation = values_relation("d", ["(DATE '2024-01-10')", "(DATE '2024-01-20')"])
    assert one(gate, relation, 'ColumnValues "d" > "2024-01-01"').result == "PASS"
    assert one(gate, relation, 'ColumnValues "d" > "2024-01-15"').result == "FAIL"
    now = dt_.datetime(2024, 1, 21, 12)
    assert one(gate, relation, 'ColumnValues "d" > (now() - 30 days)', now=now).result == "PASS"
    assert one(gate, relation, 'ColumnValues "d" > (now() - 5 days)', now=now).result == "FAIL"


def test_column_length_treats_null_as_zero(gate: DuckDBQualityGate) -> None:
    result = one(gate, PEOPLE, 'ColumnLength "code" = 5 with threshold = 0.4')
    assert result.result == "PASS", result.evaluation_message
    assert result.evaluated_metrics["Column.code.MinimumLength"] == 0
    assert result.evaluated_metrics["Column.code.MaximumLength"] == 5
    assert one(gate, PEOPLE, 'ColumnLength "code" < 6').result == "PASS"
    assert one(gate, PEOPLE, 'ColumnLength "code" > 0').result == "FAIL"


def test_column_exists_and_data_type(gate: DuckDBQualityGate) -> None:
    assert one(gate, PEOPLE, 'ColumnExists "city"').result == "PASS"
    assert one(gate, PEOPLE, 'ColumnExists "country"').result == "FAIL"
    codes = one(gate, PEOPLE, 'ColumnDataType "code" = "INTEGER"')
    assert codes.result == "FAIL"
    # 3 castable + 1 NULL of 5 rows
    assert codes.evaluated_metrics["Column.code.ColumnDataType.Compliance"] == pytest.approx(0.8)
    assert one(gate, PEOPLE, 'ColumnDataType "code" = "INTEGER" with threshold >= 0.8').passed


def test_custom_sql_over_primary(gate: DuckDBQualityGate) -> None:
    result = one(gate, PEOPLE, 'CustomSql "select count(*) from primary where age > 35" = 3')
    assert result.result == "PASS", result.evaluation_message
    assert result.evaluated_metrics == {"Dataset.*.CustomSQL": 3.0}
    many = one(gate, PEOPLE, 'CustomSql "select id from primary" > 0')
    assert many.result == "ERROR" and "exactly one value" in many.evaluation_message
    broken = one(gate, PEOPLE, 'CustomSql "select nope from primary" > 0')
    assert broken.result == "ERROR" and "CustomSql statement failed" in broken.evaluation_message


def test_data_freshness_against_a_fixed_now(gate: DuckDBQualityGate) -> None:
    relation = values_relation("ts", ["(TIMESTAMP '2024-05-01 10:00:00')",
                                      "(TIMESTAMP '2024-05-01 20:00:00')", "(NULL)"])
    now = dt_.datetime(2024, 5, 2, 0, 0)
    fresh = one(gate, relation, 'DataFreshness "ts" <= 24 hours with threshold >= 0.6', now=now)
    assert fresh.result == "PASS", fresh.evaluation_message
    stale = one(gate, relation, 'DataFreshness "ts" <= 12 hours', now=now)
    assert stale.result == "FAIL"
    assert stale.evaluated_metrics["Column.ts.DataFreshness.Compliance"] == pytest.approx(1 / 3)
    days = one(gate, relation, 'DataFreshness "ts" between 0 days and 1 days with threshold > 0.5',
               now=now)
    assert days.result == "PASS"


def test_composite_rules(gate: DuckDBQualityGate) -> None:
    both = one(gate, PEOPLE, '(IsComplete "id") and (IsComplete "age")')
    assert both.result == "FAIL"
    assert set(both.evaluated_metrics) == {"Column.id.Completeness", "Column.age.Completeness"}
    assert "IsComplete \"age\"" in both.evaluation_message
    assert one(gate, PEOPLE, '(IsComplete "age") or (IsComplete "id")').result == "PASS"
    allow_null = '(ColumnValues "age" > 21) or (ColumnValues "age" = NULL)'
    # each side is judged on the whole column (Glue's default), so neither side passes
    assert one(gate, PEOPLE, allow_null).result == "FAIL"
    errored = one(gate, PEOPLE, '(IsComplete "nope") and (IsComplete "id")')
    assert errored.result == "ERROR"
    assert one(gate, PEOPLE, '(IsComplete "nope") or (IsComplete "id")').result == "PASS"


def test_where_clause_filters_the_rows_a_rule_sees(gate: DuckDBQualityGate) -> None:
    result = one(gate, PEOPLE, 'IsComplete "age" where "city = \'Lyon\'"')
    assert result.result == "PASS"
    assert one(gate, PEOPLE, 'RowCount = 2 where "city = \'Paris\'"').result == "PASS"


def test_unknown_column_is_an_error_for_that_rule_only(gate: DuckDBQualityGate) -> None:
    report = run(gate, PEOPLE, 'IsComplete "nope", IsComplete "id", Mean "name" > 1')
    missing, fine, wrong_type = report.rule_results
    assert missing.result == "ERROR"
    assert "Column 'nope' does not exist" in missing.evaluation_message
    assert "city" in missing.evaluation_message
    assert fine.result == "PASS"
    assert wrong_type.result == "ERROR" and "numeric" in wrong_type.evaluation_message
    assert report.outcome == "FAIL"


def test_a_bad_where_clause_errors_its_rule_and_the_others_still_run(
    gate: DuckDBQualityGate,
) -> None:
    report = run(gate, PEOPLE, 'IsComplete "id" where "nope > 1", IsComplete "id", RowCount = 5')
    bad, fine, count = report.rule_results
    assert bad.result == "ERROR" and "failed" in bad.evaluation_message
    assert fine.result == "PASS" and count.result == "PASS"


def test_empty_batch_semantics(gate: DuckDBQualityGate) -> None:
    report = run(gate, EMPTY, """
        RowCount = 0, RowCount > 0, ColumnCount = 6, ColumnExists "id",
        IsComplete "id", Completeness "id" > 0.5, IsUnique "id", IsPrimaryKey "id",
        ColumnValues "age" > 0, Mean "score" > 0, Entropy "city" > 0,
        DistinctValuesCount "city" = 0
    """)
    outcome = {r.description: r for r in report.rule_results}
    assert outcome["RowCount = 0"].result == "PASS"
    assert outcome["RowCount > 0"].result == "FAIL"
    assert outcome["ColumnCount = 6"].result == "PASS"
    assert outcome['ColumnExists "id"'].result == "PASS"
    assert outcome['DistinctValuesCount "city" = 0'].result == "PASS"
    for rule in ('IsComplete "id"', 'Completeness "id" > 0.5', 'IsUnique "id"',
                 'IsPrimaryKey "id"', 'ColumnValues "age" > 0', 'Mean "score" > 0',
                 'Entropy "city" > 0'):
        assert outcome[rule].result == "FAIL", rule
        assert "no rows" in outcome[rule].evaluation_message, rule
    assert outcome['IsComplete "id"'].evaluated_metrics == {"Column.id.Completeness": None}
    assert report.metrics["Dataset.*.RowCount"] == 0


def test_all_aggregate_rules_share_one_scan() -> None:
    """Every aggregate rule is one expression of a single SELECT over the relation."""
    import duckdb

    con = duckdb.connect()
    statements: list[str] = []

    def spy(sql: str):
        statements.append(sql)
        return con.execute(sql).fetchall()

    ruleset = dqdl.parse("""Rules = [
        RowCount > 0, IsComplete "id", Completeness "age" > 0.5, IsPrimaryKey "id",
        ColumnValues "city" in ["Paris", "Lyon"] with threshold > 0.5, Mean "score" > 1,
        StandardDeviation "score" > 0, Entropy "city" > 0, DistinctValuesCount "city" > 1,
        ColumnLength "code" <= 5, Sum "score" > 0, ColumnDataType "code" = "INTEGER"
            with threshold > 0.1, (IsComplete "id") and (IsUnique "id")
    ]""")
    schema = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {PEOPLE}").fetchall()}
    results, _ = RuleCompiler(PEOPLE, schema).evaluate(ruleset, spy)
    assert len(statements) == 1
    assert statements[0].count(" FROM ") == 2  # the scan itself, and the relation's VALUES
    assert all(r.result == "PASS" for r in results), [r.to_dict() for r in results]


def test_where_clause_on_uniqueness_and_column_values(gate: DuckDBQualityGate) -> None:
    assert one(gate, PEOPLE, 'IsUnique "city" where "city <> \'Paris\'"').result == "PASS"
    assert one(gate, PEOPLE, 'IsUnique "city"').result == "FAIL"
    rule = 'ColumnValues "age" > 35 where "name IS NOT NULL"'
    result = one(gate, PEOPLE, rule)
    # Ann 30, Bob 40, Cid NULL, Eve 60: two of four rows pass. Metric names carry no
    # [where …] suffix: Glue and Deequ name them the same with or without a where (#12).
    assert result.evaluated_metrics == {
        'Column.age.ColumnValues.Compliance': 0.5,
        'Column.age.Minimum': 30,
        'Column.age.Maximum': 60,
    }


# -- issue #12: Glue/Deequ conformance of the remaining rule types ----------------------------

def test_zero_rows_pass_data_freshness_and_column_data_type_as_deequ(
    gate: DuckDBQualityGate,
) -> None:
    relation = values_relation("ts, code", ["(TIMESTAMP '2024-05-01 10:00:00', '7')"])
    now = dt_.datetime(2024, 5, 2)
    for rule in ('DataFreshness "ts" <= 1 hours where "code = \'x\'"',
                 'ColumnDataType "code" = "DATE" where "code = \'x\'"'):
        result = one(gate, relation, rule, now=now)
        assert result.result == "PASS" and "No rows matched" in result.evaluation_message
    empty = f"(SELECT * FROM {relation} WHERE false)"
    assert one(gate, empty, 'DataFreshness "ts" <= 1 hours', now=now).result == "PASS"
    # other row-level rules still fail closed on an empty batch
    assert one(gate, empty, 'ColumnValues "code" = "7"').result == "FAIL"


def test_unknown_data_type_fails_only_its_rule(gate: DuckDBQualityGate) -> None:
    report = run(gate, PEOPLE, 'ColumnDataType "code" = "WIDGET", RowCount = 5')
    widget, count = report.rule_results
    assert widget.result == "FAIL" and "Unrecognized data type: WIDGET" in widget.evaluation_message
    assert count.result == "PASS"


def test_column_data_type_not_equals_in_and_decimal(gate: DuckDBQualityGate) -> None:
    # code: '75001', '69001', '7500', NULL, 'abc'
    assert one(gate, PEOPLE, 'ColumnDataType "code" = "DECIMAL(5,0)" with threshold = 0.8').passed
    negated = one(gate, PEOPLE, 'ColumnDataType "code" != "INTEGER"')
    assert negated.evaluated_metrics["Column.code.ColumnDataType.Compliance"] == pytest.approx(0.2)
    assert one(gate, PEOPLE, 'ColumnDataType "code" in ["Integer", "String"]').passed


def test_column_exists_reports_its_metric(gate: DuckDBQualityGate) -> None:
    assert one(gate, PEOPLE, 'ColumnExists "city"').evaluated_metrics == {
        "Dataset.city.ColumnExists": 1.0}
    assert one(gate, PEOPLE, 'ColumnExists "country"').evaluated_metrics == {
        "Dataset.country.ColumnExists": 0.0}


def test_file_rules_are_an_error_with_a_reason_on_a_relation(gate: DuckDBQualityGate) -> None:
    report = run(gate, PEOPLE, 'FileSize > 1 KB, FileFreshness > (now() - 1 days), RowCount = 5')
    size, fresh, count = report.rule_results
    for result in (size, fresh):
        assert result.result == "ERROR" and "aws target" in result.evaluation_message
    assert count.result == "PASS"


def test_dynamic_rules_read_the_metric_history(gate: DuckDBQualityGate) -> None:
    history = [{"Dataset.*.RowCount": n} for n in (4, 5, 6)]
    passing = one(gate, PEOPLE, "RowCount >= avg(last(3)) * 0.9", history=history)
    assert passing.result == "PASS", passing.evaluation_message
    failing = one(gate, PEOPLE, "RowCount > max(last(3))", history=history)
    assert failing.result == "FAIL"
    no_history = one(gate, PEOPLE, "RowCount > avg(last(3))")
    assert no_history.result == "ERROR" and "metrics history" in no_history.evaluation_message
    empty = one(gate, PEOPLE, "RowCount > avg(last(3))", history=[])
    assert empty.result == "ERROR" and "0 earlier value" in empty.evaluation_message
    row_level = one(gate, PEOPLE, 'ColumnValues "age" > avg(last(3))', history=history)
    assert row_level.result == "ERROR" and "judges each row" in row_level.evaluation_message


def test_detect_anomalies_against_the_history(gate: DuckDBQualityGate) -> None:
    steady = [{"Column.age.Completeness": v} for v in (0.79, 0.8, 0.81, 0.8)]
    normal = one(gate, PEOPLE, 'DetectAnomalies of Completeness of "age"', history=steady)
    assert normal.result == "PASS" and normal.evaluated_metrics == {"Column.age.Completeness": 0.8}
    high = [{"Column.age.Completeness": v} for v in (0.99, 1.0, 0.99, 1.0)]
    anomaly = one(gate, PEOPLE, 'DetectAnomalies of Completeness of "age"', history=high)
    assert anomaly.result == "FAIL" and "anomaly" in anomaly.evaluation_message
    short = one(gate, PEOPLE, 'DetectAnomalies "RowCount"', history=[{"Dataset.*.RowCount": 5}])
    assert short.result == "PASS" and "not enough history" in short.evaluation_message


def test_comparisons_with_reference_datasets(gate: DuckDBQualityGate) -> None:
    cities = values_relation("city", ["('Paris')", "('Lyon')"])
    report = run(gate, PEOPLE, """
        RowCountMatch "ref" = 2.5, ReferentialIntegrity "city" "ref.city" = 0.6,
        AggregateMatch "sum(score)" "sum(score)" = 1.0, RowCountMatch "absent" > 0
    """, references={"ref": cities})
    rows, integrity, aggregate, absent = report.rule_results
    assert rows.passed and rows.evaluated_metrics == {"Dataset.ref.RowCountMatch": 2.5}
    assert integrity.passed, integrity.evaluation_message
    assert aggregate.passed
    assert absent.result == "FAIL" and "not found" in absent.evaluation_message


def test_row_level_custom_sql_is_the_share_of_rows_it_selects(gate: DuckDBQualityGate) -> None:
    rule = 'CustomSql "select id from primary where age > 35" with threshold >= 0.6'
    result = one(gate, PEOPLE, rule)
    assert result.passed and result.evaluated_metrics == {"Dataset.*.CustomSQL.Compliance": 0.6}
    strict = one(gate, PEOPLE, 'CustomSql "select id from primary where age > 35"')
    assert strict.result == "FAIL"
    foreign = one(gate, PEOPLE, 'CustomSql "select 1 AS x from primary"')
    assert foreign.result == "FAIL" and "at least one column" in foreign.evaluation_message


def test_analyzers_add_metrics_without_rule_results(gate: DuckDBQualityGate) -> None:
    ruleset = dqdl.parse('Rules = [ RowCount > 0 ] Analyzers = [ AllStatistics "score", '
                         'Variance "score" ]')
    report = gate.evaluate(PEOPLE, ruleset)
    assert [r.name for r in report.rule_results] == ["Rule_1"]
    assert report.metrics["Column.score.Mean"] == pytest.approx(2.5)
    assert report.metrics["Column.score.Completeness"] == pytest.approx(0.8)
    assert report.metrics["Column.score.Variance"] == pytest.approx(1.25)


def test_time_of_day_is_today_in_its_time_zone(gate: DuckDBQualityGate) -> None:
    relation = values_relation("ts", ["(TIMESTAMP '2024-05-02 14:00:00')"])
    now = dt_.datetime(2024, 5, 2, 15, 0)  # UTC
    assert one(gate, relation, 'ColumnValues "ts" > "1:30 PM"', now=now).passed
    # 9:30 in New York is 13:30 UTC on 2 May 2024 (daylight saving time)
    later = 'ColumnValues "ts" < "09:30" with timeZone = "America/New_York"'
    assert one(gate, relation, later, now=now).result == "FAIL"
