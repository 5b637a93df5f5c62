"""The local target's evaluation job: ``include/jobs/evaluate.py`` in a subprocess.

The script runs exactly as it would in a SageMaker processing container: the runner lays out
``model/``, ``test/`` and ``evaluation/`` under a scratch directory, points
``AIRSAGE_PROCESSING_ROOT`` at it and reads the JSON the script leaves behind. A subprocess
(rather than an import) keeps the model's memory and any crash out of the Airflow worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airsage.config import INCLUDE_DIR, PROJECT_ROOT, Settings
from airsage.errors import InputDataError, StepFailed
from airsage.evaluation.base import (
    BIAS_FILE,
    EVALUATION_FILE,
    EXPLANATIONS_FILE,
    PREDICTIONS_FILE,
    EvaluationSettings,
)

SCRIPT = INCLUDE_DIR / "jobs" / "evaluate.py"
PLUGINS_DIR = PROJECT_ROOT / "plugins"
OUTPUT_FILES = (EVALUATION_FILE, BIAS_FILE, EXPLANATIONS_FILE, PREDICTIONS_FILE)
TAIL_LINES = 20


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class LocalEvaluationJob:
    """Runs the evaluate script with the processing-job directory contract."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.timeout_seconds = EvaluationSettings.from_settings(settings).timeout_seconds

    def run(self, processing_root: Path, config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Run on ``processing_root/{model,test}``; return the parsed output documents.

        A non-zero exit or a timeout raises :class:`StepFailed` with the script's last
        lines (a retry may help); a run that exits cleanly but leaves no evaluation.json is
        also a failure, since a blessing must never be computed from a missing report.
        """
        processing_root = Path(processing_root)
        output_dir = processing_root / "evaluation"
        output_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["AIRSAGE_PROCESSING_ROOT"] = str(processing_root)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PLUGINS_DIR), env.get("PYTHONPATH", "")) if p
        )
        command = [sys.executable, str(SCRIPT), "--config", json.dumps(dict(config))]
        try:
            completed = subprocess.run(
                command, env=env, capture_output=True, text=True,
                timeout=self.timeout_seconds, check=False,
            )
        except subprocess.TimeoutExpired as exc:
            stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
            raise StepFailed(
                f"evaluate: the evaluation job on {processing_root} did not finish within "
                f"{self.timeout_seconds:g}s (evaluation.timeout_seconds); raise the timeout or "
                f"lower evaluation.attribution_samples. Last output:\n{_tail(stderr)}"
            ) from exc
        if completed.returncode != 0:
            tail = _tail(completed.stderr or completed.stdout)
            error = InputDataError if "InputDataError" in tail else StepFailed
            raise error(
                f"evaluate: the evaluation job exited with code {completed.returncode} "
                f"(script {SCRIPT}, inputs {processing_root}); last lines:\n{tail}"
            )
        outputs: dict[str, dict[str, Any]] = {}
        for name in OUTPUT_FILES:
            path = output_dir / name
            if path.exists():
                outputs[name] = json.loads(path.read_text())
        if EVALUATION_FILE not in outputs:
            raise StepFailed(
                f"evaluate: the evaluation job exited cleanly but wrote no {EVALUATION_FILE} "
                f"in {output_dir}; last lines:\n{_tail(completed.stdout)}"
            )
        return outputs
