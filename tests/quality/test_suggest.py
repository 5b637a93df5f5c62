"""Rule suggestion: the suggested ruleset parses, and the profiled data passes it."""

from __future__ import annotations

from airsage.config import Settings
from airsage.quality import dqdl
from airsage.quality.local import DuckDBQualityGate
from airsage.quality.suggest import suggest_ruleset

MESSY = """(SELECT i AS id, CASE WHEN i % 4 = 0 THEN NULL ELSE i % 3 END AS level,
    CASE WHEN i % 10 = 0 THEN NULL ELSE 'say "hi" \\ ' || i END AS note,
    i * 0.5 - 3 AS score, ['a "quoted"', 'b\\'][1 + i % 2] AS grp, DATE '2024-01-01' + i::INTEGER AS day
    FROM range(40) t(i))"""


def test_suggestion_for_a_messy_relation_passes_on_it(gate: DuckDBQualityGate) -> None:
    text = suggest_ruleset(MESSY)
    ruleset = dqdl.parse(text)
    rules = [r.text for r in ruleset.rules]
    assert "RowCount > 0" in rules and "ColumnCount = 6" in rules
    assert 'IsUnique "id"' in rules
    assert 'Completeness "level" >= 0.75' in rules
    assert 'ColumnValues "level" in [0, 1, 2] with threshold >= 0.75' in rules
    assert 'ColumnValues "grp" in ["a \\"quoted\\"", "b\\\\"]' in rules
    assert 'ColumnValues "score" between -4 and 18' in rules
    report = gate.evaluate(MESSY, ruleset)
    assert report.outcome == "PASS", [r.to_dict() for r in report.failed]


def test_suggestion_uses_the_dataset_primary_key(gate: DuckDBQualityGate, settings: Settings,
                                                 sample_relation: str) -> None:
    text = suggest_ruleset(sample_relation, dataset=settings.dataset("reviews"))
    assert "dataset 'reviews'" in text
    ruleset = dqdl.parse(text)
    rules = [r.text for r in ruleset.rules]
    assert 'IsPrimaryKey "review_id"' in rules
    assert 'ColumnValues "rating" in [1, 2, 3, 4, 5]' in rules
    assert any(r.startswith('ColumnValues "division_name" in [') and "Initmates" in r
               for r in rules)
    report = gate.evaluate(sample_relation, ruleset)
    assert report.outcome == "PASS", [r.to_dict() for r in report.failed]


def test_suggestion_for_an_empty_relation(gate: DuckDBQualityGate) -> None:
    empty = f"(SELECT * FROM {MESSY} WHERE false)"
    ruleset = dqdl.parse(suggest_ruleset(empty))
    assert [r.text for r in ruleset.rules] == ["RowCount >= 0", "ColumnCount = 6"]
    assert gate.evaluate(empty, ruleset).outcome == "PASS"
