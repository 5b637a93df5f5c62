"""The local target's crawler and catalog: a persistent DuckDB file, views over raw files.

Like a Glue crawler it infers a landed partition's schema (DuckDB's sniffer / Parquet and
JSON schemas), maps the source header to airsage's names (``source_columns``), compares
the result with the contract and the table's previous schema, and registers the partition:
one metadata row per partition (upserted, so a rerun or backfill never duplicates it) and
a view ``<database>.<dataset>`` over the registered partitions' files (no data copied),
with airsage's names, the configured types and a ``dt`` column (a string, as a Hive/Glue
partition key is).

Metadata lives in the schema ``_catalog`` of ``<home>/catalog.duckdb``: ``tables`` (the
last crawled schema of each table) and ``partitions`` (location, files, rows, schema and the
SQL that reads the partition).

Concurrent runs (parallel backfills, several Celery workers on one shared home): a crawl
writes a copy of the file under an exclusive file lock and swaps it in with an atomic rename,
so crawls take turns and readers (SQL checks, quality gate, curate) open the current file
read-only without waiting for a crawl or ever seeing half of one.

Several hosts (workers that share only the lake, MLflow and Postgres): with a lake in S3 the
catalog database lives in the lake (``LakeLayout.catalog()``). A crawl takes the lake lock
``catalog`` (``Lake.lock``), downloads the database, registers the partition and uploads it
with a conditional write on the ETag it read, so even a writer whose lease expired cannot
overwrite another's update. Readers open a local copy of the last uploaded version, kept
under ``<home>/catalog-cache/`` by ETag and fetched again only when the ETag changed.
"""

from __future__ import annotations

import contextlib
import datetime as dt_
import fcntl
import functools
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from airsage.catalog.base import (
    DEFAULT_DATABASE,
    CrawlResult,
    SchemaChange,
    compare_schema,
    enforce_policy,
    schema_policy,
)
from airsage.catalog.scan import FileSchema, inspect_file, sql_ident, sql_string
from airsage.config import DatasetSpec, Settings
from airsage.errors import ConfigurationError, InputDataError, StepFailed
from airsage.lake.base import Lake, configure_duckdb
from airsage.lake.layout import LakeLayout, partition_value

if TYPE_CHECKING:
    from airsage.lake.aws import S3Lake

CATALOG_FILE = "catalog.duckdb"
CATALOG_LOCK = "catalog"
CACHE_DIR = "catalog-cache"
_CACHE_KEEP_SECONDS = 300.0  # older copies of superseded versions are removed
_Token = TypeVar("_Token")  # what a catalog writer's fill hands its publish (the ETag)
META_SCHEMA = "_catalog"
PARTITION_COLUMN = "dt"
_LOCK_WAIT_SECONDS = 30.0

_META_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {META_SCHEMA}.tables (
        database VARCHAR, table_name VARCHAR, location VARCHAR, schema_json VARCHAR,
        created_at TIMESTAMP, updated_at TIMESTAMP, PRIMARY KEY (database, table_name))""",
    f"""CREATE TABLE IF NOT EXISTS {META_SCHEMA}.partitions (
        database VARCHAR, table_name VARCHAR, dt VARCHAR, location VARCHAR,
        files_json VARCHAR, formats VARCHAR, row_count BIGINT, schema_json VARCHAR,
        relation_sql VARCHAR, crawled_at TIMESTAMP,
        PRIMARY KEY (database, table_name, dt))""",
)


def connect_catalog(path: Path, *, read_only: bool) -> Any:
    """Open the catalog file, waiting a little for another process's write lock."""
    import duckdb

    deadline = time.monotonic() + _LOCK_WAIT_SECONDS
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise StepFailed(
                    f"catalog: cannot open {path} ({'read-only' if read_only else 'read-write'})"
                    f": {exc}; another process holds it, retry when it is done"
                ) from exc
            time.sleep(0.5)


def map_columns(spec: DatasetSpec, source_names: Sequence[str]) -> list[str]:
    """airsage's name for each source column (unknown columns keep a normalised name).

    Exact configured names win, then ``source_columns`` (the public file's header), then
    a normalised match (``"Clothing ID"`` -> ``clothing_id``).
    """
    mapped = []
    for name in source_names:
        if name in spec.columns:
            mapped.append(name)
        elif name in spec.source_columns:
            mapped.append(spec.source_columns[name])
        else:
            normal = "_".join(name.strip().lower().split()) or name
            mapped.append(normal)
    return mapped


