"""A hyperparameter search space written once, in SageMaker's terms, for both targets.

``tuning:`` settings become a :class:`TuningSpace`: parameter ranges (Continuous / Integer /
Categorical with a ScalingType), the objective metric and direction, job limits, early
stopping, strategy and warm start. Each range is the one definition both targets read: the
AWS target sends :meth:`TuningSpace.parameter_ranges_dict` and
:meth:`TuningSpace.tuning_job_config` to ``CreateHyperParameterTuningJob``; the local target
samples :meth:`TuningSpace.optuna_distributions` (what :meth:`ParameterRange.suggest` draws
from). A range's ``Auto`` scaling is resolved once (:attr:`ParameterRange.effective_scaling`)
and sent resolved, so SageMaker and Optuna sample the same distribution.

The model family itself may be a range: a Categorical ``model_family`` (e.g. ``[tfidf_linear,
bert]``) lets the tuning job choose between TF-IDF and BERT for each window of data, in the
same space definition on both targets. SageMaker's ranges are flat (no conditional ranges), so
every trial draws every parameter and each family reads only its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from airsage.config import Settings
from airsage.errors import ConfigurationError

SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
OBJECTIVE_TYPES = ("Maximize", "Minimize")
EARLY_STOPPING_TYPES = ("Off", "Auto")
STRATEGIES = ("Bayesian", "Random")
WARM_START_TYPES = ("IdenticalDataAndAlgorithm", "TransferLearning")
RANGE_TYPES = ("Continuous", "Integer", "Categorical")
MAX_CATEGORICAL_VALUES = 30  # SageMaker's limit per categorical range
MAX_PARENT_JOBS = 5  # SageMaker's limit of warm-start parents
# "Auto" resolves to logarithmic when a positive range spans at least this ratio (airsage's rule;
# SageMaker decides on its own and documents only that it picks one of the two).
AUTO_LOG_RATIO = 100.0
FAMILY_PARAMETER = "model_family"


def _where(name: str) -> str:
    return f"tuning.parameter_ranges.{name}"


def _number(name: str, key: str, value: Any, *, integer: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigurationError(f"{_where(name)}.{key} must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ConfigurationError(f"{_where(name)}.{key} must be a number, got {value!r}") from None
    if integer and not number.is_integer():
        raise ConfigurationError(
            f"{_where(name)}.{key} must be a whole number for an Integer range, got {value!r}"
        )
    return number


@dataclass(frozen=True)
class ParameterRange:
    """A numeric range (Continuous or Integer) with SageMaker's scaling types."""

    name: str
    kind: str  # Continuous | Integer
    min_value: float
    max_value: float
    scaling_type: str = "Auto"

    def __post_init__(self) -> None:
        where = _where(self.name)
        if self.kind not in ("Continuous", "Integer"):
            raise ConfigurationError(f"{where}: numeric range type {self.kind!r} is not Continuous/Integer")
        if self.scaling_type not in SCALING_TYPES:
            raise ConfigurationError(
                f"{where}: scaling {self.scaling_type!r} is not one of {', '.join(SCALING_TYPES)}"
            )
        if self.min_value > self.max_value:
            raise ConfigurationError(
                f"{where}: min {self.min_value:g} is greater than max {self.max_value:g}; "
                "swap them"
            )
        if self.scaling_type == "Logarithmic" and self.min_value <= 0:
            raise ConfigurationError(
                f"{where}: Logarithmic scaling needs min > 0, got min {self.min_value:g}; "
                "use Linear or a positive min"
            )
        if self.scaling_type == "ReverseLogarithmic" and not (
            self.kind == "Continuous" and self.min_value >= 0 and self.max_value < 1
        ):
            raise ConfigurationError(
                f"{where}: ReverseLogarithmic scaling needs a Continuous range within [0, 1), got "
                f"{self.kind} [{self.min_value:g}, {self.max_value:g}]"
            )

    @property
    def effective_scaling(self) -> str:
        """``Auto`` resolved: logarithmic for a positive range spanning >= 100x, else linear."""
        if self.scaling_type != "Auto":
            return self.scaling_type
        if self.min_value > 0 and self.max_value / self.min_value >= AUTO_LOG_RATIO:
            return "Logarithmic"
        return "Linear"

    def optuna_distribution(self) -> Any:
        """The Optuna distribution of this range (under :func:`optuna_name`): the same bounds
        and scaling as :meth:`to_sagemaker`; reverse-log is ``1 - x`` sampled log-uniformly."""
        from optuna.distributions import FloatDistribution, IntDistribution

        scaling = self.effective_scaling
        if self.kind == "Integer":
            return IntDistribution(int(self.min_value), int(self.max_value),
                                   log=scaling == "Logarithmic")
        if scaling == "ReverseLogarithmic":
            return FloatDistribution(1.0 - self.max_value, 1.0 - self.min_value, log=True)
        return FloatDistribution(self.min_value, self.max_value, log=scaling == "Logarithmic")

    def suggest(self, trial: Any) -> Any:
        """Sample with an Optuna trial, from :meth:`optuna_distribution`."""
        distribution = self.optuna_distribution()
        if self.kind == "Integer":
            return trial.suggest_int(self.name, distribution.low, distribution.high,
                                     log=distribution.log)
        value = trial.suggest_float(optuna_name(self), distribution.low, distribution.high,
                                    log=distribution.log)
        return 1.0 - value if self.effective_scaling == "ReverseLogarithmic" else value

    def to_sagemaker(self) -> dict[str, str]:
        """SageMaker's Continuous/IntegerParameterRange, ``Auto`` sent resolved (see
        :attr:`effective_scaling`) so that SageMaker samples as Optuna does."""
        def text(value: float) -> str:
            return str(int(value)) if self.kind == "Integer" else repr(float(value))

        return {
            "Name": self.name,
            "MinValue": text(self.min_value),
            "MaxValue": text(self.max_value),
            "ScalingType": self.effective_scaling,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.kind, "min": self.min_value,
                "max": self.max_value, "scaling": self.scaling_type}


