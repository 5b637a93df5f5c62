"""reviews_daily on Airflow's CeleryExecutor with two workers, its shared state in services.

Real services in this test, each on 127.0.0.1, started here and stopped by PID:
- PostgreSQL (Debian's package): Airflow's metadata database and Celery's result backend,
  MLflow's backend store (database ``mlflow``), Optuna's RDB storage (database ``optuna``);
- Redis (Debian's package): the Celery broker;
- an S3-compatible store (moto's server, MinIO's role in compose): the lake
  (``s3://airsage-lake/lake``, ``lake.endpoint_url``), read in place by every task;
- the MLflow tracking server (``mlflow server``): tracking and the model registry, its
  artifacts in the lake's bucket (``s3://airsage-lake/mlflow``);
- the airsage model server as a service (``python -m airsage.serving.server``), addressed by
  ``serving.url`` with the admin token, as docker-compose's ``model-server``;
- Airflow's scheduler, dag-processor, triggerer, api-server and two Celery workers with
  different hostnames.
The alert log, the catalog (``catalog/airsage.duckdb``) and the locks (crawls, deploys) are in
the lake too, and each worker has an airsage home of its own: the two workers stand for two
hosts that share no disk.

One run, triggered through the REST API with tuning on, must succeed with its task instances
spread over both workers (hostname per task instance from the REST API), its model and
trials in the shared stores and its model serving at the service's URL. Then the drift
monitor, on whichever worker takes it, finds that endpoint by ``serving.url`` and reads the
traffic it captured into the lake (with one worker's files this is where it used to skip).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_services import AirflowServices
from shared_services import MlflowServer, Postgres, Redis, S3Server, free_port, postgres_bin

pytestmark = [pytest.mark.slow]

DAY = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3)).isoformat()
PROJECT_ROOT = Path(__file__).resolve().parents[2]
WORKERS = ("worker-a", "worker-b")
TOKEN = "integration-admin-token"
BUCKET = "airsage-lake"


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import shutil

    if postgres_bin() is None or shutil.which("redis-server") is None:
        pytest.skip("PostgreSQL and Redis are not installed (scripts/setup.sh installs them as root)")
    from airsage.config import load_settings
    from airsage.data.generator import GeneratorConfig, generate_batch, write_batch
    from airsage.ingest import land_file

    root = tmp_path_factory.mktemp("celery-team")
    started: list[Any] = []
    saved = {name: os.environ.get(name) for name in S3Server.credentials}
    os.environ.update(S3Server.credentials)  # this process lands the batch in the lake too
    try:
        postgres = Postgres().start(("airflow", "mlflow", "optuna"))
        started.append(postgres)
        redis = Redis(root).start()
        started.append(redis)
        s3 = S3Server(root).start((BUCKET,))
        started.append(s3)
        mlflow = MlflowServer(root, postgres.url("mlflow"), f"s3://{BUCKET}/mlflow",
                              env={**S3Server.credentials, "MLFLOW_S3_ENDPOINT_URL": s3.url}).start()
        started.append(mlflow)
        endpoint_port = free_port()
        airsage_env = {
            "AIRSAGE_HOME": str(root / "airsage"),
            "AIRSAGE_LAKE_ROOT": f"s3://{BUCKET}/lake",
            "AIRSAGE__LAKE__ENDPOINT_URL": s3.url,
            **S3Server.credentials,
            "AIRSAGE__INGEST__SOURCE": "inbox",
            "AIRSAGE__REGISTRY__TRACKING_URI": mlflow.url,
            "AIRSAGE__TUNING__STORAGE": postgres.url("optuna"),
            "AIRSAGE__SERVING__URL": f"http://127.0.0.1:{endpoint_port}",
            "AIRSAGE__SERVING__ADMIN_TOKEN": TOKEN,
            "AIRSAGE__SERVING__BAKE_SECONDS": "1",
            "AIRSAGE__EVALUATION__CHAMPION_TOLERANCE": "1.0",
            "AIRSAGE__EVALUATION__ACCURACY_THRESHOLD": "0.0",
            "HF_HUB_OFFLINE": "1",
        }
        settings = load_settings(environ=airsage_env)
        from airsage.targets import implementation

        lake = implementation("lake", settings)
        batch = write_batch(generate_batch(GeneratorConfig(rows=1500, seed=7, day=DAY)),
                            root / f"reviews_{DAY}.csv", "csv")
        land_file(lake, settings.dataset("reviews"), batch, DAY)
        server = _start_model_server(root, airsage_env, endpoint_port)
        started.append(server)
        homes = {name: {"AIRSAGE_HOME": str(root / f"airsage-{name}")} for name in WORKERS}
        services = AirflowServices(root, airsage_env, executor="CeleryExecutor", celery_workers=WORKERS,
                                   worker_env=homes,
                                   airflow_env={
                                       "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url("airflow"),
                                       "AIRFLOW__CELERY__BROKER_URL": redis.url,
                                       "AIRFLOW__CELERY__RESULT_BACKEND": postgres.url(
                                           "airflow", driver="db+postgresql+psycopg2"),
                                       "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
                                   })
        started.append(services)
        services.start(timeout=300)
        yield {"services": services, "settings": settings, "postgres": postgres, "mlflow": mlflow, "s3": s3,
               "endpoint": f"http://127.0.0.1:{endpoint_port}", "root": root}
    finally:
        for service in reversed(started):
            service.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Process:
    """A process this test started, stopped by its PID."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _start_model_server(root: Path, airsage_env: dict[str, str], port: int) -> _Process:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AIRSAGE")}, **airsage_env,
           "PYTHONPATH": str(PROJECT_ROOT / "plugins")}  # this checkout's airsage, not an installed one
    log = (root / "model-server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "airsage.serving.server", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the model server exited with {process.returncode}: "
                               f"{(root / 'model-server.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/endpoint", timeout=2):
                return _Process(process)
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise TimeoutError("the model server did not answer within 120 s")


