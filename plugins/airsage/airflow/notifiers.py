"""The Airflow notifier that turns a failed task (or a drift verdict) into an airsage alert."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseNotifier

from airsage.alerts.base import Alert


def configured_sinks(settings: Any) -> list[Any]:
    """The log-file sink always; SMTP and Slack when their Airflow connections exist; SNS when
    ``alerts.sns_topic_arn`` names a topic (the provider's SnsNotifier, ``aws.conn_id``)."""
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
    topic = section.get("sns_topic_arn")
    if topic:
        aws = settings.section("aws")
        sinks.append(SnsSink(str(topic), aws_conn_id=aws.get("conn_id") or None,
                             region_name=aws.get("region") or None))
    return sinks


class SnsSink:
    """Publishes the alert to an SNS topic through the Amazon provider's ``SnsNotifier``
    (subject: severity and title; message: the alert as JSON, for subscribers that parse it)."""

    name = "sns"

    def __init__(self, topic_arn: str, *, aws_conn_id: str | None = "aws_default",
                 region_name: str | None = None) -> None:
        self.topic_arn, self.aws_conn_id, self.region_name = topic_arn, aws_conn_id, region_name

    def send(self, alert: Alert) -> None:
        import json

        from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

        notifier = SnsNotifier(
            aws_conn_id=self.aws_conn_id, region_name=self.region_name, target_arn=self.topic_arn,
            subject=f"[airsage {alert.severity}] {alert.title}"[:100],
            message=json.dumps(alert.to_dict(), sort_keys=True, default=str),
        )
        notifier.notify({})


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
