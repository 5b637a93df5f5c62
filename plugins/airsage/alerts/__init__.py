"""Alerts: one message type and the sinks that deliver it (log file, SMTP, Slack webhook)."""

from airsage.alerts.base import Alert, AlertSink

__all__ = ["Alert", "AlertSink"]
