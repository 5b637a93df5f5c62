"""The shipped ruleset include/quality/reviews.dqdl: the real sample passes, bad batches fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from airsage.config import Settings
from airsage.errors import GateFailedError
from airsage.lake.local import LocalLake
from airsage.quality.local import DuckDBQualityGate, load_ruleset
from airsage.quality.results import QualityReport

# A synthetic clean batch with airsage's columns, for clones without the shared sample.
SYNTHETIC = """(SELECT i AS review_id, 1000 + i % 50 AS clothing_id, 20 + i % 60 AS age,
    'title ' || i AS title, CASE WHEN i % 25 = 0 THEN NULL ELSE 'text ' || i END AS review_text,
    1 + i % 5 AS rating, CASE WHEN i % 5 < 2 THEN 0 ELSE 1 END AS recommended_ind,
    i % 7 AS positive_feedback_count,
    ['General', 'General Petite', 'Initmates'][1 + i % 3] AS division_name,
    ['Tops', 'Dresses', 'Bottoms'][1 + i % 3] AS department_name, 'Knits' AS class_name,
    DATE '2024-01-01' AS dt FROM range(200) t(i))"""


def evaluate(gate: DuckDBQualityGate, settings: Settings, relation: str) -> QualityReport:
    return gate.evaluate(relation, load_ruleset(settings))


def failed_rules(report: QualityReport) -> set[str]:
    return {r.description for r in report.failed}


def test_synthetic_clean_batch_passes(gate: DuckDBQualityGate, settings: Settings) -> None:
    report = evaluate(gate, settings, SYNTHETIC)
    assert report.outcome == "PASS", [r.to_dict() for r in report.failed]


def test_real_sample_passes(gate: DuckDBQualityGate, settings: Settings,
                            sample_relation: str) -> None:
    report = evaluate(gate, settings, sample_relation)
    assert report.outcome == "PASS", [r.to_dict() for r in report.failed]
    assert report.metrics["Dataset.*.RowCount"] == 1000
    assert report.metrics["Column.review_text.Completeness"] == pytest.approx(0.958)


def _replace(sample: str, column: str, expression: str) -> str:
    return f"(SELECT * REPLACE ({expression} AS {column}) FROM {sample})"


@pytest.mark.parametrize(
    ("bad_batch", "failing_rule"),
    [
        (lambda s: _replace(s, "review_text",
                            "CASE WHEN review_id % 10 < 3 THEN NULL ELSE review_text END"),
         'Completeness "review_text" >= 0.9'),
        (lambda s: _replace(s, "rating", "CASE WHEN review_id = 7 THEN NULL ELSE rating END"),
         'IsComplete "rating"'),
        (lambda s: f"(SELECT * FROM {s} UNION ALL SELECT * FROM {s} WHERE review_id < 3)",
         'IsPrimaryKey "review_id"'),
        (lambda s: f"(SELECT *, 1 AS extra FROM {s})", "ColumnCount = 12"),
        (lambda s: _replace(s, "rating", "CASE WHEN review_id = 7 THEN 6 ELSE rating END"),
         'ColumnValues "rating" in [1, 2, 3, 4, 5]'),
    ],
    ids=["30pct-null-text", "null-rating", "duplicate-ids", "extra-column", "rating-6"],
)
def test_bad_batches_fail(gate: DuckDBQualityGate, settings: Settings, sample_relation: str,
                          bad_batch, failing_rule: str) -> None:
    report = evaluate(gate, settings, bad_batch(sample_relation))
    assert report.outcome == "FAIL"
    assert failing_rule in failed_rules(report)


def test_header_only_batch_fails(gate: DuckDBQualityGate, settings: Settings,
                                 shared_sample: Path, tmp_path: Path, lake: LocalLake,
                                 csv_relation_of) -> None:
    header = shared_sample.read_text(encoding="utf-8").splitlines()[0]
    empty = tmp_path / "header_only.csv"
    empty.write_text(header + "\n", encoding="utf-8")
    relation = csv_relation_of(empty)
    report = evaluate(gate, settings, relation)
    assert report.metrics["Dataset.*.RowCount"] == 0
    assert "RowCount > 0" in failed_rules(report)
    with pytest.raises(GateFailedError) as info:
        gate.run(lake, "reviews", "2024-01-01", relation)
    assert any(f.check == "RowCount > 0" and f.measured == 0 for f in info.value.failures)
