"""Test-wide setup: an isolated Airflow home and airsage home, so tests never touch the demo.

Airflow reads its configuration when first imported, so the environment is set here, at
collection time, before any test module imports Airflow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# the aws fakes (moto's extended server, its fixtures, helpers) in one place, for every folder
sys.path.insert(0, str(PROJECT_ROOT / "tests" / "aws"))
pytest_plugins = ("moto_fixtures",)
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data" / "womens_clothing_reviews_1k.csv"

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airsage-test-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT_ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(PROJECT_ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.pop("AIRSAGE_CONFIG", None)
os.environ["AIRSAGE_HOME"] = str(Path(tempfile.mkdtemp(prefix="airsage-test-home-")))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite) for tests that run DAGs."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True, text=True, env=os.environ.copy(), check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return _AIRFLOW_HOME


@pytest.fixture
def airsage_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh airsage home (lake, catalog, registry, alert log) for one test."""
    home = tmp_path / "airsage-home"
    home.mkdir()
    monkeypatch.setenv("AIRSAGE_HOME", str(home))
    return home


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    """Settings of the shipped config with a home of the test's own (generator: 200 rows)."""
    from airsage.config import load_settings

    return load_settings(environ={}, overrides={
        "home": str(tmp_path / "home"),
        "ingest": {"source": "generator", "generator": {"rows_per_day": 200, "seed": 7}},
    })


@pytest.fixture
def lake(tmp_path: Path) -> Any:
    """An empty local lake in the test's temporary directory."""
    from airsage.lake.local import LocalLake

    return LocalLake(root=tmp_path / "lake")


@pytest.fixture
def job_runner(settings: Any) -> Any:
    """The local target's one job runner for the scripts of include/jobs/ (the test's home)."""
    from airsage.jobs.local import LocalJobRunner

    return LocalJobRunner(settings)


@pytest.fixture
def shared_sample() -> Path:
    """The real 1k-row sample beside the project; the test skips on a fresh clone without it."""
    if not SHARED_DATA.exists():
        pytest.skip(f"{SHARED_DATA} is absent (a fresh clone has no ../shared)")
    return SHARED_DATA


S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                  "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server in a thread on 127.0.0.1 (the S3-compatible store of the lake tests:
    MinIO's role in docker-compose); tests of the aws target use tests/aws/'s extended server."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Dummy credentials and region for every S3 client the test builds."""
    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return dict(S3_CREDENTIALS)
