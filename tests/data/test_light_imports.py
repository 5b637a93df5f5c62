"""Importing airsage's data, ingest, catalog and sql packages loads no heavy engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


def test_packages_import_without_pandas_or_duckdb() -> None:
    code = (
        "import sys; import airsage.data, airsage.ingest, airsage.catalog, airsage.sql; "
        "heavy = sorted(m for m in ('pandas', 'duckdb', 'sqlglot', 'pyarrow', 'sklearn') "
        "if m in sys.modules); print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(PLUGINS)})
    assert out.stdout.strip() == ""
