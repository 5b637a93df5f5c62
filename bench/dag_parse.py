"""DAG parse time: what the DAG processor pays for each airsage DAG file, every parse.

Runs ``airflow dags report`` (Airflow's own measurement) and times a fresh-interpreter
import of each DAG file several times. Writes bench/results/dag_parse.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "dag_parse.json"


def _env(home: str) -> dict[str, str]:
    return {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PYTHONPATH": str(ROOT / "plugins")}


def dags_report(env: dict[str, str]) -> list[dict]:
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, check=True)
    out = subprocess.run([airflow, "dags", "report", "-o", "json"], env=env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out[out.index("[{") :])


def import_seconds(dag_file: Path, env: dict[str, str], repeats: int) -> list[float]:
    probe = ("import runpy, time\nstart = time.perf_counter()\n"
             f"runpy.run_path({str(dag_file)!r})\nprint(time.perf_counter() - start)\n")
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                             check=True).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return times


def main() -> int:
    with tempfile.TemporaryDirectory() as home:
        env = _env(home)
        started = time.perf_counter()
        report = dags_report(env)
        result = {"airflow_dags_report": report,
                  "dags_report_wall_seconds": round(time.perf_counter() - started, 2),
                  "fresh_interpreter_import_seconds": {}}
        for dag_file in sorted((ROOT / "dags").glob("*.py")):
            times = import_seconds(dag_file, env, repeats=5)
            result["fresh_interpreter_import_seconds"][dag_file.name] = {
                "median": round(statistics.median(times), 3), "min": round(min(times), 3),
                "max": round(max(times), 3)}
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
