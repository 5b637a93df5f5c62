"""The alert log (a JSON-lines file, or objects in an S3 lake) and delivery to many sinks.

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

    @property
    def where(self) -> str:
        """Where a person reads the log (the demo and the CLI print it)."""
        return str(self.path)

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


class LakeAlertSink:
    """One JSON object per alert under ``reports/alerts/`` of the lake: the alert log of a
    team whose workers share the lake in S3 and no files (an S3 object cannot be appended
    to; one object per alert needs no lock)."""

    name = "log"

    def __init__(self, lake: Any) -> None:
        self.lake = lake

    @property
    def where(self) -> str:
        """Where a person reads the log: the lake prefix of the alert objects."""
        from airsage.lake.layout import LakeLayout

        return str(self.lake.uri(LakeLayout.alerts_prefix()))

    def send(self, alert: Alert) -> None:
        import datetime as dt
        import uuid

        from airsage.lake.layout import LakeLayout

        try:
            raised = dt.datetime.fromisoformat(alert.created_at)
        except ValueError:
            raised = dt.datetime.now(dt.UTC)
        if raised.tzinfo is None:
            raised = raised.replace(tzinfo=dt.UTC)
        key = LakeLayout.alert(raised, uuid.uuid4().hex[:12])
        self.lake.write_bytes(key, json.dumps(alert.to_dict(), sort_keys=True, default=str).encode())

    def read(self) -> list[Alert]:
        from airsage.lake.layout import LakeLayout

        return [Alert(**json.loads(self.lake.read_bytes(key)))
                for key in self.lake.list(LakeLayout.alerts_prefix())]


def log_sink(settings: Any) -> LogFileSink | LakeAlertSink:
    """The alert log: ``alerts.log_file`` (relative to ``home``) on one machine; in the lake
    when the lake is in S3, where every worker of a team finds it."""
    if settings.lake_root.startswith("s3://"):
        from airsage.lake.local import lake_for_root

        return LakeAlertSink(lake_for_root(settings))
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
