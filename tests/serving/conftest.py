"""Fixtures for serving: tiny real models packed as model.tar.gz, settings, servers."""

from __future__ import annotations

import json
import operator
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from airsage.config import load_settings
from airsage.lake.local import LocalLake
from airsage.serving.base import ServingConfig
from airsage.serving.server import ModelServer
from airsage.training.model import TfidfLinearModel, pack_model, save_model

TEXTS = [
    "love this dress, great fit", "terrible fabric, awful seams", "it is okay, nothing special",
    "beautiful colour and soft", "returned it, cheap and bad", "average quality, fine price",
    "perfect for summer, love it", "runs small and looks awful", "decent but the fit is so-so",
]
LABELS = [1, -1, 0, 1, -1, 0, 1, -1, 0]


@dataclass(frozen=True)
class Models:
    v1: Path
    v2: Path
    broken_load: Path
    broken_predict: Path  # raises for texts holding "{...}", answers the smoke request


def _fit(c: float) -> TfidfLinearModel:
    return TfidfLinearModel.fit(TEXTS * 2, LABELS * 2, {"max_features": 200, "C": c})


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    root = tmp_path_factory.mktemp("models")
    v1 = pack_model(save_model(_fit(1.0), root / "v1"), root / "v1.tar.gz")
    v2 = pack_model(save_model(_fit(3.0), root / "v2"), root / "v2.tar.gz")
    broken_dir = root / "broken_load"
    broken_dir.mkdir()
    (broken_dir / "airsage_model.json").write_text(json.dumps({"family": "no_such_family",
                                                               "labels": [-1, 0, 1]}))
    broken_load = root / "broken_load.tar.gz"
    with tarfile.open(broken_load, "w:gz") as archive:
        archive.add(broken_dir / "airsage_model.json", arcname="airsage_model.json")
    # A real model whose text preprocessing is str.format: fine on plain text (so it loads and
    # passes the smoke invocation), KeyError on a text like "{oops}": it fails on live traffic.
    flaky = _fit(1.0)
    flaky.pipeline.named_steps["tfidf"].preprocessor = operator.methodcaller("format")
    broken_predict = pack_model(save_model(flaky, root / "broken_predict"),
                                root / "broken_predict.tar.gz")
    return Models(v1, v2, broken_load, broken_predict)


@pytest.fixture
def settings_factory(tmp_path: Path) -> Any:
    def build(**serving: Any) -> Any:
        overrides = {"home": str(tmp_path / "home"),
                     "serving": {"port": 0, "bake_seconds": 0.3, **serving}}
        return load_settings(environ={}, overrides=overrides)

    return build


@dataclass
class Running:
    server: ModelServer
    lake: LocalLake
    url: str
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    """Start in-process servers on ephemeral ports; stop them after the test."""
    started: list[ModelServer] = []

    def start(config: ServingConfig | None = None, lake: Any = None, **kwargs: Any) -> Running:
        lake = lake or LocalLake(root=tmp_path / "lake")
        server = ModelServer(config or ServingConfig(port=0), lake, port=0, **kwargs).start()
        started.append(server)
        return Running(server, lake, server.url)

    yield start
    for server in started:
        server.stop()


def http(method: str, url: str, body: bytes | str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    """One request; (status, headers, body) for 2xx and for errors alike.

    The headers are looked up case-insensitively, as HTTP names them (an ASGI server sends
    them in lower case)."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@dataclass
class FakeVersion:
    """Shaped like airsage.registry.base.ModelVersion (serving accepts any such object)."""

    name: str
    version: str
    artifact_uri: str
    status: str = "Approved"
    run_id: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def call() -> Any:
    """The ``http`` helper, as a fixture (test modules do not import conftest)."""
    return http


@pytest.fixture
def version() -> Any:
    """Build a registry-shaped model version: ``version("2", path)``."""

    def build(number: str, artifact: Path, name: str = "reviews-sentiment") -> FakeVersion:
        return FakeVersion(name=name, version=number, artifact_uri=str(artifact))

    return build


@pytest.fixture
def deployer_factory(settings_factory: Any) -> Iterator[Any]:
    """Deployers on a fresh home with port 0; their detached servers are stopped after."""
    from airsage.serving.local import LocalEndpointDeployer

    made: list[LocalEndpointDeployer] = []

    def build(**serving: Any) -> LocalEndpointDeployer:
        deployer = LocalEndpointDeployer(settings_factory(**serving))
        made.append(deployer)
        return deployer

    yield build
    for deployer in made:
        deployer.stop()


@pytest.fixture
def start_load() -> Iterator[Any]:
    """Run tests/serving/load.py in a second process against an endpoint URL."""
    processes: list[subprocess.Popen[str]] = []

    def start(url: str, until_variant: str, text: str = "lovely soft dress",
              minimum: int = 300, maximum: int = 3000) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("load.py")), url, str(minimum),
             until_variant, str(maximum), text], stdout=subprocess.PIPE, text=True)
        processes.append(process)
        assert process.stdout is not None
        ready = process.stdout.readline().strip()  # sends from the moment it says so
        assert ready == "ready", f"load generator failed to start: {ready!r}"
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
