"""Score JSON Lines with the inference handlers, as a SageMaker batch transform job does.

On aws a transform job runs ``inference.py`` in the framework's inference container and
SageMaker itself splits, batches, joins and filters the records. This processing-job script
does the same on one machine (the local target's ``run`` phase of the batch scoring step,
:mod:`airsage.batch.scoring`), with the same handlers: ``model_fn`` once, then
``input_fn`` → ``predict_fn`` → ``output_fn`` per mini-batch.

Inputs (under ``processing/input/``, airsage's job contract, :mod:`airsage.jobs.contract`):

- ``model/*.tar.gz``: the model version's artifact;
- ``data/``: the JSON Lines files to score (every file below it).

Output, under ``processing/output/transform/``: ``<input file>.out`` per input file (its
relative path kept), one line per input record in input order: SageMaker's naming.

Config (``processing/input/config/config.json``): ``content_type``, ``accept``,
``split_type`` and ``assemble_with`` (``Line``), ``batch_strategy``, ``max_payload_mb``,
``input_filter``, ``join_source``, ``output_filter`` (``DataProcessing``). The record
handling is :func:`airsage.batch.transform.transform_text`. Exit code 2: the input or the
config cannot be used (a record that is not JSON, a filter path a record lacks, a model
that answers a different number of records).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from airsage.jobs import contract

OUTPUT = "transform"
KNOWN = ("content_type", "accept", "split_type", "assemble_with", "batch_strategy",
         "max_payload_mb", "input_filter", "join_source", "output_filter")


def main() -> None:
    from airsage.batch.transform import OUTPUT_SUFFIX, transform_text
    from airsage.errors import ConfigurationError, InputDataError
    from airsage.training.model import unpack_model

    config = contract.read_config()
    unknown = sorted(set(config) - set(KNOWN))
    if unknown:
        raise ConfigurationError(f"batch transform: unknown config key(s) {unknown}; known: {KNOWN}")
    if (config.get("split_type", "Line"), config.get("assemble_with", "Line")) != ("Line", "Line"):
        raise ConfigurationError("batch transform: only SplitType Line / AssembleWith Line")
    archives = sorted(contract.processing_input("model").glob("*.tar.gz"))
    if len(archives) != 1:
        raise InputDataError(f"batch transform: expected one model .tar.gz, found "
                             f"{[p.name for p in archives]}")
    data_dir = contract.processing_input("data")
    files = sorted(p for p in data_dir.rglob("*") if p.is_file()) if data_dir.is_dir() else []
    if not files:
        raise InputDataError(f"batch transform: no input file under {data_dir}")
    import inference  # include/jobs/inference.py, beside this script (the container's entry point)

    content_type = str(config.get("content_type", "application/jsonlines"))
    accept = str(config.get("accept", content_type))
    with tempfile.TemporaryDirectory(prefix="airsage-transform-") as tmp:
        model = inference.model_fn(unpack_model(archives[0], Path(tmp)))

        def invoke(body: str) -> str:
            instances = inference.input_fn(body, content_type)
            return inference.output_fn(inference.predict_fn(instances, model), accept)

        output_dir = contract.processing_output(OUTPUT)
        for path in files:
            relative = path.relative_to(data_dir).as_posix()
            text = transform_text(
                path.read_text(encoding="utf-8"), invoke,
                input_filter=str(config.get("input_filter", "$")),
                join_source=str(config.get("join_source", "None")),
                output_filter=str(config.get("output_filter", "$")),
                batch_strategy=str(config.get("batch_strategy", "MultiRecord")),
                max_payload_mb=float(config.get("max_payload_mb", 6)), source=relative)
            target = output_dir / (relative + OUTPUT_SUFFIX)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"transformed {relative}: {text.count(chr(10))} record(s) -> {target.name}",
                  flush=True)


if __name__ == "__main__":
    sys.exit(contract.run_job(main, kind="processing"))
