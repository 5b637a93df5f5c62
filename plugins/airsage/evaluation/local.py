"""The local target's evaluation engine: the one job runner, running ``include/jobs/evaluate.py``.

Every job script runs under one contract (:mod:`airsage.jobs.contract`) through one runner
(:class:`airsage.jobs.local.LocalJobRunner`); this name is what ``airsage.targets`` lists for
the ``evaluation`` capability on the local target. The step receives its runner from the Airflow
layer and never looks it up.
"""

from __future__ import annotations

from airsage.jobs.local import LocalJobRunner

LocalEvaluationJob = LocalJobRunner

__all__ = ["LocalEvaluationJob"]
