"""Load airsage's settings: one YAML file, then environment variables, then overrides.

Precedence (last wins): ``include/config/airsage.yaml`` (or the file named by
``AIRSAGE_CONFIG``) < ``AIRSAGE_TARGET`` / ``AIRSAGE_HOME`` / ``AIRSAGE_LAKE_ROOT`` <
``AIRSAGE__SECTION__KEY=value`` variables (values parsed as YAML) < an explicit override
mapping (the Airflow layer passes the ``airsage_config`` Variable here, at task run time).

Each capability reads its own section (``settings.section("quality")``) into its own frozen
dataclass, so this module knows only the core: target, home, lake root and datasets.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from airsage.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INCLUDE_DIR = PROJECT_ROOT / "include"
DEFAULT_CONFIG_FILE = INCLUDE_DIR / "config" / "airsage.yaml"
ENV_PREFIX = "AIRSAGE__"
TARGETS = ("local", "aws")


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Turn ``AIRSAGE__QUALITY__ANOMALY__WINDOW_DAYS=7`` into a nested mapping."""
    overrides: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if not path:
            continue
        node = overrides
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = yaml.safe_load(raw) if raw != "" else ""
    short = {"AIRSAGE_TARGET": ("target",), "AIRSAGE_HOME": ("home",),
             "AIRSAGE_LAKE_ROOT": ("lake", "root")}
    for name, keys in short.items():
        if name in environ:
            node = overrides
            for part in keys[:-1]:
                node = node.setdefault(part, {})
            node[keys[-1]] = environ[name]
    return overrides


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset's contract: its columns and types, key, label, text and source mapping."""

    name: str
    columns: Mapping[str, str]
    primary_key: str
    text_column: str
    label_column: str
    formats: tuple[str, ...] = ("csv", "jsonl", "parquet")
    source_columns: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, name: str, raw: Mapping[str, Any]) -> DatasetSpec:
        try:
            columns = dict(raw["columns"])
            spec = cls(
                name=name,
                columns=columns,
                primary_key=raw["primary_key"],
                text_column=raw["text_column"],
                label_column=raw["label_column"],
                formats=tuple(raw.get("formats", cls.formats)),
                source_columns=dict(raw.get("source_columns") or {}),
            )
        except KeyError as exc:
            raise ConfigurationError(
                f"dataset '{name}' in the airsage config lacks the key {exc.args[0]!r}; "
                "a dataset needs columns, primary_key, text_column and label_column"
            ) from exc
        for role in ("primary_key", "text_column", "label_column"):
            if getattr(spec, role) not in columns:
                raise ConfigurationError(
                    f"dataset '{name}': {role} {getattr(spec, role)!r} is not one of its "
                    f"columns {sorted(columns)}"
                )
        return spec


@dataclass(frozen=True)
class Settings:
    """The merged configuration. ``raw`` keeps every section for the capabilities to read."""

    target: str
    home: Path
    lake_root: str
    datasets: Mapping[str, DatasetSpec]
    raw: Mapping[str, Any]
    source: str = str(DEFAULT_CONFIG_FILE)

    def section(self, name: str) -> Mapping[str, Any]:
        """A capability's section (an empty mapping when the file has none)."""
        value = self.raw.get(name) or {}
        if not isinstance(value, Mapping):
            raise ConfigurationError(
                f"section '{name}' of {self.source} must be a mapping, got {type(value).__name__}"
            )
        return value

    def dataset(self, name: str) -> DatasetSpec:
        try:
            return self.datasets[name]
        except KeyError:
            raise ConfigurationError(
                f"unknown dataset '{name}'; configured datasets: {sorted(self.datasets)}"
            ) from None

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        """A copy with ``overrides`` deep-merged over this configuration."""
        return _build(_deep_merge(dict(self.raw), overrides), self.source)

    @property
    def state_dir(self) -> Path:
        """Where the local target keeps its catalog, registry, alert log and servers."""
        return self.home


def _resolve_home(value: str | None) -> Path:
    path = Path(os.path.expandvars(os.path.expanduser(value or ".airsage")))
    return path if path.is_absolute() else (PROJECT_ROOT / path)


def _build(raw: dict[str, Any], source: str) -> Settings:
    target = str(raw.get("target", "local"))
    if target not in TARGETS:
        raise ConfigurationError(
            f"unknown target {target!r} in {source}; valid targets: {', '.join(TARGETS)}"
        )
    home = _resolve_home(raw.get("home"))
    lake = raw.get("lake") or {}
    lake_root = str(lake.get("root") or "")
    if not lake_root:
        lake_root = str(home / "lake")
    elif "://" not in lake_root:
        root_path = Path(os.path.expandvars(os.path.expanduser(lake_root)))
        lake_root = str(root_path if root_path.is_absolute() else home / root_path)
    datasets_raw = raw.get("datasets") or {}
    if not datasets_raw:
        raise ConfigurationError(f"{source} defines no datasets; airsage needs at least one")
    datasets = {name: DatasetSpec.from_mapping(name, spec) for name, spec in datasets_raw.items()}
    raw = {**raw, "target": target, "home": str(home)}
    return Settings(target=target, home=home, lake_root=lake_root, datasets=datasets,
                    raw=raw, source=source)


def load_settings(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read the YAML file and apply environment and explicit overrides (see module doc)."""
    environ = os.environ if environ is None else environ
    config_path = Path(path or environ.get("AIRSAGE_CONFIG") or DEFAULT_CONFIG_FILE)
    try:
        loaded = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigurationError(
            f"airsage config file {config_path} does not exist; set AIRSAGE_CONFIG to a YAML "
            f"file or restore {DEFAULT_CONFIG_FILE}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"airsage config file {config_path} is not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigurationError(f"airsage config file {config_path} must hold a mapping")
    merged = _deep_merge(loaded, _env_overrides(environ))
    if overrides:
        merged = _deep_merge(merged, overrides)
    return _build(merged, str(config_path))


def section_values(
    cls: type,
    raw: Mapping[str, Any],
    *,
    section: str,
    source: str,
    custom: tuple[str, ...] = (),
    extra: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Read a capability's section into keyword arguments for its frozen dataclass ``cls``.

    Unknown keys are refused with the list of valid ones (a typo must not silently fall back
    to a default). Each present field is coerced to the type of its default (bool, int,
    float, str, tuple); fields named in ``custom`` are left for the caller to build, and
    ``extra`` keys are accepted but not fields (read elsewhere).
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields) - set(extra))
    if unknown:
        raise ConfigurationError(
            f"{section}: unknown key(s) {unknown} in {source}; valid keys: {sorted(set(fields) | set(extra))}"
        )
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        if name in custom or name not in raw:
            continue
        default = spec.default if spec.default is not dataclasses.MISSING else None
        values[name] = _coerce(f"{section}.{name}", raw[name], default, source)
    return values


def _coerce(name: str, value: Any, default: Any, source: str) -> Any:
    try:
        if default is None or value is None:
            return value
        if isinstance(default, bool):
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            return (value,) if isinstance(value, str) else tuple(str(item) for item in value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"{name} in {source} is {value!r}; expected a value like {default!r}"
        ) from exc