@dataclass(frozen=True)
class _FilePlan:
    key: str
    schema: FileSchema
    mapped: tuple[str, ...]

    def ref(self, column: str) -> str | None:
        for ref, name in zip(self.schema.refs, self.mapped, strict=True):
            if name == column:
                return ref
        return None

    def select(self, spec: DatasetSpec, day: str) -> str:
        parts = []
        for column, type_ in spec.columns.items():
            ref = self.ref(column)
            expr = f"CAST(NULL AS {type_})" if ref is None else f"TRY_CAST({ref} AS {type_})"
            parts.append(f"{expr} AS {sql_ident(column)}")
        parts.append(f"{sql_string(day)} AS {PARTITION_COLUMN}")
        return f"SELECT {', '.join(parts)} FROM {self.schema.reader}"


def partition_relation(settings: Settings, lake: Lake, dataset: str,
                       day: dt_.date | str) -> str:
    """A FROM-able DuckDB expression reading one partition with airsage's names and types.

    Self-contained (absolute file paths, no catalog attached): values that do not cast
    to the configured type read as NULL, a missing column reads as NULL, extra columns
    are left out, and ``dt`` holds the partition date. It reads the landed files under the
    dataset's contract, not a catalog, so every catalog (DuckDB's, Glue's) curates the same
    rows.
    """
    import duckdb

    spec = settings.dataset(dataset)
    day = partition_value(day)
    with configure_duckdb(duckdb.connect(), lake) as con:
        plans = _file_plans(con, lake, spec, day, validate=False)
    return _relation(plans, spec, day)


@contextlib.contextmanager
def _written_copy(directory: Path, fill: Callable[[Path], _Token],
                  publish: Callable[[Path, _Token], None]) -> Iterator[Any]:
    """A read-write connection to a temporary copy of a catalog, published on success.

    Both writers (the host's file, the lake's object) write a copy, never the catalog in
    place, so a failed crawl changes nothing. ``fill`` writes the current catalog into the
    copy's path (or leaves it absent: DuckDB creates the database, it refuses an empty file)
    and returns what ``publish`` needs to replace the catalog with the checkpointed copy.
    """
    fd, name = tempfile.mkstemp(dir=directory, prefix=".write.", suffix=".tmp")
    os.close(fd)
    copy = Path(name)
    try:
        copy.unlink()
        token = fill(copy)
        con = connect_catalog(copy, read_only=False)
        try:
            yield con
            con.execute("CHECKPOINT")
        finally:
            con.close()
        publish(copy, token)
    finally:
        copy.unlink(missing_ok=True)
        copy.with_name(copy.name + ".wal").unlink(missing_ok=True)


def _file_plans(con: Any, lake: Lake, spec: DatasetSpec, day: str, *,
                validate: bool) -> list[_FilePlan]:
    """Each landed file of the partition: its schema and how its columns map to the contract."""
    layout = LakeLayout(spec.name)
    manifest_key = layout.raw_manifest(day)
    if not lake.exists(manifest_key):
        raise InputDataError(
            f"catalog: {spec.name} dt={day} is not landed (no {lake.uri(manifest_key)}); "
            "run the ingest step for that date first"
        )
    manifest = json.loads(lake.read_bytes(manifest_key))
    plans = []
    for entry in manifest["files"]:
        uri = lake.uri(entry["key"])
        if "://" in uri and not uri.startswith("s3://"):
            raise ConfigurationError(
                f"the local catalog reads files on this machine or in S3, but the lake gives "
                f"{uri}; use a directory or an s3:// lake.root"
            )
        try:
            schema = _inspect(con, lake, entry["key"], uri, entry.get("format"), validate)
        except InputDataError as exc:
            raise InputDataError(f"catalog: {spec.name} dt={day}: {exc}") from exc
        plans.append(_FilePlan(entry["key"], schema, tuple(map_columns(spec, schema.columns))))
    return plans


def _relation(plans: Sequence[_FilePlan], spec: DatasetSpec, day: str) -> str:
    return "(" + " UNION ALL ".join(p.select(spec, day) for p in plans) + ")"


