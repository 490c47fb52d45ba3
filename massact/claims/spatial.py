"""Claim 2, "spatial": clustering the image tokens on the massive channels finds the subject.

At a block and a denoising step, the image tokens restricted to k channels (min-max
normalised per channel, then k-means with K=2, see ``massact.clustering``) split into a
foreground and a background. The paper says the split follows the main subject when the
channels are the *top-k* massive ones, much better than with the bottom-k or random-k
channels, and that it varies by block.

How this module measures it:

1. ``capture``: one ``generate`` call keeps the image-token tensors of every chosen
   (block, step) pair for a batch of prompts (64 x 128 floats per row and pair on the toy).
2. channels are ranked by |mean| on *calibration* prompts (never the evaluation prompts):
   ``massact.calibrate(model).score()``.
3. ``evaluate``: for each (block, step) and channel set (top-k, bottom-k and several seeded
   random-k draws) every image is clustered; the foreground is picked by the border rule
   (the cluster touching the image border most is the background). The IoU with the true
   foreground mask (the judge's, on the toy; a user ``mask_fn`` on real models) is reported
   three ways: the border rule, the *oracle* (the better of the mask and its complement:
   what a perfect polarity choice would give) and the naive *activation* rule (the cluster
   with the higher summed activation is the foreground), which flips.
4. ``SpatialResult.rows()`` / ``.select(...)``: the numbers as rows, each with ``n`` and a 95%
   bootstrap interval per mIoU column (``miou_ci``, ...); ``.estimate(arm, block, step)`` and
   ``.difference(arm_a, arm_b, block, step)`` give the per-image IoU's mean and the paired
   difference of two arms on the same images (``massact.stats``).
5. ``SpatialResult.diagnostics``: the failure modes beside the success, per (arm, block,
   step): channels that are a constant offset across tokens (spread below ``OFFSET_CV`` of
   their mean: they carry no mask, DiTF 2025) and "speckle" clusterings (one cluster holds
   at most ``SPECKLE_SHARE`` of the tokens, with at least ``SPECKLE_NORM`` times the other's
   mean norm: a few high-norm tokens took a whole cluster).

The sentences built from them are ``massact.readings.spatial(result)``; the report's
section is ``massact.report.sections``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from ..clustering import batch_iou, check_args, grid_ceiling_iou, kmeans, normalise, polarity_masks, upsample_mask
from .. import calibration as _calibration
from ..generation import generate
from ..ranking import ARMS
from ..selection import Selection, resolve_blocks, resolve_steps
from ..specs import CaptureSpec
from ..stats import Estimate, bootstrap_mean, paired_difference
from .rows import Rows

#: k channels per block: a small fraction of the width, the paper's regime (k = 12 of 3072 in a reproduction)
DEFAULT_K = 8
DEFAULT_RANDOM_DRAWS = 3
RULES = ("border", "oracle", "activation")
#: a channel whose spread over tokens (std) is below OFFSET_CV (1%) of its |mean| (median over images)
#: is a constant offset: it shifts every token alike and carries no mask
OFFSET_CV = 0.01
#: a clustering is "speckle" when one cluster holds at most SPECKLE_SHARE of the tokens and its
#: tokens' mean norm (on the clustered channels) is at least SPECKLE_NORM times the other's
SPECKLE_SHARE = 0.05
SPECKLE_NORM = 2.0
RULE_HELP = {
    "border": "border rule: the cluster touching the image border most is the background",
    "oracle": "oracle: the better of the mask and its complement (perfect polarity)",
    "activation": "activation rule: the cluster with the higher summed activation is the foreground",
}


# -- 1. one generation, the kept token tensors ----------------------------------------------
@dataclass
class SpatialCapture:
    """Images and kept image-token tensors of one generation: tensors[(block, step)] is
    (rows, tokens, channels) float32."""

    prompts: list[str]
    seeds: list[int]
    images: torch.Tensor  # (rows, 3, H, W) in [0, 1]
    tensors: dict
    grid: tuple[int, int]
    num_steps: int

    @property
    def blocks(self) -> tuple[int, ...]:
        return tuple(sorted({b for b, _ in self.tensors}))

    @property
    def steps(self) -> tuple[int, ...]:
        return tuple(sorted({s for _, s in self.tensors}))

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.images.shape[-2:])

    def tokens(self, block: int, step: int) -> torch.Tensor:
        """The kept tensor of (block, step); a clear error when it was not captured."""
        if (block, step) not in self.tensors:
            raise ValueError(f"(block {block}, step {step}) was not captured: captured blocks {list(self.blocks)}, "
                             f"steps {list(self.steps)}; pass blocks=/steps= to spatial.capture to keep it")
        return self.tensors[(block, step)]


def sampled_steps(num_steps: int, every: int = 4) -> tuple[int, ...]:
    """The step indices the spatial curves sample in a run of ``num_steps`` steps: every
    ``every``-th step plus the last one (the step a public reproduction used)."""
    return tuple(sorted(set(range(0, num_steps, every)) | {num_steps - 1}))


def capture(model, prompts: Sequence[str], seeds=0, blocks: Sequence[int] | None = None,
            steps: Sequence[int] | None = None, num_steps: int | None = None,
            guidance: float | None = None) -> SpatialCapture:
    """Generate prompts once, keeping the image tokens of every (block, step) pair asked for
    (blocks / steps None = all)."""
    n = model.default_steps if num_steps is None else num_steps  # resolve_steps checks it
    blocks = resolve_blocks(blocks, model.num_blocks)
    steps = resolve_steps(steps, n) or tuple(range(n))
    keep = tuple((b, s) for b in blocks for s in steps)
    g = generate(model, prompts, seeds, num_steps=n, guidance=guidance, capture=CaptureSpec(keep=keep, stats=False))
    return SpatialCapture(list(g.prompts), list(g.seeds), g.images, g.tensors, tuple(model.token_grid()), n)


# -- 2. channel ranking on calibration prompts ------------------------------------------------
def default_calibration_prompts(model, n: int = 8) -> list[str]:
    """The model's world's calibration prompts (real models without a world: give your own)."""
    return _calibration.default_calibration_prompts(model, n)


# -- masks of one (block, step, channel set) ---------------------------------------------------
@dataclass
class SpatialMasks:
    """The clustering of every image at one (block, step) on one channel set."""

    block: int
    step: int
    channels: tuple[int, ...]
    K: int
    labels: np.ndarray  # (rows, h, w) cluster index per token
    token_mask: np.ndarray  # (rows, h, w) foreground by the border rule
    token_mask_activation: np.ndarray  # (rows, h, w) foreground by the activation rule
    score: np.ndarray  # (rows, h, w) sum of the normalised channels (the heatmap)
    image_size: tuple[int, int]

    @property
    def mask(self) -> np.ndarray:
        """(rows, H, W) bool at image resolution, border rule."""
        return upsample_mask(self.token_mask, self.image_size)

    @property
    def mask_activation(self) -> np.ndarray:
        """(rows, H, W) bool at image resolution, activation rule."""
        return upsample_mask(self.token_mask_activation, self.image_size)

    def ious(self, truth: np.ndarray) -> dict[str, np.ndarray]:
        """Per image IoU with truth (rows, H, W): border rule, oracle and activation rule."""
        return _ious(self.mask, self.mask_activation, truth)


def _ious(mask: np.ndarray, mask_act: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    truth = np.asarray(truth, bool)
    if truth.shape[-2:] != mask.shape[-2:]:
        raise ValueError(f"foreground masks are {truth.shape[-2:]} but the images are {mask.shape[-2:]}")
    border = batch_iou(mask, truth)
    return {"border": border, "oracle": np.maximum(border, batch_iou(~mask, truth)),
            "activation": batch_iou(mask_act, truth)}


def cluster(cap: SpatialCapture, block: int, step: int, channels: Sequence[int], K: int = 2,
            seed: int = 0) -> SpatialMasks:
    """Cluster every image of a capture at (block, step) on channels."""
    x = cap.tokens(block, step)
    check_args(x.shape[1], x.shape[2], list(channels), cap.grid, K)
    z = normalise(x[:, :, list(channels)])
    labels = kmeans(z, K, seed=seed)
    score = z.sum(-1).numpy()
    m = polarity_masks(labels, score, cap.grid, K)
    sh = (len(x),) + tuple(cap.grid)
    return SpatialMasks(int(block), int(step), tuple(int(c) for c in channels), K, labels.reshape(sh),
                        m["border"].reshape(sh), m["activation"].reshape(sh), score.reshape(sh), cap.image_size)


def truth_masks(images: torch.Tensor, metrics=None, mask_fn: Callable | None = None) -> np.ndarray | None:
    """The foreground masks to score against: mask_fn(images) if given, else the metrics'
    (the judge on the toy), else None (masks without a score)."""
    if mask_fn is not None:
        m = np.asarray(mask_fn(images)).astype(bool)
    elif metrics is not None:
        m = metrics.foreground_mask(images)
        if m is None:
            return None
        m = np.asarray(m, bool)
    else:
        return None
    if m.shape != (images.shape[0],) + tuple(images.shape[-2:]):
        raise ValueError(f"the mask function returned {m.shape}; expected (images, H, W) = "
                         f"{(images.shape[0],) + tuple(images.shape[-2:])}")
    return m


# -- 3. the evaluation ---------------------------------------------------------------------------
@dataclass
class SpatialResult:
    """IoU of every image for every (arm, draw, block, step) and rule.

    ``iou[rule][arm]`` is (draws, blocks, steps, images) (one draw for top and bottom);
    None everywhere when no foreground mask was available."""

    k: int
    K: int
    arms: tuple[str, ...]
    blocks: tuple[int, ...]
    steps: tuple[int, ...]
    random_draws: int
    num_images: int
    iou: dict | None
    foreground_fraction: float | None = None  # mean share of pixels in the true mask
    grid_ceiling: float | None = None  # mIoU of the majority-vote token mask (about the grid's best)
    sets: list = field(default_factory=list, repr=False)  # [(arm, draw, {block: channels})]
    diagnostics: list = field(default_factory=list, repr=False)  # failure modes, see ``failure_modes``
    #: arm -> (draws, blocks, steps, images): the share of tokens the border rule calls foreground
    #: (measured with or without true masks)
    foreground_share: dict | None = field(default=None, repr=False)

    def per_image(self, arm: str, block: int, step: int | None = None, rule: str = "border") -> np.ndarray:
        """(images,): the IoU of each image at (block, step) (random: the mean over draws).

        Args:
            arm: an evaluated arm.
            block: an evaluated block.
            step: an evaluated step (None: the last).
            rule: one of ``RULES``.
        """
        self.miou(arm, rule)  # checks scored, arm and rule
        step = self.curve_step if step is None else step
        if block not in self.blocks:
            raise ValueError(f"block {block!r} was not evaluated; evaluated blocks: {list(self.blocks)}")
        if step not in self.steps:
            raise ValueError(f"step {step!r} was not evaluated; evaluated steps: {list(self.steps)}")
        return self.iou[rule][arm][:, self.blocks.index(block), self.steps.index(step)].mean(axis=0)

    def estimate(self, arm: str, block: int, step: int | None = None, rule: str = "border", **kwargs) -> Estimate:
        """The mIoU of one arm at (block, step) with its bootstrap interval over the images.

        Args:
            arm, block, step, rule: as in ``per_image``.
            **kwargs: passed to ``stats.bootstrap_mean``.
        Returns:
            a ``stats.Estimate``.
        """
        return bootstrap_mean(self.per_image(arm, block, step, rule), **kwargs)

    def difference(self, arm_a: str, arm_b: str, block: int, step: int | None = None, rule: str = "border",
                   **kwargs) -> Estimate:
        """The paired difference of IoU, arm_a - arm_b, on the same images at (block, step).

        Args:
            arm_a, arm_b: evaluated arms.
            block, step, rule: as in ``per_image``.
            **kwargs: passed to ``stats.bootstrap_mean``.
        Returns:
            a ``stats.Estimate`` (> 0 when arm_a finds the subject better).
        """
        return paired_difference(self.per_image(arm_a, block, step, rule), self.per_image(arm_b, block, step, rule),
                                 **kwargs)

    def failure_modes(self, arm: str = "top", step: int | None = None) -> Rows:
        """The diagnostics of one arm (random: draw 0) at one step (None: the last), one row
        per block: offset_channels (constant-offset channels), offset_cv (per channel, median
        over images of std / |mean| over tokens), speckle_images (count), speckle_share,
        minority_share (mean over images of the smaller cluster's share of tokens)."""
        step = self.curve_step if step is None else step
        if arm not in self.arms:
            raise ValueError(f"arm {arm!r} was not evaluated; evaluated arms: {self.arms}")
        if step not in self.steps:
            raise ValueError(f"step {step!r} was not evaluated; evaluated steps: {list(self.steps)}")
        return Rows(self.diagnostics).select(arm=arm, step=step)

    @property
    def scored(self) -> bool:
        return self.iou is not None

    @property
    def curve_step(self) -> int:
        """The step of the mIoU curve over blocks: the last captured step."""
        return self.steps[-1]

    @property
    def all_foreground_iou(self) -> float | None:
        """IoU of the trivial 'everything is foreground' mask (a chance reference)."""
        return self.foreground_fraction

    def miou(self, arm: str, rule: str = "border") -> np.ndarray:
        """(blocks, steps): mean IoU over images (and random draws)."""
        if not self.scored:
            raise ValueError("no foreground masks were given, so there is no IoU (pass mask_fn=...)")
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}; choose one of {RULES}")
        if arm not in self.arms:
            raise ValueError(f"arm {arm!r} was not evaluated; evaluated arms: {self.arms}")
        return self.iou[rule][arm].mean(axis=(0, 3))

    def curve(self, arm: str, rule: str = "border", step: int | None = None) -> np.ndarray:
        """(blocks,): the mIoU over blocks at one step (default: the last captured)."""
        step = self.curve_step if step is None else step
        if step not in self.steps:
            raise ValueError(f"step {step} was not evaluated; evaluated steps: {list(self.steps)}")
        return self.miou(arm, rule)[:, self.steps.index(step)]

    def flip_rate(self, arm: str, rule: str, step: int | None = None) -> np.ndarray:
        """(blocks,): the share of images (and draws) where the rule scores below the oracle at
        one step, i.e. (for K = 2) picked the wrong cluster as the foreground."""
        self.miou(arm, rule)  # checks
        j = self.steps.index(self.curve_step if step is None else step)
        return (self.iou[rule][arm][:, :, j] < self.iou["oracle"][arm][:, :, j] - 1e-9).mean(axis=(0, 2))

    def random_spread(self, rule: str = "border") -> np.ndarray:
        """(blocks, steps): the standard deviation of the random arm's mIoU across draws."""
        return self.iou[rule]["random"].mean(axis=3).std(axis=0)

    def rows(self) -> Rows:
        """One row per arm, block and step: arm, k, block, step, miou (border rule),
        miou_oracle, miou_activation_rule with intervals and n. Without true masks the rows
        say what was measured instead: miou None, ``scored`` False, the share of tokens the
        border rule calls foreground (``foreground_share`` with its interval over images) and
        the failure modes of draw 0 (``minority_share``, ``speckle_share``,
        ``offset_channels``)."""
        if not self.scored:
            return self._unscored_rows()
        out = []
        names = {"border": "miou", "oracle": "miou_oracle", "activation": "miou_activation_rule"}
        for arm in self.arms:
            m = {r: self.miou(arm, r) for r in RULES}
            for i, b in enumerate(self.blocks):
                for j, s in enumerate(self.steps):
                    row = {"arm": arm, "k": int(self.k), "block": int(b), "step": int(s),
                           "miou": round(float(m["border"][i, j]), 4),
                           "miou_oracle": round(float(m["oracle"][i, j]), 4),
                           "miou_activation_rule": round(float(m["activation"][i, j]), 4), "n": int(self.num_images)}
                    for r, name in names.items():
                        ci = bootstrap_mean(self.iou[r][arm][:, i, j].mean(axis=0)).ci
                        row[f"{name}_ci"] = [round(ci[0], 4), round(ci[1], 4)]
                    out.append(row)
        return Rows(out)

    def _unscored_rows(self) -> Rows:
        out = []
        diag = {(d["arm"], d["block"], d["step"]): d for d in self.diagnostics}
        for arm in self.arms:
            for i, b in enumerate(self.blocks):
                for j, s in enumerate(self.steps):
                    row = {"arm": arm, "k": int(self.k), "block": int(b), "step": int(s), "miou": None,
                           "scored": False, "n": int(self.num_images)}
                    if self.foreground_share is not None:
                        est = bootstrap_mean(self.foreground_share[arm][:, i, j].mean(axis=0))
                        row["foreground_share"] = round(est.mean, 4)
                        row["foreground_share_ci"] = [round(est.ci[0], 4), round(est.ci[1], 4)]
                    d = diag.get((arm, int(b), int(s)))
                    if d is not None:
                        row.update(minority_share=round(d["minority_share"], 4),
                                   speckle_share=round(d["speckle_share"], 4), offset_channels=d["offset_channels"])
                    out.append(row)
        return Rows(out)

    def select(self, **where) -> Rows:
        """The rows meeting ``where``, e.g. ``select(arm="top", step=19)`` (see ``Rows.select``)."""
        return self.rows().select(**where)

    def best_block(self, arm: str = "top", rule: str = "border", step: int | None = None) -> int:
        return self.blocks[int(np.argmax(self.curve(arm, rule, step)))]


