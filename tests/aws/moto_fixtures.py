"""The aws target's test fixtures: moto's server (extended in moto_ext.py) on 127.0.0.1, never AWS.

A pytest plugin of tests/conftest.py, so every test folder (tests/aws, and the aws tests of
tests/registry, tests/serving …) uses the one fake.

The server is a subprocess started once per module and stopped by its PID; each test starts
from a reset moto with the lake bucket created. boto3, the provider's hooks and the triggers'
aiobotocore clients all reach it through ``AWS_ENDPOINT_URL`` and the ``aws_default``
connection (both set here), with dummy credentials.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_helpers import BUCKET, LAKE_ROOT, REGION, ROLE, client
from moto_ext import MotoServer


def running_moto() -> Iterator[MotoServer]:
    """moto's extended server for as long as the fixture built on it lives (stopped by PID)."""
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    yield from running_moto()


@pytest.fixture
def aws_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """A reset moto, the lake bucket, and every AWS client in this process pointed at it."""
    moto_server.reset()
    values = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": moto_server.url,
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({
            "conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"region_name": REGION, "endpoint_url": moto_server.url}}),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    client("s3").create_bucket(Bucket=BUCKET)
    return moto_server


@pytest.fixture
def aws_settings(tmp_path: Path) -> Any:
    """The shipped config on the aws target: the lake in moto's S3, a role, tags."""
    from airsage.config import load_settings

    return load_settings(environ={}, overrides={
        "target": "aws", "home": str(tmp_path / "home"),
        "lake": {"root": LAKE_ROOT},
        "aws": {"role_arn": ROLE, "region": REGION, "tags": {"project": "airsage", "team": "ml"}},
    })
