from __future__ import annotations

import pytest

from airsage.config import load_settings
from airsage.errors import ConfigurationError
from airsage.lake.local import LocalLake
from airsage.targets import REGISTRY, implementation, resolve


def test_local_lake_is_chosen_for_the_local_target() -> None:
    assert isinstance(implementation("lake", load_settings(environ={})), LocalLake)


def test_the_local_target_reads_an_s3_root_through_the_s3_lake() -> None:
    from airsage.lake.aws import S3Lake

    settings = load_settings(environ={"AIRSAGE_LAKE_ROOT": "s3://team-lake/prefix"})
    assert isinstance(implementation("lake", settings), S3Lake)


def test_every_registered_local_implementation_imports() -> None:
    for capability, by_target in REGISTRY.items():
        assert "local" in by_target, capability
        assert callable(resolve(capability, "local")), capability  # a class, or the lake's factory


def test_unknown_capability_and_missing_target_are_explained() -> None:
    with pytest.raises(ConfigurationError, match="known capabilities"):
        resolve("teleport", "local")
    with pytest.raises(ConfigurationError, match="no 'aws' implementation yet"):
        resolve("quality", "aws")
    with pytest.raises(ConfigurationError, match="valid targets"):
        resolve("lake", "azure")
