"""A lock in the lake: one holder at a time among every process that sees the lake.

Tasks on several workers (Celery, hosts that share only the lake, MLflow and Postgres) take
turns on shared state — the catalog's writes, an endpoint's blue/green shift — through this
lock, so it lives where they all look: the lake.

- **S3** (:class:`S3Lease`): a lease object at ``LakeLayout.lock(name)`` created with a
  conditional write (``PutObject`` with ``If-None-Match: *``; S3 and MinIO refuse it with
  412 when the object exists). It names its holder (owner token, host, pid, acquired and
  expiry time). A holder renews it every third of ``lake.lock.lease_seconds`` with
  ``If-Match`` on its own ETag, and releases it with a conditional delete, so it never removes
  a lease that another process has taken over. A waiter takes a lease over, again with
  ``If-Match`` (of the two waiters that try, one wins), when it is stale: its expiry has passed
  (hosts keep their clocks in sync, NTP), its ETag has not changed for a whole lease time on
  the waiter's own clock (a holder whose clock runs ahead), or its holder is a process of
  this host and PID namespace that no longer exists (a crashed task: no need to wait for the
  expiry).
- **A directory** (:class:`FileLease`): ``fcntl.flock`` on a file at the same key; one host
  by definition, and the kernel releases the lock of a process that died.

Both wait with exponential backoff up to ``timeout`` and then raise :class:`LockTimeout`
naming the holder; a holder that finds its lease taken over (it stalled past the expiry)
gets :class:`LeaseLost` when it leaves the block.
"""

from __future__ import annotations

import contextlib
import datetime as dt_
import fcntl
import json
import logging
import os
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from airsage.config import Settings, section_values
from airsage.errors import ConfigurationError, StepFailed

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_FIRST_BACKOFF = 0.02
_MAX_BACKOFF = 0.5
_CONFLICT_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class LockTimeout(StepFailed):
    """The lock stayed held by another process for the whole wait (a retry may get it)."""


class LeaseLost(StepFailed):
    """The lease expired while held (the holder stalled) and another process took it over."""


@dataclass(frozen=True)
class LockConfig:
    """``lake.lock``: how long a lease lives without renewal, how long a waiter waits."""

    lease_seconds: float = 30.0
    timeout_seconds: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings | None) -> LockConfig:
        if settings is None:
            return cls()
        raw = settings.section("lake").get("lock") or {}
        if not isinstance(raw, Mapping):
            raise ConfigurationError(
                f"lake.lock in {settings.source} must be a mapping "
                f"(lease_seconds, timeout_seconds), got {raw!r}")
        config = cls(**section_values(cls, raw, section="lake.lock", source=settings.source))
        if config.lease_seconds < 1:
            raise ConfigurationError(
                f"lake.lock.lease_seconds in {settings.source} is {config.lease_seconds}; it must "
                "be at least 1 (a holder renews every third of it)")
        if config.timeout_seconds < 0:
            raise ConfigurationError(
                f"lake.lock.timeout_seconds in {settings.source} is {config.timeout_seconds}; "
                "it must be 0 (try once) or more")
        return config


def check_lock_name(name: str) -> str:
    """A lock name is one key segment: letters, digits, ``.``, ``_``, ``-`` (e.g. ``catalog``)."""
    if not _NAME.match(name or ""):
        raise ConfigurationError(
            f"lock name {name!r} must start with a letter or digit and hold only letters, digits, "
            "'.', '_' or '-' (at most 128 characters), e.g. 'catalog' or 'deploy-reviews'")
    return name


def _pid_namespace() -> str:
    """This process's PID namespace (``pid:[4026531836]``): two containers may share a hostname
    (replicas of one compose service) but never a PID namespace, so a PID is only judged dead
    by a process that sees the same PIDs. Empty where /proc does not say (then never judged)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _iso(epoch: float) -> str:
    return dt_.datetime.fromtimestamp(epoch, dt_.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Lease:
    """Who holds a lock: the lease object's content (JSON), also in every error about it."""

    name: str
    owner: str
    host: str
    pid: int
    acquired_at: float
    expires_at: float
    pid_namespace: str = ""

    @classmethod
    def new(cls, name: str, lease_seconds: float) -> Lease:
        now = time.time()
        return cls(name, uuid.uuid4().hex, socket.gethostname(), os.getpid(), now,
                   now + lease_seconds, _pid_namespace())

    def renewed(self, lease_seconds: float) -> Lease:
        return replace(self, expires_at=time.time() + lease_seconds)

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Lease | None:
        """The lease in ``data``; None when it is not one (an empty or foreign object)."""
        try:
            raw = json.loads(data)
            return cls(str(raw["name"]), str(raw["owner"]), str(raw["host"]), int(raw["pid"]),
                       float(raw["acquired_at"]), float(raw["expires_at"]),
                       str(raw.get("pid_namespace") or ""))
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        return (f"host {self.host} pid {self.pid} (owner {self.owner[:8]}, since "
                f"{_iso(self.acquired_at)}, lease until {_iso(self.expires_at)})")

    def dead_here(self) -> bool:
        """Its holder was a process of this host (and PID namespace) that no longer exists."""
        if (self.host != socket.gethostname() or not self.pid_namespace
                or self.pid_namespace != _pid_namespace()):
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


