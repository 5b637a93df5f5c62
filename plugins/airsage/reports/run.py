"""One HTML page per run: why the run did what it did, in tables and pictures.

The page is self-contained (its plots are PNG data URIs) and is written to the lake at
``reports/run/<dataset>/dt=<day>/index.html``. It is built from the steps' own results (the
dicts the tasks return) and the documents they wrote (the bias ``analysis.json``, the metrics
history, the monitor's statistics), so every number on it is a number of the run; a step that
did not run (a gate stopped the run) is shown as such.
"""

from __future__ import annotations

import base64
import datetime as dt_
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout, partition_value
from airsage.reports import figures

REPORT_KIND = "run"
REPORT_FILE = "index.html"
MAX_FACET_CHARTS = 8
MAX_DRIFT_FEATURES = 6


def number(value: Any) -> str:
    """How the page writes a number (4 significant digits), and how the tests read it back."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:.4g}"
    return str(value)


def report_key(dataset: str, day: dt_.date | str) -> str:
    return LakeLayout(dataset).report(REPORT_KIND, partition_value(day), REPORT_FILE)


@dataclass
class Page:
    """Sections of HTML in order; images are embedded as PNG data URIs."""

    title: str
    sections: list[str] = field(default_factory=list)

    def section(self, heading: str, *parts: str) -> None:
        self.sections.append(f"<section><h2>{html.escape(heading)}</h2>{''.join(parts)}</section>")

    def html(self) -> str:
        style = ("body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}"
                 "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
                 "padding:2px 6px;font-size:13px}th{background:#eee}.FAIL,.fail{color:#b00;"
                 "font-weight:bold}.warn,.WARN{color:#b60}img{display:block;margin:.5em 0}")
        return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}"
                f"</title><style>{style}</style></head><body><h1>{html.escape(self.title)}</h1>"
                + "".join(self.sections) + "</body></html>")


def image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            text = number(cell)
            status = text if text in ("PASS", "FAIL", "ERROR", "pass", "warn", "fail") else (
                "fail" if text == "IssuesFound" else "")
            cells.append(f"<td class='{status}'>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class='{cls}'><tr>{head}</tr>{''.join(body)}</table>"


def _absent(step: str) -> str:
    return f"<p><em>{html.escape(step)} did not run in this run (an earlier step stopped it).</em></p>"


def _read_json(lake: Lake, key: str) -> Any:
    return json.loads(lake.read_bytes(key)) if lake.exists(key) else None


# -- sections ---------------------------------------------------------------------------------


def _quality(page: Page, result: Mapping[str, Any] | None, lake: Lake, dataset: str, day: str,
             settings: Any) -> None:
    from airsage.quality.history import REPORT_FILE as QUALITY_FILE
    from airsage.quality.history import REPORT_KIND as QUALITY_KIND

    # A failed gate returns nothing, but it wrote its results (the same document) first.
    result = result or _read_json(lake, LakeLayout(dataset).report(QUALITY_KIND, day, QUALITY_FILE))
    if not result:
        page.section("Data quality", _absent("quality_gate"))
        return
    rows = [(r.get("Result"), r.get("Description"),
             ", ".join(f"{k}={number(v)}" for k, v in (r.get("EvaluatedMetrics") or {}).items()),
             r.get("EvaluationMessage") or "") for r in result.get("RuleResults") or []]
    parts = [f"<p>DQDL outcome <b class='{result.get('Outcome')}'>{result.get('Outcome')}</b>: "
             f"{result.get('RulesPassed')} passed, {result.get('RulesFailed')} failed, "
             f"{result.get('RulesErrored')} errored.</p>",
             table(["result", "rule", "measured", "message"], rows, "rules")]
    from airsage.quality.history import MetricsHistory, QualitySettings

    quality = QualitySettings.from_settings(settings)
    history = MetricsHistory(lake, dataset).trailing(day, quality.history_window_days)
    today = result.get("Metrics") or {}
    for rule in quality.anomaly:
        key = rule.metric_key
        past = [(d, float(m[key])) for d, m in history if m.get(key) is not None]
        mean = sum(v for _, v in past) / len(past) if past else None
        band = None
        if mean is not None and len(past) >= rule.min_history:
            band = (mean * (rule.min_ratio if rule.min_ratio is not None else 0.0),
                    mean * (rule.max_ratio if rule.max_ratio is not None else 10.0))
        value = today.get(key)
        parts.append(image(figures.metric_history(
            key, [d for d, _ in past], [v for _, v in past],
            float(value) if value is not None else None, band), f"history of {key}"))
    page.section("Data quality", *parts)


def _bias(page: Page, result: Mapping[str, Any] | None, lake: Lake, dataset: str, day: str,
          settings: Any) -> None:
    from airsage.bias.base import PRE_TRAINING_ANALYSIS, PRE_TRAINING_VERDICT
    from airsage.bias.base import REPORT_KIND as BIAS_KIND

    layout = LakeLayout(dataset)
    # A failed gate returns nothing, but it wrote its verdict (the same document) first.
    result = result or _read_json(lake, layout.report(BIAS_KIND, day, PRE_TRAINING_VERDICT))
    if not result:
        page.section("Pre-training bias", _absent("bias_gate"))
        return
    thresholds = settings.section("bias").get("thresholds") or {}
    parts = [f"<p>Verdict <b class='{result.get('status')}'>{result.get('status')}</b> on facet "
             f"{html.escape(str(result.get('facet')))}.</p>"]
    checks = (result.get("verdict") or {}).get("checks") or []
    if checks:
        parts.append(table(["group", "metric", "status", "value", "warn", "fail", "reason"],
                           [(c.get("group") or "", c.get("metric"), c.get("status"), c.get("value"),
                             c.get("warn"), c.get("fail"), c.get("reason") or "") for c in checks]))
    groups = result.get("groups") or []
    if groups:
        parts.append(table(["facet", "group", "rows", "status", "reason"],
                           [(g.get("facet"), g.get("value"), g.get("rows"), g.get("status"),
                             g.get("reason") or "") for g in groups]))
    analysis = _read_json(lake, layout.report(BIAS_KIND, day, PRE_TRAINING_ANALYSIS))
    facets = ((analysis or {}).get("pre_training_bias_metrics") or {}).get("facets") or {}
    for facet, groups in facets.items():
        for group in groups[:MAX_FACET_CHARTS]:
            values = {m["name"]: m["value"] for m in group.get("metrics") or []
                      if isinstance(m.get("value"), (int, float))}
            if values:
                parts.append(image(figures.bias_bars(
                    values, thresholds, f"{facet} = {group.get('value_or_threshold')}"),
                    f"bias metrics for {facet} {group.get('value_or_threshold')}"))
    page.section("Pre-training bias", *parts)


def _prepare(page: Page, result: Mapping[str, Any] | None) -> None:
    if not result:
        page.section("Prepared data", _absent("prepare"))
        return
    counts = result.get("class_counts") or {}
    rows = [(split, size, *(counts.get(split, {}).get(label, 0) for label in ("-1", "0", "1")))
            for split, size in (result.get("rows") or {}).items()]
    page.section("Prepared data", table(["split", "rows", "negative", "neutral", "positive"], rows),
                 f"<p>Input rows {number(result.get('input_rows'))}; dropped "
                 f"{html.escape(json.dumps(result.get('dropped') or {}))}.</p>")


def _training(page: Page, result: Mapping[str, Any] | None) -> None:
    if not result:
        page.section("Training", _absent("train"))
        return
    parts = [f"<p>Job {html.escape(str(result.get('job_name')))}: {result.get('status')}, "
             f"{number(result.get('duration_seconds'))} s.</p>",
             table(["metric", "final value"], sorted((result.get("final_metrics") or {}).items()))]
    history = {k: v for k, v in (result.get("metric_history") or {}).items() if v}
    if history:
        parts.append(image(figures.curves(history, "metrics per epoch", "epoch"), "training curves"))
    tuning = result.get("tuning") or {}
    trials = tuning.get("trials") or []
    if trials:
        parts.append(table(["trial", "state", tuning.get("objective", "objective"), "hyperparameters"],
                           [(t.get("number"), t.get("state"), t.get("objective_value"),
                             json.dumps(t.get("hyperparameters"))) for t in trials]))
        values = [float(t["objective_value"]) for t in trials if t.get("objective_value") is not None]
        if values:
            parts.append(image(figures.curves({str(tuning.get("objective")): values},
                                              "tuning trials", "trial"), "tuning trials"))
    page.section("Training", *parts)


def _debugger(page: Page, lake: Lake, dataset: str, day: str) -> None:
    """The Debugger rules' statuses, read from the lake: the train step writes them before it
    judges, so they show also when a rule stopped the job and the step failed."""
    from airsage.training.step import rule_evaluations_key

    document = _read_json(lake, rule_evaluations_key(dataset, day))
    if not document:
        page.section("Debugger rules", "<p>No Debugger rule was evaluated in this run "
                                       "(training.debugger is off, or train did not run).</p>")
        return
    statuses = document.get("DebugRuleEvaluationStatuses") or []
    fired = [s.get("RuleConfigurationName") for s in statuses
             if s.get("RuleEvaluationStatus") == "IssuesFound"]
    action = str(document.get("Action") or "")
    verdict = ("no rule found an issue" if not fired else
               f"{', '.join(map(str, fired))} found issues: "
               + ("the job was stopped" if action == "stop_training"
                  else "the candidate is not blessed"))
    page.section("Debugger rules",
                 f"<p>Training job {html.escape(str(document.get('TrainingJobName')))}, action "
                 f"{html.escape(action)}: {html.escape(verdict)}.</p>",
                 table(["rule", "status", "measured", "threshold", "details"],
                       [(s.get("RuleConfigurationName"), s.get("RuleEvaluationStatus"),
                         s.get("Measured"), s.get("Threshold"), s.get("StatusDetails"))
                        for s in statuses]))


def _evaluation(page: Page, result: Mapping[str, Any] | None) -> None:
    if not result:
        page.section("Evaluation", _absent("evaluate"))
        return
    metrics = (result.get("evaluation") or {}).get("multiclass_classification_metrics") or {}
    metadata = (result.get("evaluation") or {}).get("metadata") or {}
    matrix = metrics.get("confusion_matrix") or {}
    labels = sorted(matrix, key=lambda label: float(label) if label.lstrip("-").isdigit() else 0)
    parts = [f"<p>Accuracy {number(result.get('accuracy'))}, macro F1 {number(result.get('macro_f1'))}, "
             f"majority baseline {number(result.get('baseline_accuracy'))} on "
             f"{number(result.get('test_rows') or metadata.get('test_rows'))} rows.</p>"]
    if labels:
        grid = [[int(matrix[a].get(p, 0)) for p in labels] for a in labels]
        parts.append(image(figures.confusion(labels, grid), "confusion matrix"))
        rows = [(label, *((metrics.get(m) or {}).get(label, {}).get("value") for m in
                          ("precision", "recall", "f1"))) for label in labels]
        parts.append(table(["label", "precision", "recall", "f1"], rows, "per-class"))
    page.section("Evaluation", *parts)


def _blessing(page: Page, result: Mapping[str, Any] | None) -> None:
    if not result:
        page.section("Champion and challenger", _absent("register"))
        return
    blessing = result.get("blessing") or {}
    candidate, champion = blessing.get("candidate") or {}, blessing.get("champion")
    names = [n for n in ("accuracy", "macro_f1", "weighted_f1") if candidate.get(n) is not None]
    parts = [f"<p>{'Blessed' if result.get('blessed') else 'Not blessed'}; "
             + ("registered " + html.escape(str((result.get("model_version") or {}).get("version")))
                if result.get("model_version") else "nothing registered") + ".</p>"]
    if names:
        parts.append(image(figures.comparison(
            names, [float(candidate[n]) for n in names],
            [float(champion.get(n) or 0.0) for n in names] if champion else None),
            "candidate against champion"))
    parts.append(table(["check", "passed", "measured", "expected", "message"],
                       [(c.get("check"), c.get("passed"), c.get("measured"), c.get("expected"),
                         c.get("message") or "") for c in blessing.get("checks") or []], "checks"))
    page.section("Champion and challenger", *parts)


def _distribution(feature: Mapping[str, Any]) -> dict[str, float]:
    """A feature's shares per category (string) or per KLL bucket (numerical)."""
    strings = ((feature.get("string_statistics") or {}).get("distribution") or {}).get("categorical") or {}
    buckets = strings.get("buckets") or []
    if buckets:
        total = sum(float(b.get("count", 0)) for b in buckets) or 1.0
        return {str(b.get("value")): float(b.get("count", 0)) / total for b in buckets}
    kll = (((feature.get("numerical_statistics") or {}).get("distribution") or {}).get("kll") or {})
    buckets = kll.get("buckets") or []
    total = sum(float(b.get("count", 0)) for b in buckets) or 1.0
    return {f"{number(b.get('lower_bound'))}–{number(b.get('upper_bound'))}": float(b.get("count", 0)) / total
            for b in buckets}


