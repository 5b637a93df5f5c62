"""A stand-in entry point that records what the runner handed it (the container contract).

Behaviour is chosen by the ``probe_mode`` hyperparameter: ``record`` (default) dumps its
contract view into SM_MODEL_DIR and prints metrics; ``crash`` prints then fails and writes the
failure file as train.py does; ``sleep`` outlives any short timeout; ``epochs`` prints one
objective value per epoch (``quality`` times the epoch fraction), for early stopping.
"""

import json
import os
import sys
import time
from pathlib import Path

hps = json.loads(os.environ["SM_HPS"])
mode = hps.get("probe_mode", "record")
model_dir = Path(os.environ["SM_MODEL_DIR"])
root = Path(os.environ["AIRSAGE_JOB_ROOT"])

if mode == "record":
    (model_dir / "contract.json").write_text(json.dumps({
        "argv": sys.argv[1:],
        "env": {k: v for k, v in os.environ.items() if k.startswith("SM_")},
        "hyperparameters_json": json.loads((root / "input/config/hyperparameters.json").read_text()),
        "resourceconfig": json.loads((root / "input/config/resourceconfig.json").read_text()),
        "channel_files": sorted(
            str(p.relative_to(root)) for p in (root / "input/data").rglob("*") if p.is_file()
        ),
    }))
    (model_dir / "airsage_model.json").write_text("{}")
    for value in (0.1, 0.5, 0.7):
        print(f"epoch validation:accuracy={value}", flush=True)
    print("train:loss=0.25 custom:score=3 custom:score=4", flush=True)
elif mode == "crash":
    print("about to fail: last words", flush=True)
    (root / "output").mkdir(parents=True, exist_ok=True)
    (root / "output" / "failure").write_text("ValueError: the probe failed on purpose")
    sys.exit(3)
elif mode == "sleep":
    print("sleeping", flush=True)
    time.sleep(60)
elif mode == "epochs":
    quality = float(hps["quality"])
    for epoch in range(1, 6):
        print(f"epoch={epoch} validation:macro_f1={quality * epoch / 5:.4f}", flush=True)
        time.sleep(0.3)
    (model_dir / "airsage_model.json").write_text("{}")
    print(f"validation:macro_f1={quality:.4f}", flush=True)
