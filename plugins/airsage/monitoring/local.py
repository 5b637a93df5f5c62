"""The local target's monitoring engine: the one job runner, running ``include/jobs/monitor.py``.

Every job script runs under one contract (:mod:`airsage.jobs.contract`) through one runner
(:class:`airsage.jobs.local.LocalJobRunner`); this name is what ``airsage.targets`` lists for
the ``monitoring`` capability on the local target. The step receives its runner from the Airflow
layer and never looks it up.
"""

from __future__ import annotations

from airsage.jobs.local import LocalJobRunner

LocalMonitorJob = LocalJobRunner

__all__ = ["LocalMonitorJob"]