def _drift(page: Page, lake: Lake, endpoint: str, day: str, baseline_prefix: str | None) -> None:
    prefix = f"monitoring/reports/{endpoint}/{day.replace('-', '/')}/"
    keys = sorted(k for k in lake.list(prefix) if k.endswith("constraint_violations.json"))
    if not keys:
        page.section("Drift", f"<p>No monitoring report for {html.escape(endpoint)} on {day} yet.</p>")
        return
    latest = keys[-1].rsplit("/", 1)[0] + "/"
    violations = (_read_json(lake, keys[-1]) or {}).get("violations") or []
    parts = [f"<p>Latest monitor report {html.escape(latest)}: {len(violations)} violation(s).</p>",
             table(["feature", "check", "description"],
                   [(v.get("feature_name") or v.get("metric_name"), v.get("constraint_check_type"),
                     v.get("description")) for v in violations])]
    current = _read_json(lake, latest + "statistics.json") or {}
    base = _read_json(lake, baseline_prefix + "statistics.json") if baseline_prefix else None
    base_features = {f.get("name"): f for f in (base or {}).get("features") or []}
    for feature in (current.get("features") or [])[:MAX_DRIFT_FEATURES]:
        name = feature.get("name")
        if name in base_features:
            parts.append(image(figures.distributions(str(name), _distribution(base_features[name]),
                                                     _distribution(feature)), f"drift of {name}"))
    page.section("Drift", *parts)


