"""Reference images drawn by the toy world's renderer (for inversion and subject transfer)."""
from __future__ import annotations

import numpy as np
import torch

from . import world


def render_references(scenes, seed: int | None = None) -> tuple[torch.Tensor, list[str]]:
    """Toy-world renderer: scenes -> images and their captions.

    Args:
        scenes: a complete caption or ``world.Scene``, or a list of them (every attribute
          named: size, colour, shape, position, background).
        seed: None draws the canonical pictures (no jitter); an int draws jittered ones.
    Returns:
        (images float (B, 3, 32, 32) in [0, 1], captions).
    """
    if isinstance(scenes, (str, world.Scene)):
        scenes = [scenes]
    rng = None if seed is None else np.random.default_rng(seed)
    imgs, caps = [], []
    for s in scenes:
        scene = world.parse_caption(s) if isinstance(s, str) else s
        if not scene.is_complete():
            raise ValueError(f"the renderer needs every attribute; {scene.caption()!r} leaves some out "
                             f"(name size, colour, shape, position and background)")
        img, _ = world.render(scene, rng)
        imgs.append(torch.from_numpy((img + 1) / 2))
        caps.append(scene.caption())
    return torch.stack(imgs).clamp(0, 1), caps