def test_a_daily_run_succeeds_with_its_tasks_on_both_workers(team: dict[str, Any]) -> None:
    services: AirflowServices = team["services"]
    services.api("PATCH", "/api/v2/dags/reviews_daily", {"is_paused": False})
    run = services.api("POST", "/api/v2/dags/reviews_daily/dagRuns", {
        "logical_date": dt.datetime.now(dt.UTC).isoformat(),
        "conf": {"partition_date": DAY, "model_family": "tfidf_linear", "tuning": True, "max_jobs": 2},
    })
    done = services.wait_for_run(run["dag_run_id"], timeout=1800)
    states = services.task_states(run["dag_run_id"])
    assert done["state"] == "success", (services.explain(run["dag_run_id"]), services.logs_tail())
    assert states["deploy"] == "success", states

    hosts = services.task_hosts(run["dag_run_id"])
    assert set(hosts.values()) == set(WORKERS), hosts  # every worker ran some, nothing else did

    # the alert log: in the lake, where the worker that failed yesterday's ingest wrote it
    from airsage.alerts.sinks import LakeAlertSink, log_sink

    scheduled = services.wait_for(
        lambda: [r for r in services.runs() if r["run_type"] == "scheduled"], "the scheduled run", 120)[0]
    assert services.wait_for_run(scheduled["dag_run_id"], timeout=600)["state"] == "failed"
    sink = log_sink(team["settings"])
    assert isinstance(sink, LakeAlertSink)
    services.wait_for(lambda: [a for a in sink.read() if a.run_id == scheduled["dag_run_id"]
                               and a.task_id == "ingest"], "the ingest failure's alert", 60)

    # the model: registered on the tracking server, which stored its model.tar.gz and the
    # evaluation in the lake's bucket; the version's lineage names the lake's own copy
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=team["mlflow"].url, registry_uri=team["mlflow"].url)
    versions = client.search_model_versions("name = 'reviews-sentiment'")
    assert len(versions) == 1, versions
    assert versions[0].source.startswith("mlflow-artifacts:/"), versions[0].source
    keys = [o["Key"] for o in team["s3"].client().list_objects_v2(Bucket=BUCKET)["Contents"]]
    stored = [k for k in keys if k.startswith("mlflow/")]
    assert any(k.endswith("/model.tar.gz") for k in stored), stored
    assert any(k.endswith("evaluation/evaluation.json") for k in stored), stored
    lake_key = versions[0].tags["lineage.model_artifact_key"]
    assert "lake/catalog/airsage.duckdb" in keys  # the crawl's catalog: in the lake, not a home
    assert not any(k.startswith("lake/locks/") for k in keys)  # every lock released
    assert f"lake/{lake_key}" in keys and any(k.startswith(f"lake/curated/reviews/dt={DAY}/") for k in keys)

    # the trials: in Optuna's PostgreSQL storage
    import optuna

    storage = team["postgres"].url("optuna")
    studies = optuna.get_all_study_summaries(storage)
    assert [s.n_trials for s in studies] == [2], [(s.study_name, s.n_trials) for s in studies]

    # the endpoint: the service at serving.url serves the registered version
    request = urllib.request.Request(f"{team['endpoint']}/admin/endpoint")
    with urllib.request.urlopen(request, timeout=10) as answer:
        described = json.loads(answer.read())
    live = [v for v in described["variants"] if v["weight"] > 0]
    assert [(v["model_name"], str(v["model_version"])) for v in live] == [
        ("reviews-sentiment", str(versions[0].version))], described
    invoke = urllib.request.Request(
        f"{team['endpoint']}/invocations", method="POST",
        data=json.dumps({"instances": [{"review_text": "love this dress"}]}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(invoke, timeout=30) as answer:
        assert len(json.loads(answer.read())["predictions"]) == 1


def test_the_drift_monitor_on_any_worker_finds_the_endpoint_and_its_capture(team: dict[str, Any]) -> None:
    from airsage.serving.client import send_reviews

    services: AirflowServices = team["services"]
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    send_reviews(team["endpoint"], rows=300, seed=11, day=DAY)
    lake = _lake(team["settings"])
    import time

    deadline = time.monotonic() + 30
    while not list(lake.list("capture/reviews-sentiment/")) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)  # the capture writer flushes off the request path
    services.api("PATCH", "/api/v2/dags/reviews_drift_monitor", {"is_paused": False})
    run = services.api("POST", "/api/v2/dags/reviews_drift_monitor/dagRuns", {
        "logical_date": dt.datetime.now(dt.UTC).isoformat(),
        "conf": {"at": hour.strftime("%Y-%m-%dT%H:%M")},
    })
    done = services.wait_for_run(run["dag_run_id"], timeout=900, dag_id="reviews_drift_monitor")
    states = services.task_states(run["dag_run_id"], dag_id="reviews_drift_monitor")
    assert done["state"] == "success" and states["monitor"] == "success", states  # not skipped
    hosts = services.task_hosts(run["dag_run_id"], dag_id="reviews_drift_monitor")
    assert hosts["monitor"] in WORKERS, hosts
    monitored = services.api(
        "GET", f"/api/v2/dags/reviews_drift_monitor/dagRuns/{_quote(run['dag_run_id'])}"
        "/taskInstances/monitor/xcomEntries/return_value")["value"]
    monitored = json.loads(monitored) if isinstance(monitored, str) else monitored
    assert monitored["endpoint"] == "reviews-sentiment" and monitored["model_version"] == "1", monitored
    assert monitored["samples"] >= 300, monitored


def _lake(settings: Any) -> Any:
    from airsage.targets import implementation

    return implementation("lake", settings)


def _quote(run_id: str) -> str:
    from urllib.parse import quote

    return quote(run_id, safe="")
