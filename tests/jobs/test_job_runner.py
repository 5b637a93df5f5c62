"""The one local job runner: staging, the config file, exit codes, outputs only on success."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from airsage.errors import ConfigurationError, InputDataError, StepFailed
from airsage.jobs import contract
from airsage.jobs.request import JobRequest

OUT = "reports/probe/dt=2024-05-01/"


def _script(tmp_path: Path, body: str, name: str = "probe.py") -> str:
    """A job script under the contract: ``body`` is main()'s body."""
    path = tmp_path / name
    path.write_text(
        "import json, sys, time\n"
        "from airsage.errors import InputDataError\n"
        "from airsage.jobs import contract\n\n"
        "def main():\n" + textwrap.indent(textwrap.dedent(body), "    ") + "\n\n"
        "sys.exit(contract.run_job(main, kind='processing'))\n")
    return str(path)


def _request(script: str, **changes: object) -> JobRequest:
    fields: dict[str, object] = {
        "kind": "processing", "job_name": "reviews-20240501-probe", "script": script,
        "inputs": {"data": "curated/reviews/dt=2024-05-01/reviews.csv"},
        "outputs": {"result": OUT}, "config": {"threshold": 0.25, "names": ["a", "b"]},
        "timeout_seconds": 60,
    }
    fields.update(changes)
    return JobRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture
def staged(lake):
    lake.write_bytes("curated/reviews/dt=2024-05-01/reviews.csv", b"id,text\n1,hello\n")
    lake.write_bytes("features/reviews/dt=2024-05-01/train/part-0.parquet", b"P0")
    lake.write_bytes("features/reviews/dt=2024-05-01/train/nested/part-1.parquet", b"P1")
    lake.write_bytes("capture/e/v/2024/05/01/10/a.jsonl", b"A")
    lake.write_bytes("capture/e/v/2024/05/01/11/a.jsonl", b"B")
    return lake


ECHO = """
root = contract.job_root()
seen = sorted(str(p.relative_to(root)) for p in (root / "processing" / "input").rglob("*")
              if p.is_file())
out = contract.processing_output("result")
(out / "deep").mkdir(parents=True)
(out / "echo.json").write_text(json.dumps({"config": contract.read_config(), "seen": seen}))
(out / "deep" / "data.csv").write_text(
    (contract.processing_input("data") / "reviews.csv").read_text())
print("score=0.5 score=0.75")
"""


def test_inputs_are_staged_config_is_one_file_and_outputs_reach_their_keys(
    job_runner, staged, tmp_path
):
    request = _request(_script(tmp_path, ECHO), inputs={
        "data": "curated/reviews/dt=2024-05-01/reviews.csv",          # one key
        "train": "features/reviews/dt=2024-05-01/train/",             # a prefix
        "endpoint": ("capture/e/v/2024/05/01/10/a.jsonl",              # a manifest
                     "capture/e/v/2024/05/01/11/a.jsonl"),
        "empty": (),
    }, metric_definitions=({"Name": "score", "Regex": r"score=([0-9.]+)"},))
    outcome = job_runner.run(staged, request)

    assert outcome.status == "Completed" and outcome.exit_code == 0
    assert outcome.output_keys == (OUT + "deep/data.csv", OUT + "echo.json")
    echo = json.loads(staged.read_bytes(OUT + "echo.json"))
    assert echo["config"] == {"threshold": 0.25, "names": ["a", "b"]}
    assert echo["seen"] == [
        "processing/input/config/config.json",
        "processing/input/data/reviews.csv",
        "processing/input/endpoint/capture__e__v__2024__05__01__10__a.jsonl",
        "processing/input/endpoint/capture__e__v__2024__05__01__11__a.jsonl",
        "processing/input/train/nested/part-1.parquet",
        "processing/input/train/part-0.parquet",
    ]
    assert staged.read_bytes(OUT + "deep/data.csv") == b"id,text\n1,hello\n"
    assert outcome.metric_history == {"score": (0.5, 0.75)}
    log = Path(outcome.log_path)
    assert log.read_text().strip() == "score=0.5 score=0.75"
    assert not (log.parent / "opt_ml").exists()  # staged copies are dropped


def test_exit_code_2_is_bad_input_naming_the_scripts_last_stderr_line(job_runner, staged, tmp_path):
    script = _script(tmp_path, """
        print("reading the batch", file=sys.stderr)
        raise InputDataError("the batch has no 'sentiment' column")
    """)
    with pytest.raises(InputDataError) as caught:
        job_runner.run(staged, _request(script))
    message = str(caught.value)
    assert "refused its input: InputDataError: the batch has no 'sentiment' column" in message
    assert "reviews-20240501-probe" in message
    assert not caught.value.retryable
    outcome = job_runner.attempt(staged, _request(script))
    assert outcome.status == "Failed" and outcome.exit_code == contract.EXIT_BAD_INPUT
    # the failure file (the job's ExitMessage) holds the reason and the traceback
    kept = (job_runner.jobs_dir / "reviews-20240501-probe" / "failure").read_text()
    assert kept.startswith("InputDataError: the batch has no 'sentiment' column")
    assert "Traceback" in kept


