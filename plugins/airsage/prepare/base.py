"""The prepare step's contract: its options, its results and the names later steps rely on.

Training reads the feature splits by these column and file names, the bias and monitor jobs
read the curated file; the names are decided here once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt_
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from airsage.config import Settings, section_values
from airsage.errors import ConfigurationError
from airsage.lake.layout import SPLITS

CURATED_FILE = "reviews.parquet"
FEATURES_FILE = "part-0.parquet"
SENTIMENT_LABELS: tuple[int, ...] = (-1, 0, 1)
FEATURE_COLUMNS: tuple[str, ...] = (
    "review_id",
    "review_text",
    "sentiment",
    "rating",
    "age",
    "division_name",
    "department_name",
    "class_name",
)
BALANCE_STRATEGIES: tuple[str, ...] = ("undersample", "none", "oversample")
DEFAULT_SPLITS: Mapping[str, float] = {"train": 0.9, "validation": 0.05, "test": 0.05}
DATA_DOCS_REPORT = "data-docs"
EXPECTATIONS_REPORT = "expectations"
PREPARE_REPORT = "prepare"


def sentiment_of_rating(rating: Any) -> int | None:
    """The labs' label: 1-2 → -1, 3 → 0, 4-5 → 1; anything else has no sentiment."""
    if rating is None or (isinstance(rating, float) and math.isnan(rating)):
        return None
    try:
        value = int(rating)
    except (TypeError, ValueError):
        return None
    if value != rating:
        return None
    if value in (1, 2):
        return -1
    if value == 3:
        return 0
    if value in (4, 5):
        return 1
    return None


@dataclass(frozen=True)
class PrepareOptions:
    """How a run prepares its features; read from the ``prepare:`` section, overridable per run.

    A run trains on a *window* of curated days ending at its own day: the ``window_days``
    most recent days up to it, or, when ``window_since`` is set, every day from that date.
    The ``test`` split is the *evaluation set*: the ``splits["test"]`` share of review ids
    chosen by a stable hash salted with ``evaluation_version``, so the same review is held out
    in every window and no model of that version ever trains on it; ``train`` and
    ``validation`` divide the remaining rows in their configured proportion.

    ``time_column`` switches the train/validation split from stratified-random to
    time-ordered (the earliest rows train, the latest validate).
    """

    balance: str = "undersample"
    splits: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SPLITS))
    seed: int = 42
    min_text_length: int = 1
    time_column: str | None = None
    split_max_kl_divergence: float = 0.01
    window_days: int = 1
    window_since: str | None = None
    evaluation_version: int = 1

    def __post_init__(self) -> None:
        if self.balance not in BALANCE_STRATEGIES:
            raise ConfigurationError(
                f"prepare: balance {self.balance!r} is not one of {', '.join(BALANCE_STRATEGIES)}; "
                "set prepare.balance or the run's 'balance' parameter to one of them"
            )
        if set(self.splits) != set(SPLITS):
            raise ConfigurationError(
                f"prepare: splits must name exactly {', '.join(SPLITS)}, got {sorted(self.splits)}"
            )
        fractions = {name: float(value) for name, value in self.splits.items()}
        if any(not 0.0 < value < 1.0 for value in fractions.values()):
            raise ConfigurationError(
                f"prepare: every split fraction must lie strictly between 0 and 1, got {fractions}"
            )
        if not math.isclose(sum(fractions.values()), 1.0, abs_tol=1e-6):
            raise ConfigurationError(
                f"prepare: split fractions must sum to 1, got {fractions} "
                f"(sum {sum(fractions.values()):.6f})"
            )
        object.__setattr__(self, "splits", {name: fractions[name] for name in SPLITS})
        if int(self.min_text_length) < 1:
            raise ConfigurationError(
                f"prepare: min_text_length must be at least 1, got {self.min_text_length}"
            )
        if int(self.window_days) < 1:
            raise ConfigurationError(
                f"prepare: window_days must be at least 1 (the run's own day), got "
                f"{self.window_days}; set prepare.window_days or the run's 'window_days'"
            )
        if self.window_since is not None:
            try:
                since = dt_.date.fromisoformat(str(self.window_since)[:10]).isoformat()
            except ValueError:
                raise ConfigurationError(
                    f"prepare: window_since {self.window_since!r} is not a date (YYYY-MM-DD); "
                    "set it to the first day to train on, or leave it empty for window_days"
                ) from None
            object.__setattr__(self, "window_since", since)
        if int(self.evaluation_version) < 1:
            raise ConfigurationError(
                f"prepare: evaluation_version must be a positive integer, got "
                f"{self.evaluation_version}"
            )
        if not self.split_max_kl_divergence > 0:
            raise ConfigurationError(
                "prepare: split_max_kl_divergence must be positive, "
                f"got {self.split_max_kl_divergence}"
            )

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> PrepareOptions:
        """The ``prepare:`` section with ``overrides`` on top (``None`` values are ignored)."""
        section = dict(settings.section("prepare"))
        section.update({key: value for key, value in overrides.items() if value is not None})
        section_values(cls, section, section="prepare", source=settings.source,
                       custom=tuple(f.name for f in dataclasses.fields(cls)))
        try:
            return cls(
                balance=str(section.get("balance", cls.balance)),
                splits=dict(section.get("splits") or DEFAULT_SPLITS),
                seed=int(section.get("seed", cls.seed)),
                min_text_length=int(section.get("min_text_length", cls.min_text_length)),
                time_column=section.get("time_column") or None,
                split_max_kl_divergence=float(
                    section.get("split_max_kl_divergence", cls.split_max_kl_divergence)
                ),
                window_days=int(section.get("window_days", cls.window_days)),
                window_since=str(section["window_since"]) if section.get("window_since") else None,
                evaluation_version=int(section.get("evaluation_version", cls.evaluation_version)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"prepare: malformed option in {settings.source}: {exc}"
            ) from exc

    def min_rows_per_class(self) -> int:
        """Rows a class needs so that rounding still gives it at least one row in every split."""
        return math.ceil(1.0 / min(self.splits.values()) - 1e-9)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["splits"] = dict(self.splits)
        return data


@dataclass(frozen=True)
class CurateResult:
    """The curated Parquet of one partition and its label counts (keys are "-1", "0", "1")."""

    key: str
    rows: int
    sentiment_counts: Mapping[str, int]
    unlabelled: int = 0
    uri: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "rows": self.rows,
            "sentiment_counts": dict(self.sentiment_counts),
            "unlabelled": self.unlabelled,
            "uri": self.uri,
        }


