"""The bias gate: SageMaker Clarify's bias metrics and its ``analysis.json``, on any target.

``metrics`` (pure pandas/numpy) computes Clarify's pre- and post-training metrics;
``report`` writes and reads ``analysis.json`` and turns metrics into a pass/warn/fail
verdict; ``include/jobs/bias.py`` is the processing job, run by the one job runner
(:mod:`airsage.jobs`); ``gate`` is the step the Airflow layer calls (request → run →
collect). Importing this package loads no pandas.
"""

from airsage.bias.base import BiasReport, BiasSettings, BiasVerdict, MetricCheck, MetricValues

__all__ = ["BiasReport", "BiasSettings", "BiasVerdict", "MetricCheck", "MetricValues"]