def test_a_failed_job_uploads_nothing_and_leaves_no_stale_output(job_runner, staged, tmp_path):
    staged.write_bytes(OUT + "stale.json", b"{}")  # an earlier run's output
    script = _script(tmp_path, """
        (contract.processing_output("result") / "half.json").write_text("{}")
        print("about to fail: last words")
        raise RuntimeError("engine exploded")
    """)
    with pytest.raises(StepFailed) as caught:
        job_runner.run(staged, _request(script))
    message = str(caught.value)
    assert "exited with code 1" in message and "engine exploded" in message
    assert "about to fail: last words" in message  # the log's tail
    assert caught.value.retryable
    assert list(staged.list(OUT)) == []


def test_a_job_past_its_time_limit_is_stopped(job_runner, staged, tmp_path):
    script = _script(tmp_path, """
        print("sleeping", flush=True)
        (contract.processing_output("result") / "partial.json").write_text("{}")
        time.sleep(60)
    """)
    outcome = job_runner.attempt(staged, _request(script, timeout_seconds=1))
    assert outcome.status == "Stopped" and outcome.exit_code is None
    assert "1 s time limit" in outcome.failure_reason
    assert outcome.duration_seconds < 30
    assert list(staged.list(OUT)) == []
    with pytest.raises(StepFailed, match="time limit"):
        job_runner.run(staged, _request(script, timeout_seconds=1))


def test_on_metric_can_stop_a_job_early(job_runner, staged, tmp_path):
    script = _script(tmp_path, """
        for epoch in range(1, 50):
            print(f"epoch={epoch} loss={1 / epoch:.3f}", flush=True)
            time.sleep(0.1)
    """)
    seen: list[tuple[float, int]] = []

    def on_metric(name: str, value: float, index: int) -> bool:
        seen.append((value, index))
        return index == 2

    request = _request(script, metric_definitions=({"Name": "loss", "Regex": r"loss=([0-9.]+)"},))
    outcome = job_runner.attempt(staged, request, on_metric=on_metric)
    assert outcome.status == "Stopped"
    assert "stopped early after loss=0.333 (report 3)" in outcome.failure_reason
    assert seen[:3] == [(1.0, 0), (0.5, 1), (0.333, 2)]
    assert len(outcome.metric_history["loss"]) < 10


def test_a_missing_input_is_refused_before_anything_runs(job_runner, lake, tmp_path):
    script = _script(tmp_path, ECHO)
    with pytest.raises(InputDataError, match=r"reviews\.csv.*does not exist"):
        job_runner.run(lake, _request(script))
    with pytest.raises(InputDataError, match="no objects under lake prefix 'features/none/'"):
        job_runner.run(lake, _request(script, inputs={"train": "features/none/"}))
    assert not (job_runner.jobs_dir / "reviews-20240501-probe" / "job.log").exists()


def test_an_unknown_script_lists_the_shipped_ones(job_runner, staged):
    with pytest.raises(ConfigurationError, match=r"'nope.py' does not exist.*'bias.py'"):
        job_runner.run(staged, _request("nope.py"))


def test_the_contract_defaults_to_sagemakers_paths() -> None:
    assert contract.job_root({}) == Path("/opt/ml")
    assert contract.processing_input("data", {}) == Path("/opt/ml/processing/input/data")
    assert contract.processing_output("report", {}) == Path("/opt/ml/processing/output/report")
    assert contract.config_path({}) == Path("/opt/ml/processing/input/config/config.json")
    assert contract.training_channel("train", {}) == Path("/opt/ml/input/data/train")
    assert contract.failure_path("processing", {}) == Path("/opt/ml/output/message")
    assert contract.failure_path("training", {}) == Path("/opt/ml/output/failure")
    moved = {contract.ROOT_VARIABLE: "/tmp/job"}
    assert contract.processing_input("data", moved) == Path("/tmp/job/processing/input/data")


def test_every_shipped_script_reads_the_one_root_variable() -> None:
    """No script keeps a root variable of its own (the four old runners each had one)."""
    jobs = Path(contract.__file__).resolve().parents[3] / "include" / "jobs"
    for name in ("baseline.py", "bias.py", "evaluate.py", "monitor.py", "train.py"):
        text = (jobs / name).read_text()
        assert "contract.run_job(" in text, name
        for old in ("AIRSAGE_PROCESSING_ROOT", "AIRSAGE_OPT_ML", "airsage_monitoring_config"):
            assert old not in text, (name, old)
