"""What a person reads before approving a model version: a short Markdown summary.

The Required Actions page shows the approval request's body as Markdown. It says what the
candidate is, how it compares with the champion on the same data, every check of the
blessing with its measured and expected value (the bias figures among them), and where the
full reports are — in a few lines, not the blessing document itself (that stays in the lake).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

HEADLINE_METRICS = ("accuracy", "macro_f1", "weighted_f1", "baseline_accuracy", "test_rows")
MAX_VALUE_CHARS = 80


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, Mapping):
        text = ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        text = ", ".join(_value(v) for v in value)
    else:
        text = str(value)
    text = text.replace("|", "\\|").replace("\n", " ")  # a pipe would end the table cell
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def approval_markdown(registration: Mapping[str, Any]) -> str:
    """The approval body for a ``RegistrationResult.to_dict()`` (plus the run's ``day``)."""
    version = registration.get("model_version") or {}
    blessing = registration.get("blessing") or {}
    candidate = blessing.get("candidate") or {}
    champion = blessing.get("champion") or None
    champion_version = registration.get("champion_version") or {}
    lines = [
        f"**{version.get('name', '?')} v{version.get('version', '?')}**, trained on "
        f"partition {registration.get('day', '?')}; status "
        f"`{version.get('status', '?')}`.",
        "",
    ]
    if champion:
        lines += [f"| metric | candidate | champion v{champion_version.get('version', '?')} |",
                  "|---|---|---|"]
        lines += [f"| {name} | {_value(candidate.get(name))} | {_value(champion.get(name))} |"
                  for name in HEADLINE_METRICS if name in candidate or name in champion]
    else:
        lines += ["No champion yet: this would be the first model served.", "",
                  "| metric | candidate |", "|---|---|"]
        lines += [f"| {name} | {_value(candidate.get(name))} |"
                  for name in HEADLINE_METRICS if name in candidate]
    lines += ["", "| check | result | measured | expected |", "|---|---|---|---|"]
    for check in blessing.get("checks") or []:
        verdict = "pass" if check.get("passed") else "**FAIL**"
        lines.append(f"| {check.get('check')} | {verdict} | {_value(check.get('measured'))} | "
                     f"{_value(check.get('expected'))} |")
    lines += ["", "Full reports: blessing " + f"`{registration.get('blessing_uri') or '?'}`"
              + (f", evaluation `{candidate['report_key']}`" if candidate.get("report_key") else "")
              + ".",
              "Approve to mark it Approved and deploy it; Reject marks it Rejected and the "
              "champion keeps serving."]
    return "\n".join(lines)
