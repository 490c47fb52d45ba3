"""Exercises with checker functions, in the style of ARENA's ``tests.py``.

A learner writes a small piece of the method, passes it to a checker, and reads a verdict::

    from massact import exercises as ex
    ex.check_top_channels(model, 4, [106, 7, 123])   # prints "✅ ..." or "❌ ..." and a hint

Every checker prints one line starting with ✅ or ❌ (a failed check adds a ``Hint:``
line) and returns True or False. Checkers compute their reference answer on the spot, from
a fresh capture on fixed prompts and seeds (cached per model), never from a stored number:
the toy model's weights may change. ``EXERCISES`` lists the exercises, one or more per
notebook; ``list_exercises()`` prints them.

====================  =============================  ===========================================
notebook              checker                        the learner writes
====================  =============================  ===========================================
00 massive            ``check_top_channels``         the top-k channels of one block
01 critical           ``check_disruption``           ``f(score, k) -> EditSpec`` zeroing top-k
02 spatial            ``check_cluster_mask``         ``f(tokens, channels, grid) -> mask``
03 transferable       ``check_transport``            ``mix(x_target, x_source, channels, alpha,
                                                     token_mask)`` on tensors
04 use cases          ``check_use_case``             ``f(channels, alpha) -> EditSpec`` moving
                                                     channels from row 0 into row 1
04 use cases          ``check_inversion``            ``invert(model, images, prompts, steps)``
====================  =============================  ===========================================
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .generation import generate
from .hooks import CaptureSpec, EditSpec
from .ranking import channel_set


@dataclass(frozen=True)
class Exercise:
    notebook: str
    checker: str
    task: str


EXERCISES: tuple[Exercise, ...] = (
    Exercise("00_massive_activations", "check_top_channels",
             "Rank the top-3 channels of block 4 by the paper's score |mean over image tokens| (absmean), averaged "
             "over the prompts and steps of the notebook's generation (8 evaluation captions, seeds 0-7). "
             "`check_top_channels(model, 4, your_answer)`."),
    Exercise("01_critical", "check_disruption",
             "Write `zero_top_k(score, k) -> EditSpec` that zeroes the k highest-scoring channels of every block "
             "at every step (score: (blocks, channels)). `check_disruption(model, zero_top_k)`."),
    Exercise("02_spatial", "check_cluster_mask",
             "Write `my_mask(tokens, channels, grid) -> bool (h, w)`: keep the channels, min-max normalise each over "
             "the tokens, k-means with K=2, and call foreground every cluster but the one with the largest share of "
             "its tokens on the image border. `check_cluster_mask(model, my_mask)`."),
    Exercise("03_transferable", "check_transport",
             "Write `mix(x_target, x_source, channels, alpha, token_mask=None)` on (tokens, channels) tensors: "
             "x_target (1 - alpha M) + x_source alpha M, M the channel indicator times the token mask. "
             "`check_transport(mix)`."),
    Exercise("04_use_cases", "check_use_case",
             "Write `interpolate(channels, alpha) -> EditSpec` that moves `channels` ({block: (channel, ...)}) from "
             "row 0 (the source prompt) into row 1 (the target prompt) with strength alpha, at every step. "
             "`check_use_case(model, interpolate)`."),
    Exercise("04_use_cases", "check_inversion",
             "Write `invert(model, images, prompts, steps)` that integrates the toy model's flow ODE backwards, "
             "from the image (t = 0) to noise (t = 1), with guidance 1. `check_inversion(model, invert)`."),
)


def list_exercises() -> None:
    for e in EXERCISES:
        print(f"{e.notebook:24} {e.checker:20} {e.task}")


# -- verdicts -------------------------------------------------------------------------------
def _pass(message: str) -> bool:
    print(f"✅ {message}")
    return True


def _fail(message: str, hint: str | None = None) -> bool:
    print(f"❌ {message}")
    if hint:
        print(f"   Hint: {hint}")
    return False


def _crashed(what: str, exc: BaseException) -> bool:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (line {tb[-1].lineno} of {tb[-1].name})" if tb else ""
    return _fail(f"{what} raised {type(exc).__name__}: {exc}{where}",
                 "run your function on its own first and read the error message")


# -- fixed prompts and cached references --------------------------------------------------------
_CACHE: dict = {}


def evaluation_prompts(n: int) -> list[str]:
    from .toy import world

    return world.caption_set(n, world.EVALUATION_SEED)


def calibration_prompts(n: int) -> list[str]:
    from .toy import world

    return world.caption_set(n, world.CALIBRATION_SEED)


def _key(model, *parts):
    return (id(model),) + tuple(tuple(p) if isinstance(p, list) else p for p in parts)


def _stats(model, prompts: Sequence[str], seeds: Sequence[int], steps: int | None):
    key = _key(model, "stats", list(prompts), list(seeds), steps)
    if key not in _CACHE:
        _CACHE[key] = generate(model, list(prompts), list(seeds), steps=steps, capture=CaptureSpec()).stats
    return _CACHE[key]


def _calibration_score(model, steps: int | None, n: int = 4) -> torch.Tensor:
    """(blocks, channels) absmean on n calibration captions, seeds 1000.. (never the images judged)."""
    return _stats(model, calibration_prompts(n), list(range(1000, 1000 + n)), steps).score("absmean")


def clear_cache() -> None:
    _CACHE.clear()


def _as_channels(answer, what: str = "your answer") -> list[int]:
    if isinstance(answer, torch.Tensor):
        answer = answer.flatten().tolist()
    elif isinstance(answer, np.ndarray):
        answer = answer.ravel().tolist()
    if isinstance(answer, (int, np.integer)):
        answer = [answer]
    out = []
    for c in answer:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
            raise TypeError(f"{what} must be channel indices (ints), got {c!r}")
        out.append(int(c))
    return out


# -- 00: the top channels of one block -------------------------------------------------------------
def check_top_channels(model, block: int, your_answer, k: int = 3, prompts: Sequence[str] | None = None,
                       seeds: Sequence[int] | None = None, steps: int | None = None) -> bool:
    """Is ``your_answer`` the top-k channels of ``block``, largest first, by absmean?

    The reference is a fresh capture on ``prompts`` (default: the 8 evaluation captions of
    notebook 00, seeds 0..7, the model's default steps): the ranking you get from
    ``gen.stats.score("absmean")`` in that notebook. Channels whose scores tie to within
    1e-5 of the largest score may swap places."""
    if not isinstance(block, (int, np.integer)) or not 0 <= int(block) < model.num_blocks:
        return _fail(f"block {block!r} out of range", f"blocks are numbered 0..{model.num_blocks - 1}")
    block = int(block)
    if isinstance(your_answer, dict):
        if block not in your_answer:
            return _fail(f"your dict has no entry for block {block}", "pass the channel list of that block")
        your_answer = your_answer[block]
    try:
        ans = _as_channels(your_answer)
    except TypeError as exc:
        return _fail(str(exc), "e.g. score[block].topk(3).indices.tolist()")
    if len(ans) != k:
        return _fail(f"{len(ans)} channels given, the exercise asks for the top {k}",
                     f"take the first {k} of the ranking")
    if len(set(ans)) != k:
        return _fail(f"your answer {ans} repeats a channel", "each channel appears once in a ranking")
    if any(not 0 <= c < model.width for c in ans):
        return _fail(f"channel out of range in {ans}", f"channels are numbered 0..{model.width - 1}")
    if prompts is None:
        prompts = evaluation_prompts(8)
    if seeds is None:
        seeds = list(range(len(prompts)))
    stats = _stats(model, prompts, seeds, steps)
    score = stats.score("absmean")
    s = score[block]
    order = s.argsort(descending=True).tolist()
    top = order[:k]
    tol = 1e-5 * float(s.abs().max())
    if all(abs(float(s[a]) - float(s[t])) <= tol for a, t in zip(ans, top)):
        ratio = float(s[top[0]] / s.median())
        return _pass(f"block {block}: the top-{k} channels are {top} (|mean| {', '.join(f'{float(s[c]):.3g}' for c in top)}; "
                     f"the first is {ratio:.1f}x the median channel)")
    if set(ans) == set(top):
        return _fail(f"right channels, wrong order: {ans}",
                     "rank from the largest score down (topk returns them in that order)")
    if set(ans) == set(order[-k:]):
        return _fail(f"{ans} are the {k} *smallest* scores of block {block}",
                     "sort in descending order: score[block].topk(k)")
    for stat, name in (("meanabs", "mean |x| ('meanabs')"), ("maxabs", "max |x| ('maxabs')")):
        other = stats.score(stat)[block].topk(k).indices.tolist()
        if set(ans) == set(other):
            return _fail(f"{ans} is the top-{k} by {name}",
                         "the paper's score takes the mean over tokens first, then the absolute value: "
                         "gen.stats.score('absmean')")
    for b in range(model.num_blocks):
        if b != block and set(ans) == set(score[b].topk(k).indices.tolist()):
            return _fail(f"{ans} are the top channels of block {b}, not block {block}",
                         "blocks are numbered from 0 in execution order: score[block] is one row")
    hits = len(set(ans) & set(top))
    return _fail(f"{hits} of your {k} channels are in the top-{k} of block {block}",
                 "score = gen.stats.score('absmean') has shape (blocks, channels); "
                 "score[block].topk(k).indices gives the ranking")


# -- 01: zero the top-k channels -------------------------------------------------------------------
def reference_disruption(score: torch.Tensor, k: int) -> EditSpec:
    """The reference answer of check_disruption: zero the top-k channels of every block, every step."""
    return EditSpec("zero", channel_set(score, k, "top"))


def _diagnose_zero(spec: EditSpec, ref: EditSpec, score: torch.Tensor, k: int, num_steps: int) -> tuple[str, str]:
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
                     seeds: Sequence[int] | None = None, steps: int = 8) -> bool:
    """Run ``your_function(score, k) -> EditSpec`` (zero the top-k channels of every block at
    every step) and compare its images with the reference edit's.

    score: (blocks, channels) absmean on 4 calibration captions; the images: 2 evaluation
    captions (seeds 0, 1), ``steps`` sampler steps."""
    score = _calibration_score(model, steps)
    try:
        spec = your_function(score.clone(), k)
    except Exception as exc:
        return _crashed("your function", exc)
    if not isinstance(spec, EditSpec):
        return _fail(f"your function returned {type(spec).__name__}, not an EditSpec",
                     "return massact.EditSpec('zero', {block: (channel, ...), ...})")
    prompts = evaluation_prompts(2) if prompts is None else list(prompts)
    seeds = list(range(len(prompts))) if seeds is None else list(seeds)
    try:
        spec.validate(model.num_blocks, model.width, steps, len(prompts), model.num_image_tokens)
    except ValueError as exc:
        return _fail(f"your EditSpec is not valid for this model: {exc}",
                     f"blocks 0..{model.num_blocks - 1}, channels 0..{model.width - 1}")
    ref = reference_disruption(score, k)
    key = _key(model, "zero", list(prompts), list(seeds), steps, k)
    if key not in _CACHE:
        clean = generate(model, prompts, seeds, steps=steps).images
        _CACHE[key] = (clean, generate(model, prompts, seeds, steps=steps, edits=[ref]).images)
    clean, expected = _CACHE[key]
    mine = generate(model, prompts, seeds, steps=steps, edits=[spec]).images
    if torch.allclose(mine, expected, atol=1e-5):
        mse = float(((mine - clean) ** 2).mean())
        return _pass(f"your edit zeroes the top-{k} channels of all {model.num_blocks} blocks: the images match the "
                     f"reference (pixel MSE to the clean images {mse:.4f})")
    msg, hint = _diagnose_zero(spec, ref, score, k, steps)
    return _fail(msg, hint)


# -- 02: the spatial mask ---------------------------------------------------------------------------
def reference_cluster_mask(tokens: torch.Tensor, channels: Sequence[int], grid: tuple[int, int]) -> np.ndarray:
    """The reference answer of check_cluster_mask (massact.clustering, border rule, K = 2)."""
    from .clustering import cluster_tokens

    return cluster_tokens(tokens, list(channels), grid, K=2, polarity="border")["mask"]


def _variant_masks(tokens: torch.Tensor, channels: Sequence[int], grid: tuple[int, int]) -> dict[str, np.ndarray]:
    """Masks of the usual mistakes, to name the one a learner made."""
    from .clustering import cluster_tokens, kmeans, polarity_masks

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
    from .clustering import normalised_tokens, polarity_masks

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
                       k: int = 8, n_images: int = 4, steps: int = 10, threshold: float = 0.9) -> bool:
    """Compare ``your_function(tokens (N, D), channels, grid) -> bool (h, w)`` with the
    reference k-means mask on ``n_images`` evaluation images. An image passes when its IoU
    with the reference is >= threshold, or when the mask is another k-means optimum (k-means
    has several) whose foreground follows the border rule; the check passes when all do.

    tokens: one image's tokens at (block, step) (default: the middle block, the last step);
    channels: the top-k channels of that block on these images; grid: model.token_grid()."""
    block = model.num_blocks // 2 if block is None else int(block)
    step = steps - 1 if step is None else int(step)
    if not 0 <= block < model.num_blocks or not 0 <= step < steps:
        return _fail(f"(block {block}, step {step}) out of range",
                     f"blocks 0..{model.num_blocks - 1}, steps 0..{steps - 1}")
    prompts = evaluation_prompts(n_images)
    seeds = list(range(n_images))
    key = _key(model, "tokens", list(prompts), steps, block, step)
    if key not in _CACHE:
        g = generate(model, prompts, seeds, steps=steps, capture=CaptureSpec(blocks=(block,), keep=((block, step),)))
        _CACHE[key] = (g.tensors[(block, step)], g.stats.score("absmean")[block])
    tokens, score = _CACHE[key]
    channels = sorted(score.topk(k).indices.tolist())
    grid = tuple(model.token_grid())
    ious, mine_all, accepted = [], [], []
    from .clustering import iou

    for r in range(tokens.shape[0]):
        try:
            mine = your_function(tokens[r].clone(), list(channels), grid)
        except Exception as exc:
            return _crashed("your function", exc)
        mine = np.asarray(mine.detach().cpu() if isinstance(mine, torch.Tensor) else mine)
        if mine.size != grid[0] * grid[1]:
            return _fail(f"your mask has shape {mine.shape}; expected the token grid {grid}",
                         "return one boolean per token, reshaped to (h, w) = grid")
        mine = mine.reshape(grid).astype(bool)
        ref = reference_cluster_mask(tokens[r], channels, grid)
        mine_all.append(mine)
        ious.append(iou(mine, ref))
        accepted.append(ious[-1] >= threshold or _is_kmeans_partition(mine, tokens[r], channels, grid))
    miou = float(np.mean(ious))
    if all(accepted):
        other = sum(i < threshold for i in ious)
        extra = (f"; on {other} image(s) your k-means found another local optimum than the reference's, "
                 "with the right polarity: also correct") if other else ""
        return _pass(f"mean IoU {miou:.2f} with the reference masks on {len(ious)} images "
                     f"(block {block}, step {step}, top-{k} channels){extra}")
    variants = [_variant_masks(tokens[r], channels, grid) for r in range(len(mine_all))]
    for name, (msg, hint) in _VARIANT_HINTS.items():
        scores = [iou(m, v[name]) for m, v in zip(mine_all, variants)]
        if float(np.mean(scores)) >= threshold:
            return _fail(f"mean IoU {miou:.2f} with the reference: {msg}", hint)
    return _fail(f"mean IoU {miou:.2f} with the reference masks; {accepted.count(False)} of {len(accepted)} masks are "
                 "neither the reference nor a k-means split with the border rule's polarity",
                 "tokens[:, channels] -> min-max normalise per channel -> KMeans(n_clusters=2) -> labels.reshape(grid)"
                 " -> background = the cluster with the largest share of border tokens")


# -- 03: the transport formula ------------------------------------------------------------------------
def reference_mix(x_target: torch.Tensor, x_source: torch.Tensor, channels: Sequence[int], alpha: float,
                  token_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The reference answer of check_transport: massact's EditSpec 'mix' on one image."""
    m = torch.zeros(x_target.shape[-1], dtype=x_target.dtype)
    m[list(channels)] = 1
    p = torch.ones(x_target.shape[0], 1, dtype=x_target.dtype) if token_mask is None else \
        token_mask.to(x_target.dtype)[:, None]
    M = p * m
    return x_target * (1 - alpha * M) + x_source * (alpha * M)


def _transport_cases():
    g = torch.Generator("cpu").manual_seed(0)
    T, D = 16, 12
    xt, xs = torch.randn(T, D, generator=g), torch.randn(T, D, generator=g) * 5
    mask = torch.rand(T, generator=g) > 0.5
    return [(xt, xs, [0, 3, 5], 1.0, None), (xt, xs, [1, 2], 0.25, None), (xt, xs, [4, 7, 11], 0.5, mask),
            (xt, xs, [2, 9], 1.0, mask), (xt, xs, [6], 0.0, None)]


def check_transport(your_mix: Callable) -> bool:
    """Compare ``your_mix(x_target, x_source, channels, alpha, token_mask=None)`` with the
    transport formula x_t (1 - alpha M) + x_s alpha M on random (tokens, channels) tensors."""
    for i, (xt, xs, ch, a, tm) in enumerate(_transport_cases()):
        xt0, xs0 = xt.clone(), xs.clone()
        try:
            out = your_mix(xt, xs, list(ch), a, tm) if tm is not None else your_mix(xt, xs, list(ch), a)
        except Exception as exc:
            return _crashed("your mix", exc)
        if not torch.equal(xt, xt0) or not torch.equal(xs, xs0):
            return _fail("your function changed its inputs in place", "work on a copy: x_target.clone()")
        if not isinstance(out, torch.Tensor):
            return _fail(f"your function returned {type(out).__name__}, not a tensor",
                         "return a tensor shaped like x_target")
        if tuple(out.shape) != tuple(xt.shape):
            return _fail(f"output shape {tuple(out.shape)}, expected {tuple(xt.shape)}",
                         "return a tensor shaped like x_target")
        ref = reference_mix(xt, xs, ch, a, tm)
        if torch.allclose(out.to(ref.dtype), ref, atol=1e-5):
            continue
        case = f"case {i + 1} (channels {ch}, alpha {a}, {'with' if tm is not None else 'no'} token mask)"
        variants = {
            "swapped": (reference_mix(xs, xt, ch, a, tm), "alpha = 0 must give the target back, alpha = 1 the source"),
            "no_mask": (reference_mix(xt, xs, ch, a, None),
                        "outside the token mask the target is kept: M = token_mask[:, None] * channel_indicator"),
            "all_channels": (reference_mix(xt, xs, range(xt.shape[-1]), a, tm),
                             "only the given channels move: the other columns stay the target's"),
            "alpha_1": (reference_mix(xt, xs, ch, 1.0, tm), "alpha scales the move: x_t + alpha M (x_s - x_t)"),
        }
        for name, (v, hint) in variants.items():
            if torch.allclose(out.to(v.dtype), v, atol=1e-5):
                return _fail(f"{case}: your result matches a different formula", hint)
        err = float((out.to(ref.dtype) - ref).abs().max())
        return _fail(f"{case}: max difference {err:.3g} from the reference",
                     "x_target * (1 - alpha * M) + x_source * alpha * M, M[token, channel] = mask[token] * (channel in channels)")
    return _pass("your mix matches the transport formula: alpha 0 keeps the target, alpha 1 replaces the chosen "
                 "channels inside the mask, nothing else moves")


# -- 04: prompt interpolation as an edit ----------------------------------------------------------------
USE_CASE_SOURCE = "a large red circle at the left on a black background"
USE_CASE_TARGET = "a small blue square at the right on a white background"


def reference_interpolation(channels: dict, alpha: float) -> EditSpec:
    """The reference answer of check_use_case: row 1 (target) takes the channels of row 0 (source)."""
    return EditSpec("replace" if alpha == 1.0 else "mix", channels, alpha=alpha, source_rows=((1, 0),))


def check_use_case(model, your_function: Callable, k: int = 4, alpha: float = 0.5, steps: int = 8, seed: int = 0,
                   source: str = USE_CASE_SOURCE, target: str = USE_CASE_TARGET) -> bool:
    """Run ``your_function(channels, alpha) -> EditSpec`` on the batch [source, target] (same
    seed) and compare both rows' images with the reference interpolation edit.

    channels: the top-k channels of every block ({block: (channel, ...)}) on 4 calibration
    captions. The edit must move them from row 0 (source) into row 1 (target), at every
    step, and leave the source row alone."""
    score = _calibration_score(model, steps)
    channels = channel_set(score, k, "top")
    try:
        spec = your_function({b: tuple(c) for b, c in channels.items()}, alpha)
    except ValueError as exc:
        if "replace" in str(exc):
            return _fail(f"EditSpec refused: {exc}", "op 'replace' is alpha = 1; op 'mix' takes any alpha in [0, 1]")
        return _crashed("your function", exc)
    except Exception as exc:
        return _crashed("your function", exc)
    if not isinstance(spec, EditSpec):
        return _fail(f"your function returned {type(spec).__name__}, not an EditSpec",
                     "return massact.EditSpec('mix', channels, alpha=alpha, source_rows=((target_row, source_row),))")
    prompts, seeds = [source, target], [seed, seed]
    try:
        spec.validate(model.num_blocks, model.width, steps, 2, model.num_image_tokens)
    except ValueError as exc:
        return _fail(f"your EditSpec is not valid for this batch: {exc}", "rows are 0 (source) and 1 (target)")
    ref = reference_interpolation(channels, alpha)
    key = _key(model, "interp", list(prompts), steps, k, alpha)
    if key not in _CACHE:
        clean = generate(model, prompts, seeds, steps=steps).images
        _CACHE[key] = (clean, generate(model, prompts, seeds, steps=steps, edits=[ref]).images)
    clean, expected = _CACHE[key]
    mine = generate(model, prompts, seeds, steps=steps, edits=[spec]).images
    if torch.allclose(mine, expected, atol=1e-5):
        to_t = float(((mine[1] - clean[1]) ** 2).mean())
        to_s = float(((mine[1] - clean[0]) ** 2).mean())
        return _pass(f"your edit matches the reference: at alpha {alpha:g} the target moved by pixel MSE {to_t:.4f} from "
                     f"its clean image and is at MSE {to_s:.4f} from the source (source row untouched)")
    if set(spec.source_rows) == {(0, 1)}:
        return _fail("your edit copies from the target into the source", "source_rows holds (target_row, source_row) "
                     "pairs: ((1, 0),) writes row 0's channels into row 1")
    if not spec.source_rows:
        return _fail("your edit has no source rows", "mix from another row of the batch: source_rows=((1, 0),)")
    if spec.op == "zero":
        return _fail("your edit zeroes channels instead of mixing them in", "op 'mix' (or 'replace' at alpha 1)")
    if abs(spec.alpha - alpha) > 1e-9:
        return _fail(f"your edit uses alpha {spec.alpha}, the exercise passes alpha {alpha}", "use the alpha argument")
    if spec.steps is not None:
        return _fail(f"your edit acts at steps {list(spec.steps)} only", "steps=None acts at every step")
    if spec.token_mask is not None:
        return _fail("your edit has a token mask", "this exercise moves the channels on every token: token_mask=None")
    if dict(spec.channels) != dict(channels):
        return _fail("your edit moves other channels than the ones passed in", "pass `channels` through unchanged")
    return _fail("your edit gives different images from the reference", "compare spec.summary() with the reference's")


# -- 04: inversion ---------------------------------------------------------------------------------------
def check_inversion(model, your_invert: Callable, steps: int = 5,
                    reference: str = "a large red circle at the left on a black background") -> bool:
    """Compare ``your_invert(model, images, prompts, steps) -> noise (B, 3, H, W)`` with the
    backward Euler pass (``model.euler(..., reverse=True)``, guidance 1) on one rendered toy
    image (``massact.claims.inversion.invert``'s answer, which may refine each step, passes too). Toy model only (it needs the toy sampler's pieces:
    ``model.from_images``, ``model.conditioning``, ``model.velocity``,
    ``massact.toy.model.timesteps``)."""
    if getattr(model, "name", None) != "toy":
        return _fail("this exercise needs the toy model", "run it with massact.load('toy')")
    from .claims import inversion
    from .toy.model import timesteps

    images, prompts = inversion.render_reference(reference)
    try:
        mine = your_invert(model, images.clone(), list(prompts), steps)
    except Exception as exc:
        return _crashed("your invert", exc)
    mine = torch.as_tensor(mine).float().cpu()
    x0 = model.from_images(images)
    # the plain backward Euler pass (massact.claims.inversion.invert adds optional refinement on top)
    ref = model.euler(x0.clone(), prompts, steps, 1.0, reverse=True).float().cpu()
    if tuple(mine.shape) != tuple(ref.shape):
        return _fail(f"shape {tuple(mine.shape)}, expected {tuple(ref.shape)}",
                     "return the noise in the model's space, shaped like model.from_images(images)")
    library = None
    if not torch.allclose(mine, ref, atol=1e-4):
        try:  # the library's inversion (it may refine each backward step): also a right answer
            library = inversion.invert(model, images, prompts, steps=steps, guidance=1.0).float().cpu()
        except Exception:
            library = None
    if torch.allclose(mine, ref, atol=1e-4) or (library is not None and torch.allclose(mine, library, atol=1e-4)):
        recon = model.to_images(model.euler(mine.clone(), prompts, steps, 1.0))
        mse = float(((recon - images) ** 2).mean())
        how = "the backward Euler pass" if torch.allclose(mine, ref, atol=1e-4) else "massact's refined inversion"
        return _pass(f"your inversion matches {how}; regenerating from it gives back the image with "
                     f"pixel MSE {mse:.4f} at {steps} steps (Euler inversion is exact only for small steps)")
    forward = model.euler(x0.clone(), prompts, steps, 1.0, reverse=False).float().cpu()
    if torch.allclose(mine, forward, atol=1e-4):
        return _fail("you integrated forwards (noise -> image)",
                     "go from t = 0 to t = 1: ts = timesteps(steps).flip(0), x += (t_next - t) * v")
    guided = model.euler(x0.clone(), prompts, steps, model.default_guidance, reverse=True).float().cpu()
    if torch.allclose(mine, guided, atol=1e-4):
        return _fail("you inverted with classifier-free guidance", "invert with guidance 1: the conditional velocity")
    if torch.allclose(mine, x0.float().cpu(), atol=1e-6):
        return _fail("you returned the image itself", "apply `steps` Euler steps with model.velocity")
    ts = timesteps(steps).flip(0)
    return _fail(f"max difference {float((mine - ref).abs().max()):.3g} from the reference",
                 f"x = model.from_images(images); cond = model.conditioning(prompts, 1.0); for i in range({steps}): "
                 f"x = x + (t[i+1] - t[i]) * model.velocity(x, t[i], cond, 1.0) with t = {ts.tolist()}")
