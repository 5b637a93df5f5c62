"""What each task says in its log: a few lines a person reads, from the step's result.

Airflow's own "Returned value was: {…}" line is a JSON dump nobody reads; these lines say
what the step did — rows landed, each check and rule with measured against expected, bias
metrics against thresholds, split sizes, metrics per epoch or trial, the blessing decision,
the registry version, the traffic shift. They read the steps' JSON-safe results (the same
dicts the tasks return), so they need no engine and are tested on plain dicts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

log = logging.getLogger("airsage.task")

MAX_LIST = 30  # lines per list (rules, checks, trials) before "… and N more"


def _num(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LIST:
        return lines
    return [*lines[:MAX_LIST], f"  … and {len(lines) - MAX_LIST} more (see the report)"]


def _ingest(r: Mapping[str, Any]) -> list[str]:
    files = r.get("files") or []
    how = "verified the landed batch" if r.get("already_landed") else f"landed from {r.get('source')}"
    lines = [f"{how}: {r.get('rows')} rows in {len(files)} file(s) under {r.get('partition')}"]
    lines += [f"  {f.get('key')}: {f.get('rows')} rows, {f.get('bytes')} bytes, {f.get('format')}, "
              f"sha256 {str(f.get('sha256', ''))[:12]}…" for f in files]
    return lines


def _crawl(r: Mapping[str, Any]) -> list[str]:
    changes = r.get("changes") or []
    lines = [f"catalogued {r.get('database')}.{r.get('table')} dt={r.get('day')}: {r.get('rows')} rows, "
             f"{len(r.get('columns') or [])} columns; table "
             f"{'created' if r.get('table_created') else 'existing'}, partition "
             f"{'created' if r.get('partition_created') else 'updated'}"]
    lines += [f"  schema change: {c}" for c in changes] or ["  schema matches the contract"]
    lines += [f"  warning: {w}" for w in r.get("warnings") or []]
    return lines


def _validate_sql(r: Mapping[str, Any]) -> list[str]:
    checks = r.get("checks") or []
    lines = [f"{len(checks)} SQL check(s), {'all passed' if r.get('passed') else 'FAILED'}:"]
    lines += _capped([f"  {c.get('outcome')} {c.get('name')}: measured {_num(c.get('measured'))}, "
                      f"expected {c.get('expected')}" + (f" ({c['error']})" if c.get("error") else "")
                      for c in checks])
    return lines


def _quality_gate(r: Mapping[str, Any]) -> list[str]:
    rules = r.get("RuleResults") or []
    lines = [f"DQDL {r.get('Outcome')}: {r.get('RulesPassed')} passed, {r.get('RulesFailed')} failed, "
             f"{r.get('RulesErrored')} errored ({r.get('Ruleset')})"]
    rule_lines = []
    for rule in rules:
        measured = ", ".join(f"{k}={_num(v)}" for k, v in (rule.get("EvaluatedMetrics") or {}).items())
        message = f" — {rule['EvaluationMessage']}" if rule.get("EvaluationMessage") else ""
        rule_lines.append(f"  {rule.get('Result')} {rule.get('Description')}: {measured or 'no metric'}"
                          f"{message}")
    return lines + _capped(rule_lines)


def _curate(r: Mapping[str, Any]) -> list[str]:
    return [f"curated {r.get('rows')} rows to {r.get('key')}; sentiment counts "
            f"{r.get('sentiment_counts')}, unlabelled {r.get('unlabelled')}"]


def _bias_gate(r: Mapping[str, Any]) -> list[str]:
    verdict = r.get("verdict") or {}
    checks = verdict.get("checks") or []
    lines = [f"pre-training bias on facet {r.get('facet')}, label {r.get('label')} "
             f"{r.get('label_values')}: {str(r.get('status')).upper()}"]
    lines += [f"  group {g.get('facet')}={g.get('value')}: {g.get('rows')} rows, {g.get('status')}"
              + (f" — {g['reason']}" if g.get("reason") else "") for g in r.get("groups") or []]
    flagged = [c for c in checks if c.get("status") != "pass"]
    largest: dict[str, Mapping[str, Any]] = {}
    for check in checks:  # the worst group of each metric, to show the margin when all pass
        value = check.get("value")
        if isinstance(value, (int, float)) and (check["metric"] not in largest or abs(value) > abs(
                largest[check["metric"]].get("value") or 0)):
            largest[check["metric"]] = check
    shown = flagged or list(largest.values())
    lines += _capped([f"  {c.get('status')} {c.get('metric')}"
                      + (f" [{c['group']}]" if c.get("group") else "")
                      + f": {_num(c.get('value'))} (warn above {_num(c.get('warn'))}, fail above "
                      f"{_num(c.get('fail'))})" + (f" — {c['reason']}" if c.get("reason") else "")
                      for c in shown])
    return lines


def _prepare(r: Mapping[str, Any]) -> list[str]:
    expectations = r.get("expectations") or {}
    return [f"prepared {r.get('input_rows')} rows: splits {r.get('rows')}, classes {r.get('class_counts')}",
            f"  dropped {r.get('dropped')}, oversampled {r.get('oversampled_rows')}",
            f"  Great Expectations: {expectations.get('evaluated')} evaluated, "
            f"{expectations.get('failed')} failed; Data Docs {r.get('data_docs_key')}"]


def _history(metrics: Mapping[str, Any]) -> list[str]:
    """Per-epoch metric values, one line per epoch."""
    series = {name: list(values) for name, values in (metrics or {}).items() if values}
    epochs = max((len(values) for values in series.values()), default=0)
    return [f"  epoch {i + 1}: " + ", ".join(f"{name}={_num(values[i])}" for name, values in series.items()
                                           if i < len(values)) for i in range(epochs)]


def _train(r: Mapping[str, Any]) -> list[str]:
    lines = [f"training job {r.get('job_name')} {r.get('status')} in {_num(r.get('duration_seconds'))} s; "
             f"hyperparameters {r.get('hyperparameters')}"]
    lines += _capped(_history(r.get("metric_history") or {}))
    lines.append(f"  final metrics {r.get('final_metrics')}; model {r.get('model_artifact_key')}")
    tuning = r.get("tuning")
    if tuning:
        lines.append(f"tuning job {tuning.get('tuning_job_name')}: {len(tuning.get('trials') or [])} trials, "
                     f"best {tuning.get('objective')} = {_num(tuning.get('best_value'))}")
        lines += _capped([f"  trial {t.get('number')} {t.get('state')}: {tuning.get('objective')}="
                          f"{_num(t.get('objective_value'))} with {t.get('hyperparameters')}"
                          for t in tuning.get("trials") or []])
    return lines


def _evaluate(r: Mapping[str, Any]) -> list[str]:
    return [f"evaluated {r.get('model_artifact_key')} on {r.get('test_rows')} test rows: accuracy "
            f"{_num(r.get('accuracy'))}, macro F1 {_num(r.get('macro_f1'))}, majority baseline "
            f"{_num(r.get('baseline_accuracy'))}; report {r.get('report_key')}"]


def _register(r: Mapping[str, Any]) -> list[str]:
    blessing = r.get("blessing") or {}
    champion = r.get("champion_version") or {}
    lines = [f"blessing: {'BLESSED' if r.get('blessed') else 'not blessed'} against "
             + (f"champion v{champion.get('version')}" if champion else "no champion")]
    lines += [f"  {'pass' if c.get('passed') else 'FAIL'} {c.get('check')}: measured "
              f"{_num(c.get('measured'))}, expected {c.get('expected')}"
              + (f" — {c['message']}" if c.get("message") else "") for c in blessing.get("checks") or []]
    version = r.get("model_version")
    lines.append(f"registered {version.get('name')} v{version.get('version')} as {version.get('status')}"
                 if version else "nothing registered: the champion keeps serving")
    return lines


def _baseline(r: Mapping[str, Any]) -> list[str]:
    version = r.get("model_version") or {}
    lines = [f"monitor baseline for {version.get('name')} v{version.get('version')}: "
             f"{r.get('item_count')} {r.get('source')} rows from {r.get('source_key')}"
             + (f", leaving out {r['excluded_key']}" if r.get("excluded_key") else "")
             + f"; baseline accuracy {_num(r.get('baseline_accuracy'))}",
             f"  statistics {r.get('statistics_key')}, constraints {r.get('constraints_key')}"]
    return lines


def _deploy(r: Mapping[str, Any]) -> list[str]:
    lines = [f"{r.get('action')} endpoint {r.get('endpoint')} at {r.get('url')}: "
             f"{r.get('model_name')} v{r.get('model_version')} as variant {r.get('variant_name')} "
             f"in {_num(r.get('duration_seconds'))} s"]
    lines += [f"  traffic step {i + 1}: {_num(p)}% to the new variant, baked without alarm"
              for i, p in enumerate(r.get("traffic_steps") or [])]
    if r.get("replaced_variants"):
        lines.append(f"  replaced {r.get('replaced_variants')}")
    return lines


def _monitor(r: Mapping[str, Any]) -> list[str]:
    violations = r.get("violations") or []
    lines = [f"monitored {r.get('endpoint')} ({r.get('model_name')} v{r.get('model_version')}) over "
             f"{r.get('interval')}: {len(violations)} violation(s), retrain: {r.get('should_retrain')}"]
    lines += _capped([f"  {v.get('feature_name')}: {v.get('constraint_check_type')}: {v.get('description')}"
                      for v in violations])
    return lines


NARRATORS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "ingest": _ingest, "crawl": _crawl, "validate_sql": _validate_sql, "quality_gate": _quality_gate,
    "curate": _curate, "bias_gate": _bias_gate, "prepare": _prepare, "train": _train,
    "evaluate": _evaluate, "register": _register, "baseline": _baseline, "deploy": _deploy,
    "monitor": _monitor,
}


def describe(step: str, result: Mapping[str, Any]) -> list[str]:
    """The lines for ``step``'s result (``KeyError`` for a step without a narrator)."""
    return NARRATORS[step](result)


def narrated(step: str, result: dict[str, Any], lines: Iterable[str] | None = None) -> dict[str, Any]:
    """Log what ``step`` did and hand its result back (the task returns it).

    A result this module cannot read is logged as such, never raised: the step itself
    succeeded, and its full result is still returned.
    """
    try:
        told = list(lines) if lines is not None else describe(step, result)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        told = [f"{step} finished; its result could not be summarised ({type(exc).__name__}: "
                f"{exc}); keys: {sorted(result)}"]
    for line in told:
        log.info("%s", line)
    return result
