"""The blessing's Debugger checks: IssuesFound and Error refuse (fail closed); NoIssuesFound
and AWS's in-between statuses pass and are recorded; no rules configured, no check."""

from __future__ import annotations

from test_condition import THRESHOLDS, report

from airsage.evaluation.condition import bless


def decide(rules):
    return bless(report(0.8), None, accuracy_threshold=0.6, champion_tolerance=0.0,
                 bias_thresholds=THRESHOLDS, debugger_rules=rules)


def status(name, state, details=""):
    return {"RuleConfigurationName": name, "RuleEvaluationStatus": state, "StatusDetails": details}


def test_a_rule_that_found_issues_or_could_not_evaluate_refuses_the_blessing():
    blessing = decide([status("LossNotDecreasing", "IssuesFound", "a decrease of -10%"),
                       status("ClassImbalance", "Error", "KeyError: 'x'"),
                       status("Overfit", "NoIssuesFound")])
    assert not blessing.blessed
    assert [f.check for f in blessing.failures] == ["debugger:LossNotDecreasing",
                                                    "debugger:ClassImbalance"]
    assert blessing.failures[0].message == "IssuesFound: a decrease of -10%"


def test_quiet_or_unfinished_rules_pass_and_no_rules_add_no_check():
    blessing = decide([status("Overfit", "NoIssuesFound", "not applicable: no epochs"),
                       status("LossNotDecreasing", "InProgress")])
    assert blessing.blessed
    assert {c.check for c in blessing.checks} >= {"debugger:Overfit", "debugger:LossNotDecreasing"}
    assert not any(c.check.startswith("debugger:") for c in decide(()).checks)