@dataclass(frozen=True)
class ExpectationsResult:
    """The Great Expectations verdict on the prepared splits, and where its Data Docs live."""

    success: bool
    suite_name: str
    evaluated: int
    failed: int
    failures: tuple[dict[str, Any], ...] = ()
    result_key: str = ""
    data_docs_key: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "suite_name": self.suite_name,
            "evaluated": self.evaluated,
            "failed": self.failed,
            "failures": [dict(failure) for failure in self.failures],
            "result_key": self.result_key,
            "data_docs_key": self.data_docs_key,
        }


@dataclass(frozen=True)
class PrepareResult:
    """What a prepare run wrote: one Parquet file per split, its counts and its lineage hash.

    ``channels`` maps each split to the lake prefix a training job reads as its channel;
    ``window_days`` are the curated days the splits were drawn from; ``evaluation_set``
    describes the test split (version, share, rows, sha256 of its review ids);
    ``feature_store`` what the run wrote to its feature group and the read that fed the
    splits (empty without a feature store).
    """

    dataset: str
    day: str
    split_keys: Mapping[str, str]
    channels: Mapping[str, str]
    rows: Mapping[str, int]
    class_counts: Mapping[str, Mapping[str, int]]
    input_rows: int
    dropped: Mapping[str, int]
    oversampled_rows: int
    dataset_hash: str
    expectations: ExpectationsResult
    data_docs_key: str
    report_key: str
    options: PrepareOptions
    window_days: tuple[str, ...] = ()
    evaluation_set: Mapping[str, Any] = field(default_factory=dict)
    feature_store: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "day": self.day,
            "window_days": list(self.window_days),
            "evaluation_set": dict(self.evaluation_set),
            "evaluation_set_hash": self.evaluation_set.get("ids_sha256", ""),
            "split_keys": dict(self.split_keys),
            "channels": dict(self.channels),
            "rows": dict(self.rows),
            "class_counts": {split: dict(counts) for split, counts in self.class_counts.items()},
            "input_rows": self.input_rows,
            "dropped": dict(self.dropped),
            "oversampled_rows": self.oversampled_rows,
            "dataset_hash": self.dataset_hash,
            "expectations": self.expectations.to_dict(),
            "data_docs_key": self.data_docs_key,
            "report_key": self.report_key,
            "options": self.options.to_dict(),
            "feature_store": dict(self.feature_store),
        }
