"""A stand-in training entry point that prints a constructed training curve.

Hyperparameters (``SM_HPS``): ``train`` and ``validation`` — per-epoch losses printed as
``include/jobs/train.py`` prints them; ``counts`` — the validation prediction counts printed
after the last epoch; ``linger`` — seconds to sleep after the last line before the model is
written (a job a rule stops never gets there).
"""

import json
import os
import time
from pathlib import Path


def decoded(value):
    """SageMaker hands hyperparameters over as strings, JSON-encoded when not plain text."""
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return value


hps = {k: decoded(v) for k, v in json.loads(os.environ["SM_HPS"]).items()}
for epoch, (loss, val_loss) in enumerate(zip(hps.get("train", []), hps.get("validation", []), strict=True)):
    print(f"epoch={epoch} train:loss={loss:.6f}", flush=True)
    print(f"epoch={epoch} validation:accuracy=0.5 validation:loss={val_loss:.6f}", flush=True)
counts = hps.get("counts") or {}
if counts:
    print(" ".join(f"validation:{k}={float(v):.6f}" for k, v in counts.items()), flush=True)
time.sleep(float(hps.get("linger", 0)))
(Path(os.environ["SM_MODEL_DIR"]) / "airsage_model.json").write_text("{}")
print(f"train:loss={hps.get('train', [0.5])[-1]:.6f}", flush=True)
