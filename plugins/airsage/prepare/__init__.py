"""Curate a partition and prepare the train/validation/test features (the labs' processing step).

Entry points, both plain functions over ``Settings`` and a ``Lake``:

- :func:`airsage.prepare.curate.curate_partition`: typed columns plus ``sentiment``, as Parquet.
- :func:`airsage.prepare.prepare.prepare_dataset`: clean, balance, split, guard against leakage,
  validate with Great Expectations and write the feature splits.

This module stays light: pandas, DuckDB and Great Expectations are imported by those modules.
"""

from airsage.prepare.base import CurateResult, ExpectationsResult, PrepareOptions, PrepareResult

__all__ = ["CurateResult", "ExpectationsResult", "PrepareOptions", "PrepareResult"]