class _Backoff:
    """Exponential waits with jitter, never past the deadline."""

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.delay = _FIRST_BACKOFF

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def sleep(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining > 0:
            time.sleep(min(remaining, self.delay * random.uniform(0.5, 1.0)))
        self.delay = min(self.delay * 2, _MAX_BACKOFF)


def _timeout_error(name: str, where: str, timeout: float, holder: Lease | None) -> LockTimeout:
    who = holder.describe() if holder else "a holder that left no lease record"
    return LockTimeout(
        f"lake lock {name!r} ({where}): still held after waiting {timeout:g}s by {who}; "
        "it is released when that task ends (or its lease expires if it died); retry then, or "
        "raise lake.lock.timeout_seconds")


# -- S3 --------------------------------------------------------------------------------
def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3Lease:
    """One acquisition of a lease object in a bucket (see the module doc)."""

    def __init__(self, client: Any, bucket: str, key: str, name: str, config: LockConfig) -> None:
        self.client, self.bucket, self.key, self.name = client, bucket, key, name
        self.config = config
        self.lease: Lease | None = None
        self._etag = ""
        self._lost: Lease | None = None
        self._lost_flag = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def _read(self) -> tuple[Lease | None, str] | None:
        """The current lease and its ETag; None when there is no lease object."""
        from botocore.exceptions import ClientError

        try:
            got = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                return None
            raise
        return Lease.from_bytes(got["Body"].read()), str(got["ETag"])

    def _put(self, lease: Lease, **condition: str) -> str | None:
        """Write ``lease`` under ``condition``; its new ETag, or None when the condition failed."""
        from botocore.exceptions import ClientError

        try:
            put = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=lease.to_bytes(),
                                         ContentType="application/json", **condition)
        except ClientError as exc:
            if _code(exc) in _CONFLICT_CODES | _MISSING_CODES:
                return None
            raise
        return str(put["ETag"])

    def acquire(self, timeout: float) -> Lease:
        backoff = _Backoff(timeout)
        watched: tuple[str, float] = ("", 0.0)  # an ETag and when this process first saw it
        holder: Lease | None = None
        while True:
            lease = Lease.new(self.name, self.config.lease_seconds)
            etag = self._put(lease, IfNoneMatch="*")
            if etag is None:
                current = self._read()
                if current is None:
                    continue  # released between our write and our read: try again at once
                holder, current_etag = current
                if current_etag != watched[0]:
                    watched = (current_etag, time.monotonic())
                if self._stale(holder, watched[1]):
                    etag = self._put(lease, IfMatch=current_etag)
                    if etag is not None:
                        log.warning("lake lock %r: took over the stale lease of %s", self.name,
                                    holder.describe() if holder else "an unreadable lease")
            if etag is not None:
                self.lease, self._etag = lease, etag
                self._start_renewing()
                return lease
            if backoff.expired():
                raise _timeout_error(self.name, self.where, timeout, holder)
            backoff.sleep()

    def _stale(self, holder: Lease | None, unchanged_since: float) -> bool:
        if time.monotonic() - unchanged_since >= self.config.lease_seconds:
            return True  # not renewed for a whole lease on our own clock
        if holder is None:
            return False  # unreadable: only the unchanged rule above can free it
        return holder.expires_at < time.time() or holder.dead_here()

    def _start_renewing(self) -> None:
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name=f"lake-lock-{self.name}",
                                         daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        interval = self.config.lease_seconds / 3
        while not self._stop.wait(interval):
            assert self.lease is not None
            try:
                etag = self._put(self.lease.renewed(self.config.lease_seconds), IfMatch=self._etag)
            except Exception as exc:  # a transient error: the next tick tries again
                log.warning("lake lock %r: renewing the lease failed (%s); retrying", self.name, exc)
                continue
            if etag is None:
                current = self._read()
                self._lost = current[0] if current else None
                self._lost_flag = True
                log.error("lake lock %r: lease lost to %s", self.name,
                          self._lost.describe() if self._lost else "nobody (deleted)")
                return
            self._etag = etag

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still ours; LeaseLost if it was not."""
        from botocore.exceptions import ClientError

        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if not self._lost_flag:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self._etag)
                return
            except ClientError as exc:
                if _code(exc) not in _CONFLICT_CODES | _MISSING_CODES:
                    raise
            current = self._read()
            self._lost = current[0] if current else None
        raise LeaseLost(
            f"lake lock {self.name!r} ({self.where}): this process's lease expired while it held "
            f"the lock (it stalled longer than lake.lock.lease_seconds="
            f"{self.config.lease_seconds:g}) and was taken over by "
            f"{self._lost.describe() if self._lost else 'another process (since released)'}; "
            "the work done under it may have overlapped another holder's, so run it again")


@contextlib.contextmanager
def s3_lock(client: Any, bucket: str, key: str, name: str, config: LockConfig,
            timeout: float | None) -> Iterator[Lease]:
    """Hold the lease at ``s3://bucket/key`` for the block (see :class:`S3Lease`)."""
    lease = S3Lease(client, bucket, key, check_lock_name(name), config)
    held = lease.acquire(config.timeout_seconds if timeout is None else timeout)
    try:
        yield held
    except BaseException:
        with contextlib.suppress(LeaseLost):
            lease.release()
        raise
    lease.release()


# -- a directory -----------------------------------------------------------------------
@contextlib.contextmanager
def file_lock(path: Path, name: str, config: LockConfig, timeout: float | None) -> Iterator[Lease]:
    """Hold ``fcntl.flock`` on ``path`` for the block; the file names the holder meanwhile."""
    check_lock_name(name)
    timeout = config.timeout_seconds if timeout is None else timeout
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        backoff = _Backoff(timeout)
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if backoff.expired():
                    handle.seek(0)
                    raise _timeout_error(name, str(path), timeout,
                                         Lease.from_bytes(handle.read())) from None
                backoff.sleep()
        lease = Lease.new(name, config.lease_seconds)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(lease.to_bytes())
            handle.flush()
            yield lease
        finally:
            handle.truncate(0)
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
