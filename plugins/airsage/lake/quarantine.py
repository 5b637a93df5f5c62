"""Quarantine marks a bad batch without touching it: raw data is never moved or modified."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout, partition_value


def quarantine(
    lake: Lake, dataset: str, day: dt.date | str, *, step: str, reason: str,
    details: dict[str, Any] | None = None,
) -> str:
    """Write the marker that says which step refused the batch and why; return its key."""
    key = LakeLayout(dataset).quarantine_marker(day)
    marker = {
        "dataset": dataset,
        "partition": partition_value(day),
        "raw_partition": LakeLayout(dataset).raw_partition(day),
        "step": step,
        "reason": reason,
        "details": details or {},
        "quarantined_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    lake.write_bytes(key, json.dumps(marker, indent=2, sort_keys=True, default=str).encode())
    return key


def release(lake: Lake, dataset: str, day: dt.date | str) -> bool:
    """Remove the marker (a new run judges the batch afresh); True when there was one."""
    key = LakeLayout(dataset).quarantine_marker(day)
    return lake.delete_prefix(key) > 0


def marker(lake: Lake, dataset: str, day: dt.date | str) -> dict[str, Any] | None:
    key = LakeLayout(dataset).quarantine_marker(day)
    return json.loads(lake.read_bytes(key)) if lake.exists(key) else None
