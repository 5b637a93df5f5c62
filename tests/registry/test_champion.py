"""Which Approved version is the champion, and which may replace the one serving: the
model trained on the newest data, whatever order a backfill registered them in."""

from __future__ import annotations

from airsage.registry.base import DATA_DAY_TAG, ModelVersion, older_than_serving, select_champion


def _v(version: str, day: str, status: str = "Approved") -> ModelVersion:
    return ModelVersion(name="m", version=version, status=status, artifact_uri="/x",
                        tags={DATA_DAY_TAG: day})


def test_the_champion_is_the_approved_version_trained_on_the_newest_day() -> None:
    # A concurrent backfill of days 1..3 registered day 3 first and day 1 last.
    versions = [_v("1", "2026-03-03"), _v("2", "2026-03-02"), _v("3", "2026-03-01"),
                _v("4", "2026-03-04", status="Rejected"), _v("5", "2026-03-05", "PendingManualApproval")]
    assert select_champion(versions).version == "1"
    assert select_champion([_v("1", "2026-03-03"), _v("6", "2026-03-03")]).version == "6"
    assert select_champion([_v("4", "2026-03-04", status="Rejected")]) is None


def test_an_older_days_model_never_replaces_a_newer_one() -> None:
    newer, older = _v("3", "2026-03-03"), _v("5", "2026-03-01")
    reason = older_than_serving(older, newer)
    assert reason is not None and "2026-03-03" in reason and "2026-03-01" in reason
    assert "never replaces a model trained on newer data" in reason
    assert older_than_serving(newer, older) is None
    assert older_than_serving(_v("7", "2026-03-03"), newer) is None  # retrained on the same day
