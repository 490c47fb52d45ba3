"""Notebook 01's exercise: the disruption edit, zeroing the top-k channels everywhere."""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..ranking import channel_set
from ..selection import Selection
from ..specs import EditSpec
from .common import (Exercise, calibration_score, call_learner, default_seeds, failed, images, passed,
                     world_prompts)

EXERCISE = Exercise(
    "01_critical", "check_disruption",
    "Write `zero_top_k(score, k)` that returns a `massact.EditSpec` zeroing the top-k channels of **every** block "
    "at every step (`score` is a (blocks, channels) tensor). The checker runs it and compares the images with the "
    "reference edit.",
    "from massact.exercises import check_disruption\n"
    "def zero_top_k(score, k):\n"
    "    ...  # return massact.EditSpec('zero', {block: (channel, ...), ...})\n"
    "check_disruption(model, zero_top_k)")


def reference_disruption(score: torch.Tensor, k: int, num_steps: int | None = None) -> EditSpec:
    """The reference answer of ``check_disruption``: the top-k selection's zeroing edit.

    Args:
        score: (blocks, channels) calibration scores; k: channels per block;
        num_steps: the run's steps (only checked: the edit acts at every step).
    Returns:
        ``EditSpec("zero", channel_set(score, k, "top"))``, every block, every step.
    """
    return Selection("top", k).edit(score, num_steps or 1)


def _diagnose(spec: EditSpec, ref: EditSpec, score: torch.Tensor, k: int, num_steps: int) -> tuple[str, str]:
    """The usual mistake behind a zeroing edit that does not match the reference."""
    nb = score.shape[0]
    if spec.op != "zero":
        return f"op is {spec.op!r}", "zeroing is EditSpec('zero', channels)"
    if spec.alpha != 1.0:
        return f"alpha is {spec.alpha}", "alpha = 1 zeroes the channels completely (x * (1 - alpha))"
    if spec.steps is not None and set(spec.steps) != set(range(num_steps)):
        return f"your edit acts at steps {list(spec.steps)} only", "steps=None acts at every step"
    if spec.token_mask is not None:
        return "your edit has a token mask", "zero the channels on every image token: token_mask=None"
    if spec.rows is not None:
        return "your edit is restricted to some rows", "rows=None edits every image of the batch"
    missing = [b for b in range(nb) if b not in spec.channels]
    if missing:
        return f"blocks {missing} are not edited", "give channels for every block: {b: (...) for b in range(blocks)}"
    bottom = channel_set(score, k, "bottom")
    for b in range(nb):
        mine = set(spec.channels[b])
        if len(mine) != k:
            return f"block {b} has {len(mine)} channels", f"k = {k} channels per block"
        if mine == set(bottom[b]) and mine != set(ref.channels[b]):
            return f"block {b}: {sorted(mine)} are the {k} lowest scores", "the top arm takes the highest: topk"
        if mine != set(ref.channels[b]):
            return (f"block {b}: channels {sorted(mine)}, expected the top-{k} {sorted(ref.channels[b])}",
                    "massact.channel_set(score, k, 'top') or score[b].topk(k).indices for each block")
    return "your edit gives different images from the reference", "compare spec.summary() with the reference's"


def check_disruption(model, your_function: Callable, k: int = 4, prompts: Sequence[str] | None = None,
                     seeds: Sequence[int] | None = None, num_steps: int = 8,
                     calibration_prompts: Sequence[str] | None = None) -> bool:
    """Run ``your_function(score, k) -> EditSpec`` and compare its images with the reference edit's.

    Args:
        model: the notebook's model.
        your_function: the learner's ``zero_top_k(score, k)``.
        k: channels per block.
        prompts, seeds: the images edited (default: 2 evaluation prompts, seeds 0, 1).
        num_steps: sampler steps.
        calibration_prompts: where ``score`` is ranked (default: 4 of the world's calibration
          prompts, with the calibration seeds).
    Returns:
        True when the learner's edit gives the reference images.
    """
    try:
        score = calibration_score(model, num_steps, 4, calibration_prompts)
        prompts = world_prompts(model, "evaluation", 2, prompts)
    except ValueError as exc:
        return failed(str(exc), "or run this exercise on massact.load('toy')")
    seeds = default_seeds(prompts, seeds)
    ok, spec = call_learner("your function", your_function, score.clone(), k, exercise=EXERCISE)
    if not ok:
        return False
    if not isinstance(spec, EditSpec):
        return failed(f"your function returned {type(spec).__name__}, not an EditSpec",
                      "return massact.EditSpec('zero', {block: (channel, ...), ...})")
    try:
        spec.validate(model.num_blocks, model.width, num_steps, len(prompts), model.num_image_tokens)
    except (TypeError, ValueError) as exc:
        return failed(f"your EditSpec is not valid for this model: {exc}",
                      f"blocks 0..{model.num_blocks - 1}, channels 0..{model.width - 1}")
    ref = reference_disruption(score, k, num_steps)
    clean = images(model, prompts, seeds, num_steps, tag="clean")
    expected = images(model, prompts, seeds, num_steps, [ref], tag=("zero", tuple(sorted(ref.channels.items()))))
    mine = images(model, prompts, seeds, num_steps, [spec])
    if torch.allclose(mine, expected, atol=1e-5):
        mse = float(((mine - clean) ** 2).mean())
        return passed(f"your edit zeroes the top-{k} channels of all {model.num_blocks} blocks: the images match the "
                      f"reference (pixel MSE to the clean images {mse:.4f})")
    return failed(*_diagnose(spec, ref, score, k, num_steps))
