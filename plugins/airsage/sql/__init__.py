"""SQL checks written in Athena SQL: rendered with Jinja, transpiled by sqlglot for DuckDB.

:mod:`airsage.sql.base` is the engine's interface (``SqlEngine``), :mod:`airsage.sql.athena`
renders and transpiles, :mod:`airsage.sql.checks` reads the assertion files and judges
results, :mod:`airsage.sql.local` runs them on the local catalog.
"""

from airsage.sql.athena import render, transpile_athena

__all__ = ["render", "transpile_athena"]