@dataclass(frozen=True)
class CategoricalParameterRange:
    """A set of values; SageMaker passes them as strings, and so does the local target."""

    name: str
    values: tuple[str, ...]
    kind: str = "Categorical"

    def __post_init__(self) -> None:
        if not self.values:
            raise ConfigurationError(f"{_where(self.name)}: a Categorical range needs values")
        if len(self.values) > MAX_CATEGORICAL_VALUES:
            raise ConfigurationError(
                f"{_where(self.name)}: {len(self.values)} values, SageMaker allows at most "
                f"{MAX_CATEGORICAL_VALUES} per categorical range"
            )
        if len(set(self.values)) != len(self.values):
            raise ConfigurationError(f"{_where(self.name)}: values {list(self.values)} repeat")

    def optuna_distribution(self) -> Any:
        """The Optuna distribution: the same values, as strings, as :meth:`to_sagemaker`."""
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(list(self.values))

    def suggest(self, trial: Any) -> str:
        return str(trial.suggest_categorical(self.name, self.optuna_distribution().choices))

    def to_sagemaker(self) -> dict[str, Any]:
        """SageMaker's CategoricalParameterRange."""
        return {"Name": self.name, "Values": list(self.values)}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": "Categorical", "values": list(self.values)}


AnyRange = ParameterRange | CategoricalParameterRange


def optuna_name(parameter: AnyRange) -> str:
    """The Optuna parameter name (reverse-log ranges store their complement under a suffix)."""
    if isinstance(parameter, ParameterRange) and parameter.effective_scaling == "ReverseLogarithmic":
        return f"{parameter.name}__one_minus"
    return parameter.name


def ContinuousParameterRange(
    name: str, min_value: float, max_value: float, scaling_type: str = "Auto"
) -> ParameterRange:
    """SageMaker's ``ContinuousParameterRange``: floats between min and max."""
    return ParameterRange(name, "Continuous", float(min_value), float(max_value), scaling_type)


def IntegerParameterRange(
    name: str, min_value: int, max_value: int, scaling_type: str = "Auto"
) -> ParameterRange:
    """SageMaker's ``IntegerParameterRange``: whole numbers between min and max."""
    return ParameterRange(name, "Integer", float(min_value), float(max_value), scaling_type)


@dataclass(frozen=True)
class WarmStart:
    """Parent tuning jobs (Optuna studies locally) and how their results are reused."""

    parents: tuple[str, ...]
    type: str = "IdenticalDataAndAlgorithm"

    def __post_init__(self) -> None:
        if self.type not in WARM_START_TYPES:
            raise ConfigurationError(
                f"tuning.warm_start.type {self.type!r} is not one of {', '.join(WARM_START_TYPES)}"
            )
        if len(self.parents) > MAX_PARENT_JOBS:
            raise ConfigurationError(
                f"tuning.warm_start.parents lists {len(self.parents)} jobs; SageMaker allows at "
                f"most {MAX_PARENT_JOBS}"
            )

    def to_sagemaker(self) -> dict[str, Any]:
        return {
            "ParentHyperParameterTuningJobs": [
                {"HyperParameterTuningJobName": name} for name in self.parents
            ],
            "WarmStartType": self.type,
        }