def render_run_report(
    lake: Lake, settings: Any, dataset: str, day: dt_.date | str, results: Mapping[str, Any], *,
    run_id: str = "", endpoint: str | None = None,
) -> str:
    """The page for one run of ``dataset`` on ``day``; ``results`` maps task id → its result."""
    day_text = partition_value(day)
    page = Page(f"airsage run report — {dataset} {day_text}")
    states = results.get("_states") or {}
    if run_id or states:
        page.section("Run", f"<p>Run {html.escape(run_id)}</p>",
                     table(["task", "state"], sorted(states.items())) if states else "")
    _quality(page, results.get("quality_gate"), lake, dataset, day_text, settings)
    _bias(page, results.get("bias_gate"), lake, dataset, day_text, settings)
    _prepare(page, results.get("prepare"))
    _training(page, results.get("train"))
    _evaluation(page, results.get("evaluate"))
    _blessing(page, results.get("register"))
    _debugger(page, lake, dataset, day_text)
    version = (results.get("deploy") or {}).get("model_version")
    model = (results.get("deploy") or {}).get("model_name")
    baseline_prefix = LakeLayout.baseline(str(model), str(version)) if model and version else None
    _drift(page, lake, endpoint or "reviews-sentiment", day_text, baseline_prefix)
    return page.html()


def write_run_report(lake: Lake, settings: Any, dataset: str, day: dt_.date | str,
                     results: Mapping[str, Any], **kwargs: Any) -> str:
    """Render and write the page; return its lake key."""
    key = report_key(dataset, day)
    lake.write_bytes(key, render_run_report(lake, settings, dataset, day, results, **kwargs).encode())
    return key
