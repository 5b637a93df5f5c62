"""The local target's lake: a directory with the same key layout as the S3 bucket."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from airsage.config import Settings
from airsage.lake.layout import LakeLayout
from airsage.lake.lock import Lease, LockConfig, check_lock_name, file_lock

if TYPE_CHECKING:
    from airsage.lake.aws import S3Lake


def lake_for_root(settings: Settings) -> LocalLake | S3Lake:
    """The local target's lake: a directory, or a bucket when ``lake.root`` is ``s3://``.

    A directory is one machine's; a team whose tasks run on several workers points the lake
    at S3 or an S3-compatible store (``lake.endpoint_url``) and keeps the local engines.
    """
    if settings.lake_root.startswith("s3://"):
        from airsage.lake.aws import S3Lake

        return S3Lake(settings)
    return LocalLake(settings)


class LocalLake:
    """Keys are files under ``root``; writes go through a temp file and an atomic rename."""

    def __init__(self, settings: Settings | None = None, *, root: str | Path | None = None) -> None:
        self.root = str(Path(root) if root is not None else Path(settings.lake_root))  # type: ignore[union-attr]
        self.lock_config = LockConfig.from_settings(settings)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"lake key {key!r} must be relative and must not contain '..'")
        return Path(self.root) / key

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"no object at lake key {key!r} under {self.root}") from None

    def write_bytes(self, key: str, data: bytes) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(path)

    def list(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix.rstrip("/")) if prefix else Path(self.root)
        if base.is_file():
            yield prefix
            return
        if not base.exists():
            return
        root = Path(self.root)
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            if not path.name.startswith("."):
                yield path.relative_to(root).as_posix()

    def delete_prefix(self, prefix: str) -> int:
        target = self._path(prefix.rstrip("/"))
        if target.is_file():
            target.unlink()
            return 1
        if not target.exists():
            return 0
        count = sum(1 for p in target.rglob("*") if p.is_file())
        shutil.rmtree(target)
        return count

    def download(self, key: str, destination: Path) -> Path:
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._path(key), destination)
        return destination

    def upload(self, source: Path, key: str) -> str:
        return self.write_bytes(key, Path(source).read_bytes())

    def lock(self, name: str, *, timeout: float | None = None) -> AbstractContextManager[Lease]:
        """``fcntl.flock`` on ``locks/<name>.json``: a directory is one host's, and the kernel
        frees the lock of a process that died (see ``airsage.lake.lock``)."""
        path = self._path(LakeLayout.lock(check_lock_name(name)))
        return file_lock(path, name, self.lock_config, timeout)
