"""What a tiny random instance of one diffusers image transformer class gives the adapter tests.

Each ``tests/zoo_<group>.py`` module lists ``CASES: list[ZooCase]``, built from the class's
own config on the CPU in milliseconds (no download). Everything a case says about where
the image tokens are is written by hand from the diffusers sources, independently of
massact's adapter table: the tests compare massact's capture and edits with it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn


def seeded(build: Callable[[], nn.Module], seed: int = 0) -> nn.Module:
    """build() with torch's global seed set first, float32, eval mode, no gradients."""
    torch.manual_seed(seed)
    return build().float().eval().requires_grad_(False)


def gen(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)


@dataclass(frozen=True)
class ZooCase:
    """One class (or one variant of a class's inputs) on a tiny random instance.

    Fields:
        name: pytest id, e.g. "auraflow" or "auraflow_equal_tokens".
        class_name: the diffusers class, e.g. "AuraFlowTransformer2DModel".
        build: () -> the model (use ``seeded``), a few blocks per list, width ``width``.
        inputs: (batch, seed) -> forward keyword arguments for ``batch`` rows (seeded with
            ``gen(seed)``; ``return_dict=False`` where the forward takes it).
        num_image_tokens: N, the target image tokens per row (no reference tokens, no padding).
        width: channels of the image stream.
        block_paths: the block lists that carry image tokens, in execution order, as dotted
            attribute paths from the model ("transformer_blocks", "mode_blocks.image").
        hand_image: (block_path, block_output, inputs) -> (batch, N, width) image tokens of one
            block's output, written by hand from the sources (a view or a copy).
        hand_replace: (block_path, block_output, inputs, new_image) -> the block output with its
            image tokens replaced by new_image (batch, N, width), everything else unchanged.
        final_image: optional (model, inputs) -> (batch, N, width): the image tokens the model
            itself takes after its last block (e.g. the input of norm_out), as an independent
            check of hand_image at the last block; None where the model has no such point.
        num_blocks: blocks in block_paths together.
        note: anything a reader of the test should know (what this variant exercises).
    """

    name: str
    class_name: str
    build: Callable[[], nn.Module]
    inputs: Callable[[int, int], dict]
    num_image_tokens: int
    width: int
    block_paths: tuple[str, ...]
    hand_image: Callable[[str, object, dict], torch.Tensor]
    hand_replace: Callable[[str, object, dict, torch.Tensor], object]
    num_blocks: int
    final_image: Callable[[nn.Module, dict], torch.Tensor] | None = None
    note: str = ""
    facts: dict = field(default_factory=dict)


def first_input(model: nn.Module, module: nn.Module, inputs: dict) -> torch.Tensor:
    """The first positional argument (or the hidden_states keyword) with which ``module`` is
    called during ``model(**inputs)``: e.g. the input of ``norm_out``."""
    seen = []

    def pre(mod, args, kwargs):
        x = args[0] if args else kwargs.get("hidden_states", next(iter(kwargs.values())))
        seen.append(x.detach().clone())

    h = module.register_forward_pre_hook(pre, with_kwargs=True)
    try:
        with torch.no_grad():
            model(**inputs)
    finally:
        h.remove()
    assert len(seen) == 1, f"{type(module).__name__} ran {len(seen)} times"
    return seen[0]
