"""A model server run as a service (docker-compose's ``model-server``), found by ``serving.url``.

``deploy`` on any worker updates it through the admin API with ``serving.admin_token`` and
hands it a lake key; it starts no process and writes no state file of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airsage.config import load_settings
from airsage.errors import ConfigurationError, StepFailed
from airsage.lake.local import LocalLake
from airsage.serving.base import ADMIN_TOKEN_HEADER, ServingConfig
from airsage.serving.local import LocalEndpointDeployer

TOKEN = "team-secret"
MODEL_KEY = "models/reviews/dt=2024-01-01/model.tar.gz"


def _settings(tmp_path: Path, **serving: object):
    return load_settings(environ={}, overrides={
        "home": str(tmp_path / "worker-home"), "lake": {"root": str(tmp_path / "lake")},
        "serving": {"bake_seconds": 0.3, **serving}})


def test_deploy_updates_the_server_at_serving_url_with_a_lake_key(
        tmp_path: Path, start_server, models, version, call) -> None:
    lake = LocalLake(root=tmp_path / "lake")
    lake.upload(models.v1, MODEL_KEY)
    running = start_server(ServingConfig(port=0, admin_token=TOKEN), lake=lake,
                           work_dir=tmp_path / "server-work")
    settings = _settings(tmp_path, url=running.url, admin_token=TOKEN)
    deployer = LocalEndpointDeployer(settings)

    result = deployer.deploy(lake, version("1", MODEL_KEY))

    assert result.action == "created" and result.url == running.url
    described = deployer.describe()
    assert described.url == running.url and described.status == "InService"
    assert [(v["variant_name"], v["artifact_path"], v["weight"]) for v in described.variants] == [
        ("reviews-sentiment-v1", MODEL_KEY, 100.0)]
    status, _, body = call("POST", running.url + "/invocations",
                           '{"instances": [{"review_text": "love it"}]}',
                           {"Content-Type": "application/json"})
    assert status == 200 and b"predictions" in body
    assert not (Path(settings.home) / "endpoints" / "reviews-sentiment.json").exists()


def test_a_server_at_serving_url_that_does_not_answer_fails_deploy_naming_it(
        tmp_path: Path, models, version) -> None:
    lake = LocalLake(root=tmp_path / "lake")
    lake.upload(models.v1, MODEL_KEY)
    deployer = LocalEndpointDeployer(_settings(tmp_path, url="http://127.0.0.1:9", admin_token=TOKEN))
    with pytest.raises(StepFailed, match=r"http://127\.0\.0\.1:9 \(serving\.url\) does not answer"):
        deployer.deploy(lake, version("1", MODEL_KEY))
    assert deployer.describe().status == "OutOfService"


def test_the_admin_api_lets_other_hosts_in_only_with_the_token(tmp_path: Path) -> None:
    from starlette.testclient import TestClient  # its client address is not loopback

    from airsage.serving.app import build_app
    from airsage.serving.endpoint import Endpoint

    endpoint = Endpoint(ServingConfig(port=0, admin_token=TOKEN), None, work_dir=tmp_path / "w")
    try:
        client = TestClient(build_app(endpoint, on_shutdown=lambda: None))
        assert client.get("/admin/endpoint").status_code == 403
        assert client.get("/admin/endpoint", headers={ADMIN_TOKEN_HEADER: "guess"}).status_code == 403
        assert client.get("/admin/endpoint", headers={ADMIN_TOKEN_HEADER: TOKEN}).status_code == 200
        closed = Endpoint(ServingConfig(port=0), None, work_dir=tmp_path / "v")
        try:
            anyone = TestClient(build_app(closed, on_shutdown=lambda: None))
            assert anyone.get("/admin/endpoint", headers={ADMIN_TOKEN_HEADER: ""}).status_code == 403
        finally:
            closed.close()
    finally:
        endpoint.close()


def test_a_remote_serving_url_without_a_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="admin_token"):
        ServingConfig.from_settings(_settings(tmp_path, url="http://model-server:8085"))
    with pytest.raises(ConfigurationError, match="http:// or https://"):
        ServingConfig.from_settings(_settings(tmp_path, url="model-server:8085", admin_token=TOKEN))


def test_a_version_whose_copy_only_the_tracking_server_reads_deploys_from_its_lineage_key(
        tmp_path: Path, start_server, models, version) -> None:
    lake = LocalLake(root=tmp_path / "lake")
    lake.upload(models.v1, MODEL_KEY)
    running = start_server(ServingConfig(port=0, admin_token=TOKEN), lake=lake,
                           work_dir=tmp_path / "server-work")
    deployer = LocalEndpointDeployer(_settings(tmp_path, url=running.url, admin_token=TOKEN))
    registered = version("3", "mlflow-artifacts:/1/abc/artifacts/model/model.tar.gz")
    registered.tags["lineage.model_artifact_key"] = MODEL_KEY

    result = deployer.deploy(lake, registered)

    assert result.action == "created"
    assert [v["artifact_path"] for v in deployer.describe().variants] == [MODEL_KEY]