@dataclass(frozen=True)
class TuningSpace:
    """Everything a tuning job needs besides the training job it varies."""

    parameter_ranges: tuple[AnyRange, ...]
    objective_metric: str
    objective_type: str = "Maximize"
    max_jobs: int = 4
    max_parallel_jobs: int = 1
    early_stopping: str = "Auto"
    strategy: str = "Bayesian"
    warm_start: WarmStart | None = None
    metric_names: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not self.parameter_ranges:
            raise ConfigurationError("tuning.parameter_ranges is empty: name at least one hyperparameter")
        names = [p.name for p in self.parameter_ranges]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"tuning.parameter_ranges names repeat: {names}")
        if self.objective_type not in OBJECTIVE_TYPES:
            raise ConfigurationError(
                f"tuning.objective.type {self.objective_type!r} is not one of {', '.join(OBJECTIVE_TYPES)}"
            )
        if self.metric_names and self.objective_metric not in self.metric_names:
            raise ConfigurationError(
                f"tuning.objective.metric {self.objective_metric!r} is not captured by any "
                f"training.metric_definitions entry; captured metrics: {list(self.metric_names)}"
            )
        for key in ("max_jobs", "max_parallel_jobs"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"tuning.{key} must be a whole number >= 1, got {value!r}")
        if self.max_parallel_jobs > self.max_jobs:
            raise ConfigurationError(
                f"tuning.max_parallel_jobs {self.max_parallel_jobs} exceeds tuning.max_jobs "
                f"{self.max_jobs}; lower it"
            )
        if self.early_stopping not in EARLY_STOPPING_TYPES:
            raise ConfigurationError(
                f"tuning.early_stopping {self.early_stopping!r} is not one of "
                f"{', '.join(EARLY_STOPPING_TYPES)}"
            )
        for parameter in self.parameter_ranges:
            if parameter.name != FAMILY_PARAMETER:
                continue
            from airsage.training.trainer import FAMILY_NAMES

            unknown = sorted(set(getattr(parameter, "values", ())) - set(FAMILY_NAMES))
            if parameter.kind != "Categorical" or unknown:
                raise ConfigurationError(
                    f"{_where(FAMILY_PARAMETER)} must be a Categorical range of model families "
                    f"({', '.join(FAMILY_NAMES)}); got {parameter.to_dict()}"
                )
        if self.strategy not in STRATEGIES:
            raise ConfigurationError(
                f"tuning.strategy {self.strategy!r} is not supported; use one of {', '.join(STRATEGIES)}"
            )

    # -- parsing ------------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: Settings) -> TuningSpace:
        names = tuple(
            str(d.get("Name")) for d in settings.section("training").get("metric_definitions") or ()
        )
        return cls.from_mapping(settings.section("tuning"), metric_names=names)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, metric_names: Sequence[str] = ()) -> TuningSpace:
        ranges_raw = raw.get("parameter_ranges") or {}
        if not isinstance(ranges_raw, Mapping):
            raise ConfigurationError(
                "tuning.parameter_ranges must map a hyperparameter name to its range, e.g. "
                "{C: {type: Continuous, min: 0.01, max: 10, scaling: Logarithmic}}"
            )
        ranges = tuple(parse_range(str(name), spec) for name, spec in ranges_raw.items())
        objective = raw.get("objective") or {}
        if not isinstance(objective, Mapping) or not objective.get("metric"):
            raise ConfigurationError(
                "tuning.objective needs a metric, e.g. {metric: 'validation:macro_f1', type: Maximize}"
            )
        warm = raw.get("warm_start") or {}
        if not isinstance(warm, Mapping):
            raise ConfigurationError("tuning.warm_start must be a mapping {parents: [...], type: ...}")
        parents = warm.get("parents") or []
        if isinstance(parents, str):
            parents = [parents]
        warm_start = (
            WarmStart(tuple(str(p) for p in parents), str(warm.get("type", "IdenticalDataAndAlgorithm")))
            if parents
            else None
        )
        return cls(
            parameter_ranges=ranges,
            objective_metric=str(objective["metric"]),
            objective_type=str(objective.get("type", "Maximize")),
            max_jobs=raw.get("max_jobs", 4),
            max_parallel_jobs=raw.get("max_parallel_jobs", 1),
            early_stopping=str(raw.get("early_stopping", "Auto")),
            strategy=str(raw.get("strategy", "Bayesian")),
            warm_start=warm_start,
            metric_names=tuple(metric_names),
        )

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TuningSpace:
        """The inverse of :meth:`to_dict`: a space read back from a request's JSON form."""
        try:
            ranges = tuple(parse_range(str(item["name"]), item) for item in raw["parameter_ranges"])
            objective = raw["objective"]
            warm = raw.get("warm_start")
            warm_start = WarmStart(
                tuple(str(parent["HyperParameterTuningJobName"])
                      for parent in warm["ParentHyperParameterTuningJobs"]),
                str(warm["WarmStartType"]),
            ) if warm else None
            return cls(
                parameter_ranges=ranges,
                objective_metric=str(objective["metric"]),
                objective_type=str(objective["type"]),
                max_jobs=raw["max_jobs"],
                max_parallel_jobs=raw["max_parallel_jobs"],
                early_stopping=str(raw["early_stopping"]),
                strategy=str(raw["strategy"]),
                warm_start=warm_start,
            )
        except (KeyError, TypeError) as exc:
            raise ConfigurationError(
                f"a search space mapping lacks or misshapes {exc}; pass TuningSpace.to_dict()'s "
                "result"
            ) from exc

    def families(self) -> tuple[str, ...]:
        """The model families of a ``model_family`` range, or () when the family is fixed."""
        for parameter in self.parameter_ranges:
            if parameter.name == FAMILY_PARAMETER:
                return tuple(parameter.values)  # type: ignore[union-attr]
        return ()

    def with_changes(self, **changes: Any) -> TuningSpace:
        return replace(self, **changes)

    # -- the two engines' forms, both from parameter_ranges --------------------------------
    def optuna_distributions(self) -> dict[str, Any]:
        """Optuna's view of the ranges: name (as :meth:`ParameterRange.suggest` records it)
        -> distribution; a warm start checks a parent's trials against it."""
        return {optuna_name(p): p.optuna_distribution() for p in self.parameter_ranges}

    def tuned_names(self) -> tuple[str, ...]:
        """The hyperparameters a tuning job varies (the others of a training job are static)."""
        return tuple(p.name for p in self.parameter_ranges)

    def parameter_ranges_dict(self) -> dict[str, list[dict[str, Any]]]:
        """``HyperParameterTuningJobConfig.ParameterRanges`` of CreateHyperParameterTuningJob."""
        result: dict[str, list[dict[str, Any]]] = {
            "ContinuousParameterRanges": [],
            "IntegerParameterRanges": [],
            "CategoricalParameterRanges": [],
        }
        for parameter in self.parameter_ranges:
            result[f"{parameter.kind}ParameterRanges"].append(parameter.to_sagemaker())
        return result

    def tuning_job_config(self) -> dict[str, Any]:
        """``HyperParameterTuningJobConfig`` of CreateHyperParameterTuningJob."""
        return {
            "Strategy": self.strategy,
            "HyperParameterTuningJobObjective": {
                "Type": self.objective_type,
                "MetricName": self.objective_metric,
            },
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": self.max_jobs,
                "MaxParallelTrainingJobs": self.max_parallel_jobs,
            },
            "ParameterRanges": self.parameter_ranges_dict(),
            "TrainingJobEarlyStoppingType": self.early_stopping,
        }

    def warm_start_config(self) -> dict[str, Any] | None:
        """``WarmStartConfig`` of CreateHyperParameterTuningJob, or None without parents."""
        return self.warm_start.to_sagemaker() if self.warm_start else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameter_ranges": [p.to_dict() for p in self.parameter_ranges],
            "objective": {"metric": self.objective_metric, "type": self.objective_type},
            "max_jobs": self.max_jobs,
            "max_parallel_jobs": self.max_parallel_jobs,
            "early_stopping": self.early_stopping,
            "strategy": self.strategy,
            "warm_start": self.warm_start_config(),
        }


