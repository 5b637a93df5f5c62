"""The DQDL parser: what it accepts, the AST it builds, and how it reports bad rulesets."""

from __future__ import annotations

import pytest

from airsage.errors import ConfigurationError
from airsage.quality import dqdl
from airsage.quality.dqdl import CompositeRule, DateExpr, DQDLSyntaxError, Duration, Keyword


def test_rules_wrapper_comments_and_every_rule_type() -> None:
    text = """
    # a comment line
    Metadata = { "Version": "1.0" }
    Rules = [
        RowCount between 10 and 20,   # trailing comment
        ColumnCount = 12,
        IsComplete "a",
        Completeness "a" > 0.95,
        IsUnique "a",
        Uniqueness "a" "b" = 1.0,
        IsPrimaryKey "a" b,
        ColumnValues "rating" in [1, 2, 3, 4, 5] with threshold > 0.98,
        ColumnValues "name" matches "[A-Z][a-z]+",
        ColumnValues "age" >= 18,
        ColumnLength "code" = 5,
        Mean "x" > -1.5,
        Sum "x" < 100,
        StandardDeviation "x" <= 2,
        DistinctValuesCount "x" >= 3,
        Entropy "x" > 1,
        ColumnExists "dt",
        ColumnDataType "s" = "INTEGER" with threshold > 0.9,
        CustomSql "select count(*) from primary where x > 1" > 0,
        DataFreshness "ts" <= 24 hours
    ]
    """
    ruleset = dqdl.parse(text)
    assert ruleset.metadata == {"Version": "1.0"}
    types = [rule.rule_type for rule in ruleset.rules]
    assert types == [
        "RowCount", "ColumnCount", "IsComplete", "Completeness", "IsUnique", "Uniqueness",
        "IsPrimaryKey", "ColumnValues", "ColumnValues", "ColumnValues", "ColumnLength", "Mean",
        "Sum", "StandardDeviation", "DistinctValuesCount", "Entropy", "ColumnExists",
        "ColumnDataType", "CustomSql", "DataFreshness",
    ]
    by_text = {rule.text: rule for rule in ruleset.rules}
    rating = by_text['ColumnValues "rating" in [1, 2, 3, 4, 5] with threshold > 0.98']
    assert rating.condition.op == "in" and rating.condition.operands == (1, 2, 3, 4, 5)
    assert rating.threshold.op == ">" and rating.threshold.operands == (0.98,)
    assert by_text['IsPrimaryKey "a" b'].params == ("a", "b")
    assert by_text['Uniqueness "a" "b" = 1.0'].params == ("a", "b")
    assert by_text['Mean "x" > -1.5'].condition.operands == (-1.5,)
    fresh = by_text['DataFreshness "ts" <= 24 hours']
    assert fresh.condition.operands == (Duration(24, "hours"),)
    assert by_text["RowCount between 10 and 20"].condition.op == "between"


def test_empty_rules_list_and_trailing_comma_are_refused_as_glue_refuses_them() -> None:
    # issue #12: Glue's parser refuses an empty ruleset and a trailing comma in the list
    assert "no rules or analyzers" in _error("Rules = [ ]").reason
    assert "no trailing comma" in _error('Rules = [ IsComplete "a", ]').reason


def test_value_keywords_dates_negations_and_where() -> None:
    ruleset = dqdl.parse("""Rules = [
        ColumnValues "c" in ["US", "CA", NULL, EMPTY, WHITESPACES_ONLY],
        ColumnValues "c" not in [21, 22, NULL],
        ColumnValues "c" != 21,
        ColumnValues "c" not between 1 and 2,
        ColumnValues "d" > (now() - 3 days),
        ColumnValues "d" <= "2024-01-31",
        Completeness "c" > 0.5 where "age > 18"
    ]""")
    first, second, third, fourth, fifth, sixth, seventh = ruleset.rules
    assert first.condition.operands[2:] == (Keyword("NULL"), Keyword("EMPTY"),
                                            Keyword("WHITESPACES_ONLY"))
    assert second.condition.op == "not in" and second.condition.negated
    assert third.condition.op == "!=" and third.condition.negated
    assert fourth.condition.op == "not between"
    assert fifth.condition.operands == (DateExpr(offset_hours=-72.0),)
    assert sixth.condition.operands == (DateExpr(iso_date="2024-01-31"),)
    assert seventh.where == "age > 18"


