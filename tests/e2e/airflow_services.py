"""Airflow as users run it: scheduler, dag-processor, triggerer and api-server, started on
127.0.0.1 with an Airflow home of their own, driven through the REST API and the CLI, and
stopped by PID (each in its own process group, so its workers go too).

The executor is airsage's LocalExecutor (SQLite; ``LOCAL_EXECUTOR``: Airflow's, without the
stale report that fails a task resumed from ``awaiting_input``), or the CeleryExecutor with
Celery workers of their own names (``celery_workers``) on a broker and a database the caller
started: each worker reports its name as the task instances' hostname
(``worker_identity.hostname``)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCAL_EXECUTOR = "airsage.airflow.local_executor.ResumeSafeLocalExecutor"
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
TERMINAL = {"success", "failed"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AirflowServices:
    """The four Airflow 3 components on loopback, with airsage's DAGs and settings."""

    def __init__(self, root: Path, airsage_env: Mapping[str, str], *,
                 executor: str = LOCAL_EXECUTOR, celery_workers: Sequence[str] = (),
                 airflow_env: Mapping[str, str] | None = None,
                 worker_env: Mapping[str, Mapping[str, str]] | None = None) -> None:
        """``worker_env`` adds variables to one Celery worker's environment by its name (an
        airsage home of its own: a worker that stands for another host)."""
        if executor == "CeleryExecutor" and not celery_workers:
            raise ValueError("the CeleryExecutor runs nothing without celery_workers")
        if celery_workers and executor != "CeleryExecutor":
            raise ValueError(f"celery_workers need the CeleryExecutor, not {executor}")
        self.root = root
        self.components = (*COMPONENTS, *(f"worker-{name}" for name in celery_workers))
        self.celery_workers = tuple(celery_workers)
        unknown = sorted(set(worker_env or {}) - set(celery_workers))
        if unknown:
            raise ValueError(f"worker_env names {unknown}, not workers {list(celery_workers)}")
        self.worker_env = {name: dict(env) for name, env in (worker_env or {}).items()}
        self.home = root / "airflow"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AIRSAGE"))},
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            # On a port other than 8080 the workers find the Execution API only through these.
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": "airsage-test-secret",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "plugins"), str(Path(__file__).parent)]),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_identity.hostname",
            **(airflow_env or {}),
            **airsage_env,
        }
        self._token: str | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, timeout: float = 180.0, ready_dag: str = "reviews_daily") -> AirflowServices:
        """Start every component; ready once the REST API lists ``ready_dag`` (a DAG of the
        dags folder, which ``airflow_env`` may point elsewhere)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.cli("db", "migrate", timeout=300)
        for component in COMPONENTS:
            args = [component, "--port", str(self.port)] if component == "api-server" else [component]
            self._spawn(component, args, self.env)
        for name in self.celery_workers:
            # Each worker: its own node name, task-instance hostname and log-server port.
            env = {**self.env, **self.worker_env.get(name, {}), "AIRSAGE_WORKER_HOSTNAME": name,
                   "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
            self._spawn(f"worker-{name}", ["celery", "worker", "--celery-hostname", f"{name}@%h",
                                           "--concurrency", "1"], env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if self.api("GET", f"/api/v2/dags/{ready_dag}").get("dag_id"):
                    return self
            except (OSError, urllib.error.HTTPError):
                pass
            time.sleep(2)
        raise TimeoutError(f"Airflow did not list {ready_dag} within {timeout} s:\n{self.logs_tail()}")

    def _spawn(self, component: str, args: list[str], env: Mapping[str, str]) -> None:
        log = (self.root / f"{component}.log").open("wb")
        self.processes[component] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args], env=dict(env), stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> None:
        """SIGTERM every component and every process it started (uvicorn's workers and the
        executor's task processes may leave the group), then SIGKILL what is left."""
        import psutil

        family: list[psutil.Process] = []
        for process in self.processes.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                parent = psutil.Process(process.pid)
                family += [parent, *parent.children(recursive=True)]
        for member in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.terminate()
        _, alive = psutil.wait_procs(family, timeout=30)
        for member in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        psutil.wait_procs(alive, timeout=10)
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"airflow {name} exited with {process.returncode}:\n{self.logs_tail()}")

    def logs_tail(self, lines: int = 25) -> str:
        parts = []
        for component in self.components:
            path = self.root / f"{component}.log"
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {component}\n" + "\n".join(tail))
        return "\n".join(parts)

    # -- the CLI and the REST API -----------------------------------------------------------
    def cli(self, *args: str, timeout: float = 120, attempts: int = 5) -> str:
        """Run an ``airflow`` command; SQLite's "database is locked" (the scheduler was
        writing) is retried, as a user would."""
        for attempt in range(attempts):
            done = subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env,
                                  capture_output=True, text=True, timeout=timeout, check=False)
            if done.returncode == 0 or "database is locked" not in done.stderr:
                break
            time.sleep(2 + 2 * attempt)
        if done.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def token(self) -> str:
        if self._token is None:  # SimpleAuthManager with all admins hands out a token
            with urllib.request.urlopen(f"{self.url}/auth/token", timeout=30) as answer:
                self._token = json.loads(answer.read())["access_token"]
        return self._token

    def api(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            payload = answer.read()
        return json.loads(payload) if payload else None

    def runs(self, dag_id: str = "reviews_daily") -> list[dict[str, Any]]:
        return list(self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"])

    def task_hosts(self, run_id: str, dag_id: str = "reviews_daily") -> dict[str, str]:
        """The hostname each task instance ran on, as the REST API reports it."""
        found = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances?limit=100")
        return {ti["task_id"]: str(ti["hostname"] or "") for ti in found["task_instances"]
                if ti["state"] == "success"}

    def task_states(self, run_id: str, dag_id: str = "reviews_daily") -> dict[str, str]:
        found = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances?limit=100")
        return {ti["task_id"]: str(ti["state"]) for ti in found["task_instances"]}

    def wait_for(self, predicate: Any, what: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            value = predicate()
            if value:
                return value
            time.sleep(3)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs_tail()}")

    def wait_for_run(self, run_id: str, timeout: float = 900,
                     dag_id: str = "reviews_daily") -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            run = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}")
            return run if run["state"] in TERMINAL else None

        return self.wait_for(finished, f"run {run_id}", timeout)

    def task_log(self, run_id: str, task_id: str, try_number: int = 1,
                 dag_id: str = "reviews_daily") -> list[dict[str, Any]]:
        """The task's log as Airflow wrote it (JSON lines: level, logger, event)."""
        path = (self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" /
                f"task_id={task_id}" / f"attempt={try_number}.log")
        records = []
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                records.append({"level": "raw", "event": line})
        return records


    def explain(self, run_id: str, dag_id: str = "reviews_daily", lines: int = 30) -> str:
        """Every task's state and, for each task that did not succeed or skip, the end of each
        attempt's log: what a failing assertion on a run prints (CI shows nothing else)."""
        states = self.task_states(run_id, dag_id)
        told = [json.dumps(states, sort_keys=True)]
        for task_id, state in sorted(states.items()):
            if state in ("success", "skipped"):
                continue
            folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
            for attempt in sorted(folder.glob("attempt=*.log")):
                tail = attempt.read_text(errors="replace").splitlines()[-lines:]
                told.append(f"--- {task_id} ({state}) {attempt.name}:\n" + "\n".join(tail))
        told.append("--- components:\n" + self.logs_tail())
        return "\n".join(told)

def _q(run_id: str) -> str:
    from urllib.parse import quote

    return quote(run_id, safe="")
