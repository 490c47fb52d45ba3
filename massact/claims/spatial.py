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
4. ``SpatialResult`` is a ``Results`` (``massact.claims.results``): per image, under one
   condition per (arm, draw, block, step), the IoU by each rule (``miou``, ``miou_oracle``,
   ``miou_activation_rule``: ``RULE_METRIC``) and the foreground's share of tokens.
   ``.estimate("miou", arm="top", block=b, step=s)`` is the mIoU with its 95% bootstrap
   interval, ``.difference("miou", dict(arm="top"), dict(arm="random"), block=b, step=s)`` the
   paired difference on the same images, ``.table(ndigits=4)`` the rows with ``n`` and an
   interval per column (``miou_ci``, ...), random draws pooled.
5. ``SpatialResult.diagnostics``: the failure modes beside the success, per (arm, block,
   step): channels that are a constant offset across tokens (spread below ``OFFSET_CV`` of
   their mean: they carry no mask, DiTF 2025) and "speckle" clusterings (one cluster holds
   at most ``SPECKLE_SHARE`` of the tokens, with at least ``SPECKLE_NORM`` times the other's
   mean norm: a few high-norm tokens took a whole cluster).

The sentences built from them are ``massact.readings.spatial(result)``; the report's
section is ``massact.report.sections``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..clustering import batch_iou, check_args, grid_ceiling_iou, kmeans, normalise, polarity_masks, upsample_mask
from .. import calibration as _calibration
from ..generation import generate
from ..ranking import ARMS
from ..selection import Selection, resolve_blocks, resolve_steps
from ..specs import CaptureSpec
from ..stats import verdict
from .results import DRAW, Results
from .rows import Rows

#: k channels per block: a small fraction of the width, the paper's regime (k = 12 of 3072 in a reproduction)
DEFAULT_K = 8
DEFAULT_RANDOM_DRAWS = 3
RULES = ("border", "oracle", "activation")
#: the per-image metric (and row column) of each polarity rule
RULE_METRIC = {"border": "miou", "oracle": "miou_oracle", "activation": "miou_activation_rule"}
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

    block: int | tuple[int, ...]  # a tuple: tokens averaged over these blocks
    step: int | tuple[int, ...]  # a tuple: tokens averaged over these steps
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


def cluster(cap: SpatialCapture, block, step, channels: Sequence[int], K: int = 2,
            seed: int = 0) -> SpatialMasks:
    """Cluster every image of a capture at (block, step) on channels.

    Args:
        cap: a ``capture`` result.
        block, step: one captured block and step; or sequences of them, whose tokens are
          averaged over every (block, step) pair before clustering (each must be captured).
        channels: the channel numbers clustered on.
        K: clusters; seed: the k-means seed.
    Returns:
        a ``SpatialMasks`` (its block and step as given: ints, or tuples for an average).
    """
    pairs = [(b, s) for b in _as_tuple(block) for s in _as_tuple(step)]
    if not pairs:
        raise ValueError(f"no block or no step to cluster at: give captured blocks {list(cap.blocks)} and steps "
                         f"{list(cap.steps)}")
    x = cap.tokens(*pairs[0]) if len(pairs) == 1 else torch.stack([cap.tokens(b, s) for b, s in pairs]).mean(0)
    check_args(x.shape[1], x.shape[2], list(channels), cap.grid, K)
    z = normalise(x[:, :, list(channels)])
    labels = kmeans(z, K, seed=seed)
    score = z.sum(-1).numpy()
    m = polarity_masks(labels, score, cap.grid, K)
    sh = (len(x),) + tuple(cap.grid)
    where = [v[0] if len(v) == 1 else v for v in (_as_tuple(block), _as_tuple(step))]
    return SpatialMasks(*where, tuple(int(c) for c in channels), K, labels.reshape(sh),
                        m["border"].reshape(sh), m["activation"].reshape(sh), score.reshape(sh), cap.image_size)


