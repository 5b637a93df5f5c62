"""The lake backend interface: read, write, list and test keys; nothing else.

Local and S3 differ only in where a key lives (Dagster's IO managers taught this): a
directory path or an ``s3://`` URI. ``uri(key)`` is what engines (DuckDB, Athena, a training
job's channel) are given to read a key in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from airsage.lake.lock import Lease


@runtime_checkable
class Lake(Protocol):
    """Bytes by key. Keys use ``/`` and never start with one."""

    root: str

    def uri(self, key: str) -> str:
        """Where engines read ``key`` in place (a filesystem path or ``s3://`` URI)."""

    def exists(self, key: str) -> bool: ...

    def read_bytes(self, key: str) -> bytes:
        """The bytes at ``key``; FileNotFoundError when there is nothing there."""

    def write_bytes(self, key: str, data: bytes) -> str:
        """Write atomically (a reader never sees half a file); return the key's URI."""

    def list(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix``, sorted."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix`` (a run's own output only); return how many."""

    def download(self, key: str, destination: Path) -> Path:
        """Copy ``key`` to a local file (for tools that need a path)."""

    def upload(self, source: Path, key: str) -> str:
        """Copy a local file to ``key``; return its URI."""

    def lock(self, name: str, *, timeout: float | None = None) -> AbstractContextManager[Lease]:
        """Hold the lake lock ``name`` for a ``with`` block: one holder at a time among every
        process that sees this lake (``airsage.lake.lock``); wait up to ``timeout`` seconds
        (``lake.lock.timeout_seconds`` when None), then raise ``LockTimeout`` naming the holder."""


def configure_duckdb(con: Any, lake: Lake) -> Any:
    """Make ``lake.uri(...)`` readable by the DuckDB connection ``con``; return ``con``.

    A directory needs nothing; a lake in S3 (or an S3-compatible store) loads httpfs and its
    credentials (``S3Lake.configure_duckdb``), so engines read the files where they are.
    """
    configure = getattr(lake, "configure_duckdb", None)
    if configure is not None:
        configure(con)
    return con
