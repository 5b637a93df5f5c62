"""reviews_daily's data plane end to end: a good batch passes; every kind of bad input stops
at the right task with the right message, raises an alert, quarantines, and leaves raw/ as
it was; a backfill run twice gives identical outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_harness import DATA_PLANE, Pipeline

pytestmark = pytest.mark.e2e

DAY = "2026-02-10"

# defect kind -> (task that must stop it, words its message must contain)
BAD_INPUTS = {
    "empty_file": ("crawl", ["empty"]),
    "header_only": ("validate_sql", ["partition_not_empty"]),
    "missing_column": ("crawl", ["missing", "age"]),
    "extra_column": ("crawl", ["new"]),
    "retyped_column": ("crawl", ["rating"]),
    "null_text": ("quality_gate", ["review_text"]),
    "null_rating": ("quality_gate", ["rating"]),
    "rating_out_of_range": ("validate_sql", ["rating"]),
    "duplicate_ids": ("quality_gate", ["review_id"]),
    "unbalanced_quotes": ("crawl", ["line"]),
    "wrong_field_count": ("crawl", ["line"]),
    "non_utf8": ("crawl", ["utf"]),
}


def _generated(tmp_path: Path, day: str, *, defect: str | None = None, rows: int = 1500) -> Path:
    from airsage.data.generator import GeneratorConfig, generate_batch, write_batch, write_defective_batch

    config = GeneratorConfig(rows=rows, seed=11, day=day, defect=defect)
    path = tmp_path / f"batch-{day}-{defect or 'good'}.csv"
    if defect:
        return write_defective_batch(defect, path, config)
    write_batch(generate_batch(config), path, "csv")
    return path


def test_a_good_batch_passes_the_data_plane(pipeline: Pipeline) -> None:
    summary = pipeline.run(DAY, until=["quality_gate"])
    assert summary.state == "success", summary.task_states
    assert all(summary.task_states[t] == "success" for t in DATA_PLANE)
    report = summary.xcoms["quality_gate"]
    assert report["Outcome"] == "PASS"
    assert pipeline.lake.exists(f"raw/reviews/dt={DAY}/_manifest.json")
    assert pipeline.lake.exists(f"reports/quality/reviews/dt={DAY}/results.json")
    assert not pipeline.lake.exists(f"quarantine/reviews/dt={DAY}/_QUARANTINED.json")
    assert pipeline.alerts() == []


@pytest.mark.parametrize("defect", sorted(BAD_INPUTS))
def test_each_bad_input_stops_at_its_gate(pipeline: Pipeline, tmp_path: Path, defect: str) -> None:
    failing_task, words = BAD_INPUTS[defect]
    pipeline.land(_generated(tmp_path, DAY, defect=defect), DAY)
    raw_before = pipeline.snapshot("raw/")

    summary = pipeline.run(DAY, until=["quality_gate"])

    assert summary.state == "failed"
    assert summary.task_states[failing_task] == "failed", summary.task_states
    upstream = DATA_PLANE[: DATA_PLANE.index(failing_task)]
    assert all(summary.task_states[t] == "success" for t in upstream), summary.task_states
    for later in DATA_PLANE[DATA_PLANE.index(failing_task) + 1 :]:
        assert summary.task_states[later] == "upstream_failed"
    alerts = [a for a in pipeline.alerts() if a.task_id == failing_task]
    assert len(alerts) == 1, pipeline.alerts()
    message = alerts[0].message.lower()
    for word in words:
        assert word.lower() in message, (word, alerts[0].message)
    assert pipeline.snapshot("raw/") == raw_before
    marker = json.loads(pipeline.lake.read_bytes(f"quarantine/reviews/dt={DAY}/_QUARANTINED.json"))
    assert marker["step"] == failing_task


def test_a_batch_ten_times_smaller_than_its_history_fails_the_anomaly_rule(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    for day in ("2026-02-06", "2026-02-07", "2026-02-08", "2026-02-09"):
        assert pipeline.run(day, until=["quality_gate"]).state == "success"
    pipeline.land(_generated(tmp_path, DAY, defect="tiny_batch"), DAY)
    raw_before = pipeline.snapshot("raw/")
    summary = pipeline.run(DAY, until=["quality_gate"])
    assert summary.task_states["quality_gate"] == "failed", summary.task_states
    message = next(a for a in pipeline.alerts() if a.task_id == "quality_gate").message
    assert "RowCount" in message and "Anomaly" in message
    assert pipeline.snapshot("raw/") == raw_before


def test_a_12_row_batch_on_the_first_day_stops_at_quality_gate_for_its_size(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """No history yet: the size floor, not the bias gate, refuses it, and says so."""
    pipeline.land(_generated(tmp_path, DAY, rows=12), DAY)
    summary = pipeline.run(DAY, until=["quality_gate", "curate", "bias_gate"])
    assert summary.task_states["quality_gate"] == "failed", summary.task_states
    assert summary.task_states["bias_gate"] == "upstream_failed"
    message = next(a for a in pipeline.alerts() if a.task_id == "quality_gate").message
    assert "Size floor RowCount" in message and "12 row(s)" in message
    marker = json.loads(pipeline.lake.read_bytes(f"quarantine/reviews/dt={DAY}/_QUARANTINED.json"))
    assert marker["step"] == "quality_gate"


def test_the_real_public_sample_passes_every_data_gate(pipeline: Pipeline, shared_sample: Path) -> None:
    pipeline.land(shared_sample, DAY)
    summary = pipeline.run(DAY, until=["quality_gate"])
    assert summary.state == "success", (summary.task_states, [a.message for a in pipeline.alerts()])
    assert summary.xcoms["crawl"]["rows"] == 1000 if "rows" in summary.xcoms["crawl"] else True


def _outputs(pipeline: Pipeline) -> dict[str, object]:
    """Everything a run writes that must not depend on when it ran."""
    volatile = {"landed_at", "created_at", "evaluated_at", "run_at", "quarantined_at",
                "generated_at", "started_at", "finished_at", "duration_seconds", "updated_at",
                "EvaluatedAt"}

    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in volatile}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    outputs: dict[str, object] = {}
    for prefix in ("raw/", "curated/", "features/", "reports/quality/", "reports/sql/",
                   "reports/quality-metrics/", "reports/bias/"):
        for key in pipeline.lake.list(prefix):
            data = pipeline.lake.read_bytes(key)
            outputs[key] = strip(json.loads(data)) if key.endswith(".json") else data
    import duckdb

    with duckdb.connect(str(pipeline.home / "catalog.duckdb"), read_only=True) as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                             "WHERE table_type = 'BASE TABLE' ORDER BY 1, 2").fetchall()
        for schema, table in tables:
            columns = [r[0] for r in con.execute(f'DESCRIBE "{schema}"."{table}"').fetchall()
                       if r[0] not in volatile and not r[1].startswith("TIMESTAMP")]
            select = ", ".join(f'"{c}"' for c in columns)
            outputs[f"catalog:{schema}.{table}"] = sorted(
                map(repr, con.execute(f'SELECT {select} FROM "{schema}"."{table}"').fetchall()))
    return outputs


def test_a_three_day_backfill_run_twice_gives_identical_outputs(pipeline: Pipeline) -> None:
    days = ["2026-03-01", "2026-03-02", "2026-03-03"]
    until = ["prepare"]
    for day in days:
        assert pipeline.run(day, until=until).state == "success"
    first = _outputs(pipeline)
    for day in days:
        assert pipeline.run(day, until=until).state == "success"
    second = _outputs(pipeline)
    assert sorted(first) == sorted(second)
    for key in first:
        assert first[key] == second[key], key
    partitions = [k for k in first if k.startswith("catalog:")]
    assert partitions, "the catalog records partitions"
