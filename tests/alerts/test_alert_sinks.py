from __future__ import annotations

from pathlib import Path

from airsage.alerts.base import Alert
from airsage.alerts.sinks import LogFileSink, deliver


def test_log_sink_appends_json_lines(tmp_path: Path) -> None:
    sink = LogFileSink(tmp_path / "alerts.log")
    sink.send(Alert(title="quality gate failed", message="IsComplete review_text: 0.7 < 0.9"))
    sink.send(Alert(title="second", message="m", severity="warning"))
    alerts = sink.read()
    assert [a.title for a in alerts] == ["quality gate failed", "second"]
    assert "0.7 < 0.9" in alerts[0].message


class _Broken:
    name = "broken"

    def send(self, alert: Alert) -> None:
        raise OSError("connection refused")


def test_one_broken_sink_does_not_stop_the_others(tmp_path: Path) -> None:
    log = LogFileSink(tmp_path / "a.log")
    outcomes = deliver(Alert(title="t", message="m"), [_Broken(), log])
    assert outcomes["broken"] == "failed: connection refused"
    assert outcomes["log"] == "sent"
    assert len(log.read()) == 1
