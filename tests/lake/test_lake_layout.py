from __future__ import annotations

import datetime as dt

import pytest

from airsage.lake.layout import LakeLayout, partition_value


def test_keys_follow_the_documented_layout() -> None:
    layout = LakeLayout("reviews")
    assert layout.raw_partition("2026-03-01") == "raw/reviews/dt=2026-03-01/"
    assert layout.raw_manifest(dt.date(2026, 3, 1)) == "raw/reviews/dt=2026-03-01/_manifest.json"
    assert layout.quarantine_marker("2026-03-01") == "quarantine/reviews/dt=2026-03-01/_QUARANTINED.json"
    assert layout.features("2026-03-01", "train") == "features/reviews/dt=2026-03-01/train/"
    assert layout.model_artifact("job-1") == "models/reviews/job-1/output/model.tar.gz"
    when = dt.datetime(2026, 3, 1, 7, 30)
    assert LakeLayout.capture_hour("ep", "v1", when) == "capture/ep/v1/2026/03/01/07/"
    assert layout.report("quality", "2026-03-01", "results.json") == (
        "reports/quality/reviews/dt=2026-03-01/results.json"
    )


def test_partition_value_refuses_non_dates() -> None:
    assert partition_value(dt.datetime(2026, 1, 2, 23, 0)) == "2026-01-02"
    with pytest.raises(ValueError, match="not an ISO date"):
        partition_value("yesterday")
    with pytest.raises(ValueError, match="unknown split"):
        LakeLayout().features("2026-01-01", "holdout")


def test_landed_days_reads_partitions_from_a_listing() -> None:
    layout = LakeLayout("reviews")
    keys = ["raw/reviews/dt=2026-01-02/a.csv", "raw/reviews/dt=2026-01-01/_manifest.json",
            "raw/reviews/dt=2026-01-02/_manifest.json", "raw/other/dt=2026-01-05/x.csv"]
    assert layout.landed_days(keys) == ["2026-01-01", "2026-01-02"]
