"""Integration tests reuse the Airflow harness of tests/e2e (airflow_services.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
