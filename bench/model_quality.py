"""Model quality by stratified k-fold cross-validation, per family and setting (on demand).

    .venv/bin/python bench/model_quality.py [--folds 5] [--generated-rows 50000]
        [--generated-bert-rows 2000] [--only real_1k] [--settings tfidf_linear,bert_setfit]
        [--fold-limit 2]

A single 97-row test split cannot tell two models apart (one review is a point of accuracy),
so every family and setting is scored by k-fold cross-validation, stratified by sentiment:

- on the real 1k-row sample ``/work/wt/shared/data/womens_clothing_reviews_1k.csv`` (the
  public data set's header, mapped with ``datasets.reviews.source_columns``);
- on ``--generated-rows`` generated rows (``airsage.data.generator``); the bert settings see a
  stratified subsample of ``--generated-bert-rows`` rows, because a CPU fine-tunes ~30
  reviews/s (the entry records the rows it used).

Inside each training fold a stratified 10 % is held out as the validation set that the bert
family early-stops on (setfit then refits its head on train + validation, its encoder never
sees those rows); tfidf_linear, which has no use for it, trains on the whole fold, so the
comparison favours it rather than bert. The models are fitted in-process with
``airsage.training.trainer.fit_model``, the code the training job runs.

Reported per entry: macro F1, accuracy and per-class recall (mean and standard deviation over
the folds), wall and CPU seconds (the process's user+system time: on a shared machine the
wall time is inflated by other processes, and the CPU time somewhat too, as torch's threads
spin while they wait for a core). Writes
``bench/results/model_quality.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from airsage.config import load_settings  # noqa: E402
from airsage.prepare.base import sentiment_of_rating  # noqa: E402
from airsage.training.trainer import fit_model  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "data" / "womens_clothing_reviews_1k.csv"
RESULTS = ROOT / "bench" / "results" / "model_quality.json"
LABELS = (-1, 0, 1)
SEED = 0
# family, setting name, hyperparameters over the family's configured defaults
SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "tfidf_linear": ("tfidf_linear", {"class_weight": "balanced"}),
    "tfidf_linear_unweighted": ("tfidf_linear", {}),
    # setfit with a logistic head on the embedding alone (the family's default until the wide head)
    "bert_setfit": ("bert", {"head_features": "embedding"}),
    # the same head on the frozen encoder
    "bert_setfit_frozen": ("bert", {"head_features": "embedding", "epochs": 0}),
    # 60 contrastive steps instead of 90
    "bert_setfit_2_epochs": ("bert", {"head_features": "embedding", "epochs": 2}),
    # bert_setfit with another seed: the seed's noise
    "bert_setfit_seed_7": ("bert", {"head_features": "embedding", "seed": 7}),
    # the wide and deep head: the fine-tuned embedding plus a TF-IDF (words, char n-grams) block
    "bert_setfit_wide": ("bert", {"head_features": "embedding+tfidf"}),
    # LP-FT (linear probe, then cross-entropy fine-tuning): the defaults before setfit
    "bert_frozen": ("bert", {"method": "lpft", "head_features": "embedding", "epochs": 0,
                             "class_weight": "balanced"}),
    "bert_finetuned": ("bert", {"method": "lpft", "head_features": "embedding", "epochs": 4,
                                "learning_rate": 1e-4}),
    "bert_finetuned_patient": ("bert", {"method": "lpft", "head_features": "embedding",
                                        "learning_rate": 5e-5, "epochs": 3,
                                        "early_stopping_patience": 2}),
}


def real_sample(settings: Any) -> pd.DataFrame | None:
    """The real sample with airsage's column names and a sentiment; None when it is absent."""
    if not SAMPLE.exists():
        return None
    raw = pd.read_csv(SAMPLE)
    mapping = dict(settings.dataset("reviews").source_columns)
    mapping.setdefault("Unnamed: 0", mapping.get("", "review_id"))  # pandas names a blank header
    return labelled(raw.rename(columns=mapping))


