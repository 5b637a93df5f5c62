"""The run report: one self-contained HTML page per run, whose numbers are the run's own.

A good day's run writes a page with every section's plots (each a non-empty PNG) and the
numbers its tasks returned; a run stopped by a gate still gets its page, says which steps did
not run, and stays failed (the report is a teardown)."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

import pytest
from e2e_harness import Pipeline

from airsage.reports.run import number, report_key

pytestmark = pytest.mark.e2e


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[tuple[str, bytes]] = []
        self.headings: list[str] = []
        self.cells: list[str] = []
        self.text: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            src = values.get("src") or ""
            assert src.startswith("data:image/png;base64,"), src[:40]
            self.images.append((values.get("alt") or "", base64.b64decode(src.split(",", 1)[1])))
        self._in = tag

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in == "h2":
            self.headings.append(data)
        if self._in == "td":
            self.cells.append(data)


def _read(pipeline: Pipeline, day: str) -> _Page:
    page = _Page()
    page.feed(pipeline.lake.read_bytes(report_key("reviews", day)).decode())
    page.close()
    return page


def test_a_runs_report_shows_its_own_numbers_and_plots(pipeline: Pipeline) -> None:
    day = "2026-06-01"
    summary = pipeline.run(day)
    assert summary.state == "success", summary.task_states
    assert summary.task_states["report"] == "success"
    page = _read(pipeline, day)

    assert page.headings[:7] == ["Run", "Data quality", "Pre-training bias", "Prepared data",
                                 "Training", "Evaluation", "Champion and challenger"]
    assert {alt for alt, _ in page.images} >= {"history of Dataset.*.RowCount", "training curves",
                                                "confusion matrix", "candidate against champion"}
    assert any(alt.startswith("bias metrics for department_name") for alt, _ in page.images)
    for alt, png in page.images:
        assert png.startswith(b"\x89PNG\r\n") and len(png) > 1000, alt

    text = " ".join(" ".join(page.text).split())
    evaluated, prepared, quality = (summary.xcoms[t] for t in ("evaluate", "prepare", "quality_gate"))
    assert f"Accuracy {number(evaluated['accuracy'])}, macro F1 {number(evaluated['macro_f1'])}" in text
    assert f"{quality['RulesPassed']} passed, {quality['RulesFailed']} failed" in text
    for split, rows in prepared["rows"].items():
        assert split in page.cells and number(rows) in page.cells
    matrix = evaluated["evaluation"]["multiclass_classification_metrics"]["recall"]
    for label, entry in matrix.items():
        assert label in page.cells and number(entry["value"]) in page.cells
    for check in summary.xcoms["bias_gate"]["verdict"]["checks"]:
        assert number(check["value"]) in page.cells, check
    assert summary.xcoms["report"]["report_key"] == report_key("reviews", day)


def test_a_run_stopped_by_a_gate_still_gets_its_report_and_stays_failed(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    from airsage.data.generator import GeneratorConfig, generate_batch, write_batch

    day = "2026-06-02"
    # a daily-sized batch, so that Intimate has the rows the gate needs to judge it
    biased = generate_batch(GeneratorConfig(rows=4000, seed=5, day=day, biased_category="Intimate",
                                            bias_strength=0.6))
    pipeline.land(write_batch(biased, tmp_path / "biased.csv", "csv"), day)
    summary = pipeline.run(day)
    assert summary.state == "failed", summary.task_states
    assert summary.task_states["bias_gate"] == "failed"
    assert summary.task_states["report"] == "success"
    text = " ".join(" ".join(_read(pipeline, day).text).split())
    assert "Verdict fail" in text
    assert "train did not run in this run" in text
