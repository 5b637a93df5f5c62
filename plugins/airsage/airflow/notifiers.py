"""Alerts through Airflow's own notifiers: the failure callback, and the sinks behind it.

Every alert goes to the local log sink (offline, read by the demo and the tests) and to each
provider notifier whose configuration exists: ``SmtpNotifier`` (the ``alerts.smtp_conn_id``
connection, recipients in its extra), ``SlackWebhookNotifier`` (``alerts.slack_conn_id``, a
Slack webhook connection), ``SnsNotifier`` (``alerts.sns_topic_arn`` through
``alerts.aws_conn_id``; the message is the alert as JSON). The providers' notifiers send;
airsage only decides what to say.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

from airflow.sdk import BaseNotifier

from airsage.alerts.base import Alert, AlertSink


class NotifierSink:
    """An alert sink that delivers through a provider notifier built for each alert."""

    def __init__(self, name: str, build: Callable[[Alert], BaseNotifier]) -> None:
        self.name, self.build = name, build

    def send(self, alert: Alert) -> None:
        # The text is final: calling notify() directly renders no Jinja in a rule's message.
        self.build(alert).notify({})


def _subject(alert: Alert) -> str:
    return f"[airsage {alert.severity}] {alert.title}"


def _html(alert: Alert) -> str:
    return f"<pre>{html.escape(alert.as_text())}</pre>"


def configured_sinks(settings: Any) -> list[AlertSink]:
    """The log-file sink always; each provider notifier whose configuration exists."""
    from airsage.alerts.sinks import log_sink

    section = settings.section("alerts")
    sinks: list[AlertSink] = [log_sink(settings)]
    smtp_id = section.get("smtp_conn_id")
    smtp = _connection(smtp_id)
    if smtp is not None:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        extra = smtp.extra_dejson
        to = extra.get("to") or []
        sender = extra.get("from_email", "airsage@localhost")
        sinks.append(NotifierSink("smtp", lambda alert: SmtpNotifier(
            to=[to] if isinstance(to, str) else list(to), from_email=sender,
            subject=_subject(alert), html_content=_html(alert), smtp_conn_id=smtp_id)))
    slack_id = section.get("slack_conn_id")
    if _connection(slack_id) is not None:
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        sinks.append(NotifierSink("slack", lambda alert: SlackWebhookNotifier(
            slack_webhook_conn_id=slack_id, text=alert.as_text())))
    topic = section.get("sns_topic_arn")
    if topic:
        from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

        aws_conn_id = section.get("aws_conn_id") or settings.section("aws").get("conn_id")
        region = settings.section("aws").get("region")
        # the message is the alert as JSON: SNS subscribers (queues, functions) parse it
        sinks.append(NotifierSink("sns", lambda alert: SnsNotifier(
            aws_conn_id=aws_conn_id, target_arn=str(topic),
            message=json.dumps(alert.to_dict(), sort_keys=True, default=str),
            subject=_subject(alert)[:100], region_name=region)))
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


def report_link(settings: Any, dataset: str, partition: str | None) -> str | None:
    """Where the run's report is (written by the run's last task, whatever happened)."""
    if not partition:
        return None
    from airsage.airflow.runtime import lake_for
    from airsage.reports.run import report_key

    return str(lake_for(settings).uri(report_key(dataset, partition)))


class AirsageNotifier(BaseNotifier):
    """Sends an alert naming the DAG, run, task, partition, the error's own message (which
    names the rule, measured and expected values) and the run report's address."""

    template_fields = ("title",)

    def __init__(self, title: str = "{{ dag.dag_id }}.{{ ti.task_id }} failed") -> None:
        super().__init__()
        self.title = title

    def notify(self, context: Any) -> None:
        from airsage.airflow import names
        from airsage.airflow.runtime import partition_of, task_settings

        exception = context.get("exception")
        ti = context.get("ti")
        settings = task_settings()
        partition = partition_of(context)
        report = report_link(settings, names.DATASET, partition)
        details: dict[str, Any] = {"exception_type": type(exception).__name__} if exception else {}
        if report:
            details["report"] = report
        alert = Alert(
            title=self.title,
            message=(str(exception) if exception else "task failed without an exception")
            + (f"\nRun report: {report}" if report else ""),
            severity="error",
            dag_id=getattr(context.get("dag"), "dag_id", None),
            task_id=getattr(ti, "task_id", None),
            run_id=context.get("run_id"),
            partition=partition,
            details=details,
        )
        outcomes = send_alert(alert, settings)
        self.log.info("airsage alert sent: %s", outcomes)
