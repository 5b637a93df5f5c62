from __future__ import annotations

from pathlib import Path

import pytest

from airsage.lake.local import LocalLake
from airsage.lake.quarantine import marker, quarantine, release


def test_write_read_list_delete(tmp_path: Path) -> None:
    lake = LocalLake(root=tmp_path)
    lake.write_bytes("a/b/c.txt", b"1")
    lake.write_bytes("a/d.txt", b"2")
    assert lake.read_bytes("a/b/c.txt") == b"1"
    assert list(lake.list("a/")) == ["a/b/c.txt", "a/d.txt"]
    assert lake.exists("a/d.txt") and not lake.exists("a/x.txt")
    assert lake.delete_prefix("a/b/") == 1
    assert list(lake.list("a")) == ["a/d.txt"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    lake = LocalLake(root=tmp_path)
    with pytest.raises(ValueError, match="must be relative"):
        lake.write_bytes("../evil", b"x")
    with pytest.raises(FileNotFoundError, match="no object at lake key"):
        lake.read_bytes("missing")


def test_quarantine_marks_without_touching_raw(tmp_path: Path) -> None:
    lake = LocalLake(root=tmp_path)
    lake.write_bytes("raw/reviews/dt=2026-01-01/batch.csv", b"id\n1\n")
    before = {k: lake.read_bytes(k) for k in lake.list("raw/")}
    quarantine(lake, "reviews", "2026-01-01", step="quality_gate", reason="IsComplete failed")
    assert marker(lake, "reviews", "2026-01-01")["step"] == "quality_gate"
    assert {k: lake.read_bytes(k) for k in lake.list("raw/")} == before
    assert release(lake, "reviews", "2026-01-01") is True
    assert marker(lake, "reviews", "2026-01-01") is None
