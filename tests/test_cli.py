"""The ``airsage`` command, run in-process against a fresh airsage home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airsage.cli import main
from airsage.config import load_settings
from airsage.lake.local import LocalLake

DAY = "2026-01-05"


def _generate(tmp_path: Path, *extra: str) -> Path:
    assert main(["data", "generate", "--date", DAY, "--rows", "300", "--out", str(tmp_path), *extra]) == 0
    return tmp_path / f"reviews_{DAY}.csv"


def test_generate_writes_a_batch_and_land_puts_it_under_raw(airsage_home: Path, tmp_path: Path) -> None:
    path = _generate(tmp_path, "--land")
    assert path.exists() and len(path.read_text().splitlines()) > 300
    lake = LocalLake(load_settings())
    assert lake.exists(f"raw/reviews/dt={DAY}/_manifest.json")


def test_ingest_refuses_to_overwrite_a_landed_day(airsage_home: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    first = _generate(tmp_path / "a")
    assert main(["data", "ingest", str(first), "--date", DAY]) == 0
    assert main(["data", "ingest", str(first), "--date", DAY]) == 0  # same bytes: a no-op
    other = _generate(tmp_path / "b", "--seed", "99")
    assert main(["data", "ingest", str(other), "--date", DAY]) == 2
    assert "immutable" in capsys.readouterr().err.lower()


def test_sql_and_rule_suggestion_run_on_the_catalog(airsage_home: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from airsage.catalog.local import LocalCatalog
    from airsage.quality.dqdl import parse
    from airsage.quality.local import DuckDBQualityGate

    _generate(tmp_path, "--land")
    settings = load_settings()
    lake = LocalLake(settings)
    LocalCatalog(settings).crawl(lake, "reviews", DAY)
    capsys.readouterr()
    query = ("SELECT count(*) AS n, approx_distinct(review_id) AS ids "
             "FROM airsage.reviews WHERE dt = '{{ ds }}'")
    assert main(["sql", query, "--date", DAY]) == 0
    assert "300" in capsys.readouterr().out

    out = tmp_path / "suggested.dqdl"
    assert main(["quality", "suggest", "--date", DAY, "--out", str(out)]) == 0
    relation = LocalCatalog(settings).partition_relation(lake, "reviews", DAY)
    report = DuckDBQualityGate(settings).evaluate(relation, parse(out.read_text()))
    assert report.outcome == "PASS"


def test_config_and_endpoint_describe(airsage_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config"]) == 0
    assert json.loads(capsys.readouterr().out)["target"] == "local"
    assert main(["endpoint", "describe"]) == 1
    assert json.loads(capsys.readouterr().out)["url"] is None


def test_bad_arguments_are_refused_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "ingest", "x.csv", "--date", "05/01/2026"])
    assert exit_info.value.code == 2
    assert "is not a date" in capsys.readouterr().err


def test_help_shows_an_example_of_every_command(capsys) -> None:
    import argparse

    from airsage.cli import EXAMPLES, build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name in commands:
        assert f"airsage {name} " in EXAMPLES or f"airsage {name}\n" in EXAMPLES, name


def test_a_bad_argument_exits_non_zero_with_one_line(capsys) -> None:
    from airsage.cli import main

    assert main(["run", "reviews_daily", "--conf", "{not json"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("airsage: JSONDecodeError:") and "\n" not in err


def test_run_at_passes_the_hour_to_the_drift_monitor(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from airsage.airflow import runner
    from airsage.airflow.runner import RunSummary

    calls = []

    def fake_run(dag_id, *, logical_date=None, conf=None, partition=None):
        calls.append((dag_id, logical_date, conf))
        return RunSummary(dag_id, "manual__1", "success", {"monitor": "success"}, {})

    monkeypatch.setattr(runner, "run_dag", fake_run)
    assert main(["run", "reviews_drift_monitor", "--at", "2026-03-05T14:37"]) == 0
    assert calls[-1] == ("reviews_drift_monitor", None, {"at": "2026-03-05T14:37"})
    assert main(["run", "reviews_drift_monitor", "--from", "2026-03-05T08:00",
                 "--to", "2026-03-05T11:00"]) == 0
    assert calls[-1][2] == {"window_from": "2026-03-05T08:00", "window_to": "2026-03-05T11:00"}
    capsys.readouterr()
    assert main(["run", "reviews_drift_monitor", "--at", "noon"]) == 2
    assert "not a time" in capsys.readouterr().err
    assert main(["run", "reviews_daily", "--at", "2026-03-05T14:00"]) == 2
    assert "reviews_drift_monitor only" in capsys.readouterr().err
    assert len(calls) == 2


def test_predict_runs_batch_scoring_for_the_day_and_version(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from airsage.airflow import runner
    from airsage.airflow.runner import RunSummary

    calls = []

    def fake_run(dag_id, *, logical_date=None, conf=None, partition=None):
        calls.append((dag_id, conf))
        return RunSummary(dag_id, "manual__1", "success", {"score": "success"},
                          {"score": {"rows": 3, "model_version": "3"}})

    monkeypatch.setattr(runner, "run_dag", fake_run)
    assert main(["predict", "--date", "2026-03-05", "--version", "3"]) == 0
    assert calls == [("reviews_batch_scoring", {"partition_date": "2026-03-05", "model_version": "3"})]
    assert json.loads(capsys.readouterr().out)["scored"] == {"rows": 3, "model_version": "3"}
    assert main(["predict", "--date", "2026-03-05"]) == 0
    assert calls[-1][1] == {"partition_date": "2026-03-05", "model_version": None}
