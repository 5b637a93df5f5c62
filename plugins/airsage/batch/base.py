"""The batch scoring step's types: its settings, its request, its result.

A :class:`TransformRequest` is what SageMaker's ``CreateTransformJob`` takes, reduced to what
airsage varies, with lake keys only (never a worker's paths): the model version and its
``model.tar.gz`` key, the JSON Lines input prefix, the ``.out`` output prefix, the record
handling (``DataProcessing``, ``BatchStrategy``, ``MaxPayloadInMB``) and the table collect
writes. It is frozen and JSON-safe, so it travels through XCom and ``airsage plan`` prints it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from airsage.batch.transform import BATCH_STRATEGIES, JOIN_SOURCES, OUTPUT_SUFFIX, parse_path
from airsage.config import Settings, section_values
from airsage.errors import ConfigurationError
from airsage.jobs.request import check_job_name

SECTION = "batch"
STEP = "score"
JSONLINES = "application/jsonlines"
# what the model sees of a record (all of it: review_id and review_text, both in the inference
# contract; a one-name filter would hand it a bare string), what the output keeps (the id and
# the answer)
INPUT_FILTER = "$"
OUTPUT_FILTER = "$['review_id','SageMakerOutput']"


@dataclass(frozen=True)
class BatchConfig:
    """The ``batch:`` section: the transform's instances, mini-batches and time limit."""

    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    batch_strategy: str = "MultiRecord"
    max_payload_mb: int = 6
    max_concurrent_transforms: int = 1
    timeout_seconds: int = 3600

    def __post_init__(self) -> None:
        if self.batch_strategy not in BATCH_STRATEGIES:
            raise ConfigurationError(f"{SECTION}.batch_strategy {self.batch_strategy!r} is not "
                                     f"one of {BATCH_STRATEGIES}")
        if not 1 <= self.max_payload_mb <= 100:
            raise ConfigurationError(f"{SECTION}.max_payload_mb {self.max_payload_mb} must be "
                                     "1-100 (SageMaker's MaxPayloadInMB)")
        for name in ("instance_count", "max_concurrent_transforms", "timeout_seconds"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{SECTION}.{name} must be >= 1, got {getattr(self, name)}")

    @classmethod
    def from_settings(cls, settings: Settings) -> BatchConfig:
        return cls(**section_values(cls, settings.section(SECTION), section=SECTION,
                                    source=settings.source))


@dataclass(frozen=True)
class TransformRequest:
    """One scoring of a partition by a model version (see the module doc).

    ``input_prefix`` holds one JSON Lines file, ``input_file``; the transform writes
    ``output_prefix + input_file + ".out"``; collect writes ``predictions_key``.
    ``source_key`` is the curated Parquet the input is made from (read, never written).
    """

    dataset: str
    day: str
    job_name: str
    model_name: str
    model_version: str
    model_artifact_key: str
    source_key: str
    input_prefix: str
    input_file: str
    output_prefix: str
    predictions_key: str
    instance_type: str
    instance_count: int
    batch_strategy: str
    max_payload_mb: int
    max_concurrent_transforms: int
    timeout_seconds: int
    content_type: str = JSONLINES
    accept: str = JSONLINES
    split_type: str = "Line"
    assemble_with: str = "Line"
    input_filter: str = INPUT_FILTER
    join_source: str = "Input"
    output_filter: str = OUTPUT_FILTER

    def __post_init__(self) -> None:
        where = f"{STEP} of {self.dataset} dt={self.day} with {self.model_name} v{self.model_version}"
        check_job_name(self.job_name)
        for name in ("model_artifact_key", "source_key", "input_prefix", "output_prefix",
                     "predictions_key"):
            key = getattr(self, name)
            if not key or key.startswith("/") or "://" in key or ".." in key.split("/"):
                raise ConfigurationError(f"{where}: {name} {key!r} is not a lake key")
        for name in ("input_prefix", "output_prefix"):
            if not getattr(self, name).endswith("/"):
                raise ConfigurationError(f"{where}: {name} must be a prefix ending in '/'")
        if self.batch_strategy not in BATCH_STRATEGIES:
            raise ConfigurationError(f"{where}: BatchStrategy {self.batch_strategy!r} is not one "
                                     f"of {BATCH_STRATEGIES}")
        if self.join_source not in JOIN_SOURCES:
            raise ConfigurationError(f"{where}: JoinSource {self.join_source!r} is not one of "
                                     f"{JOIN_SOURCES}")
        parse_path(self.input_filter)
        parse_path(self.output_filter)
        if (self.split_type, self.assemble_with) != ("Line", "Line"):
            raise ConfigurationError(f"{where}: airsage scores JSON Lines: SplitType and "
                                     "AssembleWith are Line")

    @property
    def input_key(self) -> str:
        return self.input_prefix + self.input_file

    @property
    def output_key(self) -> str:
        """SageMaker's name for the output of ``input_file``: the input's name plus ``.out``."""
        return self.output_prefix + self.input_file + OUTPUT_SUFFIX

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TransformRequest:
        names = {f.name for f in fields(cls)}
        missing = sorted(n for n in names if n not in raw and n not in (
            "content_type", "accept", "split_type", "assemble_with", "input_filter",
            "join_source", "output_filter"))
        if missing:
            raise ConfigurationError(f"a TransformRequest mapping lacks {missing}; pass "
                                     "TransformRequest.to_dict()'s result")
        return cls(**{k: v for k, v in raw.items() if k in names})


@dataclass(frozen=True)
class BatchScoringResult:
    """What a scoring wrote: one prediction per input row, with the model version."""

    dataset: str
    day: str
    model_name: str
    model_version: str
    job_name: str
    rows: int
    predictions_key: str
    predictions_uri: str
    label_counts: Mapping[str, int]
    scored_at: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label_counts": dict(self.label_counts)}
