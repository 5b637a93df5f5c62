"""The local alert sink (a JSON-lines file; always works offline) and delivery to many sinks.

E-mail, Slack and SNS are Airflow's provider notifiers (``airsage.airflow.notifiers``)."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airsage.alerts.base import Alert, AlertSink


class LogFileSink:
    """Appends one JSON line per alert (the local default; tests and the demo read it)."""

    name = "log"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def send(self, alert: Alert) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(alert.to_dict(), sort_keys=True, default=str) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(line)

    def read(self) -> list[Alert]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [Alert(**json.loads(line)) for line in lines if line.strip()]


def log_sink(settings: Any) -> LogFileSink:
    """The alert log of an airsage home (``alerts.log_file``, relative to ``home``)."""
    return LogFileSink(settings.home / settings.section("alerts").get("log_file", "alerts.log"))


def deliver(alert: Alert, sinks: Sequence[AlertSink]) -> dict[str, str]:
    """Send to every sink; one failing sink does not stop the others. Returns sink → outcome."""
    outcomes: dict[str, str] = {}
    for sink in sinks:
        try:
            sink.send(alert)
            outcomes[sink.name] = "sent"
        except Exception as exc:  # a broken sink must not hide the alert from the others
            outcomes[sink.name] = f"failed: {exc}"
    return outcomes
