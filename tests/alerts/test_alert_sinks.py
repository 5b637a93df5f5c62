from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from airsage.alerts.base import Alert
from airsage.alerts.sinks import LogFileSink, SlackWebhookSink, deliver


def test_log_sink_appends_json_lines(tmp_path: Path) -> None:
    sink = LogFileSink(tmp_path / "alerts.log")
    sink.send(Alert(title="quality gate failed", message="IsComplete review_text: 0.7 < 0.9"))
    sink.send(Alert(title="second", message="m", severity="warning"))
    alerts = sink.read()
    assert [a.title for a in alerts] == ["quality gate failed", "second"]
    assert "0.7 < 0.9" in alerts[0].message


def test_slack_sink_posts_to_a_webhook_on_loopback() -> None:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        SlackWebhookSink(url).send(Alert(title="drift", message="age drifted", dag_id="d"))
    finally:
        server.shutdown()
    assert "age drifted" in received[0]["text"]


def test_one_broken_sink_does_not_stop_the_others(tmp_path: Path) -> None:
    log = LogFileSink(tmp_path / "a.log")
    outcomes = deliver(Alert(title="t", message="m"),
                       [SlackWebhookSink("http://127.0.0.1:9/none", timeout=1), log])
    assert outcomes["slack"].startswith("failed")
    assert outcomes["log"] == "sent"
    assert len(log.read()) == 1
