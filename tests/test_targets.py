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


def test_engines_build_the_targets_engine_once_per_capability() -> None:
    from airsage.targets import Engines

    engines = Engines(load_settings(environ={}))
    assert engines.target == "local"
    assert isinstance(engines.lake, LocalLake)
    assert engines.lake is engines.lake  # one engine per capability for a task or command


def test_an_engine_the_target_lacks_is_refused_with_the_targets_that_have_it() -> None:
    from airsage.targets import Engines

    engines = Engines(load_settings(overrides={"target": "aws"}, environ={}))
    with pytest.raises(ConfigurationError, match=r"no 'aws' implementation yet.*local"):
        _ = engines.quality


PROTOCOLS = {
    "lake": "airsage.lake.base:Lake",
    "catalog": "airsage.catalog.base:Catalog",
    "features": "airsage.features.base:FeatureStore",
    "sql": "airsage.sql.base:SqlEngine",
    "quality": "airsage.quality.base:QualityGate",
    "jobs": "airsage.jobs.request:JobRunner",
    "training": "airsage.training.base:TrainingRunner",
    "tuning": "airsage.tuning.base:Tuner",
    "registry": "airsage.registry.base:ModelRegistry",
    "serving": "airsage.serving.base:EndpointDeployer",
}


def _load(path: str) -> type:
    import importlib

    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("capability", sorted(REGISTRY))
def test_each_capability_has_a_protocol_an_engine_and_implementations_that_match_it(
    capability: str,
) -> None:
    """The run-time half of what mypy checks in targets.py: the Engines property returns the
    capability's Protocol, and every registered class has each of its methods with the same
    parameters (a plugin registered with ``register`` is held to the same shape)."""
    import inspect
    import itertools
    import typing
    from functools import cached_property

    from airsage.targets import Engines

    protocol = _load(PROTOCOLS[capability])
    engine = Engines.__dict__.get(capability)
    assert isinstance(engine, cached_property), f"Engines has no {capability} property"
    assert typing.get_type_hints(engine.func, localns={protocol.__name__: protocol})["return"] \
        is protocol
    methods = {name: member for name, member in vars(protocol).items()
               if callable(member) and not name.startswith("_")}
    assert methods, protocol
    classes = {c.__name__: c for c in (resolve(capability, t) for t in REGISTRY[capability])
               if isinstance(c, type)}
    for target in REGISTRY[capability]:
        entry = resolve(capability, target)
        # an entry is a class, or a factory (the local lake) whose annotation names the classes
        built = [entry] if isinstance(entry, type) else \
            list(typing.get_args(typing.get_type_hints(entry, localns=classes)["return"]))
        assert built, f"{entry} is neither a class nor a factory annotated with its classes"
        for implementation_class, (name, method) in itertools.product(built, methods.items()):
            implemented = getattr(implementation_class, name, None)
            assert callable(implemented), f"{implementation_class.__name__} lacks {name}"
            expected = [(p.name, p.kind) for p in inspect.signature(method).parameters.values()]
            found = [(p.name, p.kind) for p in inspect.signature(implemented).parameters.values()]
            assert found == expected, (implementation_class.__name__, name)
