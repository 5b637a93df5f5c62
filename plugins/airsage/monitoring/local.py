"""The local target's monitor job: ``include/jobs/monitor.py`` in a subprocess.

The lake keys are copied into a temporary ``/opt/ml``-shaped directory, exactly where a
SageMaker processing job would mount them, so the script runs unchanged in both places.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airsage.config import PROJECT_ROOT, Settings
from airsage.errors import InputDataError, StepFailed
from airsage.lake.base import Lake
from airsage.monitoring.base import (
    CONSTRAINTS_FILE,
    STATISTICS_FILE,
    SUMMARY_FILE,
    VIOLATIONS_FILE,
    VOCABULARY_FILE,
    MonitoringSettings,
    MonitorJobOutput,
    job_script,
)
from airsage.monitoring.model_quality import MODEL_QUALITY_DIR

LOG_TAIL_CHARS = 4000


class LocalMonitorJob:
    """Run the monitor job over lake keys in a local subprocess; write outputs to the lake."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.monitoring = MonitoringSettings.from_settings(settings)

    def run(
        self,
        lake: Lake,
        *,
        capture_keys: Sequence[str],
        baseline_prefix: str,
        ground_truth_keys: Sequence[str],
        output_prefix: str,
        config: Mapping[str, Any],
    ) -> MonitorJobOutput:
        with tempfile.TemporaryDirectory(prefix="airsage-monitor-") as tmp:
            root = Path(tmp)
            processing = root / "processing"
            inputs = {
                "statistics": (baseline_prefix + STATISTICS_FILE,
                               processing / "baseline" / "stats" / STATISTICS_FILE),
                "constraints": (baseline_prefix + CONSTRAINTS_FILE,
                                processing / "baseline" / "constraints" / CONSTRAINTS_FILE),
            }
            for what, (key, path) in inputs.items():
                if not lake.exists(key):
                    raise InputDataError(
                        f"monitor: the baseline {what} {lake.uri(key)} does not exist; create the "
                        "model version's baseline (airsage.monitoring.step.create_baseline) first"
                    )
                lake.download(key, path)
            quality_key = baseline_prefix + MODEL_QUALITY_DIR + CONSTRAINTS_FILE
            if lake.exists(quality_key):  # a model-quality constraints.json, when one exists
                lake.download(quality_key, processing / "baseline" / "model_quality"
                              / CONSTRAINTS_FILE)
            vocabulary_key = baseline_prefix + VOCABULARY_FILE
            if lake.exists(vocabulary_key):
                lake.download(vocabulary_key,
                              processing / "baseline" / "vocabulary" / VOCABULARY_FILE)
            self._copy(lake, capture_keys, processing / "input" / "endpoint")
            self._copy(lake, ground_truth_keys, processing / "groundtruth")
            output = processing / "resultdata"
            env = {
                **os.environ,
                "AIRSAGE_OPT_ML_ROOT": str(root),
                "PYTHONPATH": os.pathsep.join(
                    [str(PROJECT_ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]
                ).rstrip(os.pathsep),
                "airsage_monitoring_config": json.dumps(dict(config)),
            }
            try:
                completed = subprocess.run(
                    [sys.executable, str(job_script())], env=env, capture_output=True,
                    text=True, timeout=self.monitoring.job_timeout_seconds, check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise StepFailed(
                    f"monitor job for {output_prefix} ran longer than "
                    f"{self.monitoring.job_timeout_seconds} s (monitoring.job_timeout_seconds); "
                    "raise the timeout or monitor shorter intervals"
                ) from exc
            if completed.returncode != 0:
                message_file = root / "output" / "message"
                reason = message_file.read_text() if message_file.exists() else "no message"
                tail = (completed.stdout + completed.stderr)[-LOG_TAIL_CHARS:]
                raise StepFailed(
                    f"monitor job for {output_prefix} exited with code {completed.returncode}: "
                    f"{reason}\n--- log tail ---\n{tail}"
                )
            documents = {}
            for name in (STATISTICS_FILE, VIOLATIONS_FILE, SUMMARY_FILE):
                path = output / name
                if not path.exists():
                    raise StepFailed(f"monitor job for {output_prefix} wrote no {name}")
                lake.upload(path, output_prefix + name)
                documents[name] = json.loads(path.read_text())
            # Model quality is its own file set (Model Monitor's model-quality job): written
            # next to the data-quality files, its violations counted with theirs.
            for name in (STATISTICS_FILE, VIOLATIONS_FILE):
                path = output / MODEL_QUALITY_DIR / name
                if path.exists():
                    lake.upload(path, output_prefix + MODEL_QUALITY_DIR + name)
                    documents[MODEL_QUALITY_DIR + name] = json.loads(path.read_text())
        quality_violations = documents.get(MODEL_QUALITY_DIR + VIOLATIONS_FILE) or {}
        violations = {"violations": [*documents[VIOLATIONS_FILE].get("violations", []),
                                     *quality_violations.get("violations", [])]}
        return MonitorJobOutput(
            statistics=documents[STATISTICS_FILE],
            violations=violations,
            summary=documents[SUMMARY_FILE],
            model_quality=documents.get(MODEL_QUALITY_DIR + STATISTICS_FILE),
        )

    @staticmethod
    def _copy(lake: Lake, keys: Sequence[str], directory: Path) -> None:
        """Copy keys keeping their order and distinct names (the key path, flattened)."""
        directory.mkdir(parents=True, exist_ok=True)
        for key in keys:
            lake.download(key, directory / key.replace("/", "__"))
