"""The feature store's interface, settings, record schema and as-of rules (both targets).

A feature group holds one *record* per review id and write: the prepare step's features
(cleaned text, sentiment, rating, the facet and group columns), the split the run put the
review in, and the run's event time. The offline store keeps every record ever written, with
SageMaker's offline-store columns: ``write_time``, ``api_invocation_time`` and ``is_deleted``
(a deletion marker: same record id, ``is_deleted`` true, features null).

A point-in-time read *as of T* returns, for each review id, the newest record whose event
time is at or before T (ties broken by the newest ``api_invocation_time``, then
``write_time``), and drops ids whose newest record is a deletion marker. A run for day D
writes at event time :func:`as_of_for_day` (the end of D): its selected rows, and a deletion
marker for every id that was live at that time and is not in its selection, so that a read
as of the run's time is exactly the run's training data and a later write never changes it.
"""

from __future__ import annotations

import datetime as dt_
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from airsage.config import Settings, section_values
from airsage.errors import AirsageError, ConfigurationError
from airsage.lake.layout import SPLITS, LakeLayout, partition_value
from airsage.prepare.base import FEATURE_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

    from airsage.lake.base import Lake

RECORD_ID = "review_id"
EVENT_TIME = "event_time"
SPLIT = "split"
WRITE_TIME = "write_time"
API_INVOCATION_TIME = "api_invocation_time"
IS_DELETED = "is_deleted"
# SageMaker's offline store adds these three to every record it writes.
OFFLINE_COLUMNS: tuple[str, ...] = (WRITE_TIME, API_INVOCATION_TIME, IS_DELETED)
# The features of a record, in order: prepare's columns, the split and the event time.
FEATURE_NAMES: tuple[str, ...] = (*FEATURE_COLUMNS, SPLIT, EVENT_TIME)
# SageMaker feature types (Integral, Fractional, String) of each feature.
FEATURE_TYPES: Mapping[str, str] = {
    "review_id": "Integral", "review_text": "String", "sentiment": "Integral",
    "rating": "Integral", "age": "Integral", "division_name": "String",
    "department_name": "String", "class_name": "String", SPLIT: "String", EVENT_TIME: "String",
}
# The offline store's column types (the Glue table SageMaker writes; DuckDB reads the same).
SQL_TYPES: Mapping[str, str] = {"Integral": "BIGINT", "String": "VARCHAR", "Fractional": "DOUBLE"}
EVENT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# SageMaker's rule for a feature group name.
GROUP_NAME = re.compile(r"^[a-zA-Z0-9]([_-]*[a-zA-Z0-9]){0,63}$")


class FeatureStoreError(AirsageError):
    """A feature group is unknown, has another schema, or a read cannot be answered."""


@dataclass(frozen=True)
class FeatureStoreSettings:
    """The ``features:`` section.

    ``feature_group`` names the group of a dataset (``{dataset}`` is replaced);
    ``offline_store_prefix`` is the lake key prefix of the offline store (local files, and the
    S3 URI SageMaker writes under on aws); ``replication_timeout_seconds`` bounds how long the
    aws prepare step waits for SageMaker to copy a run's records to the offline store (AWS
    documents up to 15 minutes) before it reads them back.
    """

    enabled: bool = True
    feature_group: str = "airsage-{dataset}"
    offline_store_prefix: str = "feature-store"
    replication_timeout_seconds: int = 1800
    poll_seconds: int = 30

    @classmethod
    def from_settings(cls, settings: Settings) -> FeatureStoreSettings:
        raw = settings.section("features")
        values = cls(**section_values(cls, raw, section="features", source=settings.source))
        prefix = values.offline_store_prefix.strip("/")
        if not prefix or ".." in prefix.split("/"):
            raise ConfigurationError(
                f"features.offline_store_prefix {values.offline_store_prefix!r} in "
                f"{settings.source} must be a lake key prefix such as 'feature-store'")
        if "{dataset}" not in values.feature_group and len(settings.datasets) > 1:
            raise ConfigurationError(
                f"features.feature_group {values.feature_group!r} in {settings.source} must "
                "contain {dataset}: more than one dataset is configured")
        for name in ("replication_timeout_seconds", "poll_seconds"):
            if getattr(values, name) < 1:
                raise ConfigurationError(
                    f"features.{name} in {settings.source} must be at least 1, got "
                    f"{getattr(values, name)}")
        return FeatureStoreSettings(values.enabled, values.feature_group, prefix,
                                    values.replication_timeout_seconds, values.poll_seconds)

    def group_name(self, dataset: str) -> str:
        """The feature group of ``dataset``; refused unless SageMaker would accept the name."""
        name = self.feature_group.replace("{dataset}", dataset)
        if not GROUP_NAME.match(name):
            raise ConfigurationError(
                f"feature group name {name!r} (features.feature_group) is not a SageMaker "
                "feature group name: letters, digits, '-' and '_', at most 64 characters, "
                "starting and ending with a letter or digit")
        return name


