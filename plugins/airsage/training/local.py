"""The local target's training runner: the SageMaker script-mode contract in a subprocess.

The job script runs exactly as a framework container would run it: an ``/opt/ml``-like root
(``input/data/<channel>/``, ``input/config/hyperparameters.json`` with string values,
``resourceconfig.json``, ``model/``, ``output/``), the ``SM_*`` environment, hyperparameters as
``--name value`` arguments. Output is streamed to a log and scanned with the job's metric
regexes (every match kept, the last one wins, as CloudWatch metrics do); ``SM_MODEL_DIR`` is
packed to ``model.tar.gz`` and uploaded to ``LakeLayout.model_artifact(job)``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airsage.config import PROJECT_ROOT, Settings
from airsage.errors import InputDataError, StepFailed
from airsage.lake.base import Lake
from airsage.lake.layout import LakeLayout
from airsage.training.job import TrainingJobResult, TrainingJobSpec, TrainingSettings
from airsage.training.model import pack_model

LOG_TAIL_LINES = 40
FAILURE_TAIL_LINES = 15
HOST = "algo-1"

# on_metric(name, value, index of this metric's match) -> True to stop the job (early stopping).
MetricCallback = Callable[[str, float, int], bool]


def _hyperparameter_string(value: Any) -> str:
    """SageMaker stores every hyperparameter as a string; non-strings are JSON-encoded."""
    return value if isinstance(value, str) else json.dumps(value)


class LocalTrainingRunner:
    """Run ``include/jobs/train.py`` (or any entry point) as SageMaker would, on this machine."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = TrainingSettings.from_settings(settings)
        self.jobs_dir = Path(settings.home) / "training"

    # -- public API ---------------------------------------------------------------------
    def train(self, lake: Lake, dataset: str, spec: TrainingJobSpec) -> TrainingJobResult:
        """Run the job; a crash raises :class:`StepFailed`, a timeout returns ``Stopped``."""
        result = self.run(lake, dataset, spec)
        if result.status == "Failed":
            raise StepFailed(
                f"training job {spec.job_name} (dataset {dataset}, local target) failed: "
                f"{result.failure_reason}\nfix the script or its input and rerun the task"
            )
        return result

    def run(
        self,
        lake: Lake,
        dataset: str,
        spec: TrainingJobSpec,
        *,
        on_metric: MetricCallback | None = None,
    ) -> TrainingJobResult:
        """Run the job and report how it ended (never raises for a job that crashed)."""
        started = time.monotonic()
        job_dir = self.jobs_dir / dataset / spec.job_name
        if job_dir.exists():
            shutil.rmtree(job_dir)  # a rerun replaces its own previous attempt
        root = job_dir / "opt_ml"
        layout = LakeLayout(dataset)
        artifact_key = layout.model_artifact(spec.job_name)
        lake.delete_prefix(layout.job(spec.job_name))
        try:
            env, argv = self._prepare(lake, spec, root)
            returncode, stop_reason, history, tail = self._execute(
                spec, env, argv, job_dir / "train.log", on_metric
            )
            final = {name: values[-1] for name, values in history.items() if values}
            common: dict[str, Any] = {
                "job_name": spec.job_name,
                "final_metrics": final,
                "log_tail": "\n".join(tail),
                "hyperparameters": dict(spec.hyperparameters),
                "metric_history": {name: tuple(values) for name, values in history.items()},
            }
            if stop_reason is not None:
                return TrainingJobResult(
                    status="Stopped", model_artifact_key=None, model_artifact_uri=None,
                    failure_reason=stop_reason, duration_seconds=time.monotonic() - started,
                    **common,
                )
            if returncode != 0:
                return TrainingJobResult(
                    status="Failed", model_artifact_key=None, model_artifact_uri=None,
                    failure_reason=self._failure_reason(root, returncode, tail),
                    duration_seconds=time.monotonic() - started, **common,
                )
            model_dir = root / "model"
            if not any(model_dir.iterdir()):
                return TrainingJobResult(
                    status="Failed", model_artifact_key=None, model_artifact_uri=None,
                    failure_reason=f"the script exited 0 but wrote nothing to SM_MODEL_DIR ({model_dir})",
                    duration_seconds=time.monotonic() - started, **common,
                )
            tar_path = pack_model(model_dir, job_dir / "model.tar.gz")
            uri = lake.upload(tar_path, artifact_key)
            tar_path.unlink()
            return TrainingJobResult(
                status="Completed", model_artifact_key=artifact_key, model_artifact_uri=uri,
                failure_reason=None, duration_seconds=time.monotonic() - started, **common,
            )
        finally:
            # Keep the log; drop the channel copies and model files (the tarball is in the lake).
            shutil.rmtree(root, ignore_errors=True)

    # -- the container contract ---------------------------------------------------------
    def _prepare(self, lake: Lake, spec: TrainingJobSpec, root: Path) -> tuple[dict[str, str], list[str]]:
        channels_dir = root / "input" / "data"
        config_dir = root / "input" / "config"
        for directory in (config_dir, root / "model", root / "output" / "data", root / "code"):
            directory.mkdir(parents=True, exist_ok=True)
        for channel, prefix in spec.channels.items():
            keys = list(lake.list(prefix))
            if not keys:
                raise InputDataError(
                    f"training job {spec.job_name}: channel '{channel}' has no objects under lake "
                    f"prefix {prefix!r} ({lake.uri(prefix)}); run the prepare step for that day first"
                )
            base = prefix if prefix.endswith("/") else prefix.rsplit("/", 1)[0] + "/"
            for key in keys:
                relative = key[len(base):] if key.startswith(base) else key.rsplit("/", 1)[-1]
                lake.download(key, channels_dir / channel / relative)

        hyperparameters = {str(k): _hyperparameter_string(v) for k, v in spec.hyperparameters.items()}
        typed = {str(k): v for k, v in spec.hyperparameters.items()}
        (config_dir / "hyperparameters.json").write_text(json.dumps(hyperparameters, indent=2))
        resource = {"current_host": HOST, "hosts": [HOST], "network_interface_name": "eth0"}
        (config_dir / "resourceconfig.json").write_text(json.dumps(resource))
        input_config = {
            channel: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                      "RecordWrapperType": "None"}
            for channel in spec.channels
        }
        (config_dir / "inputdataconfig.json").write_text(json.dumps(input_config))

        cpus = os.cpu_count() or 1
        env = dict(os.environ)
        plugins = str(PROJECT_ROOT / "plugins")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (plugins, env.get("PYTHONPATH", "")) if p)
        env.update({
            "AIRSAGE_OPT_ML": str(root),
            "SM_MODEL_DIR": str(root / "model"),
            "SM_INPUT_DIR": str(root / "input"),
            "SM_INPUT_DATA_DIR": str(channels_dir),
            "SM_INPUT_CONFIG_DIR": str(config_dir),
            "SM_OUTPUT_DIR": str(root / "output"),
            "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
            "SM_CHANNELS": json.dumps(sorted(spec.channels)),
            "SM_HPS": json.dumps(typed, sort_keys=True),
            "SM_HOSTS": json.dumps([HOST]),
            "SM_CURRENT_HOST": HOST,
            "SM_NUM_CPUS": str(cpus),
            "SM_NUM_GPUS": "0",
            "SM_USER_ENTRY_POINT": Path(spec.entry_point).name,
            "SM_MODULE_NAME": Path(spec.entry_point).stem,
            "SM_MODULE_DIR": str(Path(spec.entry_point).parent),
            "SM_RESOURCE_CONFIG": json.dumps(resource),
            "SM_INPUT_DATA_CONFIG": json.dumps(input_config),
            "SM_LOG_LEVEL": "20",
            "SM_CURRENT_INSTANCE_TYPE": self.config.instance_type,
            "SM_TRAINING_ENV": json.dumps({
                "job_name": spec.job_name, "hyperparameters": typed, "channel_input_dirs": {
                    c: str(channels_dir / c) for c in spec.channels},
                "model_dir": str(root / "model"), "output_data_dir": str(root / "output" / "data"),
                "current_host": HOST, "hosts": [HOST], "num_cpus": cpus, "num_gpus": 0,
            }),
            "TRAINING_JOB_NAME": spec.job_name,
            "PYTHONUNBUFFERED": "1",
            # The local target is offline: models come from installed packages or the cache.
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        })
        for channel in spec.channels:
            env[f"SM_CHANNEL_{channel.upper()}"] = str(channels_dir / channel)
        for name, value in hyperparameters.items():
            env[f"SM_HP_{name.upper()}"] = value
        argv = [sys.executable, str(spec.entry_point)]
        for name, value in hyperparameters.items():
            argv += [f"--{name}", value]
        return env, argv

    def _execute(
        self,
        spec: TrainingJobSpec,
        env: dict[str, str],
        argv: list[str],
        log_path: Path,
        on_metric: MetricCallback | None,
    ) -> tuple[int, str | None, dict[str, list[float]], deque[str]]:
        """Stream the script's output; return (exit code, stop reason, metric history, tail)."""
        patterns = [(d["Name"], re.compile(d["Regex"])) for d in spec.metric_definitions]
        history: dict[str, list[float]] = {name: [] for name, _ in patterns}
        tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        stop_reason: list[str] = []
        timeout = spec.timeout_seconds or self.config.timeout_seconds
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("w", encoding="utf-8") as log:
            process = subprocess.Popen(
                argv, env=env, cwd=str(Path(spec.entry_point).parent),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                start_new_session=True,  # its own process group: a stop ends its children too
            )

            def stop(reason: str) -> None:
                if not stop_reason:
                    stop_reason.append(reason)
                _terminate(process)

            timer = None
            if timeout:
                timer = threading.Timer(
                    timeout, stop, args=(f"stopped: the job exceeded its {timeout:g} s time limit "
                                         "(training.timeout_seconds)",))
                timer.daemon = True
                timer.start()
            try:
                assert process.stdout is not None
                for raw_line in process.stdout:
                    line = raw_line.rstrip("\n")
                    log.write(raw_line)
                    log.flush()
                    tail.append(line)
                    for name, pattern in patterns:
                        for match in pattern.finditer(line):
                            try:
                                value = float(match.group(1))
                            except ValueError:
                                continue
                            history[name].append(value)
                            if on_metric is not None and not stop_reason and on_metric(
                                name, value, len(history[name]) - 1
                            ):
                                stop(f"stopped early by the tuner after {name}={value:g} "
                                     f"(report {len(history[name])})")
                returncode = process.wait()
            finally:
                if timer is not None:
                    timer.cancel()
                if process.poll() is None:
                    _terminate(process)
        return returncode, (stop_reason[0] if stop_reason else None), history, tail

    @staticmethod
    def _failure_reason(root: Path, returncode: int, tail: deque[str]) -> str:
        failure_file = root / "output" / "failure"
        failure = failure_file.read_text(errors="replace").strip() if failure_file.exists() else ""
        last = "\n".join(list(tail)[-FAILURE_TAIL_LINES:])
        parts = [f"the training script exited with status {returncode}"]
        if failure:
            parts.append(f"failure file ({failure_file.name}):\n{failure}")
        parts.append(f"last log lines:\n{last}")
        return "\n".join(parts)


def _terminate(process: subprocess.Popen[str], grace_seconds: float = 5.0) -> None:
    """SIGTERM the job's process group, then SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace_seconds)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait()
