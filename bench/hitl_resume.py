"""Resume a parked human-in-the-loop approval under the real Airflow components, many times.

The failure this measures: a user answers ``approve_model`` (REST ``PATCH …/hitlDetails``) and
the approval fails instead of resuming (CI saw the resumed try's heartbeat refused "TI is
already running elsewhere"; here the scheduler fails it on the parked execution's late executor
report, "state mismatch", and the resumed try is refused its start or its heartbeat).

Scheduler, dag-processor, triggerer and api-server (LocalExecutor, SQLite) start with the e2e
harness (``tests/e2e/airflow_services.py``) on a temporary dags folder holding one tiny DAG:
``register`` (the XCom ``approve_model`` renders) → airsage's own ``approve_model_task()`` →
``record_approval`` / ``record_rejection``. One lane per answer delay runs its runs one after
another, the lanes side by side (as the scheduler sees several runs in CI): trigger, wait until
``approve_model`` is ``awaiting_input``, wait the delay, answer Reject through the REST API,
wait for the run to finish. Each run records the approval's state, its tries, and why it
failed: the scheduler's "state mismatch" (the parked execution's stale executor report failed
the resumed task), a heartbeat answered ``running_elsewhere`` or ``not_running``, a start
refused (``invalid_state``); the api-server's and scheduler's lines for a failed run are kept.
With airsage's executor, a run whose parked execution's report it held back (the race happened
and did no harm) is counted as well.
A request the api-server answers 500 (SQLite was locked) is retried, as a person would.

Writes bench/results/hitl_resume.json under ``--label`` (``before`` with Airflow's
LocalExecutor, ``after`` with airsage's, side by side).

Usage: .venv/bin/python bench/hitl_resume.py [--runs 15] [--delays 0.5,5,15]
       [--executor LocalExecutor] [--label before]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import threading
import time
import urllib.error
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "e2e"), str(ROOT / "plugins")]

from airflow_services import LOCAL_EXECUTOR, AirflowServices, _q  # noqa: E402

from airsage.airflow import names  # noqa: E402

DAG_ID = "hitl_resume"
RESULTS = ROOT / "bench" / "results" / "hitl_resume.json"
DAG_FILE = f'''"""A registered version waits for a person: the smallest DAG around approve_model."""

import datetime as dt

from airflow.sdk import DAG, task

from airsage.airflow.approval import approve_model_task

with DAG("{DAG_ID}", schedule=None, start_date=dt.datetime(2024, 1, 1), catchup=False,
         max_active_runs=8, is_paused_upon_creation=False):

    @task(task_id="{names.REGISTER}")
    def register() -> dict:
        return {{"model_version": {{"name": "reviews-sentiment", "version": "1"}},
                "approval_markdown": "| check | result | measured | expected |"}}

    @task(task_id="{names.RECORD_APPROVAL}")
    def record_approval() -> str:
        return "Approved"

    @task(task_id="{names.RECORD_REJECTION}")
    def record_rejection() -> str:
        return "Rejected"

    approval = approve_model_task()
    register() >> approval >> [record_approval(), record_rejection()]
'''
KILLED = "running_elsewhere"
STALE_HELD = "Not reporting"  # ResumeSafeLocalExecutor's line for a parked execution's report
CAUSES = {  # what a failed approval's logs say, most specific first
    "state_mismatch": "reported that the task instance",
    "running_elsewhere": "running_elsewhere",
    "not_running": "'not_running'",
    "invalid_state": "Cannot start Task Instance in invalid state",
}


def _api(services: AirflowServices, method: str, path: str, body: Any = None) -> Any:
    """The REST API, retrying the 500 that a locked SQLite database gives."""
    for attempt in range(5):
        try:
            return services.api(method, path, body)
        except urllib.error.HTTPError as error:
            if error.code != 500 or attempt == 4:
                raise
            time.sleep(1 + attempt)
    return None


def _approval(services: AirflowServices, run_id: str) -> dict[str, Any] | None:
    try:
        return _api(services, "GET",
                    f"/api/v2/dags/{DAG_ID}/dagRuns/{_q(run_id)}/taskInstances/{names.APPROVE_MODEL}")
    except urllib.error.HTTPError:
        return None


def _poll(predicate: Any, timeout: float, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return None


def one_run(services: AirflowServices, delay: float, answer: str) -> dict[str, Any]:
    """Trigger, wait for the park, answer after ``delay`` seconds, wait for the end."""
    run = _api(services, "POST", f"/api/v2/dags/{DAG_ID}/dagRuns",
                       {"logical_date": dt.datetime.now(dt.UTC).isoformat(), "conf": {}})
    run_id = run["dag_run_id"]
    parked = _poll(lambda: (ti := _approval(services, run_id)) and ti["state"] == "awaiting_input"
                   and ti, timeout=300)
    if not parked:
        return {"run_id": run_id, "error": "approve_model never parked",
                "state": (_approval(services, run_id) or {}).get("state")}
    parked_at = time.monotonic()
    time.sleep(delay)
    _api(services, "PATCH", f"/api/v2/dags/{DAG_ID}/dagRuns/{_q(run_id)}/taskInstances/"
                 f"{names.APPROVE_MODEL}/-1/hitlDetails", {"chosen_options": [answer], "params_input": {}})
    answered_after = time.monotonic() - parked_at
    done = _poll(lambda: (r := _api(services, "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{_q(run_id)}"))
                 ["state"] in ("success", "failed") and r, timeout=300, every=0.5)
    ti = _approval(services, run_id) or {}
    log_dir = (services.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" /
               f"task_id={names.APPROVE_MODEL}")
    told = "\n".join(p.read_text(errors="replace") for p in sorted(log_dir.glob("attempt=*.log")))
    ti_id = str(ti.get("id") or "")
    about = "\n".join(line for component in ("scheduler", "api-server")
                      for line in _lines(services, component) if ti_id and ti_id in line) + told
    failed = ti.get("state") != "success"
    return {
        "run_id": run_id, "ti_id": ti.get("id"), "answer": answer,
        "answered_after_s": round(answered_after, 2),
        "run_state": (done or {}).get("state", "timeout"), "approval_state": ti.get("state"),
        "try_number": ti.get("try_number"), "killed_running_elsewhere": KILLED in told,
        "failure_causes": [cause for cause, mark in CAUSES.items() if failed and mark in about],
        # airsage's executor held back the parked execution's report: the race happened
        "parked_report_held_back": any(STALE_HELD in line and run_id in line
                                       for line in _lines(services, "scheduler")),
        "attempt_logs": sorted(p.name for p in log_dir.glob("attempt=*.log")),
    }


def _lines(services: AirflowServices, component: str) -> list[str]:
    path = services.root / f"{component}.log"
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def lane(services: AirflowServices, delay: float, runs: int, out: list[dict[str, Any]]) -> None:
    for index in range(runs):
        try:
            result = one_run(services, delay, "Reject" if index % 2 == 0 else "Approve")
        except Exception as exc:  # a failed request is a result too; the lane goes on
            result = {"error": f"{type(exc).__name__}: {exc}"}
        result["delay_s"] = delay
        out.append(result)
        print(json.dumps(result), flush=True)


def evidence(services: AirflowServices, ti_ids: set[str]) -> dict[str, list[str]]:
    """The api-server's and scheduler's lines about the failed runs' approval task instances
    (their state changes, starts, heartbeats refused, executor reports)."""
    found: dict[str, list[str]] = {}
    for component in ("api-server", "scheduler"):
        for line in _lines(services, component):
            if any(ti_id in line for ti_id in ti_ids) and "rtif" not in line and "xcoms" not in line:
                found.setdefault(component, []).append(line[:700])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per delay")
    parser.add_argument("--delays", default="0.5,5,15", help="seconds between the park and the answer")
    parser.add_argument("--executor", default=LOCAL_EXECUTOR,
                        help="Airflow's core.executor (LocalExecutor: Airflow's own, for 'before')")
    parser.add_argument("--label", default="after", help="the key of this measurement in the results")
    parser.add_argument("--keep", action="store_true", help="keep the Airflow home and logs")
    args = parser.parse_args()
    delays = [float(d) for d in args.delays.split(",")]
    if args.runs < 1 or not delays or min(delays) < 0:
        parser.error(f"--runs must be ≥ 1 and --delays non-negative, got {args.runs} and {args.delays}")

    root = Path(tempfile.mkdtemp(prefix="hitl-resume-"))
    dags = root / "dags"
    dags.mkdir()
    (dags / f"{DAG_ID}.py").write_text(DAG_FILE)
    services = AirflowServices(root, {"AIRSAGE_HOME": str(root / "airsage")},
                               executor=args.executor,
                               airflow_env={"AIRFLOW__CORE__DAGS_FOLDER": str(dags)})
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    try:
        services.start(ready_dag=DAG_ID)
        threads = [threading.Thread(target=lane, args=(services, d, args.runs, results)) for d in delays]
        for thread in threads:
            thread.start()
            time.sleep(2)  # the lanes' runs do not park in lock-step
        for thread in threads:
            thread.join()
        failed = {r["ti_id"] for r in results if r.get("approval_state") != "success" and r.get("ti_id")}
        lines = evidence(services, failed)
    finally:
        services.stop()
    per_delay = {}
    for delay in delays:
        mine = [r for r in results if r["delay_s"] == delay]
        per_delay[str(delay)] = {
            "runs": len(mine),
            "killed_running_elsewhere": sum(bool(r.get("killed_running_elsewhere")) for r in mine),
            "approval_failed": sum("error" not in r and r.get("approval_state") != "success" for r in mine),
            "failure_causes": dict(Counter(c for r in mine for c in r.get("failure_causes", []))),
            "parked_report_held_back": sum(bool(r.get("parked_report_held_back")) for r in mine),
            "errors": sum("error" in r for r in mine),
        }
    measurement = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "executor": args.executor,
        "airflow_home": str(root) if args.keep else None,
        "seconds": round(time.monotonic() - started),
        "per_delay": per_delay, "runs": results, "evidence": lines,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_end": list(os.getloadavg())},
    }
    document = json.loads(RESULTS.read_text()) if RESULTS.exists() else {
        "benchmark": "hitl_resume",
        "method": __doc__.split("\n\n")[1].replace("\n", " "),
    }
    document[args.label] = measurement
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(per_delay, indent=2))
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
