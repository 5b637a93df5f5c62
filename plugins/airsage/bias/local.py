"""The local target's bias engine: the one job runner, running ``include/jobs/bias.py``.

Every job script runs under one contract (:mod:`airsage.jobs.contract`) through one runner
(:class:`airsage.jobs.local.LocalJobRunner`); this name is what ``airsage.targets`` lists for
the ``bias`` capability on the local target. The step receives its runner from the Airflow
layer and never looks it up.
"""

from __future__ import annotations

from airsage.jobs.local import LocalJobRunner

LocalBiasJob = LocalJobRunner

__all__ = ["LocalBiasJob"]
