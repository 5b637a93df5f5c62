"""Alert sinks. The log file always works offline; SMTP and Slack are used when configured."""

from __future__ import annotations

import fcntl
import json
import smtplib
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from airsage.alerts.base import Alert


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


class SmtpSink:
    """Sends the alert as a plain-text e-mail."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: list[str],
        *,
        login: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender, self.recipients = host, port, sender, recipients
        self.login, self.password, self.starttls, self.timeout = login, password, starttls, timeout

    def send(self, alert: Alert) -> None:
        message = EmailMessage()
        message["Subject"] = f"[airsage {alert.severity}] {alert.title}"
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(alert.as_text())
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as client:
            if self.starttls:
                client.starttls()
            if self.login:
                client.login(self.login, self.password or "")
            client.send_message(message)


class SlackWebhookSink:
    """Posts the alert to a Slack incoming-webhook URL."""

    name = "slack"

    def __init__(self, webhook_url: str, *, timeout: float = 10.0) -> None:
        self.webhook_url, self.timeout = webhook_url, timeout

    def send(self, alert: Alert) -> None:
        body = json.dumps({"text": alert.as_text()}).encode()
        request = urllib.request.Request(
            self.webhook_url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            if response.status >= 300:
                raise OSError(f"Slack webhook answered HTTP {response.status}")


def log_sink(settings: Any) -> LogFileSink:
    """The alert log of an airsage home (``alerts.log_file``, relative to ``home``)."""
    return LogFileSink(settings.home / settings.section("alerts").get("log_file", "alerts.log"))


def deliver(alert: Alert, sinks: list) -> dict[str, str]:
    """Send to every sink; one failing sink does not stop the others. Returns sink → outcome."""
    outcomes: dict[str, str] = {}
    for sink in sinks:
        try:
            sink.send(alert)
            outcomes[sink.name] = "sent"
        except Exception as exc:  # a broken sink must not hide the alert from the others
            outcomes[sink.name] = f"failed: {exc}"
    return outcomes
