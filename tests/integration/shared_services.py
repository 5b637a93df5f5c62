"""The services a team deployment shares, started for a test from the machine's programs.

PostgreSQL and Redis come from Debian's packages (``scripts/setup.sh`` installs them), the
MLflow tracking server from the project's environment. Each listens on 127.0.0.1 on a free
port, keeps its data in a temporary directory, and is stopped by its PID.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import ClassVar


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian keeps them side by side)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _wait_port(port: int, process: subprocess.Popen[bytes], what: str, log: Path,
               timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s:\n{_tail(log)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class Postgres:
    """A throwaway cluster: trust authentication for 127.0.0.1, user ``airflow``."""

    user = "airflow"

    def __init__(self) -> None:
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise FileNotFoundError("PostgreSQL is not installed; scripts/setup.sh installs it "
                                    "(apt-get install postgresql)")
        self.bin_dir = bin_dir
        # Its own directory outside pytest's (mode 0700, root's): the server may run as
        # the `postgres` user, which initdb requires when the tests run as root.
        self.root = Path(tempfile.mkdtemp(prefix="airsage-pg-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._as_user = "postgres" if os.geteuid() == 0 else None

    def url(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self, databases: tuple[str, ...]) -> Postgres:
        data, log = self.root / "data", self.root / "postgres.log"
        if self._as_user:
            shutil.chown(self.root, self._as_user)
        subprocess.run([str(self.bin_dir / "initdb"), "-D", str(data), "-U", self.user,
                        "--auth=trust", "--encoding=UTF8", "--no-sync"],
                       user=self._as_user, check=True, capture_output=True, timeout=120)
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(data), "-p", str(self.port),
                 "-k", str(self.root), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "max_connections=200"],
                user=self._as_user, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        _wait_port(self.port, self.process, "postgres", log)
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user,
                                              dbname="postgres")
                break
            except psycopg2.OperationalError:  # accepting connections only after recovery
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        connection.autocommit = True
        with connection.cursor() as cursor:
            for database in databases:
                cursor.execute(f'CREATE DATABASE "{database}"')
        connection.close()
        return self

    def stop(self) -> None:
        _stop(self.process, signal.SIGINT)  # "fast" shutdown: disconnect clients, then exit
        shutil.rmtree(self.root, ignore_errors=True)


class Redis:
    """A Redis without persistence: the Celery broker."""

    def __init__(self, root: Path) -> None:
        self.program = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(self.program).exists():
            raise FileNotFoundError("redis-server is not installed; scripts/setup.sh installs it "
                                    "(apt-get install redis-server)")
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        log = self.root / "redis.log"
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [self.program, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
                 "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        _wait_port(self.port, self.process, "redis-server", log)
        return self

    def stop(self) -> None:
        _stop(self.process)


class MlflowServer:
    """``mlflow server`` with a PostgreSQL store, serving artifacts from ``artifacts``."""

    def __init__(self, root: Path, backend_store_uri: str, artifacts: str,
                 env: dict[str, str] | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.backend_store_uri = backend_store_uri
        self.artifacts = artifacts
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> MlflowServer:
        log = self.root / "mlflow.log"
        mlflow = str(Path(sys.executable).parent / "mlflow")
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [mlflow, "server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
                 "--backend-store-uri", self.backend_store_uri, "--serve-artifacts",
                 "--artifacts-destination", self.artifacts],
                env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.process.returncode}:\n{_tail(log)}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/health", timeout=2):
                return self
            time.sleep(1)
        raise TimeoutError(f"mlflow server did not answer within {timeout:.0f} s:\n{_tail(log)}")

    def stop(self) -> None:
        """The server and its uvicorn/gunicorn workers (its own process group)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


class S3Server:
    """moto's server as the S3-compatible store of the lake (MinIO's role in docker-compose)."""

    credentials: ClassVar[dict[str, str]] = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1"}

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, buckets: tuple[str, ...]) -> S3Server:
        log = self.root / "s3.log"
        program = str(Path(sys.executable).parent / "moto_server")
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [program, "-H", "127.0.0.1", "-p", str(self.port)], env={**os.environ, **self.credentials},
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        _wait_port(self.port, self.process, "moto_server", log)
        client = self.client()
        for bucket in buckets:
            client.create_bucket(Bucket=bucket)
        return self

    def client(self) -> object:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def stop(self) -> None:
        _stop(self.process)
