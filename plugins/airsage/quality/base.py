"""The quality capability's interface: a gate that judges a batch by the DQDL ruleset.

Parsing, compiling, judging, the metrics history and anomaly rules are shared modules
(:mod:`~airsage.quality.dqdl`, :mod:`~airsage.quality.compiler`,
:mod:`~airsage.quality.history`); a gate is the engine that evaluates the rules.
"""

from __future__ import annotations

import datetime as dt_
from collections.abc import Mapping
from typing import Protocol

from airsage.lake.base import Lake
from airsage.quality.results import QualityReport


class QualityGate(Protocol):
    """Evaluates the configured ruleset on one partition and refuses a bad batch."""

    def reference_datasets(self) -> tuple[str, ...]:
        """The datasets the ruleset compares the batch with (DQDL ``DataSources``); the
        caller hands :meth:`run` a relation for each."""
        ...

    def run(self, lake: Lake, dataset: str, day: dt_.date | str, relation_sql: str, *,
            references: Mapping[str, str] | None = None) -> QualityReport:
        """Evaluate, record the day's metrics and report, and raise
        :class:`~airsage.errors.GateFailedError` naming every failed rule."""
        ...
