"""The local target's ``run`` phase for every job script: one runner, SageMaker's contract.

:class:`LocalJobRunner` does on this machine what SageMaker does with a
``CreateProcessingJob`` / ``CreateTrainingJob`` request (see :mod:`airsage.jobs.contract`):

1. stage the request's input keys from the lake under a fresh root (``AIRSAGE_JOB_ROOT``)
   in SageMaker's layout, and write the config JSON (processing) or the hyperparameters
   and ``SM_*`` environment (training) — a missing input fails before anything starts;
2. run the script with this interpreter in its own process group, streaming stdout and
   stderr to ``<home>/jobs/<job name>/job.log``, matching the metric regexes on every line
   (``on_metric`` may stop the job: a tuner's early stopping) and stopping it at its time
   limit;
3. only when the script exits 0: upload every file of each output directory to its lake
   prefix (processing) or pack ``model/`` to ``model.tar.gz`` at its key (training). The
   output keys are cleared before the job starts, so a failed rerun leaves nothing stale.

:meth:`LocalJobRunner.run` raises unless the job completed: exit code 2 is
:class:`InputDataError` naming the script's last stderr line (no retry can fix it), any
other failure or a timeout :class:`StepFailed` with the failure file and the log's tail.
:meth:`LocalJobRunner.attempt` reports the same outcome without raising.
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
from pathlib import Path
from typing import IO, Any

from airsage.config import INCLUDE_DIR, PROJECT_ROOT, Settings
from airsage.errors import ConfigurationError, InputDataError
from airsage.jobs import contract
from airsage.jobs.request import (
    MODEL_OUTPUT,
    AttemptingRunner,
    JobOutcome,
    JobRequest,
    MetricCallback,
)
from airsage.lake.base import Lake

JOBS_DIR = INCLUDE_DIR / "jobs"
PLUGINS_DIR = PROJECT_ROOT / "plugins"
LOG_TAIL_LINES = 40
FAILURE_TAIL_LINES = 15
HOST = "algo-1"
LOG_FILE = "job.log"
KEPT_FAILURE_FILE = "failure"


def script_path(script: str) -> Path:
    """A script name resolves in ``include/jobs/``; a path (a test's probe) is taken as is."""
    path = Path(script)
    resolved = path if path.is_absolute() or len(path.parts) > 1 else JOBS_DIR / script
    if not resolved.is_file():
        available = sorted(p.name for p in JOBS_DIR.glob("*.py"))
        raise ConfigurationError(
            f"job script {script!r} does not exist ({resolved}); the scripts of include/jobs/ "
            f"are {available}")
    return resolved


def _hyperparameter_string(value: Any) -> str:
    """SageMaker stores every hyperparameter as a string; non-strings are JSON-encoded."""
    return value if isinstance(value, str) else json.dumps(value)


class LocalJobRunner(AttemptingRunner):
    """Runs any ``include/jobs/`` script as SageMaker would, in a subprocess on this machine."""

    # ``on_metric`` sees each value as the script prints it, so a caller may stop the job
    # early (the tuner's pruning, a Debugger rule with action stop_training).
    streams_metrics = True

    def __init__(self, settings: Settings, *, jobs_dir: Path | None = None) -> None:
        self.settings = settings
        self.jobs_dir = Path(jobs_dir) if jobs_dir is not None else Path(settings.home) / "jobs"

    # -- public API ---------------------------------------------------------------------
    def attempt(self, lake: Lake, request: JobRequest, *,
                on_metric: MetricCallback | None = None) -> JobOutcome:
        """Run the job and report how it ended; only a missing input or script raises."""
        started = time.monotonic()
        script = script_path(request.script)
        job_dir = self.jobs_dir / request.job_name
        if job_dir.exists():
            shutil.rmtree(job_dir)  # a rerun replaces its own previous attempt
        root = job_dir / "opt_ml"
        try:
            self._stage_inputs(lake, request, root)
            for key in request.outputs.values():
                lake.delete_prefix(key)
            env, argv = self._command(request, script, root)
            exit_code, stop_reason, history, tail, last_stderr = self._execute(
                request, script, env, argv, job_dir / LOG_FILE, on_metric)
            common: dict[str, Any] = {
                "job_name": request.job_name, "last_stderr_line": last_stderr,
                "log_tail": "\n".join(tail), "log_path": str(job_dir / LOG_FILE),
                "metric_history": {name: tuple(values) for name, values in history.items()},
            }
            if stop_reason is not None:
                return JobOutcome(status="Stopped", exit_code=None, failure_reason=stop_reason,
                                  duration_seconds=time.monotonic() - started, **common)
            failure = self._failure_reason(request, root, exit_code, tail)
            if failure is None:
                try:
                    written = self._upload_outputs(lake, request, root, job_dir)
                except _NoModel as exc:
                    failure = str(exc)
                else:
                    return JobOutcome(status="Completed", exit_code=0, failure_reason=None,
                                      duration_seconds=time.monotonic() - started,
                                      output_keys=written, **common)
            return JobOutcome(status="Failed", exit_code=exit_code, failure_reason=failure,
                              duration_seconds=time.monotonic() - started, **common)
        finally:
            failure_file = contract.failure_path(request.kind, {contract.ROOT_VARIABLE: str(root)})
            if failure_file.exists():  # kept beside the log; the staged copies are dropped
                shutil.copyfile(failure_file, job_dir / KEPT_FAILURE_FILE)
            shutil.rmtree(root, ignore_errors=True)

    # -- staging ------------------------------------------------------------------------
    @staticmethod
    def _channel_dir(request: JobRequest, root: Path, channel: str) -> Path:
        environ = {contract.ROOT_VARIABLE: str(root)}
        if request.kind == "training":
            return contract.training_channel(channel, environ)
        return contract.processing_input(channel, environ)

    def _stage_inputs(self, lake: Lake, request: JobRequest, root: Path) -> None:
        for channel, source in request.inputs.items():
            directory = self._channel_dir(request, root, channel)
            directory.mkdir(parents=True, exist_ok=True)
            if isinstance(source, tuple):  # a manifest: distinct names, the keys' order kept
                for key in source:
                    self._download(lake, request, channel, key,
                                   directory / contract.manifest_name(key))
            elif source.endswith("/"):
                keys = list(lake.list(source))
                if not keys:
                    raise InputDataError(
                        f"job {request.job_name}: input '{channel}' has no objects under lake "
                        f"prefix {source!r} ({lake.uri(source)}); run the step that writes it "
                        "first")
                for key in keys:
                    lake.download(key, directory / key[len(source):])
            else:
                self._download(lake, request, channel, source,
                               directory / source.rsplit("/", 1)[-1])
        environ = {contract.ROOT_VARIABLE: str(root)}
        if request.kind == "processing":
            for name in request.outputs:
                contract.processing_output(name, environ).mkdir(parents=True, exist_ok=True)
            path = contract.config_path(environ)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(dict(request.config), indent=2), encoding="utf-8")
        else:
            self._stage_training_config(request, root)

    @staticmethod
    def _download(lake: Lake, request: JobRequest, channel: str, key: str,
                  destination: Path) -> None:
        if not lake.exists(key):
            raise InputDataError(
                f"job {request.job_name}: input '{channel}' names lake key {key!r} "
                f"({lake.uri(key)}), which does not exist; run the step that writes it first")
        lake.download(key, destination)

    @staticmethod
    def _stage_training_config(request: JobRequest, root: Path) -> None:
        config_dir = contract.training_config_dir({contract.ROOT_VARIABLE: str(root)})
        for directory in (config_dir, root / "model", root / "output" / "data", root / "code"):
            directory.mkdir(parents=True, exist_ok=True)
        strings = {str(k): _hyperparameter_string(v) for k, v in request.config.items()}
        (config_dir / contract.HYPERPARAMETERS_FILE).write_text(json.dumps(strings, indent=2))
        resource = {"current_host": HOST, "hosts": [HOST], "network_interface_name": "eth0"}
        (config_dir / "resourceconfig.json").write_text(json.dumps(resource))
        input_config = {
            channel: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                      "RecordWrapperType": "None"}
            for channel in request.inputs
        }
        (config_dir / "inputdataconfig.json").write_text(json.dumps(input_config))

    # -- the command --------------------------------------------------------------------
    def _command(self, request: JobRequest, script: Path,
                 root: Path) -> tuple[dict[str, str], list[str]]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PLUGINS_DIR), env.get("PYTHONPATH", "")) if p)
        env.update({contract.ROOT_VARIABLE: str(root), "PYTHONUNBUFFERED": "1"})
        argv = [sys.executable, str(script)]
        if request.kind == "training":
            env.update(self._training_environment(request, script, root))
            for name, value in request.config.items():
                argv += [f"--{name}", _hyperparameter_string(value)]
        return env, argv

    def _training_environment(self, request: JobRequest, script: Path,
                              root: Path) -> dict[str, str]:
        """The ``SM_*`` variables a framework container sets for a script-mode entry point."""
        channels_dir = root / "input" / "data"
        config_dir = root / "input" / "config"
        typed = {str(k): v for k, v in request.config.items()}
        resource = {"current_host": HOST, "hosts": [HOST], "network_interface_name": "eth0"}
        input_config = json.loads((config_dir / "inputdataconfig.json").read_text())
        cpus = os.cpu_count() or 1
        instance_type = str(self.settings.section("training").get("instance_type",
                                                                   "ml.m5.xlarge"))
        env = {
            "SM_MODEL_DIR": str(root / "model"),
            "SM_INPUT_DIR": str(root / "input"),
            "SM_INPUT_DATA_DIR": str(channels_dir),
            "SM_INPUT_CONFIG_DIR": str(config_dir),
            "SM_OUTPUT_DIR": str(root / "output"),
            "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
            "SM_CHANNELS": json.dumps(sorted(request.inputs)),
            "SM_HPS": json.dumps(typed, sort_keys=True),
            "SM_HOSTS": json.dumps([HOST]),
            "SM_CURRENT_HOST": HOST,
            "SM_NUM_CPUS": str(cpus),
            "SM_NUM_GPUS": "0",
            "SM_USER_ENTRY_POINT": script.name,
            "SM_MODULE_NAME": script.stem,
            "SM_MODULE_DIR": str(script.parent),
            "SM_RESOURCE_CONFIG": json.dumps(resource),
            "SM_INPUT_DATA_CONFIG": json.dumps(input_config),
            "SM_LOG_LEVEL": "20",
            "SM_CURRENT_INSTANCE_TYPE": instance_type,
            "SM_TRAINING_ENV": json.dumps({
                "job_name": request.job_name, "hyperparameters": typed,
                "channel_input_dirs": {c: str(channels_dir / c) for c in request.inputs},
                "model_dir": str(root / "model"), "output_data_dir": str(root / "output" / "data"),
                "current_host": HOST, "hosts": [HOST], "num_cpus": cpus, "num_gpus": 0,
            }),
            "TRAINING_JOB_NAME": request.job_name,
            # The local target is offline: models come from installed packages or the cache.
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        for channel in request.inputs:
            env[f"SM_CHANNEL_{channel.upper()}"] = str(channels_dir / channel)
        for name, value in request.config.items():
            env[f"SM_HP_{str(name).upper()}"] = _hyperparameter_string(value)
        return env

    # -- running ------------------------------------------------------------------------
    @staticmethod
    def _execute(
        request: JobRequest, script: Path, env: dict[str, str], argv: list[str],
        log_path: Path, on_metric: MetricCallback | None,
    ) -> tuple[int, str | None, dict[str, list[float]], deque[str], str]:
        """Stream both pipes to the log; return (exit code, stop reason, metric history,
        log tail, last stderr line)."""
        patterns = [(d["Name"], re.compile(d["Regex"])) for d in request.metric_definitions]
        history: dict[str, list[float]] = {name: [] for name, _ in patterns}
        tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        last_stderr: list[str] = [""]
        stop_reason: list[str] = []
        lock = threading.Lock()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("w", encoding="utf-8") as log:
            process = subprocess.Popen(
                argv, env=env, cwd=str(script.parent), stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, bufsize=1, errors="replace",
                start_new_session=True,  # its own process group: a stop ends its children too
            )

            def stop(reason: str) -> None:
                with lock:
                    if not stop_reason:
                        stop_reason.append(reason)
                _terminate(process)

            def read(stream: IO[str], is_stderr: bool) -> None:
                for raw_line in stream:
                    line = raw_line.rstrip("\n")
                    with lock:
                        log.write(raw_line)
                        log.flush()
                        tail.append(line)
                        if is_stderr and line.strip():
                            last_stderr[0] = line.strip()
                    for name, pattern in patterns:
                        for match in pattern.finditer(line):
                            try:
                                value = float(match.group(1))
                            except ValueError:
                                continue
                            with lock:
                                history[name].append(value)
                                index = len(history[name]) - 1
                                stopping = bool(stop_reason)
                            if on_metric is not None and not stopping and on_metric(
                                    name, value, index):
                                stop(f"stopped early after {name}={value:g} "
                                     f"(report {index + 1})")

            assert process.stdout is not None and process.stderr is not None
            readers = [threading.Thread(target=read, args=(process.stdout, False), daemon=True),
                       threading.Thread(target=read, args=(process.stderr, True), daemon=True)]
            for reader in readers:
                reader.start()
            timer = None
            if request.timeout_seconds:
                timer = threading.Timer(request.timeout_seconds, stop, args=(
                    f"stopped: the job exceeded its {request.timeout_seconds:g} s time limit",))
                timer.daemon = True
                timer.start()
            try:
                exit_code = process.wait()
                for reader in readers:
                    reader.join()
            finally:
                if timer is not None:
                    timer.cancel()
                if process.poll() is None:
                    _terminate(process)
        return exit_code, (stop_reason[0] if stop_reason else None), history, tail, \
            last_stderr[0]

    @staticmethod
    def _failure_reason(request: JobRequest, root: Path, exit_code: int,
                        tail: deque[str]) -> str | None:
        """None for a clean exit; else the exit code, the failure file and the log's tail."""
        if exit_code == 0:
            return None
        failure_file = contract.failure_path(request.kind, {contract.ROOT_VARIABLE: str(root)})
        failure = failure_file.read_text(errors="replace").strip() if failure_file.exists() else ""
        parts = [f"the job script exited with code {exit_code}"]
        if failure:
            parts.append(f"failure file ({failure_file.name}):\n{failure}")
        parts.append("last log lines:\n" + "\n".join(list(tail)[-FAILURE_TAIL_LINES:]))
        return "\n".join(parts)

    # -- outputs ------------------------------------------------------------------------
    @staticmethod
    def _upload_outputs(lake: Lake, request: JobRequest, root: Path,
                        job_dir: Path) -> tuple[str, ...]:
        if request.kind == "training":
            from airsage.training.model import pack_model

            model_dir = root / "model"
            if not any(model_dir.iterdir()):
                raise _NoModel(f"the script exited 0 but wrote nothing to SM_MODEL_DIR "
                               f"({model_dir})")
            tar_path = pack_model(model_dir, job_dir / "model.tar.gz")
            key = request.outputs[MODEL_OUTPUT]
            lake.upload(tar_path, key)
            tar_path.unlink()
            return (key,)
        written = []
        environ = {contract.ROOT_VARIABLE: str(root)}
        for name, prefix in request.outputs.items():
            directory = contract.processing_output(name, environ)
            for path in sorted(p for p in directory.rglob("*") if p.is_file()):
                key = prefix + path.relative_to(directory).as_posix()
                lake.upload(path, key)
                written.append(key)
        return tuple(written)


class _NoModel(Exception):
    """A training script that exited 0 without a model: the job failed."""


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
