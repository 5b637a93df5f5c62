"""The container contract every script of ``include/jobs/`` reads: SageMaker's, rooted anywhere.

One root variable, ``AIRSAGE_JOB_ROOT`` (default ``/opt/ml``, where SageMaker mounts a job),
and under it SageMaker's own layout:

- processing job: inputs in ``processing/input/<channel>/`` (a prefix keeps the paths below
  it; a list of keys, a manifest, is flattened by :func:`manifest_name`), outputs in
  ``processing/output/<name>/`` (uploaded to their lake keys when the job succeeds), the
  config in ``processing/input/config/config.json`` (one JSON object);
- training job: channels in ``input/data/<channel>/``, hyperparameters in
  ``input/config/hyperparameters.json`` (SageMaker's file, string values; also ``SM_HPS``
  and ``--name value`` arguments), the model in ``model/`` (packed to ``model.tar.gz``).

Exit codes: 0 done; 2 the input or the config cannot be used (a retry will not help: the
reason is the last line on stderr); anything else a failure (a retry may help). The reason
also goes to SageMaker's failure file: ``output/message`` for processing (the job's
ExitMessage), ``output/failure`` for training (its FailureReason).

Scripts import this module inside the container too, so it imports nothing but the standard
library and :mod:`airsage.errors`.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from airsage.errors import ConfigurationError, InputDataError

ROOT_VARIABLE = "AIRSAGE_JOB_ROOT"
DEFAULT_ROOT = "/opt/ml"
EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
CONFIG_FILE = "config.json"
HYPERPARAMETERS_FILE = "hyperparameters.json"
FAILURE_FILES = {"processing": "message", "training": "failure"}


def job_root(environ: Mapping[str, str] | None = None) -> Path:
    """``$AIRSAGE_JOB_ROOT``, or ``/opt/ml`` in a SageMaker container."""
    env = os.environ if environ is None else environ
    return Path(env.get(ROOT_VARIABLE) or DEFAULT_ROOT)


def processing_input(channel: str, environ: Mapping[str, str] | None = None) -> Path:
    return job_root(environ) / "processing" / "input" / channel


def processing_output(name: str, environ: Mapping[str, str] | None = None) -> Path:
    return job_root(environ) / "processing" / "output" / name


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    return processing_input("config", environ) / CONFIG_FILE


def training_channel(channel: str, environ: Mapping[str, str] | None = None) -> Path:
    return job_root(environ) / "input" / "data" / channel


def training_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    return job_root(environ) / "input" / "config"


def manifest_name(key: str) -> str:
    """The file name a key of a manifest input gets in its channel (distinct per key)."""
    return key.replace("/", "__")


def failure_path(kind: str, environ: Mapping[str, str] | None = None) -> Path:
    return job_root(environ) / "output" / FAILURE_FILES[kind]


def read_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The processing job's config object; a missing or malformed file is bad input."""
    path = config_path(environ)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"no job config at {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"the job config {path} is not JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ConfigurationError(f"the job config {path} must be a JSON object")
    return config


def _one_line(text: str) -> str:
    return " ".join(text.split())


def run_job(main: Callable[[], Any], *, kind: str) -> int:
    """Run a script's ``main`` under the contract; return the exit code.

    Bad input or config (:class:`ConfigurationError`, :class:`InputDataError`) exits 2 with
    the reason, on one line, as stderr's last line; any other error exits 1. Both print
    the traceback and write it, after the reason, to the failure file.
    """
    try:
        main()
    except (ConfigurationError, InputDataError) as exc:
        message = _one_line(f"{type(exc).__name__}: {exc}")
        text = traceback.format_exc()
        _write_failure(kind, f"{message}\n\n{text}")
        print(text, file=sys.stderr, end="", flush=True)
        print(message, file=sys.stderr, flush=True)  # the last line: what the runner reports
        return EXIT_BAD_INPUT
    except Exception as exc:
        text = traceback.format_exc()
        _write_failure(kind, f"{type(exc).__name__}: {exc}\n\n{text}")
        print(text, file=sys.stderr, end="", flush=True)
        return EXIT_FAILED
    return EXIT_OK


def _write_failure(kind: str, message: str) -> None:
    path = failure_path(kind)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(message, encoding="utf-8")
    except OSError as error:  # the exit code and stderr still tell the runner
        print(f"could not write the failure file {path}: {error}", file=sys.stderr)
