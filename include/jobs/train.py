"""airsage's training script, SageMaker script mode.

A SageMaker framework container (PyTorch or SKLearn, script mode) runs this file as
``python train.py --name value ...``; the local runner runs it the same way in a subprocess.
It reads:

- ``SM_MODEL_DIR``: where the model goes (packed to ``model.tar.gz`` after the script exits);
- ``SM_CHANNEL_TRAIN`` / ``SM_CHANNEL_VALIDATION`` / ``SM_CHANNEL_TEST``: directories of
  ``*.parquet`` or ``*.csv`` features files (``review_text``, ``sentiment``);
- hyperparameters from ``<root>/input/config/hyperparameters.json`` < ``SM_HPS`` (JSON) <
  ``--name value`` arguments; ``model_family`` picks ``tfidf_linear`` (default) or ``bert``.

It prints metrics as ``validation:accuracy=0.8123`` lines for the metric-definition regexes
(one ``epoch=N ...`` line per epoch for the bert family, so a tuner can stop poor trials
early, with the validation loss the Debugger rules compare with train's), then the
validation predictions per class (``validation:predicted_count_<label>=N`` …, what the
``ClassImbalance`` rule judges: :mod:`airsage.training.debugger`), writes
``SM_OUTPUT_DATA_DIR/metrics.json``, and on an error writes the message and
traceback to ``<root>/output/failure`` and exits with status 2 when its input cannot be used
(a channel without the label column, no rows) or 1 for anything else: airsage's job contract
(:mod:`airsage.jobs.contract`), whose ``AIRSAGE_JOB_ROOT`` remaps the ``/opt/ml`` root.
It imports only airsage's pure modules (the package is shipped beside the script).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from airsage.jobs import contract

CHANNELS = ("train", "validation", "test")


def opt_ml_root() -> Path:
    return contract.job_root()


def output_dir() -> Path:
    return Path(os.environ.get("SM_OUTPUT_DIR") or opt_ml_root() / "output")


def parse_cli(argv: list[str]) -> dict[str, str]:
    """``--name value`` pairs, as SageMaker passes hyperparameters to script-mode entry points."""
    values: dict[str, str] = {}
    index = 0
    while index < len(argv):
        token = argv[index]
        if not token.startswith("--"):
            raise ValueError(f"unexpected argument {token!r}: expected --name value pairs")
        name, sep, inline = token[2:].partition("=")
        if sep:
            values[name] = inline
            index += 1
        elif index + 1 < len(argv) and not argv[index + 1].startswith("--"):
            values[name] = argv[index + 1]
            index += 2
        else:
            values[name] = "true"
            index += 1
    return values


def load_hyperparameters(argv: list[str]) -> dict[str, Any]:
    from airsage.training.trainer import parse_hyperparameters

    merged: dict[str, Any] = {}
    config_file = Path(
        os.environ.get("SM_INPUT_CONFIG_DIR") or opt_ml_root() / "input" / "config"
    ) / "hyperparameters.json"
    if config_file.exists():
        merged.update(json.loads(config_file.read_text()))
    if os.environ.get("SM_HPS"):
        merged.update(json.loads(os.environ["SM_HPS"]))
    merged.update(parse_cli(argv))
    return parse_hyperparameters(merged)


def channel_dir(name: str) -> Path | None:
    value = os.environ.get(f"SM_CHANNEL_{name.upper()}")
    if value:
        return Path(value)
    default = opt_ml_root() / "input" / "data" / name
    return default if default.is_dir() else None


def emit(prefix: str, scores: dict[str, float], lead: str = "") -> None:
    parts = [f"{prefix}:{name}={value:.6f}" for name, value in scores.items()]
    print((lead + " " if lead else "") + " ".join(parts), flush=True)


def main(argv: list[str]) -> int:
    import numpy as np

    from airsage.training.debugger import prediction_counts
    from airsage.training.model import LABELS, save_model
    from airsage.training.trainer import classification_metrics, fit_model, read_channel, texts_and_labels

    started = time.monotonic()
    hyperparameters = load_hyperparameters(argv)
    family = str(hyperparameters.get("model_family", "tfidf_linear"))
    frames = {}
    for name in CHANNELS:
        directory = channel_dir(name)
        if directory is not None:
            frames[name] = read_channel(directory, name)
    if "train" not in frames:
        raise FileNotFoundError(
            "no train channel: set SM_CHANNEL_TRAIN or provide <root>/input/data/train/"
        )
    print(
        f"airsage train: family={family} rows="
        + ",".join(f"{name}:{len(frame)}" for name, frame in frames.items())
        + f" hyperparameters={json.dumps(hyperparameters, sort_keys=True)}",
        flush=True,
    )

    def on_epoch(step: int, loss: float, scores: dict[str, float]) -> None:
        line = {"loss": loss}
        emit("train", line, lead=f"epoch={step}")
        if scores:  # with its loss: the debugger's Overfit rule compares it with train's
            emit("validation", scores, lead=f"epoch={step}")

    model, train_loss = fit_model(
        family, frames["train"], hyperparameters, validation=frames.get("validation"), on_epoch=on_epoch
    )

    metrics: dict[str, dict[str, float]] = {"train": {"loss": train_loss}}
    counts: dict[str, float] = {}
    for name in ("validation", "test"):
        if name in frames:
            texts, labels = texts_and_labels(frames[name])
            probabilities = model.predict_proba(texts)
            metrics[name] = classification_metrics(labels, probabilities, model.labels)
            if name == "validation":  # what the debugger's ClassImbalance rule judges
                predicted = [int(v) for v in np.asarray(model.labels)[probabilities.argmax(axis=1)]]
                counts = prediction_counts(labels.tolist(), predicted, LABELS)
    model_dir = Path(os.environ.get("SM_MODEL_DIR") or opt_ml_root() / "model")
    save_model(
        model,
        model_dir,
        extra={
            "hyperparameters": hyperparameters,
            "metrics": metrics,
            "training_seconds": round(time.monotonic() - started, 3),
        },
    )
    data_dir = Path(os.environ.get("SM_OUTPUT_DATA_DIR") or output_dir() / "data")
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    # Final metrics last, after the model is saved: the last value of each regex wins.
    emit("train", {"loss": train_loss})
    for name in ("validation", "test"):
        if name in metrics:
            emit(name, {k: v for k, v in metrics[name].items() if k != "loss"})
    if counts:
        emit("validation", counts)
    return 0


if __name__ == "__main__":
    sys.exit(contract.run_job(lambda: main(sys.argv[1:]), kind="training"))
