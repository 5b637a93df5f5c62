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


def test_the_alert_log_of_a_lake_is_one_object_per_alert_in_time_order(tmp_path: Path) -> None:
    from airsage.alerts.sinks import LakeAlertSink
    from airsage.lake.local import LocalLake

    lake = LocalLake(root=tmp_path / "lake")
    sink = LakeAlertSink(lake)
    sink.send(Alert(title="later", message="m", created_at="2026-03-02T10:00:05+00:00"))
    sink.send(Alert(title="earlier", message="m", created_at="2026-03-02T09:59:59+00:00"))
    sink.send(Alert(title="next day", message="m", created_at="2026-03-03T00:00:00+00:00"))
    assert [a.title for a in sink.read()] == ["earlier", "later", "next day"]
    keys = list(lake.list("reports/alerts/"))
    assert len(keys) == 3 and keys[0].startswith("reports/alerts/dt=2026-03-02/20260302T095959")


def test_the_alert_log_follows_the_lake_into_s3(tmp_path: Path) -> None:
    from airsage.alerts.sinks import LakeAlertSink, log_sink
    from airsage.config import load_settings

    on_one_machine = load_settings(environ={"AIRSAGE_HOME": str(tmp_path / "home")})
    assert isinstance(log_sink(on_one_machine), LogFileSink)
    team = load_settings(environ={"AIRSAGE_HOME": str(tmp_path / "home"),
                                  "AIRSAGE_LAKE_ROOT": "s3://team-lake/prefix"})
    sink = log_sink(team)
    assert isinstance(sink, LakeAlertSink) and sink.lake.root == "s3://team-lake/prefix"
