"""The one place that names lake keys. Nothing else builds a lake path by joining strings.

Layout (identical on S3 and on the local directory):

- ``raw/<dataset>/dt=YYYY-MM-DD/<file>`` and ``_manifest.json``: landed once, never modified.
- ``quarantine/<dataset>/dt=YYYY-MM-DD/_QUARANTINED.json``: a marker, the raw data stays put.
- ``curated/``, ``features/``: prepared data of a daily run (keyed by date: a rerun overwrites).
- ``models/<dataset>/<job>/``: training/tuning job output (``output/model.tar.gz``), and
  ``input/`` files a job needs that live outside the lake (a registered model staged in).
- ``predictions/<dataset>/dt=YYYY-MM-DD/model_version=<v>/``: a batch scoring of one partition
  by one model version (``input/`` JSON Lines, ``transform/`` the ``.out`` files, the table).
- ``capture/<endpoint>/<variant>/yyyy/mm/dd/hh/``: Model Monitor data capture.
- ``monitoring/``: baselines and monitoring reports.
- ``<offline store prefix>/<feature group>/``: the local feature store (``features.``
  settings): ``_feature_group.json`` (its definition) and ``data/dt=YYYY-MM-DD/part-0.parquet``
  (the records a run for that day wrote; a rerun replaces its own file).
- ``reports/<kind>/<dataset>/dt=YYYY-MM-DD/``: gate results, bias and evaluation reports.
- ``reports/alerts/dt=YYYY-MM-DD/<time>-<id>.json``: the alert log of a lake in S3.
- ``locks/<name>.json``: the lake lock's lease (``Lake.lock``), present while it is held.
- ``catalog/airsage.duckdb``: the local catalog when the lake is in S3 (shared by every host).
"""

from __future__ import annotations

import datetime as dt_
from dataclasses import dataclass

MANIFEST = "_manifest.json"
CATALOG_KEY = "catalog/airsage.duckdb"
QUARANTINE_MARKER = "_QUARANTINED.json"
PREDICTIONS_FILE = "predictions.parquet"
SPLITS = ("train", "validation", "test")


def partition_value(day: dt_.date | str) -> str:
    """``YYYY-MM-DD`` for a date, a datetime or an ISO string; anything else is refused."""
    if isinstance(day, dt_.datetime):
        return day.date().isoformat()
    if isinstance(day, dt_.date):
        return day.isoformat()
    try:
        return dt_.date.fromisoformat(str(day)[:10]).isoformat()
    except ValueError:
        raise ValueError(f"partition date {day!r} is not an ISO date (YYYY-MM-DD)") from None


def _hour_path(when: dt_.datetime) -> str:
    return when.strftime("%Y/%m/%d/%H")