def parse_range(name: str, spec: Any) -> AnyRange:
    """One ``tuning.parameter_ranges`` entry; errors name the parameter and the bad value."""
    if not isinstance(spec, Mapping):
        raise ConfigurationError(f"{_where(name)} must be a mapping with a type, got {spec!r}")
    kind = str(spec.get("type", "")).capitalize()
    if kind not in RANGE_TYPES:
        raise ConfigurationError(
            f"{_where(name)}.type {spec.get('type')!r} is not one of {', '.join(RANGE_TYPES)}"
        )
    if kind == "Categorical":
        values = spec.get("values")
        if isinstance(values, str) or not isinstance(values, Sequence):
            raise ConfigurationError(f"{_where(name)}.values must be a list, got {values!r}")
        return CategoricalParameterRange(name, tuple(str(v) for v in values))
    for key in ("min", "max"):
        if key not in spec:
            raise ConfigurationError(f"{_where(name)} lacks '{key}' (a {kind} range needs min and max)")
    integer = kind == "Integer"
    low = _number(name, "min", spec["min"], integer=integer)
    high = _number(name, "max", spec["max"], integer=integer)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ConfigurationError(f"{_where(name)}: min and max must be finite, got {low}, {high}")
    return ParameterRange(name, kind, low, high, str(spec.get("scaling", "Auto")))
