"""Pick each capability's implementation for the configured target, in one place.

The rest of airsage asks ``implementation("quality", settings)`` and never tests the target
itself. Entries are import strings so that choosing a target imports only what it uses.
"""

from __future__ import annotations

import importlib
from typing import Any

from airsage.config import TARGETS, Settings
from airsage.errors import ConfigurationError

# capability -> target -> "module:Class". A class is built with the Settings.
REGISTRY: dict[str, dict[str, str]] = {
    "lake": {"local": "airsage.lake.local:lake_for_root", "aws": "airsage.lake.aws:S3Lake"},
    "catalog": {"local": "airsage.catalog.local:LocalCatalog"},
    "sql": {"local": "airsage.sql.local:DuckDBSqlEngine"},
    "quality": {"local": "airsage.quality.local:DuckDBQualityGate"},
    "bias": {"local": "airsage.bias.local:LocalBiasJob"},
    "training": {"local": "airsage.training.local:LocalTrainingRunner"},
    "tuning": {"local": "airsage.tuning.local:OptunaTuner"},
    "evaluation": {"local": "airsage.evaluation.local:LocalEvaluationJob"},
    "registry": {"local": "airsage.registry.local:MlflowRegistry"},
    "serving": {"local": "airsage.serving.local:LocalEndpointDeployer"},
    "monitoring": {"local": "airsage.monitoring.local:LocalMonitorJob"},
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


def implementation(capability: str, settings: Settings) -> Any:
    """An instance of the capability's implementation for ``settings.target``."""
    return resolve(capability, settings.target)(settings)
