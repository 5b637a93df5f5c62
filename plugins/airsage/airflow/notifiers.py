"""The Airflow notifier that turns a failed task (or a drift verdict) into an airsage alert."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseNotifier

from airsage.alerts.base import Alert


def configured_sinks(settings: Any) -> list[Any]:
    """The log-file sink always; SMTP and Slack when their Airflow connections exist."""
    from airsage.alerts.sinks import SlackWebhookSink, SmtpSink, log_sink

    section = settings.section("alerts")
    sinks: list[Any] = [log_sink(settings)]
    smtp = _connection(section.get("smtp_conn_id"))
    if smtp is not None:
        extra = smtp.extra_dejson
        recipients = extra.get("to") or []
        sinks.append(
            SmtpSink(
                smtp.host, int(smtp.port or 25), extra.get("from_email", "airsage@localhost"),
                [recipients] if isinstance(recipients, str) else list(recipients),
                login=smtp.login or None, password=smtp.password or None,
                starttls=bool(extra.get("starttls", False)),
            )
        )
    slack = _connection(section.get("slack_conn_id"))
    if slack is not None:
        url = slack.password or slack.host or ""
        if url and not url.startswith("http"):
            url = f"https://hooks.slack.com/services/{url.lstrip('/')}"
        if url:
            sinks.append(SlackWebhookSink(url))
    return sinks


def _connection(conn_id: str | None) -> Any:
    if not conn_id:
        return None
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except Exception:  # an absent connection means "this sink is not configured"
        return None


def send_alert(alert: Alert, settings: Any | None = None) -> dict[str, str]:
    from airsage.airflow.runtime import task_settings
    from airsage.alerts.sinks import deliver

    return deliver(alert, configured_sinks(settings or task_settings()))


class AirsageNotifier(BaseNotifier):
    """Sends an alert naming the DAG, task, partition and the error's own message."""

    template_fields = ("title",)

    def __init__(self, title: str = "{{ dag.dag_id }}.{{ ti.task_id }} failed") -> None:
        super().__init__()
        self.title = title

    def notify(self, context: Any) -> None:
        exception = context.get("exception")
        ti = context.get("ti")
        logical = context.get("logical_date")
        alert = Alert(
            title=self.title,
            message=str(exception) if exception else "task failed without an exception",
            severity="error",
            dag_id=getattr(context.get("dag"), "dag_id", None),
            task_id=getattr(ti, "task_id", None),
            run_id=context.get("run_id"),
            partition=logical.date().isoformat() if logical is not None else None,
            details={"exception_type": type(exception).__name__} if exception else {},
        )
        outcomes = send_alert(alert)
        self.log.info("airsage alert sent: %s", outcomes)
