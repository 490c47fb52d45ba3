"""Notebook 02's exercise: the spatial mask from k-means on the massive channels."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from ..clustering import cluster_tokens, iou, kmeans, normalised_tokens, polarity_masks
from ..generation import generate
from ..specs import CaptureSpec
from .common import Exercise, cached, call_learner, default_seeds, failed, passed, world_prompts

EXERCISE = Exercise(
    "02_spatial", "check_cluster_mask",
    "Write `my_mask(tokens, channels, grid)`: keep the given channels of the (tokens, channels) tensor, min-max "
    "normalise each channel over tokens, run K-means with K=2 (scikit-learn) and return the foreground as a "
    "boolean (h, w) array using the border rule.",
    "from massact.exercises import check_cluster_mask\n"
    "def my_mask(tokens, channels, grid):\n"
    "    ...  # return a bool array of shape grid\n"
    "check_cluster_mask(model, my_mask)")


def reference_cluster_mask(tokens: torch.Tensor, channels: Sequence[int], grid: tuple[int, int]) -> np.ndarray:
    """The reference answer of ``check_cluster_mask`` (``massact.clustering``, border rule, K = 2).

    Args:
        tokens: one image's tokens (tokens, channels); channels: the kept channels; grid: (h, w).
    Returns:
        bool (h, w), True = foreground.
    """
    return cluster_tokens(tokens, list(channels), grid, K=2, polarity="border")["mask"]


def _variant_masks(tokens: torch.Tensor, channels: Sequence[int], grid: tuple[int, int]) -> dict[str, np.ndarray]:
    """Masks of the usual mistakes, to name the one a learner made."""
    ch = list(channels)
    out = {"inverted": ~reference_cluster_mask(tokens, ch, grid),
           "activation": cluster_tokens(tokens, ch, grid, polarity="activation")["mask"],
           "all_channels": cluster_tokens(tokens, list(range(tokens.shape[-1])), grid)["mask"]}
    raw = tokens[:, ch].double()[None]
    labels = kmeans(raw, 2)
    out["raw"] = polarity_masks(labels, raw.sum(-1).numpy(), grid, 2)["border"][0].reshape(grid)
    return out


_VARIANT_HINTS = {
    "inverted": ("your masks are inverted: you called the background foreground",
                 "the background is the cluster with the largest share of its tokens on the image border"),
    "activation": ("your masks match the 'higher activation = foreground' rule",
                   "that rule flips when a massive channel is negative; decide by the image border instead"),
    "all_channels": ("your masks match clustering on all channels",
                     "keep only the given channels: tokens[:, channels]"),
    "raw": ("your masks match clustering without normalisation",
            "min-max normalise each kept channel over the tokens first, so one huge channel does not decide alone"),
}


def _is_kmeans_partition(mask: np.ndarray, tokens: torch.Tensor, channels: Sequence[int], grid: tuple[int, int]) -> bool:
    """Is the 2-way split {mask, ~mask} a k-means fixed point (every token nearer its own
    group's centre, on the normalised channels) whose foreground is chosen by the border rule?
    k-means has several local optima; any of them, with the right polarity, is a correct answer."""
    m = np.asarray(mask, bool).reshape(-1)
    if m.all() or not m.any():
        return False
    z = normalised_tokens(tokens, channels)
    c_in, c_out = z[m].mean(0), z[~m].mean(0)
    d_in, d_out = ((z - c_in) ** 2).sum(1), ((z - c_out) ** 2).sum(1)
    nearer_own = np.where(m, d_in <= d_out + 1e-9, d_out <= d_in + 1e-9)
    if nearer_own.mean() < 0.99:
        return False
    labels = m.astype(np.int64)[None]
    border = polarity_masks(labels, z.sum(1)[None], grid, 2)["border"][0]
    return bool((border == m).all())


def check_cluster_mask(model, your_function: Callable, block: int | None = None, step: int | None = None,
                       k: int = 8, n_images: int = 4, num_steps: int = 10, threshold: float = 0.9,
                       prompts: Sequence[str] | None = None) -> bool:
    """Compare ``your_function(tokens, channels, grid) -> bool (h, w)`` with the reference k-means mask.

    An image passes when its IoU with the reference is >= threshold, or when the mask is
    another k-means optimum (k-means has several) whose foreground follows the border rule;
    the check passes when all do.

    Args:
        model: the notebook's model.
        your_function: the learner's ``my_mask``; it gets one image's tokens (tokens,
          channels) at (block, step), the top-k channels of that block on these images, and
          ``model.token_grid()``.
        block, step: where the tokens are taken (default: the middle block, the last step).
        k: channels kept.
        n_images: how many evaluation images (the world's evaluation prompts, seeds 0..).
        num_steps: sampler steps.
        threshold: the IoU an image needs.
        prompts: the images' prompts (default: the world's evaluation prompts).
    Returns:
        True when every image's mask passes.
    """
    block = model.num_blocks // 2 if block is None else block
    step = num_steps - 1 if step is None else step
    for name, v, upper in (("block", block, model.num_blocks), ("step", step, num_steps)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= int(v) < upper:
            return failed(f"{name} {v!r} out of range", f"{name}s are numbered 0..{upper - 1}")
    block, step = int(block), int(step)
    try:
        prompts = world_prompts(model, "evaluation", n_images, prompts)
    except ValueError as exc:
        return failed(str(exc), "or run this exercise on massact.load('toy')")
    seeds = default_seeds(prompts)

    def capture():
        g = generate(model, prompts, seeds, num_steps=num_steps,
                     capture=CaptureSpec(blocks=(block,), keep=((block, step),)))
        return g.tensors[(block, step)], g.stats.score("absmean")[block]

    tokens, score = cached(model, ("tokens", tuple(prompts), tuple(seeds), num_steps, block, step), capture)
    channels = sorted(score.topk(k).indices.tolist())
    grid = tuple(model.token_grid())
    ious, mine_all, accepted = [], [], []
    for r in range(tokens.shape[0]):
        ok, mine = call_learner("your function", your_function, tokens[r].clone(), list(channels), grid,
                                exercise=EXERCISE)
        if not ok:
            return False
        mine = np.asarray(mine.detach().cpu() if isinstance(mine, torch.Tensor) else mine)
        if mine.size != grid[0] * grid[1]:
            return failed(f"your mask has shape {mine.shape}; expected the token grid {grid}",
                          "return one boolean per token, reshaped to (h, w) = grid")
        mine = mine.reshape(grid).astype(bool)
        mine_all.append(mine)
        ious.append(iou(mine, reference_cluster_mask(tokens[r], channels, grid)))
        accepted.append(ious[-1] >= threshold or _is_kmeans_partition(mine, tokens[r], channels, grid))
    miou = float(np.mean(ious))
    if all(accepted):
        other = sum(i < threshold for i in ious)
        extra = (f"; on {other} image(s) your k-means found another local optimum than the reference's, "
                 "with the right polarity: also correct") if other else ""
        return passed(f"mean IoU {miou:.2f} with the reference masks on {len(ious)} images "
                      f"(block {block}, step {step}, top-{k} channels){extra}")
    variants = [_variant_masks(tokens[r], channels, grid) for r in range(len(mine_all))]
    for name, (msg, hint) in _VARIANT_HINTS.items():
        if float(np.mean([iou(m, v[name]) for m, v in zip(mine_all, variants)])) >= threshold:
            return failed(f"mean IoU {miou:.2f} with the reference: {msg}", hint)
    return failed(f"mean IoU {miou:.2f} with the reference masks; {accepted.count(False)} of {len(accepted)} masks "
                  "are neither the reference nor a k-means split with the border rule's polarity",
                  "tokens[:, channels] -> min-max normalise per channel -> KMeans(n_clusters=2) -> "
                  "labels.reshape(grid) -> background = the cluster with the largest share of border tokens")
