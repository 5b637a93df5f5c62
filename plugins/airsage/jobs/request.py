"""What a step asks of a job script, and how the job ended: the same shapes on both targets.

A :class:`JobRequest` is the ``request`` phase's output for every step that runs a script of
``include/jobs/`` (bias, evaluate, monitor, train). It names lake keys only — never a
worker's paths — so it maps one-to-one onto ``CreateProcessingJob`` / ``CreateTrainingJob``
(inputs are ``ProcessingInputs`` / channels, outputs ``ProcessingOutputs`` / the model
artifact) and onto the local runner's staging. It is frozen and JSON-safe
(:meth:`JobRequest.to_dict` / :meth:`JobRequest.from_dict`), so it can travel through XCom
and be printed by ``airsage plan``.

Job names are derived from the scope (dataset or endpoint), the partition and the step by
:func:`job_name`: a rerun of the same step for the same partition gets the same name, so it
replaces its own output (and, on AWS, re-attaches to its own job) and nothing else.
"""

from __future__ import annotations

import datetime as dt_
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Protocol

from airsage.errors import ConfigurationError, InputDataError, StepFailed
from airsage.lake.layout import partition_value

if TYPE_CHECKING:
    from airsage.lake.base import Lake

KINDS = ("processing", "training")
STATUSES = ("Completed", "Failed", "Stopped")
# SageMaker's rule for ProcessingJobName and TrainingJobName.
JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
JOB_NAME_MAX = 63
CHANNEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
CONFIG_CHANNEL = "config"  # processing jobs receive their config JSON as this input
MODEL_OUTPUT = "model"  # a training job's one output: the model.tar.gz key

# on_metric(name, value, index of this metric's match) -> True to stop the job (early stopping).
MetricCallback = Callable[[str, float, int], bool]
# An input is one lake key, a prefix (ending in "/"), or an explicit list of keys (a manifest).
InputSource = str | tuple[str, ...]


