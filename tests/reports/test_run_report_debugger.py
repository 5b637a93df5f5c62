"""The run report's "Debugger rules" section: the statuses the train step kept in the lake,
also for a run whose job a rule stopped (no train result)."""

from __future__ import annotations

import json

import pytest

from airsage.config import load_settings
from airsage.lake.local import LocalLake
from airsage.reports.run import render_run_report
from airsage.training.step import rule_evaluations_key

DAY = "2026-06-01"


@pytest.fixture
def lake(tmp_path):
    return LocalLake(root=tmp_path / "lake")


def render(lake, tmp_path):
    settings = load_settings(environ={}, overrides={"home": str(tmp_path / "home")})
    page = render_run_report(lake, settings, "reviews", DAY, {})
    return page[page.index("<h2>Debugger rules</h2>"):].split("</section>", 1)[0]


def test_a_stopped_job_shows_the_rule_its_measurement_and_threshold(lake, tmp_path):
    lake.write_bytes(rule_evaluations_key("reviews", DAY), json.dumps({
        "TrainingJobName": "reviews-20260601-bert-1", "Action": "stop_training",
        "DebugRuleEvaluationStatuses": [
            {"RuleConfigurationName": "Overfit", "RuleEvaluationStatus": "IssuesFound",
             "StatusDetails": "ratio 0.5 > ratio_threshold=0.1", "Measured": 0.5, "Threshold": 0.1},
            {"RuleConfigurationName": "ClassImbalance", "RuleEvaluationStatus": "NoIssuesFound",
             "StatusDetails": "not applicable", "Measured": None, "Threshold": None}]}).encode())
    section = render(lake, tmp_path)
    assert "action stop_training: Overfit found issues: the job was stopped." in section
    assert "<td class='fail'>IssuesFound</td><td class=''>0.5</td><td class=''>0.1</td>" in section
    assert "ClassImbalance" in section and "not applicable" in section


def test_without_rule_statuses_the_section_says_so(lake, tmp_path):
    assert "No Debugger rule was evaluated in this run" in render(lake, tmp_path)