def evaluate(cap: SpatialCapture, score: torch.Tensor, truth: np.ndarray | None, k: int = DEFAULT_K, K: int = 2,
             arms: Sequence[str] = ARMS, random_draws: int = DEFAULT_RANDOM_DRAWS,
             blocks: Sequence[int] | None = None, steps: Sequence[int] | None = None, seed: int = 0,
             energy: torch.Tensor | None = None) -> SpatialResult:
    """Cluster every image at every (block, step) on every channel set and score it.

    All clusterings run as one batch (``clustering.kmeans``). The channel sets are
    ``massact.Selection``s (which check arm and k): one each for top and bottom,
    ``random_draws`` seeded draws (seed = draw) for random and energy.

    Args:
        cap: a ``capture`` of the images.
        score: (blocks, channels) calibration scores (ranked on other prompts).
        truth: (images, H, W) bool foreground masks, or None (the result then has no IoU).
        k: channels per set; K: clusters.
        arms: the arms to evaluate ("top", "bottom", "random", "energy").
        random_draws: draws of the random (and energy) arm.
        blocks, steps: captured blocks and steps to evaluate (None: all captured).
        seed: the k-means seed.
        energy: for the "energy" arm, (blocks, channels) squared activations
          (``calibration.stats.energy()``).
    Returns:
        a ``SpatialResult``.
    """
    blocks = cap.blocks if blocks is None else tuple(int(b) for b in blocks)
    steps = cap.steps if steps is None else tuple(int(s) for s in steps)
    for b in blocks:
        for s in steps:
            cap.tokens(b, s)  # clear error for a pair that was not captured
    if not isinstance(random_draws, int) or random_draws < 1:
        raise ValueError(f"random_draws {random_draws!r} out of range: at least 1")
    arms = (arms,) if isinstance(arms, str) else tuple(arms)
    if not arms:
        raise ValueError(f"no arm given; choose from {ARMS} (or 'energy', with energy=)")
    sets = [(arm, j, Selection(arm, k, blocks=blocks, seed=j).channels(score, energy))
            for arm in arms for j in range(random_draws if arm in ("random", "energy") else 1)]
    any_x = cap.tokens(blocks[0], steps[0])
    R, n, d = any_x.shape
    check_args(n, d, sets[0][2][blocks[0]], cap.grid, K)  # K, the token grid and the channels against the tokens
    # one batch: (sets, blocks, steps, rows) problems of (tokens, k)
    xs = []
    for _, _, chans in sets:
        for b in blocks:
            idx = torch.tensor(chans[b], dtype=torch.long)
            for s in steps:
                xs.append(cap.tokens(b, s)[:, :, idx])
    z = normalise(torch.stack(xs).reshape(-1, n, k))
    labels = kmeans(z, K, seed=seed)
    masks = polarity_masks(labels, z.sum(-1).numpy(), cap.grid, K)
    shape = (len(sets), len(blocks), len(steps), R) + tuple(cap.grid)
    diag = _diagnostics(sets, blocks, steps, xs, np.asarray(labels).reshape(len(xs), R, n), K)
    share = np.asarray(masks["border"]).reshape(shape).mean(axis=(-2, -1))  # (sets, blocks, steps, images)
    shares = {a: share[[i for i, (arm, _, _) in enumerate(sets) if arm == a]] for a in arms}
    if truth is None:
        return SpatialResult(k, K, arms, blocks, steps, random_draws, R, None, sets=sets, diagnostics=diag,
                             foreground_share=shares)
    truth = np.asarray(truth, bool)
    if truth.shape[0] != R:
        raise ValueError(f"{truth.shape[0]} foreground masks for {R} images")
    iou = _ious(upsample_mask(masks["border"].reshape(shape), cap.image_size),
                upsample_mask(masks["activation"].reshape(shape), cap.image_size), truth)
    out = {r: {} for r in RULES}
    for r in RULES:
        for a in arms:
            sel = [i for i, (arm, _, _) in enumerate(sets) if arm == a]
            out[r][a] = iou[r][sel]
    ceiling = float(grid_ceiling_iou(truth, cap.grid).mean())
    return SpatialResult(k, K, arms, blocks, steps, random_draws, R, out, float(truth.mean()),
                         grid_ceiling=ceiling, sets=sets, diagnostics=diag, foreground_share=shares)


