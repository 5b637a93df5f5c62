"""The local target's feature store: a Parquet offline store in the lake, read by DuckDB.

Layout (``airsage.lake.layout``): ``<prefix>/<group>/_feature_group.json`` is the group's
definition (what CreateFeatureGroup was given), ``<prefix>/<group>/data/dt=<day>/part-0.parquet``
the records the run for that day wrote, with SageMaker's offline-store columns
(``write_time``, ``api_invocation_time``, ``is_deleted``). A rerun of a day replaces its own
file and nothing else; the raw data is never read or written here. Reads are the shared
point-in-time SQL (:mod:`airsage.features.query`) over a DuckDB view of every file, so the
lake may be a directory or S3 (DuckDB reads the files in place).
"""

from __future__ import annotations

import datetime as dt_
import io
import json
from typing import TYPE_CHECKING, Any

from airsage.config import Settings
from airsage.features.base import (
    API_INVOCATION_TIME,
    EVENT_TIME,
    FEATURE_NAMES,
    IS_DELETED,
    RECORD_ID,
    WRITE_TIME,
    FeatureGroupSpec,
    FeatureStoreError,
    WriteResult,
)
from airsage.features.query import DUCKDB, point_in_time_sql, quote
from airsage.lake.base import Lake, configure_duckdb
from airsage.lake.layout import LakeLayout, partition_value

if TYPE_CHECKING:
    import pandas as pd

VIEW = "feature_group"


# The pandas dtype each SageMaker feature type is stored with (nullable: a deletion marker's
# features are null); the files' Parquet types are the Glue table's (bigint, string, double).
PANDAS_TYPES = {"Integral": "Int64", "Fractional": "Float64", "String": "string"}


def offline_bytes(spec: FeatureGroupSpec, frame: pd.DataFrame) -> bytes:
    """An offline-store file: the features in the group's types, then SageMaker's three."""
    types: dict[str, Any] = {name: PANDAS_TYPES[type_] for name, type_ in spec.features}
    types.update({WRITE_TIME: "datetime64[us, UTC]", API_INVOCATION_TIME: "datetime64[us, UTC]",
                  IS_DELETED: "bool"})
    buffer = io.BytesIO()
    frame.loc[:, list(types)].astype(types).to_parquet(buffer, index=False, engine="pyarrow")
    return buffer.getvalue()


def offline_frame(spec: FeatureGroupSpec, records: pd.DataFrame, deleted_ids: list[int],
                  event_time: str, written_at: dt_.datetime) -> pd.DataFrame:
    """The run's rows as the offline store holds them: live records, then deletion markers
    (the id and the event time, every other feature null), all stamped ``written_at``."""
    import pandas as pd

    missing = [name for name, _ in spec.features if name not in records.columns]
    if missing:
        raise FeatureStoreError(f"feature group {spec.name}: records lack feature(s) {missing}")
    live = records.loc[:, [name for name, _ in spec.features]].assign(**{IS_DELETED: False})
    markers = pd.DataFrame({RECORD_ID: pd.Series(sorted(deleted_ids), dtype="int64"),
                            EVENT_TIME: event_time, IS_DELETED: True})
    frame = pd.concat([live, markers], ignore_index=True) if len(markers) else live
    stamp = pd.Timestamp(written_at.astimezone(dt_.UTC))
    return frame.assign(**{WRITE_TIME: stamp, API_INVOCATION_TIME: stamp})


class LocalFeatureStore:
    """Feature groups as Parquet files in the lake, read through DuckDB."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _definition(self, lake: Lake, spec: FeatureGroupSpec) -> dict[str, Any] | None:
        key = LakeLayout.feature_group_definition(spec.store_prefix, spec.name)
        try:
            return dict(json.loads(lake.read_bytes(key)))
        except FileNotFoundError:
            return None

    def ensure_group(self, lake: Lake, spec: FeatureGroupSpec) -> bool:
        existing = self._definition(lake, spec)
        if existing is not None:
            differences = spec.schema_differences(existing.get("FeatureDefinitions") or [])
            if differences:
                raise FeatureStoreError(
                    f"feature group {spec.name} at {lake.uri(spec.offline_prefix)} exists with "
                    f"another schema: {'; '.join(differences)}; give the new definition another "
                    "group name (features.feature_group) or delete the old group's folder")
            return False
        definition = {"FeatureGroupName": spec.name,
                      "RecordIdentifierFeatureName": spec.record_identifier,
                      "EventTimeFeatureName": spec.event_time_feature,
                      "FeatureDefinitions": spec.definitions(),
                      "Description": spec.description}
        lake.write_bytes(LakeLayout.feature_group_definition(spec.store_prefix, spec.name),
                         json.dumps(definition, indent=2).encode())
        return True

    def _require_group(self, lake: Lake, spec: FeatureGroupSpec) -> None:
        if self._definition(lake, spec) is None:
            raise FeatureStoreError(
                f"feature group {spec.name} does not exist (no "
                f"{lake.uri(LakeLayout.feature_group_definition(spec.store_prefix, spec.name))}); "
                "a reviews_daily run's prepare step creates it, or check features.feature_group")

    def write(self, lake: Lake, spec: FeatureGroupSpec, day: str, records: pd.DataFrame,
              deleted_ids: list[int]) -> WriteResult:
        self._require_group(lake, spec)
        event_times = set(records[EVENT_TIME].unique().tolist())
        if len(event_times) != 1:
            raise FeatureStoreError(
                f"feature group {spec.name}: a run writes at one event time, got {sorted(event_times)}")
        event_time = str(event_times.pop())
        frame = offline_frame(spec, records, deleted_ids, event_time, dt_.datetime.now(dt_.UTC))
        key = LakeLayout.feature_group_run(spec.store_prefix, spec.name, partition_value(day))
        uri = lake.write_bytes(key, offline_bytes(spec, frame))
        return WriteResult(spec.name, event_time, len(records), len(deleted_ids), uri)

    def query(self, lake: Lake, spec: FeatureGroupSpec, as_of: dt_.datetime,
              split: str | None = None) -> pd.DataFrame:
        import duckdb
        import pandas as pd

        self._require_group(lake, spec)
        sql = point_in_time_sql(quote(VIEW), as_of, DUCKDB, split=split)
        data = LakeLayout.feature_group_data(spec.store_prefix, spec.name)
        if next(iter(lake.list(data)), None) is None:
            columns = {name: pd.Series(dtype="object") for name in FEATURE_NAMES}
            return pd.DataFrame(columns)
        con = configure_duckdb(duckdb.connect(), lake)
        try:
            con.execute("SET TimeZone = 'UTC'")
            files = lake.uri(data.rstrip("/")) + "/*/*.parquet"
            con.execute(
                f"CREATE VIEW {quote(VIEW)} AS SELECT * FROM read_parquet("
                f"'{files}', hive_partitioning = false, union_by_name = true)")
            return con.execute(sql).df()
        except duckdb.Error as exc:
            raise FeatureStoreError(
                f"feature group {spec.name}: the point-in-time read of {lake.uri(data)} failed: "
                f"{exc}") from exc
        finally:
            con.close()
