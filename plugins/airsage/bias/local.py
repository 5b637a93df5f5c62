"""The local target's bias job: ``include/jobs/bias.py`` in a subprocess, contract dirs remapped.

The script is the same file a SageMaker processing job runs; only the root of the
``/opt/ml/processing`` tree changes (``AIRSAGE_PROCESSING_ROOT``), so what passes locally is
what runs in the container.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airsage.bias.base import ANALYSIS_FILE
from airsage.config import INCLUDE_DIR, PROJECT_ROOT, Settings
from airsage.errors import ConfigurationError, InputDataError, StepFailed

JOB_SCRIPT = INCLUDE_DIR / "jobs" / "bias.py"
PLUGINS_DIR = PROJECT_ROOT / "plugins"
EXIT_BAD_INPUT = 2
STDERR_TAIL_LINES = 20
DEFAULT_TIMEOUT_SECONDS = 600.0


def _tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class LocalBiasJob:
    """Runs the bias job script with ``sys.executable``; returns the parsed ``analysis.json``."""

    def __init__(self, settings: Settings, *, script: Path = JOB_SCRIPT) -> None:
        self.settings = settings
        self.script = Path(script)
        raw = settings.section("bias").get("job_timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
        try:
            self.timeout = float(raw)
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"bias.job_timeout_seconds must be a number of seconds, got {raw!r}"
            ) from None

    def _environment(self, root: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AIRSAGE_BIAS_", "AIRSAGE_PROCESSING_ROOT"))}
        existing = env.get("PYTHONPATH")
        env["PYTHONPATH"] = os.pathsep.join([str(PLUGINS_DIR), *([existing] if existing else [])])
        env["AIRSAGE_PROCESSING_ROOT"] = str(root)
        return env

    def run(self, dataset_path: Path, analysis_config: Mapping[str, Any], output_dir: Path) -> dict[str, Any]:
        """Stage the contract dirs, run the script, copy ``analysis.json`` to ``output_dir``.

        A job that refuses its input (exit code 2) raises InputDataError: a retry cannot fix
        it. Any other crash or a timeout raises StepFailed with the tail of stderr.
        """
        dataset_path = Path(dataset_path)
        if not dataset_path.exists():
            raise InputDataError(f"bias job (local): dataset {dataset_path} does not exist")
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="airsage-bias-") as tmp:
            root = Path(tmp)
            data_dir = root / "input" / "data"
            config_dir = root / "input" / "config"
            out = root / "output"
            for directory in (data_dir, config_dir, out):
                directory.mkdir(parents=True)
            if dataset_path.is_dir():
                shutil.copytree(dataset_path, data_dir, dirs_exist_ok=True)
            else:
                shutil.copyfile(dataset_path, data_dir / dataset_path.name)
            (config_dir / "analysis_config.json").write_text(
                json.dumps(dict(analysis_config), indent=2), encoding="utf-8")
            try:
                completed = subprocess.run(
                    [sys.executable, str(self.script)],
                    env=self._environment(root), capture_output=True, text=True,
                    timeout=self.timeout, check=False,
                )
            except subprocess.TimeoutExpired as exc:
                stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr
                raise StepFailed(
                    f"bias job (local) timed out after {self.timeout:g}s on {dataset_path.name}; "
                    f"raise bias.job_timeout_seconds or shrink the batch. stderr tail:\n"
                    f"{_tail(stderr or '')}"
                ) from exc
            for name in (ANALYSIS_FILE, "failure"):
                if (out / name).exists():
                    shutil.copyfile(out / name, output_dir / name)
        if completed.returncode == EXIT_BAD_INPUT:
            raise InputDataError(
                f"bias job (local) refused {dataset_path.name}: {_tail(completed.stderr, 5)}"
            )
        if completed.returncode != 0:
            raise StepFailed(
                f"bias job (local) {self.script.name} exited with code {completed.returncode} "
                f"on {dataset_path.name}; last lines of stderr:\n{_tail(completed.stderr)}"
            )
        report = output_dir / ANALYSIS_FILE
        try:
            return json.loads(report.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError) as exc:
            raise StepFailed(
                f"bias job (local) exited 0 but left no readable {ANALYSIS_FILE} in "
                f"{output_dir}: {exc}"
            ) from exc