def offset_cv(x: torch.Tensor) -> np.ndarray:
    """(k,): per channel, the median over rows of std / |mean| over tokens of x (rows, tokens, k);
    below ``OFFSET_CV`` the channel is a constant offset (inf where the mean is 0)."""
    x = x.double()
    mu, sd = x.mean(1).abs(), x.std(1, unbiased=False)
    cv = torch.where(mu > 0, sd / mu.clamp_min(1e-300), torch.full_like(sd, float("inf")))
    return cv.median(dim=0).values.numpy()


def speckle(x: torch.Tensor, labels: np.ndarray, K: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Per row: (is speckle, the smallest cluster's share of tokens). x (rows, tokens, k) raw
    tokens, labels (rows, tokens). Speckle: the smallest cluster holds at most ``SPECKLE_SHARE``
    of the tokens and its mean token norm is at least ``SPECKLE_NORM`` times the rest's."""
    norm = x.double().norm(dim=-1).numpy()
    labels = np.asarray(labels)
    flags, shares = np.zeros(len(x), bool), np.zeros(len(x))
    for r in range(len(x)):
        counts = np.bincount(labels[r], minlength=K)
        c = int(np.argmin(np.where(counts > 0, counts, np.inf)))
        inside = labels[r] == c
        shares[r] = inside.mean()
        if inside.all():  # one cluster only: nothing to compare
            continue
        ratio = norm[r][inside].mean() / max(norm[r][~inside].mean(), 1e-300)
        flags[r] = shares[r] <= SPECKLE_SHARE and ratio >= SPECKLE_NORM
    return flags, shares


def _diagnostics(sets, blocks, steps, xs, labels, K) -> list[dict]:
    """Rows of failure modes per (arm, block, step), for draw 0 of each arm."""
    out, i = [], 0
    for arm, draw, chans in sets:
        for b in blocks:
            for s in steps:
                if draw == 0:
                    x = xs[i]
                    cv = offset_cv(x)
                    flags, shares = speckle(x, labels[i], K)
                    out.append({"arm": arm, "block": int(b), "step": int(s), "channels": list(chans[b]),
                                "offset_channels": [int(c) for c, v in zip(chans[b], cv) if v < OFFSET_CV],
                                "offset_cv": [round(float(v), 4) for v in cv],
                                "speckle_images": int(flags.sum()), "speckle_share": float(flags.mean()),
                                "speckle_rows": [int(r) for r in np.flatnonzero(flags)],
                                "minority_share": float(shares.mean())})
                i += 1
    return out


def arm_masks(cap: SpatialCapture, result: SpatialResult, block: int, step: int | None = None) -> dict[str, SpatialMasks]:
    """"<arm>-<k>" -> the masks of every image at (block, step) for the first channel set of
    each evaluated arm (random: draw 0): what the overlay grids show."""
    step = result.curve_step if step is None else step
    return {f"{arm}-{result.k}": cluster(cap, block, step, chans[block], result.K)
            for arm, draw, chans in result.sets if draw == 0}
