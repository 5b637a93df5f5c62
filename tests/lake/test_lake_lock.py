"""The lake lock across hosts: real processes with airsage homes of their own (two "hosts")
contend for one lock in moto's S3 server, and on a local directory through fcntl."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from airsage.config import load_settings
from airsage.errors import ConfigurationError
from airsage.lake.layout import LakeLayout
from airsage.lake.local import lake_for_root
from airsage.lake.lock import Lease, LeaseLost, LockTimeout

SPAWN = multiprocessing.get_context("spawn")


def _environ(home: Path, lake_root: str, endpoint: str = "", lease: float | None = None) -> dict[str, str]:
    environ = {"AIRSAGE_HOME": str(home), "AIRSAGE_LAKE_ROOT": lake_root}
    if endpoint:
        environ["AIRSAGE__LAKE__ENDPOINT_URL"] = endpoint
    if lease is not None:
        environ["AIRSAGE__LAKE__LOCK__LEASE_SECONDS"] = str(lease)
    return environ


def _lake(environ: dict[str, str]) -> Any:
    return lake_for_root(load_settings(environ=environ))


@pytest.fixture
def s3_root(s3_endpoint: str, s3_credentials: dict[str, str], tmp_path: Path) -> str:
    import boto3

    bucket = f"lock-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/team"


# -- helpers run in other processes (module level: the spawn context imports them) -------
def _increment(environ: dict[str, str], times: int) -> list[tuple[float, float, float]]:
    """Under the lock, read a counter object, add one, write it back; return for each turn
    (wait seconds, entered, left) so the parent can check that no two turns overlapped."""
    lake = _lake(environ)
    turns = []
    for _ in range(times):
        asked = time.monotonic()
        with lake.lock("counter", timeout=60):
            entered = time.time()
            value = int(lake.read_bytes("counter.txt")) if lake.exists("counter.txt") else 0
            lake.write_bytes("counter.txt", str(value + 1).encode())
            turns.append((time.monotonic() - asked, entered, time.time()))
    return turns


def _hold(environ: dict[str, str], name: str, ready: Any, release: Any, outcome: Any,
          crash: bool = False) -> None:
    """Take the lock, say so, then crash (exit without releasing) or hold until told to go;
    report how leaving went."""
    lake = _lake(environ)
    try:
        with lake.lock(name, timeout=10):
            ready.set()
            if crash:
                os._exit(3)
            release.wait(30)
        outcome.put("released")
    except LeaseLost as exc:
        outcome.put(f"lost: {exc}")


Turns = list[tuple[float, float, float]]


def _contend(lake_root: str, tmp_path: Path, endpoint: str = "", times: int = 25) -> list[Turns]:
    homes = [_environ(tmp_path / f"host-{name}", lake_root, endpoint) for name in "ab"]
    with SPAWN.Pool(2) as pool:
        return pool.starmap(_increment, [(environ, times) for environ in homes])


def _assert_exclusive(results: list[Turns], lake: Any, times: int) -> None:
    assert int(lake.read_bytes("counter.txt")) == 2 * times  # no lost update
    turns = sorted((entered, left) for result in results for _, entered, left in result)
    overlaps = [(a, b) for a, b in itertools.pairwise(turns) if b[0] < a[1]]
    assert overlaps == []


# -- S3 ------------------------------------------------------------------------------
def test_two_hosts_take_turns_on_an_s3_lock_without_a_lost_update(s3_root: str, s3_endpoint: str,
                                                                   tmp_path: Path) -> None:
    results = _contend(s3_root, tmp_path, s3_endpoint)
    lake = _lake(_environ(tmp_path / "reader", s3_root, s3_endpoint))
    _assert_exclusive(results, lake, 25)
    assert not lake.exists(LakeLayout.lock("counter"))  # the last holder deleted its lease


def test_an_uncontended_s3_lock_takes_one_request(s3_root: str, s3_endpoint: str, tmp_path: Path) -> None:
    lake = _lake(_environ(tmp_path / "home", s3_root, s3_endpoint))
    started = time.perf_counter()
    with lake.lock("solo") as lease:
        took = time.perf_counter() - started
        held = Lease.from_bytes(lake.read_bytes(LakeLayout.lock("solo")))
        assert held == lease and held.pid == os.getpid() and held.expires_at > time.time()
    assert took < 1.0, took
    assert not lake.exists(LakeLayout.lock("solo"))


def test_a_crashed_holders_lease_is_taken_over(s3_root: str, s3_endpoint: str, tmp_path: Path) -> None:
    environ = _environ(tmp_path / "host-a", s3_root, s3_endpoint)
    ready, release, outcome = SPAWN.Event(), SPAWN.Event(), SPAWN.Queue()
    holder = SPAWN.Process(target=_hold, args=(environ, "crawl", ready, release, outcome, True))
    holder.start()
    holder.join(30)
    assert holder.exitcode == 3 and ready.is_set()
    lake = _lake(_environ(tmp_path / "host-b", s3_root, s3_endpoint))
    left = Lease.from_bytes(lake.read_bytes(LakeLayout.lock("crawl")))
    assert left is not None and left.pid == holder.pid  # the crash left its lease behind
    started = time.monotonic()
    with lake.lock("crawl", timeout=5) as lease:  # its pid is gone on this host: no wait
        assert lease.pid == os.getpid()
    assert time.monotonic() - started < 2


def test_a_dead_pid_in_another_pid_namespace_of_this_hostname_is_not_judged(
        s3_root: str, s3_endpoint: str, tmp_path: Path) -> None:
    """Replicas of one compose service can share a hostname; their PIDs are not ours to test."""
    import socket
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    lake = _lake(_environ(tmp_path / "home", s3_root, s3_endpoint))
    replica = Lease("catalog", "r" * 32, socket.gethostname(), gone.pid, time.time(), time.time() + 30,
                    "pid:[1]")
    lake.write_bytes(LakeLayout.lock("catalog"), replica.to_bytes())
    with pytest.raises(LockTimeout, match=f"pid {gone.pid}"), lake.lock("catalog", timeout=0.3):
        pass
    ours = Lease.from_bytes(lake.read_bytes(LakeLayout.lock("catalog")))
    assert ours is not None and ours.owner == "r" * 32  # still the replica's
    lake.write_bytes(LakeLayout.lock("catalog"), replace(replica, pid_namespace=os.readlink(
        "/proc/self/ns/pid")).to_bytes())
    with lake.lock("catalog", timeout=0.3) as lease:  # same namespace: the dead pid frees it
        assert lease.pid == os.getpid()


def test_another_hosts_lease_times_out_naming_it_until_it_expires(s3_root: str, s3_endpoint: str,
                                                                  tmp_path: Path) -> None:
    lake = _lake(_environ(tmp_path / "home", s3_root, s3_endpoint))
    foreign = Lease("deploy-reviews", "f" * 32, "worker-2.example", 4242, time.time(), time.time() + 2)
    lake.write_bytes(LakeLayout.lock("deploy-reviews"), foreign.to_bytes())
    with (pytest.raises(LockTimeout, match=r"'deploy-reviews'.*host worker-2\.example pid 4242"),
          lake.lock("deploy-reviews", timeout=0.3)):
        pass
    started = time.monotonic()
    with lake.lock("deploy-reviews", timeout=10) as lease:
        waited = time.monotonic() - started
        assert lease.host != "worker-2.example"
    assert 1.0 < waited < 5, waited  # taken over once the foreign lease expired, not before


def test_a_long_holder_renews_and_a_stalled_one_loses_its_lease(s3_root: str, s3_endpoint: str,
                                                                tmp_path: Path) -> None:
    environ = _environ(tmp_path / "host-a", s3_root, s3_endpoint, lease=1)
    lake = _lake(_environ(tmp_path / "host-b", s3_root, s3_endpoint, lease=1))
    ready, release, outcome = SPAWN.Event(), SPAWN.Event(), SPAWN.Queue()
    holder = SPAWN.Process(target=_hold, args=(environ, "deploy-x", ready, release, outcome))
    holder.start()
    try:
        assert ready.wait(30)
        with (pytest.raises(LockTimeout, match=f"pid {holder.pid}"),  # 2.5 leases: renewed
              lake.lock("deploy-x", timeout=2.5)):
            pass
        os.kill(holder.pid, signal.SIGSTOP)  # the holder stalls: no renewal
        with lake.lock("deploy-x", timeout=10) as lease:
            assert lease.pid == os.getpid()
            os.kill(holder.pid, signal.SIGCONT)
            release.set()
            result = outcome.get(timeout=30)  # while we still hold it
        assert result.startswith("lost: ") and f"pid {os.getpid()}" in result, result
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        release.set()
        holder.join(30)


# -- a directory -----------------------------------------------------------------------
def test_processes_take_turns_on_a_directory_lock(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    results = _contend(root, tmp_path, times=40)
    _assert_exclusive(results, _lake(_environ(tmp_path / "reader", root)), 40)


def test_a_directory_lock_names_its_holder_and_frees_a_crashed_one(tmp_path: Path) -> None:
    environ = _environ(tmp_path / "home", str(tmp_path / "lake"))
    lake = _lake(environ)
    ready, release, outcome = SPAWN.Event(), SPAWN.Event(), SPAWN.Queue()
    holder = SPAWN.Process(target=_hold, args=(environ, "catalog", ready, release, outcome))
    holder.start()
    try:
        assert ready.wait(30)
        with (pytest.raises(LockTimeout, match=f"'catalog'.*pid {holder.pid}"),
              lake.lock("catalog", timeout=0.3)):
            pass
    finally:
        release.set()
        holder.join(30)
    assert outcome.get(timeout=5) == "released"
    crasher = SPAWN.Process(target=_hold, args=(environ, "catalog", ready, release, outcome, True))
    crasher.start()
    crasher.join(30)
    assert crasher.exitcode == 3
    with lake.lock("catalog", timeout=1) as lease:  # the kernel freed the dead holder's lock
        assert json.loads(Path(lake.uri(LakeLayout.lock("catalog"))).read_bytes())["pid"] == lease.pid


# -- bad input -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["", "../catalog", "a/b", "-x", "x" * 200])
def test_a_bad_lock_name_is_refused(tmp_path: Path, name: str) -> None:
    lake = _lake(_environ(tmp_path / "home", str(tmp_path / "lake")))
    with pytest.raises(ConfigurationError, match="lock name"), lake.lock(name):
        pass


@pytest.mark.parametrize(("key", "value", "message"), [
    ("LEASE_SECONDS", "0.5", "lease_seconds.*at least 1"),
    ("TIMEOUT_SECONDS", "-1", "timeout_seconds.*0"),
    ("LEASE_SECONDS", "soon", "lake.lock.lease_seconds.*'soon'"),
    ("RETRIES", "3", r"unknown key\(s\) \['retries'\]"),
])
def test_bad_lock_settings_are_refused(tmp_path: Path, key: str, value: str, message: str) -> None:
    environ = {**_environ(tmp_path / "home", str(tmp_path / "lake")), f"AIRSAGE__LAKE__LOCK__{key}": value}
    with pytest.raises(ConfigurationError, match=message):
        _lake(environ)


def test_a_lock_section_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    environ = {**_environ(tmp_path / "home", str(tmp_path / "lake")), "AIRSAGE__LAKE__LOCK": "30"}
    with pytest.raises(ConfigurationError, match=r"lake.lock .* must be a mapping .*got 30"):
        _lake(environ)
