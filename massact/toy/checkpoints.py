"""Checkpoints along one toy training run, for the claims-across-training view.

The package ships float16 copies of the EMA weights of one training run at a few training
steps (``weights/checkpoints/toy_dit_stepNNNNN.safetensors``, written by ``massact.toy.train
--snapshots``; the run is described in ``weights/checkpoints/run_card.md``);
``massact.load("toy", checkpoint=STEP)`` loads one (into float32). ``available()`` lists
the steps. The series is its own run, wider than the default: its last step is the named
model ``massact.load("toy-256")`` (width 256), while the default toy weights
(``massact.load("toy")``, width 128, ``weights/model_card.md``) are a different run that
shipped no checkpoints.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .model import WEIGHTS_DIR

CHECKPOINT_DIR = WEIGHTS_DIR / "checkpoints"
_NAME = re.compile(r"toy_dit_step(\d+)\.safetensors$")


def final_step(path: Path | None = None) -> int | None:
    """The training step of the shipped final weights (from their metadata), or None."""
    from safetensors import safe_open

    path = path or WEIGHTS_DIR / "toy_dit.safetensors"
    if not path.exists():
        return None
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    return int(json.loads(meta["steps"])) if "steps" in meta else None


def _snapshots() -> dict[int, Path]:
    if not CHECKPOINT_DIR.is_dir():
        return {}
    out = {}
    for p in CHECKPOINT_DIR.iterdir():
        m = _NAME.match(p.name)
        if m:
            out[int(m.group(1))] = p
    return out


def available() -> list[int]:
    """Training steps of the shipped checkpoint series, in order."""
    return sorted(_snapshots())


def run_card() -> dict:
    """The checkpoint series' run card (its recipe, pilots, training curve, evaluation)."""
    p = CHECKPOINT_DIR / "run_card.json"
    return json.loads(p.read_text()) if p.exists() else {}


def path_for(step) -> Path:
    """The weights file of one training step; a clear error naming the available steps."""
    if isinstance(step, bool) or not isinstance(step, int):
        raise TypeError(f"checkpoint must be a training step (an int), not {step!r}; available: {available()}")
    snaps = _snapshots()
    if step in snaps:
        return snaps[step]
    raise ValueError(f"no toy checkpoint at training step {step}; available steps: {available()}")