def test_composite_rules_and_nesting() -> None:
    ruleset = dqdl.parse("""Rules = [
        (IsComplete "id") and (IsUnique "id"),
        (RowCount > 0) or ((IsComplete "a") and (ColumnValues "a" > 1)),
        (IsComplete "solo")
    ]""")
    both, either, solo = ruleset.rules
    assert isinstance(both, CompositeRule) and both.op == "and" and len(both.children) == 2
    assert isinstance(either, CompositeRule) and either.op == "or"
    assert isinstance(either.children[1], CompositeRule)
    assert [leaf.rule_type for leaf in either.leaves()] == ["RowCount", "IsComplete",
                                                           "ColumnValues"]
    assert solo.rule_type == "IsComplete"
    assert both.text == '(IsComplete "id") and (IsUnique "id")'


def test_condition_check_is_exclusive_for_between() -> None:
    cond = dqdl.parse("Rules = [ RowCount between 1 and 5 ]").rules[0].condition
    assert not cond.check(1) and cond.check(3) and not cond.check(5)


def _error(text: str) -> DQDLSyntaxError:
    with pytest.raises(DQDLSyntaxError) as info:
        dqdl.parse(text, source="reviews.dqdl")
    return info.value


def test_syntax_error_points_at_line_column_and_token() -> None:
    error = _error('Rules = [\n    IsComplete "a",\n    Completness "b" > 0.5\n]')
    assert isinstance(error, ConfigurationError)
    assert (error.line, error.column, error.token) == (3, 5, "Completness")
    message = str(error)
    assert "reviews.dqdl:3:5" in message and "Completness" in message
    assert '    Completness "b" > 0.5\n        ^' in message


def test_missing_comma_between_rules_is_reported_at_the_next_rule() -> None:
    error = _error('Rules = [\n  IsComplete "a"\n  RowCount > 1\n]')
    assert (error.line, error.column, error.token) == (3, 3, "RowCount")
    assert "expected ','" in error.reason


@pytest.mark.parametrize(
    ("text", "fragment", "token"),
    [
        ('IsComplete "a"', "Rules = [ ... ]", "IsComplete"),
        ('Rules = [ isComplete "a" ]', "did you mean IsComplete", "isComplete"),
        ("Rules = [ RowCount ]", "needs an expression", "]"),
        ('Rules = [ IsComplete "a" > 1 ]', "takes no expression", ">"),
        ('Rules = [ Completeness "a" > "x" ]', "expected a numeric value", '"x"'),
        ('Rules = [ RowCount > 1 with threshold > 0.5 ]', "does not support 'with threshold'",
         "with"),
        ('Rules = [ (IsComplete "a") and (IsComplete "b") or (IsComplete "c") ]',
         "cannot mix 'and' and 'or'", "or"),
        ('Rules = [ ColumnValues "a" matches "([" ]', "invalid regular expression", '"(["'),
        ('Rules = [ ColumnValues "a" in [] ]', "list of values is empty", "in"),
        ('Rules = [ DataFreshness "t" < 3 ]', "expected the unit", "]"),
        ('Rules = [ IsComplete "a" ] extra', "after the closing", "extra"),
        ('Rules = [ IsComplete "a ]', "unterminated string", '"a ]'),
        ('Rules = [ IsComplete "a" ; ]', "unexpected character", ";"),
    ],
)
def test_syntax_errors(text: str, fragment: str, token: str) -> None:
    error = _error(text)
    assert fragment in str(error)
    assert error.token == token


def test_to_dqdl_round_trips() -> None:
    ruleset = dqdl.parse('Rules = [ RowCount > 0, (IsComplete "a") or (IsUnique "a") ]')
    again = dqdl.parse(ruleset.to_dqdl())
    assert [r.text for r in again.rules] == [r.text for r in ruleset.rules]