def fingerprint(payload: Any, length: int = 8) -> str:
    """A short stable hash of JSON-able ``payload`` (sorted keys)."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-")


def _stamp(when: dt_.date | dt_.datetime | str) -> str:
    """``yyyymmdd`` for a day, ``yyyymmddHH`` for a datetime (an hourly monitor interval)."""
    if isinstance(when, dt_.datetime):
        return when.strftime("%Y%m%d%H")
    return partition_value(when).replace("-", "")


def job_name(
    scope: str,
    when: dt_.date | dt_.datetime | str,
    step: str,
    payload: Any = None,
    *,
    max_length: int = JOB_NAME_MAX,
) -> str:
    """``<scope>-<yyyymmdd[HH]>-<step>[-<hash of payload>]``, within SageMaker's name rules.

    The scope (a dataset or an endpoint name) is cut first when the name is too long; the
    partition, the step and the payload's hash always survive, so two steps or two payloads
    never share a name.
    """
    step_slug = _slug(step)
    if not step_slug:
        raise ConfigurationError(f"job step {step!r} has no letter or digit to name a job with")
    suffix = f"-{_stamp(when)}-{step_slug}" + ("" if payload is None else f"-{fingerprint(payload)}")
    if len(suffix) >= max_length:
        raise ConfigurationError(
            f"job name suffix {suffix!r} leaves no room for the scope within {max_length} "
            "characters; shorten the step name")
    slug = _slug(scope) or "job"
    name = slug[: max(1, max_length - len(suffix))].rstrip("-") + suffix
    return check_job_name(name)


def check_job_name(name: str) -> str:
    if not JOB_NAME_PATTERN.match(name):
        raise ConfigurationError(
            f"job name {name!r} is not a valid SageMaker job name: use 1-63 letters, digits "
            "and hyphens, starting and ending with a letter or digit")
    return name


def _check_key(key: Any, where: str) -> str:
    if not isinstance(key, str) or not key or key.startswith("/") or ".." in key.split("/"):
        raise ConfigurationError(
            f"{where}: {key!r} is not a lake key (relative, '/'-separated, without '..'); "
            "requests name lake keys, never a worker's paths")
    return key


def check_metric_definitions(definitions: Sequence[Mapping[str, str]], *, where: str) -> None:
    """Each definition needs a Name and a Regex with one capture group, as SageMaker requires."""
    for item in definitions:
        if "Name" not in item or "Regex" not in item:
            raise ConfigurationError(f"{where}: each metric definition needs Name and Regex, "
                                     f"got {dict(item)!r}")
        try:
            groups = re.compile(item["Regex"]).groups
        except re.error as exc:
            raise ConfigurationError(
                f"{where}: metric {item['Name']!r} has an invalid regex {item['Regex']!r}: {exc}"
            ) from exc
        if groups < 1:
            raise ConfigurationError(
                f"{where}: metric {item['Name']!r} regex {item['Regex']!r} needs a capture group "
                "around the number, e.g. 'validation:accuracy=([0-9\\.]+)'")


@dataclass(frozen=True)
class JobRequest:
    """One run of a job script: what it reads, what it writes, how it is configured.

    - ``kind``: ``processing`` (bias, evaluate, monitor) or ``training`` (train).
    - ``script``: a file name in ``include/jobs/`` (``bias.py``); tests may name a path.
    - ``inputs``: channel -> a lake key, a prefix ending in ``/`` (every object below it),
      or a tuple of keys (a manifest; may be empty). A processing job finds a channel under
      ``processing/input/<channel>/``, a training job under ``input/data/<channel>/``.
    - ``outputs``: processing: name -> a lake prefix ending in ``/`` that receives every
      file of ``processing/output/<name>/``; training: ``{"model": <model.tar.gz key>}``.
    - ``config``: a JSON object: ``processing/input/config/config.json`` for a processing
      job, the hyperparameters (``input/config/hyperparameters.json``, ``--name value``
      arguments, ``SM_HPS``) for a training job.
    - ``timeout_seconds``: the job's time limit (None: no limit); ``metric_definitions``:
      SageMaker's ``{Name, Regex}`` metric captures over the job's log.
    - ``debugger``: a training job's Debugger rules (``DebuggerSettings.to_dict()``; empty:
      none), which CreateTrainingJob carries as ``DebugRuleConfigurations`` on AWS.
    """

    kind: str
    job_name: str
    script: str
    inputs: Mapping[str, InputSource]
    outputs: Mapping[str, str]
    config: Mapping[str, Any] = field(default_factory=dict)
    timeout_seconds: float | None = None
    metric_definitions: tuple[Mapping[str, str], ...] = ()
    debugger: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"job {self.job_name!r}"
        if self.kind not in KINDS:
            raise ConfigurationError(f"{where}: kind {self.kind!r} is not one of {KINDS}")
        check_job_name(self.job_name)
        if not self.script or not isinstance(self.script, str):
            raise ConfigurationError(f"{where}: name the job script (a file of include/jobs/)")
        inputs: dict[str, InputSource] = {}
        for channel, source in self.inputs.items():
            if not CHANNEL_PATTERN.match(str(channel)):
                raise ConfigurationError(
                    f"{where}: input channel {channel!r} must be letters, digits, '_' or '-'")
            if self.kind == "processing" and channel == CONFIG_CHANNEL:
                raise ConfigurationError(
                    f"{where}: the input channel name {CONFIG_CHANNEL!r} is reserved for the "
                    "job's config file; pass configuration in config")
            if isinstance(source, str):
                inputs[str(channel)] = _check_key(source, f"{where}, input {channel!r}")
            elif isinstance(source, Sequence):
                inputs[str(channel)] = tuple(
                    _check_key(key, f"{where}, input {channel!r}") for key in source)
            else:
                raise ConfigurationError(
                    f"{where}: input {channel!r} must be a lake key, a prefix or a list of keys, "
                    f"got {type(source).__name__}")
        outputs = {str(name): _check_key(key, f"{where}, output {name!r}")
                   for name, key in self.outputs.items()}
        if self.kind == "processing":
            bad = sorted(name for name, key in outputs.items()
                         if not key.endswith("/") or not CHANNEL_PATTERN.match(name))
            if bad:
                raise ConfigurationError(
                    f"{where}: processing outputs {bad} must be named with letters, digits, "
                    "'_' or '-' and go to a lake prefix ending in '/'")
        elif set(outputs) != {MODEL_OUTPUT} or outputs[MODEL_OUTPUT].endswith("/"):
            raise ConfigurationError(
                f"{where}: a training job has one output, {MODEL_OUTPUT!r}: the lake key of its "
                f"model.tar.gz; got {outputs}")
        try:
            config = json.loads(json.dumps(dict(self.config), allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{where}: config must be a JSON object: {exc}") from exc
        if self.timeout_seconds is not None and (
                not isinstance(self.timeout_seconds, int | float) or self.timeout_seconds <= 0):
            raise ConfigurationError(
                f"{where}: timeout_seconds must be a positive number of seconds or None, "
                f"got {self.timeout_seconds!r}")
        definitions = tuple(dict(d) for d in self.metric_definitions)
        check_metric_definitions(definitions, where=where)
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "outputs", outputs)
        object.__setattr__(self, "config", config)
        object.__setattr__(self, "metric_definitions", definitions)
        if self.debugger and self.kind != "training":
            raise ConfigurationError(f"{where}: only a training job has debugger rules")
        try:
            debugger = json.loads(json.dumps(dict(self.debugger), allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{where}: debugger must be a JSON object: {exc}") from exc
        object.__setattr__(self, "debugger", debugger)

    def with_changes(self, **changes: Any) -> JobRequest:
        return replace(self, **changes)

    def output(self, name: str) -> str:
        """The lake key (prefix) of output ``name``; an unknown name lists the outputs."""
        try:
            return self.outputs[name]
        except KeyError:
            raise ConfigurationError(
                f"job {self.job_name}: no output {name!r}; its outputs: {sorted(self.outputs)}"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "job_name": self.job_name,
            "script": self.script,
            "inputs": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.inputs.items()},
            "outputs": dict(self.outputs),
            "config": dict(self.config),
            "timeout_seconds": self.timeout_seconds,
            "metric_definitions": [dict(d) for d in self.metric_definitions],
            **({"debugger": dict(self.debugger)} if self.debugger else {}),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> JobRequest:
        try:
            return cls(
                kind=raw["kind"], job_name=raw["job_name"], script=raw["script"],
                inputs={k: (v if isinstance(v, str) else tuple(v))
                        for k, v in raw["inputs"].items()},
                outputs=dict(raw["outputs"]), config=dict(raw.get("config") or {}),
                timeout_seconds=raw.get("timeout_seconds"),
                metric_definitions=tuple(raw.get("metric_definitions") or ()),
                debugger=dict(raw.get("debugger") or {}),
            )
        except KeyError as exc:
            raise ConfigurationError(
                f"a JobRequest mapping lacks {exc.args[0]!r}; pass JobRequest.to_dict()'s result"
            ) from exc


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended (``DescribeProcessingJob`` / ``DescribeTrainingJob``, reduced).

    ``exit_code`` is the script's (None when it was stopped); ``failure_reason`` holds the
    script's failure file and the last lines of its log; ``metric_history`` every value the
    metric regexes matched, in order; ``output_keys`` the lake keys written (only on
    ``Completed``: a job that did not complete writes nothing); ``rule_evaluations`` the
    ``DebugRuleEvaluationStatuses`` SageMaker reports for a training job's Debugger rules
    (empty locally, where airsage evaluates the rules itself).
    """

    job_name: str
    status: str
    exit_code: int | None
    failure_reason: str | None
    last_stderr_line: str
    log_tail: str
    duration_seconds: float
    metric_history: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    output_keys: tuple[str, ...] = ()
    log_path: str = ""
    rule_evaluations: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"job status {self.status!r} is not one of {STATUSES}")

    @property
    def final_metrics(self) -> dict[str, float]:
        """The last value of each metric (as CloudWatch's last datapoint)."""
        return {name: values[-1] for name, values in self.metric_history.items() if values}

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_name": self.job_name, "status": self.status, "exit_code": self.exit_code,
            "failure_reason": self.failure_reason, "last_stderr_line": self.last_stderr_line,
            "log_tail": self.log_tail, "duration_seconds": float(self.duration_seconds),
            "metric_history": {k: [float(x) for x in v] for k, v in self.metric_history.items()},
            "output_keys": list(self.output_keys), "log_path": self.log_path,
            **({"rule_evaluations": [dict(r) for r in self.rule_evaluations]}
               if self.rule_evaluations else {}),
        }


