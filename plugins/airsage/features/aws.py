"""The aws target's feature store: a SageMaker Feature Group whose offline store is in the lake.

- :func:`create_request` (pure) is the ``CreateFeatureGroup`` call: the same definition as
  locally (:class:`FeatureGroupSpec`), an offline store only, under the lake's
  ``<offline_store_prefix>/<group>`` S3 prefix, its Glue table named through
  ``DataCatalogConfig`` (database ``catalog.database``) so that Athena queries it.
- :meth:`SageMakerFeatureStore.ensure_group` describes first: a missing group is created and
  waited for; an existing one with other features is a clear error; one that exists is used.
- :meth:`SageMakerFeatureStore.write` ingests as the labs do, one ``PutRecord`` per record
  through ``sagemaker-featurestore-runtime`` (threads, as the SageMaker SDK's ``ingest``),
  a ``DeleteRecord`` per deletion marker (its offline-store marker is the record with
  ``is_deleted`` true), then waits until Athena sees every record of the write: SageMaker
  copies records to the offline store in batches (minutes), and training reads from there.
- :meth:`SageMakerFeatureStore.query` runs the shared point-in-time SQL
  (:mod:`airsage.features.query`, Athena dialect) through Athena.
"""

from __future__ import annotations

import datetime as dt_
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from airsage.awsconf import AwsSettings, ServiceCall, ServiceReader
from airsage.config import Settings
from airsage.errors import ConfigurationError, StepFailed
from airsage.features.base import (
    API_INVOCATION_TIME,
    EVENT_TIME,
    FEATURE_NAMES,
    FeatureGroupSpec,
    FeatureStoreError,
    FeatureStoreSettings,
    WriteResult,
    format_event_time,
)
from airsage.features.query import ATHENA, point_in_time_sql, quote, string_literal

if TYPE_CHECKING:
    import pandas as pd

    from airsage.lake.base import Lake

INGEST_THREADS = 8
TARGET_STORES = ["OfflineStore"]


def glue_table_name(spec: FeatureGroupSpec) -> str:
    """The offline store's Glue table: the group's name as Glue spells tables."""
    return spec.name.lower().replace("-", "_")


def create_request(settings: Settings, spec: FeatureGroupSpec) -> dict[str, Any]:
    """``CreateFeatureGroup``'s parameters for ``spec`` (pure)."""
    aws = AwsSettings.from_settings(settings)
    aws.require_s3()
    return {
        "FeatureGroupName": spec.name,
        "RecordIdentifierFeatureName": spec.record_identifier,
        "EventTimeFeatureName": spec.event_time_feature,
        "FeatureDefinitions": spec.definitions(),
        "OfflineStoreConfig": {
            "S3StorageConfig": {"S3Uri": aws.uri(spec.offline_prefix).rstrip("/")},
            "DataCatalogConfig": {"Catalog": "AwsDataCatalog", "Database": aws.database,
                                  "TableName": glue_table_name(spec)},
            "DisableGlueTableCreation": False,
        },
        "RoleArn": aws.require_role(f"feature group {spec.name}"),
        "Description": spec.description,
        "Tags": [{"Key": key, "Value": value} for key, value in aws.tags],
    }


def prepare_calls(settings: Settings, spec: FeatureGroupSpec, day: str) -> tuple[ServiceCall, ...]:
    """What the prepare step of ``day``'s run calls (``airsage plan``): the group, the read of
    the ids live before the write, the records, the wait for the offline store, the read back."""
    from airsage.features.base import as_of_for_day

    request = create_request(settings, spec)
    as_of = as_of_for_day(day)
    event_time = format_event_time(as_of)
    table = f"{quote(request['OfflineStoreConfig']['DataCatalogConfig']['Database'])}." \
            f"{quote(request['OfflineStoreConfig']['DataCatalogConfig']['TableName'])}"
    read = point_in_time_sql(table, as_of, ATHENA)
    return (
        ServiceCall("sagemaker", "DescribeFeatureGroup", {"FeatureGroupName": spec.name}),
        ServiceCall("sagemaker", "CreateFeatureGroup (when missing)", request),
        ServiceCall("athena", "StartQueryExecution", {"QueryString": read,
                                                      "purpose": "ids live before the write"}),
        ServiceCall("sagemaker-featurestore-runtime", "PutRecord", {
            "FeatureGroupName": spec.name, "TargetStores": TARGET_STORES,
            "Record": f"<one per selected review, {EVENT_TIME} {event_time}>"}),
        ServiceCall("sagemaker-featurestore-runtime", "DeleteRecord", {
            "FeatureGroupName": spec.name, "TargetStores": TARGET_STORES, "EventTime": event_time,
            "RecordIdentifierValueAsString": "<each id live before and not selected>"}),
        ServiceCall("athena", "StartQueryExecution", {
            "purpose": "until the offline store holds the write (features.replication_timeout_seconds)"}),
        ServiceCall("athena", "StartQueryExecution", {"QueryString": read,
                                                      "purpose": "the training channels"}),
    )