def test_sections_variables_labels_and_tags_build_one_model() -> None:
    ruleset = dqdl.parse("""
    Metadata = { "Version": "1.0" }
    DataSources = { "Primary": "reviews", "AdditionalDataSources": [ "products" ] }
    sizes = ["S", "M", NULL]
    sql = "select id from primary where age > 18"
    DefaultLabels = [ "team" = "data" ]
    Rules = [
        ColumnValues "size" in $sizes labels = [ "owner" = "ml" ],
        CustomSql $sql with threshold > 0.5,
        ColumnCorrelation of "a" and "b" > 0.2,
        DetectAnomalies of Completeness of "a",
        IsUnique "a" "b",
        ColumnValues "n" in [1, 2] where "n > 0" with threshold > 0.5,
        FileFreshness "s3://bucket/key" > "9:30 PM" with timeZone = "America/New_York",
        ColumnDataType "d" = "DATE" with format = "dd-MM-yyyy",
        DataFreshness "t" <= 90 minutes,
        FileSize <= 5 KB
    ]
    Analyzers = [ AllStatistics "a", RowCount ]
    """)
    assert ruleset.primary_source == "reviews" and ruleset.additional_sources == ("products",)
    assert ruleset.variables == {"sizes": ("S", "M", "NULL"),
                                 "sql": "select id from primary where age > 18"}
    sizes, sql, corr, anomalies, unique, where_first, fresh, data_type, minutes, size = (
        ruleset.rules)
    assert sizes.condition.operands == ("S", "M", Keyword("NULL"))
    assert sizes.labels == {"team": "data", "owner": "ml"}
    assert sql.params == ("select id from primary where age > 18",) and sql.condition is None
    assert sql.threshold.operands == (0.5,)
    assert corr.params == ("a", "b") and anomalies.params == ("Completeness", "a")
    assert unique.params == ("a", "b")
    assert where_first.where == "n > 0" and where_first.threshold.op == ">"
    assert fresh.tags == {"timeZone": "America/New_York"}
    assert fresh.condition.operands == (DateExpr(time_of_day="21:30",
                                                 time_zone="America/New_York"),)
    assert data_type.tags == {"format": "dd-MM-yyyy"}
    assert minutes.condition.operands == (Duration(90, "minutes"),)
    assert minutes.condition.operands[0].hours == 1.5
    assert size.condition.operands[0].bytes == 5 * 1024
    assert [a.rule_type for a in ruleset.analyzers] == ["AllStatistics", "RowCount"]


def test_dynamic_operands_and_arithmetic_as_glue_reads_them() -> None:
    rule = dqdl.parse("Rules = [ RowCount > avg(last(3)) * 0.9 ]").rules[0]
    assert rule.condition.dynamic and rule.condition.lookback() == 3
    assert rule.condition.resolved([100.0, 200.0, 300.0, 400.0]).operands == (
        pytest.approx(270.0),)
    # one precedence level, left to right, as Glue's ANTLR grammar: (10 + 10) * 2
    assert dqdl.parse("Rules = [ RowCount > 10 + 10 * 2 ]").rules[0].condition.operands == (40.0,)
    with pytest.raises(dqdl.DynamicOperandError, match="no history"):
        rule.condition.resolved([])
    assert dqdl.parse("Rules = [ Mean \"x\" < max(last(10)) ]").rules[0].condition.lookback() == 10


@pytest.mark.parametrize(
    ("text", "fragment", "where"),
    [
        ('Sources = { "Primary": "a" } Rules = [ RowCount > 0 ]', "'DataSources'", (1, 1)),
        ('Metadata = { "Owner": "me" } Rules = [ RowCount > 0 ]', "unsupported key 'Owner'",
         (1, 14)),
        ('Rules = [\n  ColumnValues "c" in [1, "2"]\n]', "mix types", (2, 20)),
        ('Rules = [ IsComplete "c" where "" ]', "empty where", (1, 32)),
        ('Rules = [ RowCount > $n ]', "variables hold text", (1, 22)),
        ('x = "a"\nx = "b"\nRules = [ RowCount > 0 ]', "already defined", (2, 1)),
        ('Rules = [ IsComplete "c" labels = [ "k" = "v", "k" = "w" ] ]', "duplicate label",
         (1, 48)),
        ('Rules = [ FileSize > 1 ZB ]', "expected ','", (1, 24)),
        ('Rules = [ FileFreshness > "25:00" ]', "invalid time", (1, 27)),
        ('Rules = [ AllStatistics "a" ]', "analyzer only", (1, 11)),
        ('Rules = [ RowCount > 0 ] Analyzers = [ IsComplete "a" ]', "no metric", (1, 40)),
    ],
)
def test_refused_like_glue_with_line_and_column(text: str, fragment: str,
                                                where: tuple[int, int]) -> None:
    error = _error(text)
    assert fragment in error.reason
    assert (error.line, error.column) == where


def test_to_dqdl_round_trips_every_section() -> None:
    text = ('Metadata = { "Version": "1.0" }\n'
            'DataSources = { "Primary": "reviews", "AdditionalDataSources": [ "ref" ] }\n'
            'sizes = [ "S", NULL ]\nDefaultLabels = [ "team" = "data" ]\n'
            'Rules = [ ColumnValues "size" in $sizes, RowCountMatch "ref" >= 0.9 ]\n'
            'Analyzers = [ RowCount ]')
    ruleset = dqdl.parse(text)
    again = dqdl.parse(ruleset.to_dqdl())
    assert again == dqdl.parse(again.to_dqdl())
    assert (again.variables, again.default_labels, again.additional_sources) == (
        {"sizes": ("S", "NULL")}, {"team": "data"}, ("ref",))
    assert [r.text for r in again.rules] == [r.text for r in ruleset.rules]
    assert [a.text for a in again.analyzers] == ["RowCount"]