class JobRunner(Protocol):
    """The ``run`` phase of every job step: the local runner, or a SageMaker job on aws."""

    def run(self, lake: Lake, request: JobRequest, *,
            on_metric: MetricCallback | None = None) -> JobOutcome:
        """Run the job to its end; raise unless it completed (exit code 2: InputDataError)."""
        ...

    def attempt(self, lake: Lake, request: JobRequest, *,
                on_metric: MetricCallback | None = None) -> JobOutcome:
        """Run the job to its end and report how it ended, without raising for a failed or
        stopped job (a tuner's trial may fail and tuning goes on)."""
        ...


class AttemptingRunner:
    """A runner's ``run`` as every runner means it: ``attempt`` the job, then raise unless it
    completed. Subclasses only say how a job is attempted (locally, on SageMaker, or collected
    from the job that already ran), so a failed job raises the same errors on every target."""

    def attempt(self, lake: Lake, request: JobRequest, *,
                on_metric: MetricCallback | None = None) -> JobOutcome:
        raise NotImplementedError

    def run(self, lake: Lake, request: JobRequest, *,
            on_metric: MetricCallback | None = None) -> JobOutcome:
        """Run the job; return its outcome if it completed, else raise (see raise_for_outcome)."""
        outcome = self.attempt(lake, request, on_metric=on_metric)
        raise_for_outcome(request, outcome)
        return outcome


def raise_for_outcome(request: JobRequest, outcome: JobOutcome) -> None:
    """Nothing for a completed job; InputDataError for exit code 2; StepFailed otherwise."""
    from airsage.jobs.contract import EXIT_BAD_INPUT

    if outcome.status == "Completed":
        return
    what = f"job {request.job_name} ({PurePath(request.script).name}, {request.kind})"
    if outcome.exit_code == EXIT_BAD_INPUT:
        raise InputDataError(
            f"{what} refused its input: {outcome.last_stderr_line or 'no reason on stderr'}")
    if outcome.status == "Stopped":
        raise StepFailed(f"{what} {outcome.failure_reason}; raise the step's timeout or make "
                         f"the job cheaper. Last log lines:\n{outcome.log_tail}")
    raise StepFailed(f"{what} failed: {outcome.failure_reason}")
