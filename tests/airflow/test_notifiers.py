"""Alerts go out through the providers' notifiers, each to a real peer on loopback: an SMTP
server (aiosmtpd), a Slack webhook (an HTTP server), and SNS (moto) read back through an SQS
subscription. Each alert names the DAG, run, task, the rule with its measured and expected
values, and the run report."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from airsage.airflow.notifiers import AirsageNotifier, configured_sinks
from airsage.alerts.sinks import log_sink
from airsage.config import load_settings
from airsage.errors import GateFailedError, GateFailure


def _failure_context() -> dict[str, Any]:
    error = GateFailedError(gate="quality", resource="reviews dt=2026-03-03", failures=[
        GateFailure(check='IsComplete "rating"', measured=0.97, expected="= 1.0")])
    return {
        "exception": error, "dag": SimpleNamespace(dag_id="reviews_daily"),
        "ti": SimpleNamespace(task_id="quality_gate"), "run_id": "scheduled__2026-03-04T00:00:00+00:00",
        "params": {"partition_date": None},
        "data_interval_start": dt.datetime(2026, 3, 3, tzinfo=dt.UTC),
    }


def _notify() -> None:
    notifier = AirsageNotifier()
    notifier.title = "reviews_daily.quality_gate failed"  # what Jinja renders from the context
    notifier.notify(_failure_context())


def _assert_complete(text: str) -> None:
    for part in ("reviews_daily", "quality_gate", "scheduled__2026-03-04T00:00:00+00:00",
                 'IsComplete "rating"', "measured 0.97", "expected = 1.0",
                 "reports/run/reviews/dt=2026-03-03/index.html"):
        assert part in text, (part, text)


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    import socket

    with socket.socket() as probe:  # aiosmtpd's start-up check cannot follow port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_AIRSAGE_SMTP", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": port,
        "extra": {"to": ["ops@example.com"], "from_email": "airsage@example.com",
                  "disable_ssl": True, "disable_tls": True}}))
    yield received
    controller.stop()


def test_smtp_notifier_mails_the_failure(airsage_home: Any, smtp_server: list[Any]) -> None:
    assert [sink.name for sink in configured_sinks(load_settings())] == ["log", "smtp"]
    _notify()
    [envelope] = smtp_server
    assert envelope.rcpt_tos == ["ops@example.com"] and envelope.mail_from == "airsage@example.com"
    mail = message_from_bytes(envelope.content)
    assert mail["Subject"] == "[airsage error] reviews_daily.quality_gate failed"
    body = "".join(part.get_payload(decode=True).decode() for part in mail.walk()
                   if part.get_content_type() == "text/html")
    _assert_complete(body.replace("&quot;", '"'))
    [logged] = log_sink(load_settings()).read()  # the local log has it too
    _assert_complete(logged.message + logged.run_id + logged.dag_id + logged.task_id)


def test_slack_webhook_notifier_posts_the_failure(airsage_home: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AIRFLOW_CONN_AIRSAGE_SLACK", json.dumps({
        "conn_type": "slackwebhook", "password": f"http://127.0.0.1:{server.server_address[1]}/hook"}))
    try:
        _notify()
    finally:
        server.shutdown()
    [posted] = received
    _assert_complete(posted["text"])


def test_sns_notifier_publishes_the_failure(airsage_home: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto in this process (SNS → SQS), read back as a subscriber would."""
    import boto3
    from moto import mock_aws

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        sns, sqs = boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="airsage-alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="ops")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        monkeypatch.setenv("AIRSAGE__ALERTS__SNS_TOPIC_ARN", topic)
        assert "sns" in [sink.name for sink in configured_sinks(load_settings())]
        _notify()
        [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["Subject"] == "[airsage error] reviews_daily.quality_gate failed"
    alert = json.loads(envelope["Message"])  # the alert as JSON, for subscribers that parse it
    _assert_complete(" ".join(str(alert[k]) for k in ("dag_id", "task_id", "run_id", "message")))
    assert alert["details"]["report"].endswith("reports/run/reviews/dt=2026-03-03/index.html")
