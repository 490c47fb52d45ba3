"""Checkpoints along each toy model's own training run, for the claims-across-training view.

Each named toy model (``massact.load("toy")``, ``massact.load("toy-256")``) ships float16 copies
of its EMA weights at a few training steps, written by ``massact.toy.train --snapshots``; its
last step is the model itself. ``massact.load(name, checkpoint=STEP)`` loads one (into float32)
and ``available(name)`` lists the steps:

* "toy" (width 128): ``weights/checkpoints-toy/`` plus the shipped ``weights/toy_dit.safetensors``
  (its last step; the run is described in ``weights/model_card.md``);
* "toy-256" (width 256): ``weights/checkpoints/``, whose last step is the model, described in
  ``weights/checkpoints/run_card.md``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .model import WEIGHTS_DIR

CHECKPOINT_DIR = WEIGHTS_DIR / "checkpoints"  # toy-256's series and its run card
#: where each named toy model's series lives
SERIES_DIRS = {"toy": WEIGHTS_DIR / "checkpoints-toy", "toy-256": CHECKPOINT_DIR}
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


def _check_name(name: str) -> str:
    if name not in SERIES_DIRS:
        raise ValueError(f"unknown toy model {name!r}; the toy models are {', '.join(SERIES_DIRS)}")
    return name


def _snapshots(name: str) -> dict[int, Path]:
    d = SERIES_DIRS[_check_name(name)]
    out = {}
    if d.is_dir():
        for p in d.iterdir():
            m = _NAME.match(p.name)
            if m:
                out[int(m.group(1))] = p
    if name == "toy":  # the default's last step is the shipped model itself
        last = final_step()
        if last is not None:
            out[last] = WEIGHTS_DIR / "toy_dit.safetensors"
    return out


def available(name: str = "toy") -> list[int]:
    """Training steps of a toy model's shipped checkpoint series, in order.

    Args:
        name: "toy" or "toy-256".
    Returns:
        the steps; the last is the model ``massact.load(name)`` itself.
    """
    return sorted(_snapshots(name))


def run_card() -> dict:
    """The toy-256 run's card (its recipe, training curve, evaluation); the default's is model_card.json."""
    p = CHECKPOINT_DIR / "run_card.json"
    return json.loads(p.read_text()) if p.exists() else {}


def path_for(step, name: str = "toy") -> Path:
    """The weights file of one training step of a toy model's run; a clear error naming the available steps.

    Args:
        step: a training step of ``available(name)``.
        name: "toy" or "toy-256".
    Returns:
        the safetensors file.
    """
    if isinstance(step, bool) or not isinstance(step, int):
        raise TypeError(f"checkpoint must be a training step (an int), not {step!r}; available: {available(name)}")
    snaps = _snapshots(name)
    if step in snaps:
        return snaps[step]
    raise ValueError(f"no {name} checkpoint at training step {step}; available steps: {available(name)}")