def _as_tuple(v) -> tuple[int, ...]:
    return tuple(int(i) for i in v) if isinstance(v, (list, tuple, range)) else (int(v),)


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
class SpatialResult(Results):
    """The spatial claim's ``Results``: per image, under one condition per (arm, draw, block, step).

    Conditions have the columns arm, k, block, step and draw (None for top and bottom, the
    draw index for random and energy). The metrics per image are ``miou`` (IoU of the border
    rule's mask with the true foreground), ``miou_oracle``, ``miou_activation_rule`` (one per
    rule of ``RULES``, named by ``RULE_METRIC``; only with true masks) and ``foreground_share``
    (the share of tokens the border rule calls foreground; always). So
    ``res.estimate("miou", arm="top", block=3, step=19)`` is the mIoU with its 95% interval,
    ``res.difference("miou", dict(arm="top"), dict(arm="random"), block=3, step=19)`` the paired
    lead over the random draws' per-image mean, and ``res.table(ndigits=4)`` the rows.

    Args:
        conditions, per_item: as in ``Results``.
        k: channels per set.
        K: clusters.
        random_draws: draws of the random (and energy) arm.
        num_images: images per condition.
        foreground_fraction: mean share of pixels in the true masks (None without masks).
        grid_ceiling: the mean over images of the best IoU a mask of whole tokens can reach
          (``clustering.grid_ceiling_iou``): an upper bound on every arm's mIoU (None without masks).
        sets: [(arm, draw, {block: channels})], the channel sets clustered on.
        diagnostics: the failure modes per (arm, block, step) of draw 0 (see ``failure_modes``).
    """

    claim = "spatial"

    def __init__(self, conditions: Sequence[dict], per_item: Sequence[dict], k: int, K: int, random_draws: int,
                 num_images: int, foreground_fraction: float | None = None, grid_ceiling: float | None = None,
                 sets: Sequence = (), diagnostics: Sequence[dict] = (), random_outside: int = 0):
        self.k, self.K, self.random_draws, self.num_images = int(k), int(K), int(random_draws), int(num_images)
        self.random_outside = int(random_outside)
        self.foreground_fraction, self.grid_ceiling = foreground_fraction, grid_ceiling
        self.sets, self.diagnostics = list(sets), list(diagnostics)
        super().__init__(conditions, per_item, item="image",
                         meta={"k": self.k, "K": self.K, "random_draws": self.random_draws,
                               "num_images": self.num_images, "foreground_fraction": foreground_fraction,
                               "grid_ceiling": grid_ceiling, "random_outside": self.random_outside})

    @property
    def arms(self) -> tuple[str, ...]:
        """The evaluated arms, in run order."""
        return tuple(dict.fromkeys(c["arm"] for c in self._conditions))

    @property
    def blocks(self) -> tuple[int, ...]:
        """The evaluated blocks, in run order."""
        return tuple(dict.fromkeys(c["block"] for c in self._conditions))

    @property
    def steps(self) -> tuple[int, ...]:
        """The evaluated steps, in run order."""
        return tuple(dict.fromkeys(c["step"] for c in self._conditions))

    @property
    def scored(self) -> bool:
        """Whether true masks were given, so that there is an IoU."""
        return RULE_METRIC["border"] in self.metrics

    @property
    def curve_step(self) -> int:
        """The step of the mIoU curve over blocks: the last captured step."""
        return self.steps[-1]

    @property
    def all_foreground_iou(self) -> float | None:
        """IoU of the trivial 'everything is foreground' mask (a chance reference)."""
        return self.foreground_fraction

    def failure_modes(self, arm: str = "top", step: int | None = None) -> Rows:
        """The diagnostics of one arm (random: draw 0) at one step (None: the last), one row
        per block: offset_channels (constant-offset channels), offset_cv (per channel, median
        over images of std / |mean| over tokens), speckle_images (count), speckle_share,
        minority_share (mean over images of the smaller cluster's share of tokens)."""
        self._check_arm(arm)
        return Rows(self.diagnostics).select(arm=arm, step=self._step(step))

    # -- arrays over blocks and steps, for the curves and the readings --------------------------------
    def _check_arm(self, arm: str) -> None:
        if arm not in self.arms:
            raise ValueError(f"arm {arm!r} was not evaluated; evaluated arms: {self.arms}")

    def _step(self, step: int | None) -> int:
        """The step asked for (None: the curve step), checked."""
        step = self.curve_step if step is None else step
        if step not in self.steps:
            raise ValueError(f"step {step!r} was not evaluated; evaluated steps: {list(self.steps)}")
        return step

    def _rule_values(self, arm: str, rule: str) -> np.ndarray:
        """(draws, blocks, steps, images): the IoU of one arm by one rule, gathered from the per-image values."""
        if not self.scored:
            raise ValueError("no foreground masks were given, so there is no IoU (pass mask_fn=...)")
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}; choose one of {RULES}")
        self._check_arm(arm)
        blocks, steps = self.blocks, self.steps
        mine = [(c, p) for c, p in zip(self._conditions, self._per_item) if c["arm"] == arm]
        draws = sorted({c[DRAW] or 0 for c, _ in mine})
        out = np.full((len(draws), len(blocks), len(steps), self.num_images), np.nan)
        for c, p in mine:
            out[draws.index(c[DRAW] or 0), blocks.index(c["block"]), steps.index(c["step"])] = p[RULE_METRIC[rule]]
        return out

    def miou(self, arm: str, rule: str = "border") -> np.ndarray:
        """(blocks, steps): mean IoU over images (and random draws).

        Args:
            arm: an evaluated arm.
            rule: one of ``RULES``.
        """
        return self._rule_values(arm, rule).mean(axis=(0, 3))

    def curve(self, arm: str, rule: str = "border", step: int | None = None) -> np.ndarray:
        """(blocks,): the mIoU over blocks at one step (default: the last captured)."""
        return self.miou(arm, rule)[:, self.steps.index(self._step(step))]

    def flip_rate(self, arm: str, rule: str, step: int | None = None) -> np.ndarray:
        """(blocks,): the share of images (and draws) where the rule scores below the oracle at
        one step, i.e. (for K = 2) picked the wrong cluster as the foreground."""
        j = self.steps.index(self._step(step))
        v, oracle = self._rule_values(arm, rule)[:, :, j], self._rule_values(arm, "oracle")[:, :, j]
        return (v < oracle - 1e-9).mean(axis=(0, 2))

    def random_spread(self, rule: str = "border") -> np.ndarray:
        """(blocks, steps): the standard deviation of the random arm's mIoU across draws."""
        return self._rule_values("random", rule).mean(axis=3).std(axis=0)

    def best_block(self, arm: str = "top", rule: str = "border", step: int | None = None) -> int:
        """The block where the arm's mIoU curve peaks at one step (None: the curve step)."""
        return self.blocks[int(np.argmax(self.curve(arm, rule, step)))]