def record_of(row: Mapping[str, Any]) -> list[dict[str, str]]:
    """``PutRecord``'s ``Record``: each non-null feature as a string (SageMaker's wire form)."""
    import pandas as pd

    record = []
    for name in FEATURE_NAMES:
        value = row.get(name)
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            continue
        text = str(int(value)) if isinstance(value, float) and float(value).is_integer() else str(value)
        record.append({"FeatureName": name, "ValueAsString": text})
    return record


class SageMakerFeatureStore(ServiceReader):
    """A feature group in SageMaker Feature Store (the provider's hooks make the clients;
    tests hand in clients of their own)."""

    def __init__(self, settings: Settings, *, client: Any | None = None,
                 runtime: Any | None = None, athena: Any | None = None) -> None:
        super().__init__(settings, client=client)
        self.config = FeatureStoreSettings.from_settings(settings)
        self._runtime = runtime
        self._athena = athena

    def _connect(self) -> Any:
        from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

        return SageMakerHook(aws_conn_id=self.aws.conn_id or None,
                             region_name=self.aws.region).conn

    @property
    def runtime(self) -> Any:
        if self._runtime is None:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

            self._runtime = AwsBaseHook(aws_conn_id=self.aws.conn_id or None,
                                        client_type="sagemaker-featurestore-runtime",
                                        region_name=self.aws.region).conn
        return self._runtime

    @property
    def athena(self) -> Any:
        if self._athena is None:
            from airflow.providers.amazon.aws.hooks.athena import AthenaHook

            self._athena = AthenaHook(aws_conn_id=self.aws.conn_id or None,
                                      region_name=self.aws.region).get_conn()
        return self._athena

    # -- the group ------------------------------------------------------------------------

    def describe(self, spec: FeatureGroupSpec) -> dict[str, Any] | None:
        """DescribeFeatureGroup's answer, or None when the group does not exist."""
        from botocore.exceptions import ClientError

        try:
            return dict(self.client.describe_feature_group(FeatureGroupName=spec.name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("ResourceNotFound",
                                                            "ResourceNotFoundException"):
                return None
            raise

    def ensure_group(self, lake: Lake, spec: FeatureGroupSpec) -> bool:
        existing = self.describe(spec)
        if existing is not None:
            self._check_existing(spec, existing)
            self._wait_created(spec, existing)
            return False
        self.client.create_feature_group(**create_request(self.settings, spec))
        self._wait_created(spec, self.describe(spec) or {})
        return True

    def _check_existing(self, spec: FeatureGroupSpec, described: Mapping[str, Any]) -> None:
        differences = spec.schema_differences(list(described.get("FeatureDefinitions") or []))
        for key, expected in (("RecordIdentifierFeatureName", spec.record_identifier),
                              ("EventTimeFeatureName", spec.event_time_feature)):
            if described.get(key) != expected:
                differences.append(f"{key} is {described.get(key)!r}, expected {expected!r}")
        if not (described.get("OfflineStoreConfig") or {}).get("S3StorageConfig"):
            differences.append("it has no offline store (point-in-time reads need one)")
        if differences:
            raise FeatureStoreError(
                f"feature group {spec.name} exists in SageMaker with another schema: "
                f"{'; '.join(differences)}; name a new group in features.feature_group (a "
                "feature group's definition cannot be changed in place) or delete the old one")

    def _wait_created(self, spec: FeatureGroupSpec, described: Mapping[str, Any]) -> None:
        """Until the group is ``Created`` (SageMaker creates its Glue table meanwhile)."""
        deadline = time.monotonic() + self.config.replication_timeout_seconds
        status = described.get("FeatureGroupStatus")
        while status == "Creating":
            if time.monotonic() > deadline:
                raise StepFailed(f"feature group {spec.name} still Creating after "
                                 f"{self.config.replication_timeout_seconds} s")
            time.sleep(self.config.poll_seconds)
            described = self.describe(spec) or {}
            status = described.get("FeatureGroupStatus")
        if status != "Created":
            raise StepFailed(
                f"feature group {spec.name} is {status}: "
                f"{described.get('FailureReason') or 'no reason given'}; see the SageMaker "
                "console, delete the group and rerun")

    def glue_table(self, spec: FeatureGroupSpec) -> tuple[str, str]:
        """(database, table) of the group's offline store, as SageMaker reports them."""
        described = self.describe(spec)
        if described is None:
            raise FeatureStoreError(
                f"feature group {spec.name} does not exist in SageMaker (region "
                f"{self.aws.region}); a reviews_daily run's prepare step creates it, or check "
                "features.feature_group")
        catalog = (described.get("OfflineStoreConfig") or {}).get("DataCatalogConfig") or {}
        if not catalog.get("Database") or not catalog.get("TableName"):
            raise FeatureStoreError(
                f"feature group {spec.name} has no Glue table for its offline store "
                "(DataCatalogConfig); Athena cannot query it")
        return str(catalog["Database"]), str(catalog["TableName"])

    # -- records --------------------------------------------------------------------------

    def write(self, lake: Lake, spec: FeatureGroupSpec, day: str, records: pd.DataFrame,
              deleted_ids: list[int]) -> WriteResult:
        event_times = set(records[EVENT_TIME].unique().tolist())
        if len(event_times) != 1:
            raise FeatureStoreError(
                f"feature group {spec.name}: a run writes at one event time, got {sorted(event_times)}")
        event_time = str(event_times.pop())
        started = dt_.datetime.now(dt_.UTC).replace(microsecond=0)
        rows = records.to_dict(orient="records")

        def put(row: Mapping[str, Any]) -> None:
            self.runtime.put_record(FeatureGroupName=spec.name, Record=record_of(row),
                                    TargetStores=TARGET_STORES)

        def delete(record_id: int) -> None:
            self.runtime.delete_record(FeatureGroupName=spec.name,
                                       RecordIdentifierValueAsString=str(record_id),
                                       EventTime=event_time, TargetStores=TARGET_STORES)

        with ThreadPoolExecutor(max_workers=INGEST_THREADS) as pool:
            list(pool.map(put, rows))
            list(pool.map(delete, deleted_ids))
        self.wait_until_visible(spec, event_time, started, len(rows) + len(deleted_ids))
        return WriteResult(spec.name, event_time, len(rows), len(deleted_ids),
                           self.aws.uri(spec.offline_prefix))

    def visible_sql(self, spec: FeatureGroupSpec, event_time: str, since: dt_.datetime) -> str:
        """How many of a write's records the offline store holds (Athena)."""
        database, table = self.glue_table(spec)
        return (f"SELECT count(*) FROM {quote(database)}.{quote(table)} "
                f"WHERE {quote(EVENT_TIME)} = {string_literal(event_time)} "
                f"AND {quote(API_INVOCATION_TIME)} >= "
                f"{ATHENA.parse_time(string_literal(format_event_time(since)))}")

    def wait_until_visible(self, spec: FeatureGroupSpec, event_time: str, since: dt_.datetime,
                           expected: int) -> None:
        """Until Athena counts ``expected`` records of this write in the offline store."""
        sql = self.visible_sql(spec, event_time, since)
        deadline = time.monotonic() + self.config.replication_timeout_seconds
        while True:
            rows = self.athena_rows(sql)
            seen = int(rows[0][0]) if rows and rows[0] and rows[0][0] is not None else 0
            if seen >= expected:
                return
            if time.monotonic() > deadline:
                raise StepFailed(
                    f"feature group {spec.name}: {seen} of {expected} records written at "
                    f"{event_time} reached the offline store within "
                    f"{self.config.replication_timeout_seconds} s; raise "
                    "features.replication_timeout_seconds or rerun the prepare task")
            time.sleep(self.config.poll_seconds)

    # -- reads ----------------------------------------------------------------------------

    def query_sql(self, spec: FeatureGroupSpec, as_of: dt_.datetime, split: str | None = None) -> str:
        database, table = self.glue_table(spec)
        return point_in_time_sql(f"{quote(database)}.{quote(table)}", as_of, ATHENA, split=split)

    def query(self, lake: Lake, spec: FeatureGroupSpec, as_of: dt_.datetime,
              split: str | None = None) -> pd.DataFrame:
        import pandas as pd

        rows = self.athena_rows(self.query_sql(spec, as_of, split))
        return pd.DataFrame(rows, columns=list(FEATURE_NAMES))

    def athena_rows(self, sql: str) -> list[list[Any]]:
        """Run ``sql`` in Athena and return its rows (typed by Athena's column types)."""
        from airsage.sql.aws import AthenaSqlEngine, result_rows

        output = (self.aws.athena_output.rstrip("/") + "/" if self.aws.athena_output
                  else self.aws.uri("reports/athena/feature-store/"))
        if not output.startswith("s3://"):
            raise ConfigurationError(f"aws.athena_output must be an s3:// URI, got {output!r}")
        execution = self.athena.start_query_execution(
            QueryString=sql, WorkGroup=self.aws.athena_workgroup,
            ResultConfiguration={"OutputLocation": output})["QueryExecutionId"]
        engine = AthenaSqlEngine(self.settings, client=self.athena)
        deadline = time.monotonic() + self.config.replication_timeout_seconds
        while True:
            state = self.athena.get_query_execution(
                QueryExecutionId=execution)["QueryExecution"]["Status"]["State"]
            if state not in ("QUEUED", "RUNNING"):
                break
            if time.monotonic() > deadline:
                raise StepFailed(f"feature store: Athena query {execution} still {state}")
            time.sleep(1.0)
        outcome = engine.outcome(execution)
        if outcome["state"] != "SUCCEEDED":
            raise StepFailed(
                f"feature store: Athena query {execution} {outcome['state']}: "
                f"{outcome.get('error') or 'no reason given'}\n{sql}")
        return result_rows(outcome["result_set"])