class LocalCatalog:
    """Crawl partitions into ``<home>/catalog.duckdb`` and read them back by SQL."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        section = settings.section("catalog")
        self.database = str(section.get("database") or DEFAULT_DATABASE)
        if not self.database.isidentifier():
            raise ConfigurationError(
                f"catalog.database {self.database!r} must be a plain identifier (letters, "
                "digits, underscore)"
            )
        self.policy = schema_policy(section)
        self.path = Path(settings.home) / CATALOG_FILE
        self.shared = settings.lake_root.startswith("s3://")

    @functools.cached_property
    def _s3_lake(self) -> S3Lake:
        """The S3 lake that holds the shared catalog (built on first use: no network before)."""
        from airsage.lake.aws import S3Lake

        return S3Lake(self.settings)

    def _shared_lake(self) -> S3Lake:
        return self._s3_lake

    def _cached(self, etag: str) -> Path:
        """This host's copy of the lake's catalog version ``etag`` (immutable once written)."""
        return Path(self.settings.home) / CACHE_DIR / f"catalog-{etag.strip(chr(34))}.duckdb"

    def _current_copy(self) -> Path | None:
        """A local copy of the catalog version in the lake now; None when none was uploaded.

        A version is downloaded once per host (to a temporary name, then renamed), so readers
        on one host never see half a file and never download an unchanged catalog twice.
        """
        lake = self._shared_lake()
        etag = lake.etag(LakeLayout.catalog())
        if etag is None:
            return None
        path = self._cached(etag)
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=".download.", suffix=".tmp")
        os.close(fd)
        try:
            got = lake.download_versioned(LakeLayout.catalog(), Path(name))
            if got is None:  # deleted since the HEAD: nothing to read
                return None
            final = self._cached(got)  # the version read (a newer one may have replaced etag)
            os.replace(name, final)
        finally:
            Path(name).unlink(missing_ok=True)
        self._prune_cache(keep=final)
        return final

    def _prune_cache(self, keep: Path) -> None:
        """Remove superseded copies a while after they were replaced (readers that opened one
        keep reading it: an open file outlives its name)."""
        cutoff = time.time() - _CACHE_KEEP_SECONDS
        for old in keep.parent.glob("catalog-*.duckdb"):
            if old != keep:
                with contextlib.suppress(FileNotFoundError):
                    if old.stat().st_mtime < cutoff:
                        old.unlink()

    # -- reading ------------------------------------------------------------------------
    def connect(self, read_only: bool = True) -> Any:
        """A DuckDB connection to the catalog (``airsage sql`` and the SQL checks use it).

        With a lake in S3 it reads this host's copy of the last uploaded version (writes go
        through :meth:`crawl`, under the lake lock).
        """
        if self.shared:
            if not read_only:
                raise ConfigurationError(
                    "catalog: with a lake in S3 the catalog is written only by crawl (under the "
                    f"lake lock); open {self._shared_lake().uri(LakeLayout.catalog())} read-only")
            for attempt in range(3):
                copy = self._current_copy()
                if copy is None:
                    raise InputDataError(
                        f"catalog: {self._shared_lake().uri(LakeLayout.catalog())} does not "
                        "exist yet; crawl a partition first (airsage runs the crawl task after "
                        "ingest)")
                try:
                    con = connect_catalog(copy, read_only=True)
                except StepFailed:
                    if copy.exists() or attempt == 2:
                        raise
                    continue  # a superseded copy pruned as we opened it: read the new version
                configure_duckdb(con, self._shared_lake())  # the views read the lake in place
                return con
        if read_only and not self.path.exists():
            raise InputDataError(
                f"catalog: {self.path} does not exist yet; crawl a partition first "
                "(airsage runs the crawl task after ingest)"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = connect_catalog(self.path, read_only=read_only)
        if self.settings.lake_root.startswith("s3://"):  # the views read the lake's files in place
            from airsage.lake.local import lake_for_root

            configure_duckdb(con, lake_for_root(self.settings))
        return con

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Any]:
        """A read-write connection to a copy of the catalog, renamed over it on success.

        The lock file serialises writers (another process's crawl waits here, not on
        DuckDB's lock); a failed crawl leaves the catalog as it was. With a lake in S3 see
        :meth:`_writing_shared`.
        """
        if self.shared:
            with self._writing_shared() as con:
                yield con
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(f".{self.path.name}.lock")
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            def fill(copy: Path) -> None:
                if self.path.exists():
                    shutil.copyfile(self.path, copy)

            with _written_copy(self.path.parent, fill,
                               lambda copy, _: os.replace(copy, self.path)) as con:
                yield con

    @contextlib.contextmanager
    def _writing_shared(self) -> Iterator[Any]:
        """The catalog in the lake, under the lake lock: download, write, upload if unchanged.

        The upload is conditional on the ETag downloaded (``upload_if``): a writer that lost
        its lease (it stalled past the expiry) is refused instead of erasing another's crawl.
        A failed crawl uploads nothing. The uploaded copy becomes this host's cached version.
        """
        lake = self._shared_lake()
        key = LakeLayout.catalog()
        cache = Path(self.settings.home) / CACHE_DIR
        cache.mkdir(parents=True, exist_ok=True)
        with lake.lock(CATALOG_LOCK):
            def publish(copy: Path, etag: str | None) -> None:
                os.replace(copy, self._cached(lake.upload_if(copy, key, etag)))

            with _written_copy(cache, lambda copy: lake.download_versioned(key, copy),
                               publish) as con:
                yield con

    def partitions(self, dataset: str) -> list[dict[str, Any]]:
        """Registered partitions of ``dataset`` (dt, location, rows, crawled_at), by date."""
        if not (self._current_copy() is not None if self.shared else self.path.exists()):
            return []
        with self.connect(read_only=True) as con:
            if not _has_meta(con):
                return []
            rows = con.execute(
                f"SELECT dt, location, row_count, formats, crawled_at FROM {META_SCHEMA}.partitions"
                " WHERE database = ? AND table_name = ? ORDER BY dt",
                [self.database, dataset],
            ).fetchall()
        return [{"dt": r[0], "location": r[1], "rows": r[2], "formats": r[3],
                 "crawled_at": r[4].isoformat() if r[4] else None} for r in rows]

    def partition_relation(self, lake: Lake, dataset: str, day: dt_.date | str) -> str:
        """See :func:`partition_relation` (the catalog's own tables are not needed)."""
        return partition_relation(self.settings, lake, dataset, day)

    # -- crawling -----------------------------------------------------------------------

    def _uncastable(self, con: Any, plans: Sequence[_FilePlan],
                    spec: DatasetSpec) -> dict[str, str]:
        """Columns whose values do not cast to the configured type, with a sample value."""
        found: dict[str, str] = {}
        for plan in plans:
            checks = []
            for column, type_ in spec.columns.items():
                ref = plan.ref(column)
                if ref is None or type_.upper() == "VARCHAR":
                    continue
                bad = f"{ref} IS NOT NULL AND TRY_CAST({ref} AS {type_}) IS NULL"
                checks.append((column, f"count(*) FILTER (WHERE {bad})",
                               f"min(CAST({ref} AS VARCHAR)) FILTER (WHERE {bad})"))
            if not checks:
                continue
            select = ", ".join(f"{count}, {sample}" for _, count, sample in checks)
            row = con.execute(f"SELECT {select} FROM {plan.schema.reader}").fetchone()
            for index, (column, _, _) in enumerate(checks):
                count, sample = row[2 * index], row[2 * index + 1]
                if count:
                    found.setdefault(
                        column,
                        f"{count} value(s) in {Path(plan.key).name} do not cast to "
                        f"{spec.columns[column]}, e.g. {sample!r}",
                    )
        return found

    def crawl(self, lake: Lake, dataset: str, day: dt_.date | str) -> CrawlResult:
        """Infer, compare and register one landed partition (see the module doc)."""
        spec = self.settings.dataset(dataset)
        day = partition_value(day)
        layout = LakeLayout(dataset)
        resource = f"{self.database}.{dataset} dt={day}"
        import duckdb

        # Files are read on a scratch connection: a reader crash can never touch the catalog,
        # and the catalog's write lock is held only while registering.
        with configure_duckdb(duckdb.connect(), lake) as scratch:
            plans = _file_plans(scratch, lake, spec, day, validate=True)
            uncastable = self._uncastable(scratch, plans, spec)
        with self._writing() as con:
            for statement in _META_DDL:
                con.execute(statement)
            found: dict[str, str] = {}
            for plan in plans:
                for name, type_ in zip(plan.mapped, plan.schema.types, strict=True):
                    found.setdefault(name, type_)
            missing_somewhere = {
                column for plan in plans for column in spec.columns if plan.ref(column) is None
            }
            changes = list(compare_schema(
                {k: v for k, v in found.items() if k not in missing_somewhere},
                spec.columns, retyped=uncastable,
            ))
            previous_row = con.execute(
                f"SELECT schema_json FROM {META_SCHEMA}.tables "
                "WHERE database = ? AND table_name = ?",
                [self.database, dataset],
            ).fetchone()
            if previous_row:
                changes += compare_schema(found, json.loads(previous_row[0]), baseline="previous")
            existed = con.execute(
                f"SELECT count(*) FROM {META_SCHEMA}.partitions "
                "WHERE database = ? AND table_name = ? AND dt = ?",
                [self.database, dataset, day],
            ).fetchone()[0]
            report_key = layout.report("schema", day, "crawl.json")
            result = CrawlResult(
                dataset=dataset,
                database=self.database,
                table=dataset,
                day=day,
                location=lake.uri(layout.raw_partition(day)),
                files=tuple(p.key for p in plans),
                formats=tuple(sorted({p.schema.format for p in plans})),
                rows=sum(p.schema.rows or 0 for p in plans),
                columns=tuple((*spec.columns.items(), (PARTITION_COLUMN, "VARCHAR"))),
                inferred=tuple(
                    (source, name, type_)
                    for p in plans
                    for source, name, type_ in zip(p.schema.columns, p.mapped, p.schema.types,
                                                   strict=True)
                ),
                changes=tuple(changes),
                partition_created=not existed,
                table_created=previous_row is None,
                report_key=report_key,
            )
            lake.write_bytes(report_key, json.dumps(result.to_dict(), indent=2).encode())
            warnings = enforce_policy(self.policy, resource, result.changes, lake.uri(report_key))
            if warnings:
                result = _with_warnings(result, warnings)
                lake.write_bytes(report_key, json.dumps(result.to_dict(), indent=2).encode())
            self._register(con, lake, spec, day, plans, found, result)
        return result

    def _register(self, con: Any, lake: Lake, spec: DatasetSpec, day: str,
                  plans: Sequence[_FilePlan], found: Mapping[str, str],
                  result: CrawlResult) -> None:
        now = dt_.datetime.now(dt_.UTC).replace(tzinfo=None)
        layout = LakeLayout(spec.name)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {sql_ident(self.database)}")
            con.execute(
                f"INSERT INTO {META_SCHEMA}.tables VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (database, table_name) DO UPDATE SET "
                "location = excluded.location, schema_json = excluded.schema_json, "
                "updated_at = excluded.updated_at",
                [self.database, spec.name, lake.uri(layout.raw_prefix()), json.dumps(found),
                 now, now],
            )
            con.execute(
                f"INSERT OR REPLACE INTO {META_SCHEMA}.partitions VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [self.database, spec.name, day, result.location, json.dumps(list(result.files)),
                 ",".join(result.formats), result.rows, json.dumps(found),
                 _relation(plans, spec, day), now],
            )
            relations = [row[0] for row in con.execute(
                f"SELECT relation_sql FROM {META_SCHEMA}.partitions "
                "WHERE database = ? AND table_name = ? ORDER BY dt",
                [self.database, spec.name],
            ).fetchall()]
            body = " UNION ALL ".join(f"SELECT * FROM {rel}" for rel in relations)
            con.execute(
                f"CREATE OR REPLACE VIEW {sql_ident(self.database)}.{sql_ident(spec.name)} "
                f"AS {body}"
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise


def _inspect(con: Any, lake: Lake, key: str, uri: str, fmt: str | None, validate: bool) -> FileSchema:
    """Inspect a file of the lake. A file in S3 is checked on a local copy (encoding, header,
    rows), and the reader it yields points at the S3 URI, so every worker reads it in place."""
    if not uri.startswith("s3://"):
        return inspect_file(con, uri, fmt, validate=validate)
    if not lake.exists(key):
        raise InputDataError(f"{uri} does not exist; the partition's manifest lists it")
    with tempfile.TemporaryDirectory(prefix="airsage-crawl-") as scratch:
        local = lake.download(key, Path(scratch) / Path(key).name)
        schema = inspect_file(con, local, fmt, validate=validate)
        return replace(schema, path=uri,
                       reader=schema.reader.replace(sql_string(str(local)), sql_string(uri)))


def _has_meta(con: Any) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
        "AND table_name = 'partitions'", [META_SCHEMA],
    ).fetchone()[0])


def _with_warnings(result: CrawlResult, warnings: tuple[str, ...]) -> CrawlResult:
    return replace(result, warnings=warnings)


__all__ = ["CATALOG_FILE", "CATALOG_LOCK", "LocalCatalog", "SchemaChange", "connect_catalog", "map_columns"]
