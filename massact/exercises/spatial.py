"""Notebook 02's exercises: predict which channels separate subject from background, and write
the spatial mask from k-means on the massive channels."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from ..claims import spatial
from ..clustering import cluster_tokens, iou, kmeans, normalised_tokens, polarity_masks
from ..generation import generate
from ..specs import CaptureSpec
from ..stats import paired_difference
from .common import (CannotMeasure, Exercise, Measured, PredictionCheck, cached, calibration_score, call_learner,
                     check_prediction, default_seeds, failed, outcome_of, passed, world_prompts)

EXERCISE = Exercise(
    "02_spatial", "check_cluster_mask",
    "Write `my_mask(tokens, channels, grid)`: keep the given channels of the (tokens, channels) tensor, min-max "
    "normalise each channel over the tokens ((x - min) / (max - min); a constant channel becomes 0), run K-means with "
    "K=2 (scikit-learn) and return the foreground as a boolean (h, w) array using the border rule.\n\n"
    "The conventions the checker uses:\n\n"
    "- **token order**: row-major over the image grid: token n sits at row n // w, column n % w, so "
    "`labels.reshape(grid)` is the cluster map of the image;\n"
    "- **the border**: the tokens of the grid's first and last row and first and last column;\n"
    "- **the border rule**: the background is the cluster with the largest *share of its own tokens* on the "
    "border (not the largest count; a tie goes to the larger cluster), and the other cluster is the foreground; "
    "when k-means puts every token in one cluster there is no split and the mask is all False;\n"
    "- k-means has several local optima: a mask passes when it matches the reference (IoU >= 0.9) or is another "
    "k-means split whose foreground follows the border rule.",
    "from massact.exercises import check_cluster_mask\n"
    "def my_mask(tokens, channels, grid):\n"
    "    ...  # return a bool array of shape grid\n"
    "check_cluster_mask(model, my_mask)")


#: the options of ``predict_mask_channels``
MASK_OPTIONS = ("top", "random", "same")

PREDICTION_EXERCISE = Exercise(
    "02_spatial", "predict_mask_channels",
    "**Predict first.** Cluster the image tokens of every block, at the last step, on 4 channels per block. Will "
    "the **top**-4 channels (the massive ones) or **random**-4 channels give masks closer to the true subject, or "
    "about the **same**? Write your prediction, then run the cell: the checker generates a few evaluation images, "
    "clusters them on both channel sets at every block (the border rule decides the foreground), scores each mask "
    "by its IoU with the judge's mask, and compares the two per image, averaged over the blocks, with a paired "
    "95% interval. The next section measures it on more images, per block.",
    "from massact.exercises import predict_mask_channels\n"
    "PREDICTION = ...  # \"top\", \"random\" or \"same\"\n"
    "prediction = predict_mask_channels(model, PREDICTION)",
    before="## 3 · Top-k vs bottom-k vs random-k",
    heading="### Predict, then measure")

_MASK_WHY = {
    "top": "the massive channels take one range of values on the subject's tokens and another on the background's, "
           "so k-means on them splits the image along the object's outline; random channels carry other features, "
           "and their two clusters follow those.",
    "random": "random channels separate the subject better here: a massive channel can be nearly constant over "
              "the tokens (an offset, notebook 00 §5), and min-max normalisation then magnifies small variations "
              "that need not follow the object.",
    "same": "the interval of the difference holds 0: in this shapes world one object on a plain background is "
            "visible in almost any channel set, so both split the tokens about as well; the claim needs images "
            "where only the massive channels know where the subject is (compare the per-block curves below).",
}


def measure_mask_channels(model, k: int = 4, n_images: int = 6, num_steps: int = 10, random_draws: int = 3,
                          prompts: Sequence[str] | None = None) -> Measured:
    """IoU of the top-k masks minus the random-k masks, per image averaged over blocks, paired.

    Args:
        model: the live model (its metrics must give true foreground masks: the toy's judge).
        k: channels per set; n_images: evaluation images (the world's, seeds 0..);
        num_steps: sampler steps (tokens read at the last); random_draws: random sets (averaged).
        prompts: the images' prompts instead of the world's.
    Returns:
        a ``Measured`` whose outcome is "top", "random" or "same".
    Raises:
        CannotMeasure when the model has no world (and no prompts) or no true masks.
    """
    try:
        prompts = world_prompts(model, "evaluation", n_images, prompts)
        score = calibration_score(model, num_steps, 4)
    except ValueError as exc:
        raise CannotMeasure(str(exc)) from None
    step = num_steps - 1
    cap = spatial.capture(model, prompts, default_seeds(prompts), steps=(step,), num_steps=num_steps)
    truth = spatial.truth_masks(cap.images, model.metrics())
    if truth is None:
        raise CannotMeasure(f"{getattr(model, 'name', 'this model')}'s metrics give no true foreground masks, "
                            "so no mask has an IoU")
    result = spatial.evaluate(cap, score, truth, k=k, arms=("top", "random"), random_draws=random_draws)
    top = np.mean([result.per_item("miou", arm="top", block=b, step=step) for b in cap.blocks], axis=0)
    rnd = np.mean([result.per_item("miou", arm="random", block=b, step=step) for b in cap.blocks], axis=0)
    diff = paired_difference(top, rnd)
    text = (f"IoU with the true subject at step {step}, averaged over blocks {cap.blocks[0]}..{cap.blocks[-1]}: "
            f"top-{k} {float(top.mean()):.2f}, random-{k} {float(rnd.mean()):.2f} ({random_draws} draws); top minus "
            f"random {diff:.3f} over {diff.n} images (paired 95% interval)")
    outcome = outcome_of(diff, "top", "random", "same")
    return Measured(outcome, text, _MASK_WHY[outcome])


def predict_mask_channels(model, prediction, k: int = 4, n_images: int = 6, num_steps: int = 10,
                          prompts: Sequence[str] | None = None) -> PredictionCheck | None:
    """Check a prediction: do top-k or random-k channels give masks closer to the true subject?

    Args:
        model: the notebook's model.
        prediction: one of ``MASK_OPTIONS`` (``...`` while unanswered).
        k, n_images, num_steps, prompts: the measurement (``measure_mask_channels``).
    Returns:
        a ``PredictionCheck``, or None while unanswered.
    Raises:
        ValueError naming the options when ``prediction`` is not one of them.
    """
    return check_prediction(PREDICTION_EXERCISE, prediction, MASK_OPTIONS,
                            lambda: measure_mask_channels(model, k, n_images, num_steps, prompts=prompts))


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