@dataclass(frozen=True)
class LakeLayout:
    """Keys of one dataset. Every method returns a key relative to the lake root."""

    dataset: str = "reviews"

    # -- raw and quarantine -------------------------------------------------------------
    def raw_prefix(self) -> str:
        return f"raw/{self.dataset}/"

    def raw_partition(self, day: dt_.date | str) -> str:
        return f"raw/{self.dataset}/dt={partition_value(day)}/"

    def raw_file(self, day: dt_.date | str, filename: str) -> str:
        return self.raw_partition(day) + filename

    def landed_days(self, keys: list[str]) -> list[str]:
        """The partition dates (sorted) that a listing of ``raw_prefix()`` shows."""
        prefix = self.raw_prefix() + "dt="
        days = {key[len(prefix) :].split("/", 1)[0] for key in keys if key.startswith(prefix)}
        return sorted(days)

    def raw_manifest(self, day: dt_.date | str) -> str:
        return self.raw_partition(day) + MANIFEST

    def quarantine_marker(self, day: dt_.date | str) -> str:
        return f"quarantine/{self.dataset}/dt={partition_value(day)}/{QUARANTINE_MARKER}"

    # -- prepared data ------------------------------------------------------------------
    def curated(self, day: dt_.date | str) -> str:
        return f"curated/{self.dataset}/dt={partition_value(day)}/"

    def curated_prefix(self) -> str:
        return f"curated/{self.dataset}/"

    def curated_days(self, keys: list[str]) -> list[str]:
        """The partition dates (sorted) that a listing of ``curated_prefix()`` shows."""
        prefix = self.curated_prefix() + "dt="
        return sorted({key[len(prefix):].split("/", 1)[0] for key in keys if key.startswith(prefix)})

    def features(self, day: dt_.date | str, split: str | None = None) -> str:
        if split is not None and split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")
        base = f"features/{self.dataset}/dt={partition_value(day)}/"
        return base if split is None else f"{base}{split}/"

    # -- the feature store (local offline store; on aws SageMaker writes under the prefix) --
    @staticmethod
    def feature_group(prefix: str, group: str) -> str:
        return f"{prefix.strip('/')}/{group}/"

    @staticmethod
    def feature_group_definition(prefix: str, group: str) -> str:
        return f"{prefix.strip('/')}/{group}/_feature_group.json"

    @staticmethod
    def feature_group_data(prefix: str, group: str) -> str:
        return f"{prefix.strip('/')}/{group}/data/"

    @staticmethod
    def feature_group_run(prefix: str, group: str, day: dt_.date | str) -> str:
        return f"{prefix.strip('/')}/{group}/data/dt={partition_value(day)}/part-0.parquet"

    # -- models -------------------------------------------------------------------------
    def job(self, job_name: str) -> str:
        return f"models/{self.dataset}/{job_name}/"

    def model_artifact(self, job_name: str) -> str:
        return f"models/{self.dataset}/{job_name}/output/model.tar.gz"

    def job_input(self, job_name: str, filename: str) -> str:
        """Where a file from outside the lake is staged for a job (jobs read lake keys only)."""
        return f"models/{self.dataset}/{job_name}/input/{filename}"

    # -- batch predictions (keyed by day and model version: a rerun overwrites its own) ---
    def predictions(self, day: dt_.date | str, model_version: str) -> str:
        version = str(model_version)
        if not version or "/" in version or version in (".", ".."):
            raise ValueError(f"model version {model_version!r} cannot name a lake folder")
        return f"predictions/{self.dataset}/dt={partition_value(day)}/model_version={version}/"

    def predictions_input(self, day: dt_.date | str, model_version: str) -> str:
        """The JSON Lines the transform reads (one file, ``<dataset>.jsonl``, below it)."""
        return self.predictions(day, model_version) + "input/"

    def predictions_transform(self, day: dt_.date | str, model_version: str) -> str:
        """Where the transform writes ``<input file>.out`` (SageMaker's S3OutputPath)."""
        return self.predictions(day, model_version) + "transform/"

    def predictions_table(self, day: dt_.date | str, model_version: str) -> str:
        return self.predictions(day, model_version) + PREDICTIONS_FILE

    def predictions_prefix(self) -> str:
        return f"predictions/{self.dataset}/"

    # -- reports (keyed by the partition date: a rerun overwrites its own) --------------
    def report(self, kind: str, day: dt_.date | str, filename: str) -> str:
        return f"reports/{kind}/{self.dataset}/dt={partition_value(day)}/{filename}"

    def report_prefix(self, kind: str) -> str:
        return f"reports/{kind}/{self.dataset}/"

    # -- serving and monitoring ---------------------------------------------------------
    @staticmethod
    def capture_prefix(endpoint: str, variant: str | None = None) -> str:
        return f"capture/{endpoint}/" if variant is None else f"capture/{endpoint}/{variant}/"

    @staticmethod
    def capture_hour(endpoint: str, variant: str, when: dt_.datetime) -> str:
        return f"capture/{endpoint}/{variant}/{_hour_path(when)}/"

    @staticmethod
    def ground_truth_hour(endpoint: str, when: dt_.datetime) -> str:
        return f"ground-truth/{endpoint}/{_hour_path(when)}/"

    @staticmethod
    def baseline(model_name: str, version: str) -> str:
        return f"monitoring/baselines/{model_name}/{version}/"

    @staticmethod
    def monitoring_report(endpoint: str, interval_start: dt_.datetime) -> str:
        return f"monitoring/reports/{endpoint}/{_hour_path(interval_start)}/"

    @staticmethod
    def alerts_prefix() -> str:
        return "reports/alerts/"

    @staticmethod
    def alert(created_at: dt_.datetime, alert_id: str) -> str:
        """One alert's object: keys sort by the time the alert was raised."""
        utc = created_at.astimezone(dt_.UTC)
        return f"reports/alerts/dt={utc.date().isoformat()}/{utc:%Y%m%dT%H%M%S%fZ}-{alert_id}.json"

    # -- shared state of the lake itself --------------------------------------------------
    @staticmethod
    def lock(name: str) -> str:
        """The lease of the lake lock ``name`` (a name checked by ``lake.lock.check_lock_name``)."""
        return f"locks/{name}.json"

    @staticmethod
    def catalog() -> str:
        """The local target's catalog database when the lake is in S3."""
        return CATALOG_KEY
