"""The lake in S3 or an S3-compatible store: the same keys in a bucket under a prefix.

``lake.endpoint_url`` names an S3-compatible service (MinIO in docker-compose, moto in tests);
empty means AWS itself. Both targets use this lake when ``lake.root`` is an ``s3://`` URI, so
tasks on different workers share one lake.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from functools import cached_property
from pathlib import Path
from typing import Any

from airsage.config import Settings
from airsage.errors import ConfigurationError, StepFailed
from airsage.lake.layout import LakeLayout
from airsage.lake.lock import Lease, LockConfig, check_lock_name, s3_lock


class S3Lake:
    """Keys live at ``s3://<bucket>/<prefix>/<key>``; the client is built on first use."""

    def __init__(self, settings: Settings, *, client: Any | None = None) -> None:
        if not settings.lake_root.startswith("s3://"):
            raise ConfigurationError(
                f"the aws target needs lake.root to be an s3:// URI, got {settings.lake_root!r}"
            )
        self.root = settings.lake_root.rstrip("/")
        bucket_and_prefix = self.root[len("s3://") :]
        self.bucket, _, self.prefix = bucket_and_prefix.partition("/")
        self._region = settings.section("aws").get("region")
        self.endpoint_url = str(settings.section("lake").get("endpoint_url") or "") or None
        if self.endpoint_url and not self.endpoint_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"lake.endpoint_url must be an http:// or https:// URL of an S3-compatible "
                f"store, got {self.endpoint_url!r}"
            )
        self._client = client
        self.lock_config = LockConfig.from_settings(settings)

    @cached_property
    def client(self) -> Any:
        if self._client is not None:
            return self._client
        import boto3

        return boto3.client("s3", region_name=self._region, endpoint_url=self.endpoint_url)

    def configure_duckdb(self, con: Any) -> None:
        """Let DuckDB read this lake's ``s3://`` URIs in place (the local target's catalog,
        quality gate and curate): httpfs from its PyPI package, and a session secret with
        this lake's region, endpoint and the credentials boto3 finds."""
        from urllib.parse import urlparse

        import boto3
        from duckdb_extensions import import_extension

        import_extension("httpfs", con=con)
        con.execute("LOAD httpfs")
        session = boto3.session.Session(region_name=self._region)
        options = {"TYPE": "s3", "REGION": session.region_name or "us-east-1"}
        credentials = session.get_credentials()
        if credentials is not None:
            frozen = credentials.get_frozen_credentials()
            options.update(KEY_ID=frozen.access_key, SECRET=frozen.secret_key)
            if frozen.token:
                options["SESSION_TOKEN"] = frozen.token
        if self.endpoint_url:
            parsed = urlparse(self.endpoint_url)
            options.update(ENDPOINT=parsed.netloc, URL_STYLE="path",
                           USE_SSL="true" if parsed.scheme == "https" else "false")
        rendered = ", ".join(
            f"{name} {value}" if value in ("true", "false") or name == "TYPE"
            else f"{name} '{value.replace(chr(39), chr(39) * 2)}'"
            for name, value in options.items())
        con.execute(f"CREATE OR REPLACE TEMPORARY SECRET airsage_lake ({rendered})")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if _missing(exc):
                return False
            raise

    def read_bytes(self, key: str) -> bytes:
        """The object's bytes; FileNotFoundError when there is none, as a directory lake
        raises, so callers handle a missing key the same way on both targets."""
        from botocore.exceptions import ClientError

        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read())
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(f"no object at {self.uri(key)}") from exc
            raise

    def write_bytes(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return self.uri(key)

    def list(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            keys.extend(item["Key"][strip:] for item in page.get("Contents", []))
        yield from sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        keys = list(self.list(prefix))
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": self._key(k)} for k in chunk], "Quiet": True},
            )
        return len(keys)

    def download(self, key: str, destination: Path) -> Path:
        destination.parent.mkdir(parents=True, exist_ok=True)
        self.client.download_file(self.bucket, self._key(key), str(destination))
        return destination

    def upload(self, source: Path, key: str) -> str:
        self.client.upload_file(str(source), self.bucket, self._key(key))
        return self.uri(key)

    def lock(self, name: str, *, timeout: float | None = None) -> AbstractContextManager[Lease]:
        """A lease object at ``locks/<name>.json`` written with conditional requests, renewed
        while held (see ``airsage.lake.lock``): every host that sees the bucket takes turns."""
        key = self._key(LakeLayout.lock(check_lock_name(name)))
        return s3_lock(self.client, self.bucket, key, name, self.lock_config, timeout)

    # -- versioned reads and conditional writes (state shared through the lake) ----------
    def etag(self, key: str) -> str | None:
        """The object's ETag (it changes with every write); None when there is no object."""
        from botocore.exceptions import ClientError

        try:
            return str(self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ETag"])
        except ClientError as exc:
            if _missing(exc):
                return None
            raise

    def download_versioned(self, key: str, destination: Path) -> str | None:
        """Copy ``key`` to ``destination`` and return the ETag of the copy read; None (and no
        file) when there is no object."""
        from botocore.exceptions import ClientError

        try:
            got = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        destination.parent.mkdir(parents=True, exist_ok=True)
        with destination.open("wb") as handle:
            for chunk in got["Body"].iter_chunks(1 << 20):
                handle.write(chunk)
        return str(got["ETag"])

    def upload_if(self, source: Path, key: str, expected_etag: str | None) -> str:
        """Write a local file to ``key`` only if the object is still the version read
        (``expected_etag``; None: only if there is none); return the new ETag.

        Raises :class:`LakeConflict` when another writer replaced it meanwhile: the caller's
        lost update is refused instead of silently overwriting the other's.
        """
        from botocore.exceptions import ClientError

        condition = {"IfMatch": expected_etag} if expected_etag else {"IfNoneMatch": "*"}
        try:
            with source.open("rb") as body:
                put = self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body,
                                             **condition)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409",
                        "NoSuchKey", "404"):
                raise LakeConflict(
                    f"{self.uri(key)} changed since this process read it (expected "
                    f"{expected_etag or 'no object'}); another writer updated it, so this "
                    "write was refused: retry to apply it on the new version"
                ) from exc
            raise
        return str(put["ETag"])


class LakeConflict(StepFailed):
    """A conditional write found the object changed by another writer (a retry re-reads it)."""


def _missing(exc: Any) -> bool:
    """Whether an S3 ClientError says the object (or key) does not exist."""
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")
