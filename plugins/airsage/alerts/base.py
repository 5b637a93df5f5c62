"""The alert a failed gate or a drift verdict sends, and the sink interface.

Sinks know nothing about Airflow: the Airflow notifier builds an :class:`Alert` from the task
context and hands it to every configured sink, so the same sinks serve the CLI and tests.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Alert:
    """What happened, where, and the details a person needs to act on it."""

    title: str
    message: str
    severity: str = "error"  # error | warning | info
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    partition: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_text(self) -> str:
        where = " / ".join(part for part in (self.dag_id, self.task_id, self.run_id) if part)
        header = f"[airsage {self.severity}] {self.title}"
        return f"{header}\n{where}\n\n{self.message}" if where else f"{header}\n\n{self.message}"


class AlertSink(Protocol):
    """Delivers an alert; raising means the alert was not delivered."""

    name: str

    def send(self, alert: Alert) -> None: ...
