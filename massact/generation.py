"""Generate images while capturing channel statistics and applying edits.

``generate(model, prompts, seeds, capture=..., edits=...)`` is the one entry point the
claims use: it validates every input against the model (block, channel, step, row
ranges), installs a ``hooks.Tracer`` for exactly the duration of sampling, and returns a
``Generation`` holding the images and whatever was captured.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from .hooks import CaptureSpec, ChannelStats, EditSpec, Tracer
from .models import MassactModel


@dataclass
class Generation:
    prompts: list[str]
    seeds: list[int]
    images: torch.Tensor  # (rows, 3, H, W) float32 in [0, 1]
    steps: int
    guidance: float
    stats: ChannelStats | None = None
    text_stats: ChannelStats | None = None
    tensors: dict = field(default_factory=dict)  # (block, step) -> (rows, tokens, channels) float32
    edits: tuple[EditSpec, ...] = ()

    def token_map(self, block: int, step: int) -> torch.Tensor:
        """The kept image-token tensor of (block, step); a clear error if it was not kept."""
        if (block, step) not in self.tensors:
            raise KeyError(f"(block {block}, step {step}) was not kept; kept pairs: {sorted(self.tensors)}; "
                           f"pass capture=CaptureSpec(keep=(({block}, {step}),)) to generate")
        return self.tensors[(block, step)]


def normalise_seeds(prompts: Sequence[str], seeds) -> list[int]:
    if seeds is None:
        seeds = 0
    if isinstance(seeds, int):
        return [int(seeds)] * len(prompts)
    seeds = [int(s) for s in seeds]
    if len(seeds) != len(prompts):
        raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts: give one seed per prompt or a single int")
    return seeds


def generate(model: MassactModel, prompts: Sequence[str], seeds=None, steps: int | None = None,
             guidance: float | None = None, capture: CaptureSpec | bool | None = None,
             edits: Sequence[EditSpec] | EditSpec = (), progress: bool = False) -> Generation:
    """Sample images for prompts (one seed each), capturing and editing the image stream."""
    prompts = list(prompts) if not isinstance(prompts, str) else prompts
    model.validate_prompts(prompts)
    seeds = normalise_seeds(prompts, seeds)
    steps = model.default_steps if steps is None else steps
    if not isinstance(steps, int) or steps < 1 or steps > 1000:
        raise ValueError(f"steps {steps!r} out of range: 1..1000")
    guidance = model.default_guidance if guidance is None else float(guidance)
    if capture is True:
        capture = CaptureSpec()
    if isinstance(edits, EditSpec):
        edits = [edits]
    for e in edits:
        e.validate(model.num_blocks, model.width, steps, len(prompts), model.num_image_tokens)
    layout = model.batch_layout(len(prompts), guidance)
    with Tracer(model.transformer, layout, capture=capture or None, edits=edits, num_steps=steps) as tr:
        images = model.sample(prompts, seeds, steps, guidance, progress=progress)
    res = tr.result()
    return Generation(prompts, seeds, images, steps, guidance, res.stats, res.text_stats, res.tensors, tuple(edits))
