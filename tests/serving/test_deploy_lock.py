"""The deploy lock is the lake lock: a deployment on one host waits for another host's, and
a wait too long names the deploying host (a lake in moto's S3 server; two airsage homes)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from airsage.config import load_settings
from airsage.lake.layout import LakeLayout
from airsage.lake.local import lake_for_root
from airsage.lake.lock import LockTimeout
from airsage.serving.endpoint import state_file_for
from airsage.serving.local import DEPLOY_LOCK_PREFIX, LocalEndpointDeployer

SPAWN = multiprocessing.get_context("spawn")


def _hold(environ: dict[str, str], name: str, ready: Any, release: Any) -> None:
    """Another host's deployment: hold the endpoint's lock until told to stop."""
    with lake_for_root(load_settings(environ=environ)).lock(name, timeout=10):
        ready.set()
        release.wait(60)


def test_a_deploy_waits_for_another_hosts_deploy_and_names_it(
        s3_endpoint: str, s3_credentials: dict[str, str], tmp_path: Path, models: Any,
        version: Any) -> None:
    import boto3

    bucket = f"deploy-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    shared = {"AIRSAGE_LAKE_ROOT": f"s3://{bucket}/team", "AIRSAGE__LAKE__ENDPOINT_URL": s3_endpoint}
    settings = load_settings(environ={**shared, "AIRSAGE_HOME": str(tmp_path / "host-b")}, overrides={
        "serving": {"port": 0, "bake_seconds": 0.2}, "lake": {"lock": {"timeout_seconds": 0.5}}})
    deployer = LocalEndpointDeployer(settings)
    lake = lake_for_root(settings)
    name = f"{DEPLOY_LOCK_PREFIX}{deployer.config.endpoint}"
    ready, release = SPAWN.Event(), SPAWN.Event()
    other = SPAWN.Process(target=_hold, args=({**shared, "AIRSAGE_HOME": str(tmp_path / "host-a")},
                                              name, ready, release))
    other.start()
    try:
        assert ready.wait(30)
        with pytest.raises(LockTimeout, match=f"'{name}'.*pid {other.pid}"):
            deployer.deploy(lake, version("1", models.v1))
        assert not state_file_for(settings, deployer.config.endpoint).exists()  # nothing started
    finally:
        release.set()
        other.join(30)
    try:
        result = deployer.deploy(lake, version("1", models.v1))
        assert result.action == "created"
    finally:
        deployer.stop()
    assert not lake.exists(LakeLayout.lock(name))  # released after the deployment