def evaluate(cap: SpatialCapture, score: torch.Tensor, truth: np.ndarray | None, k: int = DEFAULT_K, K: int = 2,
             arms: Sequence[str] = ARMS, random_draws: int = DEFAULT_RANDOM_DRAWS,
             blocks: Sequence[int] | None = None, steps: Sequence[int] | None = None, seed: int = 0,
             energy: torch.Tensor | None = None, random_outside: int = 0) -> SpatialResult:
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
        random_outside: the random arm draws outside each block's top-``random_outside``
          channels (0: among all of them; see ``Selection.outside``).
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
    sets = [(arm, j, Selection(arm, k, blocks=blocks, seed=j, outside=random_outside if arm == "random" else 0)
             .channels(score, energy))
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
    iou, extra = None, {}
    if truth is not None:
        truth = np.asarray(truth, bool)
        if truth.shape[0] != R:
            raise ValueError(f"{truth.shape[0]} foreground masks for {R} images")
        iou = _ious(upsample_mask(masks["border"].reshape(shape), cap.image_size),
                    upsample_mask(masks["activation"].reshape(shape), cap.image_size), truth)
        extra = dict(foreground_fraction=float(truth.mean()),
                     grid_ceiling=float(grid_ceiling_iou(truth, cap.grid).mean()))
    conditions, per_item = [], []
    for i, (arm, draw, _) in enumerate(sets):
        for bi, b in enumerate(blocks):
            for si, s in enumerate(steps):
                conditions.append({"arm": arm, "k": int(k), "block": int(b), "step": int(s),
                                   DRAW: draw if arm in ("random", "energy") else None})
                values = {} if iou is None else {RULE_METRIC[r]: iou[r][i, bi, si] for r in RULES}
                values["foreground_share"] = share[i, bi, si]
                per_item.append(values)
    return SpatialResult(conditions, per_item, k, K, random_draws, R, sets=sets, diagnostics=diag,
                         random_outside=random_outside, **extra)


#: the ks of the curve over k: from one channel (only the most massive) to 16
OVER_K = (1, 2, 4, 8, 16)
#: the smallest mIoU difference that counts in every spatial verdict (``stats.verdict``): 0.05 of
#: IoU, the same share as the critical claim's 5 points of caption accuracy
MINIMUM = 0.05


def over_k(cap: SpatialCapture, score: torch.Tensor, truth: np.ndarray, ks: Sequence[int] = OVER_K, K: int = 2,
           arms: Sequence[str] = ARMS, random_draws: int = DEFAULT_RANDOM_DRAWS, step: int | None = None,
           seed: int = 0, random_outside: int | None = None) -> dict:
    """The spatial claim as a curve over k: at every k, each arm's mIoU at *its own* best block
    (reusing the top arm's block for the controls would favour top), and the paired
    differences top - control on the same images, with their verdicts.

    Args:
        cap: a ``capture`` of the images; truth: their foreground masks.
        score: (blocks, channels) calibration scores.
        ks: the channel counts (each at most the model's width).
        K, arms, random_draws, seed: as in ``evaluate``.
        step: the captured step (None: the last captured).
        random_outside: the random arm draws outside each block's top-``random_outside``
          channels (None: the largest k, so that no random set holds a top channel of the
          curve; 0: among all channels, the contaminated control).
    Returns:
        {"step", "ks", "minimum", "random_outside", "per_k": [{"k", "best_block" {arm: block}, "miou" {arm:
        Estimate summary}, "top-<control>" (difference summary), "verdict" {control: word}}]}.
    """
    if truth is None:
        raise ValueError("the curve over k needs foreground masks (truth); this model's metrics give none")
    step = cap.steps[-1] if step is None else int(step)
    outside = max(int(k) for k in ks) if random_outside is None else random_outside
    per_k = []
    for k in ks:
        res = evaluate(cap, score, truth, k=k, K=K, arms=arms, random_draws=random_draws, steps=(step,), seed=seed,
                       random_outside=outside)
        best = {arm: res.best_block(arm, step=step) for arm in res.arms}
        row = {"k": int(k), "best_block": best,
               "miou": {arm: res.estimate("miou", arm=arm, block=b, step=step).summary() for arm, b in best.items()},
               "verdict": {}}
        for c in (a for a in res.arms if a != "top"):
            d = res.difference("miou", dict(arm="top", block=best["top"]), dict(arm=c, block=best[c]), step=step)
            row[f"top-{c}"] = d.summary()
            row["verdict"][c] = verdict(d, MINIMUM)
        per_k.append(row)
    return {"step": step, "ks": [int(k) for k in ks], "minimum": MINIMUM, "random_outside": outside,
            "per_k": per_k}


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
