"""The SQL capability's interface: what a target's SQL engine does for the pipeline.

The checks themselves (files, expectations, judging, the report) are shared in
:mod:`airsage.sql.checks`; an engine only runs Athena SQL where the target keeps the data.
"""

from __future__ import annotations

import datetime as dt_
from typing import TYPE_CHECKING, Any, Protocol

from airsage.lake.base import Lake
from airsage.sql.checks import SqlCheckReport

if TYPE_CHECKING:
    import pandas as pd


class SqlEngine(Protocol):
    """Runs Athena SQL (with Jinja placeholders) against the catalogued tables."""

    def query(self, sql: str, **params: Any) -> pd.DataFrame:
        """Render and run one statement; the rows as a frame (``airsage sql``)."""
        ...

    def run_checks(self, lake: Lake, dataset: str, day: dt_.date | str) -> SqlCheckReport:
        """Every assertion query of the dataset on the day's partition; the report is
        written to the lake whatever the outcome, and a failed check raises
        :class:`~airsage.errors.GateFailedError`."""
        ...
