"""Pick each capability's implementation for the configured target, in one place.

The Airflow layer and the CLI build :class:`Engines` for the target once and hand each step
the engine it needs; capabilities take their engine as a parameter and never test or look up
the target themselves. Entries are import strings so that choosing a target imports only
what it uses; every entry is checked by mypy against its capability's Protocol (see
``_registered_classes_satisfy_their_protocols``).
"""

from __future__ import annotations

import importlib
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airsage.config import TARGETS, Settings
from airsage.errors import ConfigurationError

if TYPE_CHECKING:
    from airsage.catalog.base import Catalog
    from airsage.features.base import FeatureStore
    from airsage.jobs.request import JobRunner
    from airsage.lake.base import Lake
    from airsage.quality.base import QualityGate
    from airsage.registry.base import ModelRegistry
    from airsage.serving.base import EndpointDeployer
    from airsage.sql.base import SqlEngine
    from airsage.training.base import TrainingRunner
    from airsage.tuning.base import Tuner

# capability -> target -> "module:Class". A class is built with the Settings.
REGISTRY: dict[str, dict[str, str]] = {
    "lake": {"local": "airsage.lake.local:lake_for_root", "aws": "airsage.lake.aws:S3Lake"},
    "catalog": {"local": "airsage.catalog.local:LocalCatalog", "aws": "airsage.catalog.aws:GlueCatalog"},
    "sql": {"local": "airsage.sql.local:DuckDBSqlEngine"},
    "features": {"local": "airsage.features.local:LocalFeatureStore",
                 "aws": "airsage.features.aws:SageMakerFeatureStore"},
    "quality": {"local": "airsage.quality.local:DuckDBQualityGate"},
    # the job steps (bias, train, evaluate, baseline, monitor) run include/jobs/ scripts
    "jobs": {"local": "airsage.jobs.local:LocalJobRunner",
             "aws": "airsage.jobs.aws:SageMakerJobRunner"},
    "training": {"local": "airsage.training.local:LocalTrainingRunner"},
    "tuning": {"local": "airsage.tuning.local:OptunaTuner"},
    "registry": {"local": "airsage.registry.local:MlflowRegistry",
                 "aws": "airsage.registry.aws:SageMakerModelRegistry"},
    "serving": {"local": "airsage.serving.local:LocalEndpointDeployer",
                "aws": "airsage.serving.aws:SageMakerEndpointDeployer"},
}


def register(capability: str, target: str, import_path: str) -> None:
    """Add or replace an implementation (plugins and tests use this)."""
    if target not in TARGETS:
        raise ConfigurationError(f"unknown target {target!r}; valid targets: {', '.join(TARGETS)}")
    REGISTRY.setdefault(capability, {})[target] = import_path


def resolve(capability: str, target: str) -> type[Any]:
    """The class implementing ``capability`` on ``target``; errors list what is valid."""
    if target not in TARGETS:
        raise ConfigurationError(f"unknown target {target!r}; valid targets: {', '.join(TARGETS)}")
    try:
        by_target = REGISTRY[capability]
    except KeyError:
        raise ConfigurationError(
            f"unknown capability {capability!r}; known capabilities: {', '.join(sorted(REGISTRY))}"
        ) from None
    try:
        import_path = by_target[target]
    except KeyError:
        raise ConfigurationError(
            f"capability {capability!r} has no {target!r} implementation yet; "
            f"available targets for it: {', '.join(sorted(by_target))}"
        ) from None
    module_name, _, attribute = import_path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def has_implementation(capability: str, target: str) -> bool:
    """Whether ``capability`` has an implementation on ``target`` (no import happens)."""
    return target in REGISTRY.get(capability, {})


def implementation(capability: str, settings: Settings) -> Any:
    """An instance of the capability's implementation for ``settings.target`` (untyped:
    code that builds engines for steps uses :class:`Engines`)."""
    return resolve(capability, settings.target)(settings)


class Engines:
    """Every capability's engine for the target of ``settings``, each built on first use.

    One per task or command: the composition root (a task, the CLI, the demo) picks the
    engines here and passes each step the one it needs. Each property is typed with its
    capability's Protocol, so a step's caller and the step agree on the interface.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def target(self) -> str:
        return self.settings.target

    def _build(self, capability: str) -> Any:
        return resolve(capability, self.settings.target)(self.settings)

    @cached_property
    def lake(self) -> Lake:
        return self._build("lake")

    @cached_property
    def catalog(self) -> Catalog:
        return self._build("catalog")

    @cached_property
    def sql(self) -> SqlEngine:
        return self._build("sql")

    @cached_property
    def features(self) -> FeatureStore:
        return self._build("features")

    @cached_property
    def quality(self) -> QualityGate:
        return self._build("quality")

    @cached_property
    def jobs(self) -> JobRunner:
        return self._build("jobs")

    @cached_property
    def training(self) -> TrainingRunner:
        return self._build("training")

    @cached_property
    def tuning(self) -> Tuner:
        return self._build("tuning")

    @cached_property
    def registry(self) -> ModelRegistry:
        return self._build("registry")

    @cached_property
    def serving(self) -> EndpointDeployer:
        return self._build("serving")


if TYPE_CHECKING:

    def _registered_classes_satisfy_their_protocols(settings: Settings) -> None:
        """Never run: mypy checks here that each class in :data:`REGISTRY` is built from
        the Settings and is an instance of its capability's Protocol (keep both in step)."""
        from airsage.catalog.aws import GlueCatalog
        from airsage.catalog.local import LocalCatalog
        from airsage.features.aws import SageMakerFeatureStore
        from airsage.features.local import LocalFeatureStore
        from airsage.jobs.aws import SageMakerJobRunner
        from airsage.jobs.local import LocalJobRunner
        from airsage.lake.aws import S3Lake
        from airsage.lake.local import LocalLake
        from airsage.quality.local import DuckDBQualityGate
        from airsage.registry.aws import SageMakerModelRegistry
        from airsage.registry.local import MlflowRegistry
        from airsage.serving.aws import SageMakerEndpointDeployer
        from airsage.serving.local import LocalEndpointDeployer
        from airsage.sql.local import DuckDBSqlEngine
        from airsage.training.local import LocalTrainingRunner
        from airsage.tuning.local import OptunaTuner

        lakes: tuple[Lake, ...] = (LocalLake(settings), S3Lake(settings))
        catalogs: tuple[Catalog, ...] = (LocalCatalog(settings), GlueCatalog(settings))
        sql: SqlEngine = DuckDBSqlEngine(settings)
        features: tuple[FeatureStore, ...] = (LocalFeatureStore(settings),
                                              SageMakerFeatureStore(settings))
        quality: QualityGate = DuckDBQualityGate(settings)
        jobs: tuple[JobRunner, ...] = (LocalJobRunner(settings), SageMakerJobRunner(settings))
        training: TrainingRunner = LocalTrainingRunner(settings)
        tuning: Tuner = OptunaTuner(settings)
        registry: tuple[ModelRegistry, ...] = (MlflowRegistry(settings),
                                               SageMakerModelRegistry(settings))
        serving: tuple[EndpointDeployer, ...] = (LocalEndpointDeployer(settings),
                                                 SageMakerEndpointDeployer(settings))
        del lakes, catalogs, sql, features, quality, jobs, training, tuning, registry, serving