@dataclass(frozen=True)
class FeatureGroupSpec:
    """A feature group as CreateFeatureGroup describes it: the name, the record identifier,
    the event time feature and each feature's type (the same definition on both targets)."""

    name: str
    dataset: str
    store_prefix: str
    features: tuple[tuple[str, str], ...] = tuple(FEATURE_TYPES.items())
    record_identifier: str = RECORD_ID
    event_time_feature: str = EVENT_TIME
    description: str = ""

    @classmethod
    def for_dataset(cls, settings: Settings, dataset: str) -> FeatureGroupSpec:
        settings.dataset(dataset)
        config = FeatureStoreSettings.from_settings(settings)
        name = config.group_name(dataset)
        return cls(name=name, dataset=dataset, store_prefix=config.offline_store_prefix,
                   description=f"airsage: prepared features of {dataset} (prepare step)")

    @property
    def offline_prefix(self) -> str:
        """The lake prefix of the group's offline store."""
        return LakeLayout.feature_group(self.store_prefix, self.name)

    def definitions(self) -> list[dict[str, str]]:
        """``FeatureDefinitions`` of CreateFeatureGroup."""
        return [{"FeatureName": name, "FeatureType": type_} for name, type_ in self.features]

    def schema_differences(self, definitions: list[Mapping[str, Any]]) -> list[str]:
        """How an existing group's ``FeatureDefinitions`` differ from this spec (empty: same)."""
        found = {str(d["FeatureName"]): str(d["FeatureType"]) for d in definitions}
        expected = dict(self.features)
        differences = [f"feature {name!r} ({type_}) is missing" for name, type_ in expected.items()
                       if name not in found]
        differences += [f"feature {name!r} is {found[name]}, expected {type_}"
                        for name, type_ in expected.items()
                        if name in found and found[name] != type_]
        differences += [f"feature {name!r} ({type_}) is not in airsage's definition"
                        for name, type_ in found.items() if name not in expected]
        return differences

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dataset": self.dataset, "store_prefix": self.store_prefix,
                "features": [list(f) for f in self.features],
                "record_identifier": self.record_identifier,
                "event_time_feature": self.event_time_feature, "description": self.description}


@dataclass(frozen=True)
class WriteResult:
    """What one run wrote to a feature group: live records and deletion markers."""

    feature_group: str
    event_time: str
    records: int
    deleted: int
    location: str

    def to_dict(self) -> dict[str, Any]:
        return {"feature_group": self.feature_group, "event_time": self.event_time,
                "records": self.records, "deleted": self.deleted, "location": self.location}


@dataclass(frozen=True)
class PublishResult:
    """A prepare run's use of the store: its write and the point-in-time read that fed the
    training channels (``rows`` per split as the read returned them)."""

    write: WriteResult
    as_of: str
    rows: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.write.to_dict(), "as_of": self.as_of, "rows": dict(self.rows)}


class FeatureStore(Protocol):
    """A feature group's offline store, on any target."""

    def ensure_group(self, lake: Lake, spec: FeatureGroupSpec) -> bool:
        """Create the group unless it exists (True when created); an existing group with
        other feature definitions raises :class:`FeatureStoreError` naming the difference."""

    def write(self, lake: Lake, spec: FeatureGroupSpec, day: str, records: pd.DataFrame,
              deleted_ids: list[int]) -> WriteResult:
        """Write a run's records (every one at the same event time) and deletion markers for
        ``deleted_ids``; a rerun of ``day`` replaces what the run wrote where the store allows."""

    def query(self, lake: Lake, spec: FeatureGroupSpec, as_of: dt_.datetime,
              split: str | None = None) -> pd.DataFrame:
        """The point-in-time read as of ``as_of`` (columns :data:`FEATURE_NAMES`, by id)."""


def as_of_for_day(day: dt_.date | str) -> dt_.datetime:
    """The event time of a run for ``day``: the end of that day (UTC), the moment its data is
    complete. A rerun gets the same time, so its records replace the first attempt's."""
    start = dt_.date.fromisoformat(partition_value(day))
    return dt_.datetime.combine(start + dt_.timedelta(days=1), dt_.time(), tzinfo=dt_.UTC)


def parse_as_of(value: str | dt_.date | dt_.datetime) -> dt_.datetime:
    """An aware UTC datetime from a date (the end of that day, as a run for it reads) or an
    ISO-8601 time (naive means UTC); anything else is refused with the accepted forms."""
    if isinstance(value, dt_.datetime):
        moment = value
    elif isinstance(value, dt_.date):
        return as_of_for_day(value)
    else:
        text = str(value).strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            try:
                return as_of_for_day(text)
            except ValueError:
                pass
        try:
            moment = dt_.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise FeatureStoreError(
                f"as-of {value!r} is not a date or time; give YYYY-MM-DD (the end of that day, "
                "what the run for it trained on) or an ISO-8601 time such as "
                "2026-03-01T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt_.UTC)
    return moment.astimezone(dt_.UTC)


def format_event_time(moment: dt_.datetime) -> str:
    """The event time feature's value: ISO-8601 in UTC with a ``Z`` (SageMaker's format)."""
    return moment.astimezone(dt_.UTC).strftime(EVENT_TIME_FORMAT)


def check_split(split: str | None) -> str | None:
    if split is not None and split not in SPLITS:
        raise FeatureStoreError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")
    return split


def feature_records(splits: Mapping[str, pd.DataFrame], event_time: str) -> pd.DataFrame:
    """One record per review id of the run's splits: its features, split and event time.

    An id in two splits is leakage, which prepare's guard refuses before this; it is refused
    here too, since a record has one split.
    """
    import pandas as pd

    frames = [splits[name].loc[:, list(FEATURE_COLUMNS)].assign(**{SPLIT: name})
              for name in SPLITS if name in splits]
    records = pd.concat(frames, ignore_index=True)
    duplicated = records[RECORD_ID].duplicated(keep=False)
    if duplicated.any():
        sample = sorted(records.loc[duplicated, RECORD_ID].unique().tolist())[:5]
        raise FeatureStoreError(
            f"feature records: review id(s) {sample} appear more than once in the splits; a "
            "record has one split (oversample after reading the store, never before writing)")
    records[EVENT_TIME] = event_time
    return records.sort_values(RECORD_ID, kind="mergesort").reset_index(drop=True)