def generated_sample(rows: int) -> pd.DataFrame:
    from airsage.data.generator import GeneratorConfig, generate_batch

    return labelled(generate_batch(GeneratorConfig(rows=rows, seed=11, day="2024-05-01")))


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.dropna(subset=["review_text", "rating"]).copy()
    frame["review_text"] = frame["review_text"].astype(str).str.strip()
    frame = frame[frame["review_text"] != ""]
    frame["sentiment"] = frame["rating"].map(sentiment_of_rating)
    return frame.dropna(subset=["sentiment"]).astype({"sentiment": "int64"}).reset_index(drop=True)


def stratified_subsample(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame
    from sklearn.model_selection import train_test_split

    kept, _ = train_test_split(frame, train_size=rows, stratify=frame["sentiment"],
                               random_state=SEED)
    return kept.reset_index(drop=True)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def cross_validate(frame: pd.DataFrame, family: str, hyperparameters: dict[str, Any],
                   folds: int, on_fold: Any = None, fold_limit: int = 0) -> dict[str, Any]:
    """k-fold CV of one family and setting: per-fold scores, their mean and std, the time.

    ``on_fold(per_fold)`` is called after each fold, so a long run leaves its finished folds.
    ``fold_limit`` > 0 runs only the first folds (a short, bounded comparison).
    """
    from sklearn.metrics import accuracy_score, f1_score, recall_score
    from sklearn.model_selection import StratifiedKFold, train_test_split

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    per_fold = []
    wall_started, cpu_started = time.monotonic(), _cpu_seconds()
    for fold, (train_index, test_index) in enumerate(splitter.split(frame, frame["sentiment"])):
        if fold_limit and fold >= fold_limit:
            break
        fold_wall, fold_cpu = time.monotonic(), _cpu_seconds()
        train, test = frame.iloc[train_index], frame.iloc[test_index]
        fit_rows, validation = train_test_split(train, test_size=0.1, stratify=train["sentiment"],
                                                random_state=SEED + fold)
        if family == "bert":
            model, _ = fit_model(family, fit_rows, hyperparameters, validation=validation)
        else:
            model, _ = fit_model(family, train, hyperparameters)
        y_true = test["sentiment"].to_numpy()
        y_pred = model.predict(test["review_text"].tolist())
        recall = recall_score(y_true, y_pred, labels=list(LABELS), average=None, zero_division=0)
        entry = {
            "fold": fold,
            "train_rows": len(train),
            "test_rows": len(test),
            "macro_f1": round(float(f1_score(y_true, y_pred, average="macro", zero_division=0)), 4),
            "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
            "recall": {str(label): round(float(r), 4) for label, r in zip(LABELS, recall, strict=True)},
            "wall_seconds": round(time.monotonic() - fold_wall, 2),
            "cpu_seconds": round(_cpu_seconds() - fold_cpu, 2),
        }
        config = getattr(model, "config", None)
        if config:
            entry["max_seq_length"] = config.get("max_seq_length")
            entry["best_epoch"] = config.get("best_epoch")
            entry["epochs_trained"] = config.get("epochs_trained")
        per_fold.append(entry)
        print(f"    fold {fold}: macro F1 {entry['macro_f1']:.4f} accuracy {entry['accuracy']:.4f} "
              f"({entry['wall_seconds']:.0f}s wall, {entry['cpu_seconds']:.0f}s CPU)", flush=True)
        if on_fold is not None:
            on_fold(per_fold)

    def stats(values: list[float]) -> tuple[float, float]:
        return round(float(np.mean(values)), 4), round(float(np.std(values, ddof=1)), 4)

    f1_mean, f1_std = stats([f["macro_f1"] for f in per_fold])
    accuracy_mean, accuracy_std = stats([f["accuracy"] for f in per_fold])
    recall = {}
    for label in LABELS:
        mean, std = stats([f["recall"][str(label)] for f in per_fold])
        recall[str(label)] = {"mean": mean, "std": std}
    return {
        "folds": folds,
        "folds_run": len(per_fold),
        "macro_f1_mean": f1_mean,
        "macro_f1_std": f1_std,
        "accuracy_mean": accuracy_mean,
        "accuracy_std": accuracy_std,
        "recall": recall,
        "wall_seconds": round(time.monotonic() - wall_started, 1),
        "cpu_seconds": round(_cpu_seconds() - cpu_started, 1),
        "per_fold": per_fold,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--generated-rows", type=int, default=50_000)
    parser.add_argument("--generated-bert-rows", type=int, default=2_000)
    parser.add_argument("--only", choices=("real_1k", "generated"), default=None)
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help=f"comma-separated subset of {', '.join(SETTINGS)}")
    parser.add_argument("--fold-limit", type=int, default=0,
                        help="run only the first N folds (>= 2; 0: all), for short comparisons")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the issue: 2 cores)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    chosen = [name.strip() for name in args.settings.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown setting(s) {unknown}; choose from {', '.join(SETTINGS)}")
    if args.fold_limit == 1 or args.fold_limit < 0:
        parser.error(f"--fold-limit must be 0 (all folds) or at least 2, got {args.fold_limit}")

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    settings = load_settings(environ={})
    family_defaults = settings.section("training").get("family_hyperparameters") or {}
    datasets: dict[str, pd.DataFrame] = {}
    if args.only in (None, "real_1k"):
        sample = real_sample(settings)
        if sample is None:
            print(f"skipping the real sample: {SAMPLE} is absent", flush=True)
        else:
            datasets["real_1k"] = sample
    if args.only in (None, "generated"):
        datasets["generated"] = generated_sample(args.generated_rows)

    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "torch_threads": args.threads,
                    "python": platform.python_version(), "torch": torch.__version__,
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                    "note": "shared machine (other processes running): wall times are inflated; "
                            "cpu_seconds is this process's own user+system time"},
        "method": f"{args.folds}-fold stratified CV (seed {SEED}); bert early-stops on a "
                  "stratified 10% of each training fold, tfidf_linear trains on the whole fold",
        "results": [],
    }
    def write(document: dict[str, Any]) -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        document["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        args.out.write_text(json.dumps(document, indent=2) + "\n")

    kept: list[dict[str, Any]] = []
    if args.out.exists():  # a partial run keeps the entries it does not recompute
        previous = json.loads(args.out.read_text())
        kept = [entry for entry in previous.get("results", [])
                if entry["dataset"] not in datasets or entry["setting"] not in chosen]
        report["machine_other_runs"] = [*previous.get("machine_other_runs", []), previous["machine"]]
    report["results"] = list(kept)
    for dataset, frame in datasets.items():
        for name in chosen:
            family, overrides = SETTINGS[name]
            rows = frame
            if family == "bert" and dataset == "generated":
                rows = stratified_subsample(frame, args.generated_bert_rows)
            hyperparameters = {**family_defaults.get(family, {}), **overrides,
                               "num_threads": args.threads}
            print(f"  {dataset} {name}: {len(rows)} rows", flush=True)
            entry = {"dataset": dataset, "family": family, "setting": name, "rows": len(rows),
                     "hyperparameters": hyperparameters}

            def save_partial(per_fold: list[dict[str, Any]], entry: dict[str, Any] = entry) -> None:
                partial = {**entry, "folds": args.folds, "complete": False,
                           "folds_done": len(per_fold), "per_fold": per_fold}
                write({**report, "results": [*report["results"], partial]})

            scores = cross_validate(rows, family, hyperparameters, args.folds, save_partial,
                                    args.fold_limit)
            report["results"].append({**entry, **scores, "complete": True})
            print(f"  {dataset} {name}: macro F1 {scores['macro_f1_mean']:.4f} "
                  f"± {scores['macro_f1_std']:.4f}, accuracy {scores['accuracy_mean']:.4f}, "
                  f"{scores['wall_seconds']:.0f}s wall, {scores['cpu_seconds']:.0f}s CPU", flush=True)
            write(report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
