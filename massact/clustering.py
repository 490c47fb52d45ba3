"""Token clustering on a channel subset: the spatial claim's core (shared with transport).

Image tokens (N, D) of one image are restricted to the chosen channels, each channel is
min-max normalised over the tokens, and k-means (K=2 by default) splits the tokens.
Which cluster is the *foreground* is decided by a rule that does not depend on the sign
or size of the activations: the background is the cluster with the largest share of its
tokens on the image border (a subject rarely fills the frame edge), every other cluster
is foreground. The "higher summed activation" rule used by a public reproduction flips
whenever the massive channels are negative or larger on the background; ``oracle_iou``
shows what a perfect polarity choice would give.

k-means: the evaluation of the spatial claim clusters thousands of small problems (one
per image, block, step and channel set), so the default backend is a batched
implementation of the algorithm of scikit-learn's ``KMeans(algorithm="lloyd")`` (k-means++
seeding, here the plain rather than the greedy variant; Lloyd iterations with
scikit-learn's stopping rule; best of ``n_init`` restarts by inertia) running all problems
at once in torch. ``backend="sklearn"`` runs scikit-learn's ``KMeans`` itself, one problem
at a time; the tests check that both give the same partitions.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .checks import WrongType, check_choice, check_indices, check_int, is_int

POLARITY_RULES = ("border", "activation")
BACKENDS = ("batched", "sklearn")
MAX_K = 16
N_INIT = 4
MAX_ITER = 100
TOL = 1e-4


def _border(grid: tuple[int, int]) -> np.ndarray:
    h, w = grid
    b = np.zeros((h, w), dtype=bool)
    b[0, :] = b[-1, :] = b[:, 0] = b[:, -1] = True
    return b.reshape(-1)


def check_args(n: int, d: int, channels: Sequence[int], grid: tuple[int, int], K: int,
               polarity: str = "border") -> tuple[int, ...]:
    """The clear errors every entry point gives (token count, K, k, channel and rule ranges).

    Args:
        n, d: tokens and channels of the tensor.
        channels: the channel indices to cluster on (ints, distinct, 1..d of them).
        grid: the (rows, cols) token grid, rows x cols = n.
        K: the number of clusters, 2..min(16, n).
        polarity: a rule of ``POLARITY_RULES``.
    Returns:
        the channels as a tuple of ints.
    """
    if (not isinstance(grid, (tuple, list)) or len(grid) != 2
            or not all(is_int(g) and g > 0 for g in grid)):
        raise WrongType(f"grid must be (rows, cols) of positive ints, got {grid!r}")
    h, w = grid
    if h * w != n:
        raise ValueError(f"token grid {tuple(grid)} has {h * w} tokens but the tensor has {n}")
    check_int("K", K, 2, min(MAX_K, n), what="the number of clusters")
    if isinstance(channels, (list, tuple, range)) and len(channels) < 1:
        raise ValueError(f"no channels given: k (the number of channels) must be in 1..{d}")
    if isinstance(channels, (list, tuple, range)) and len(channels) > d:
        raise ValueError(f"{len(channels)} channels given: k (the number of channels) must be in 1..{d}")
    channels = check_indices("channel", channels, d)
    if len(set(channels)) != len(channels):
        raise ValueError(f"channels {list(channels)} contain duplicates")
    check_choice("polarity rule", polarity, POLARITY_RULES)
    return channels


def normalised_tokens(tokens: torch.Tensor, channels: Sequence[int]) -> np.ndarray:
    """(N, D) tokens -> (N, k) restricted to channels, each min-max normalised over tokens."""
    return normalise(tokens[:, list(channels)].detach().float().cpu()).numpy().astype(np.float64)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """(..., N, k) -> each channel min-max normalised over the N tokens (constant channels -> 0)."""
    x = x.double()
    lo, hi = x.amin(-2, keepdim=True), x.amax(-2, keepdim=True)
    span = hi - lo
    return (x - lo) / torch.where(span > 1e-12, span, torch.ones_like(span))


# -- k-means ------------------------------------------------------------------------------
def _kmeans_pp(z: torch.Tensor, K: int, gen: torch.Generator) -> torch.Tensor:
    """k-means++ seeding for a batch: z (M, N, k) -> centres (M, K, k)."""
    M, N, _ = z.shape
    ar = torch.arange(M)
    first = torch.randint(N, (M,), generator=gen)
    centres = [z[ar, first]]
    d2 = ((z - centres[0][:, None]) ** 2).sum(-1)
    for _ in range(1, K):
        w = d2.clamp_min(0) + 1e-30  # all-equal points: uniform draw
        idx = torch.multinomial(w / w.sum(1, keepdim=True), 1, generator=gen)[:, 0]
        c = z[ar, idx]
        centres.append(c)
        d2 = torch.minimum(d2, ((z - c[:, None]) ** 2).sum(-1))
    return torch.stack(centres, 1)


def _sqdist(z: torch.Tensor, centres: torch.Tensor, zz: torch.Tensor | None = None) -> torch.Tensor:
    """(M, N, k), (M, K, k) -> squared distances (M, N, K) (zz = |z|^2 (M, N, 1) if known)."""
    zz = (z * z).sum(-1, keepdim=True) if zz is None else zz
    return (zz - 2 * z @ centres.transpose(1, 2) + (centres * centres).sum(-1)[:, None, :]).clamp_min(0)


def _assign(z: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Nearest centre (|z|^2 does not change the argmin; K = 2 is one dot product per point)."""
    if centres.shape[1] == 2:
        c0, c1 = centres[:, 0], centres[:, 1]
        w = (c1 - c0)[:, :, None]  # (M, k, 1)
        b = ((c1 * c1).sum(-1) - (c0 * c0).sum(-1)) / 2  # (M,)
        return ((z @ w)[..., 0] > b[:, None]).long()  # ties -> 0, like argmin
    return ((centres * centres).sum(-1)[:, None, :] - 2 * z @ centres.transpose(1, 2)).argmin(-1)


def _lloyd(z: torch.Tensor, centres: torch.Tensor, max_iter: int = MAX_ITER):
    """Lloyd iterations for a batch until each problem's labels stop changing; an emptied
    cluster keeps its centre. -> labels (M, N), inertia (M,)."""
    M, N, _ = z.shape
    K = centres.shape[1]
    centres = centres.clone()
    labels = _assign(z, centres)
    # scikit-learn's stopping rule: labels unchanged, or total squared centre shift <= TOL x mean variance
    tol = TOL * z.var(1).mean(-1)  # (M,)
    active = None  # None = all problems
    for _ in range(max_iter):
        za = z if active is None else z[active]
        la = labels if active is None else labels[active]
        ca_old = centres if active is None else centres[active]
        onehot = torch.zeros(za.shape[0], N, K, dtype=z.dtype).scatter_(2, la[..., None], 1.0)
        count = onehot.sum(1)  # (A, K)
        sums = onehot.transpose(1, 2) @ za  # (A, K, k)
        ca = torch.where(count[..., None] > 0, sums / count.clamp_min(1)[..., None], ca_old)
        new = _assign(za, ca)
        shift = ((ca - ca_old) ** 2).sum((1, 2))
        changed = (new != la).any(1) & (shift > (tol if active is None else tol[active]))
        if active is None:
            centres, labels = ca, new
            active = torch.nonzero(changed)[:, 0]
        else:
            centres[active], labels[active] = ca, new
            active = active[changed]
        if len(active) == 0:
            break
    d = _sqdist(z, centres)
    inertia = d.gather(-1, labels[..., None])[..., 0].sum(-1)
    return labels, inertia


def kmeans(z, K: int = 2, seed: int = 0, n_init: int = N_INIT, backend: str = "batched",
           chunk: int = 4096) -> np.ndarray:
    """k-means labels for a batch of independent problems: z (M, N, k) -> int labels (M, N).

    Problems whose points are all equal get a single cluster (label 0)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown k-means backend {backend!r}; choose one of {BACKENDS}")
    z = torch.as_tensor(np.asarray(z) if not isinstance(z, torch.Tensor) else z)
    z = z.double() if backend == "sklearn" else z.float()
    if z.dim() != 3:
        raise ValueError(f"z must be (problems, points, features), got {tuple(z.shape)}")
    M, N, _ = z.shape
    flat = (z.amax(1) - z.amin(1)).amax(-1) <= 0  # every point identical
    out = np.zeros((M, N), dtype=np.int64)
    if backend == "sklearn":
        from sklearn.cluster import KMeans

        for i in range(M):
            if not flat[i]:
                out[i] = KMeans(n_clusters=K, n_init=n_init, random_state=seed).fit_predict(z[i].numpy())
        return out
    gen = torch.Generator("cpu").manual_seed(int(seed))
    for start in range(0, M, chunk):
        zc = z[start:start + chunk]
        best_lab, best_in = None, None
        for _ in range(n_init):
            lab, inertia = _lloyd(zc, _kmeans_pp(zc, K, gen))
            if best_lab is None:
                best_lab, best_in = lab, inertia
            else:
                better = inertia < best_in - 1e-12
                best_lab = torch.where(better[:, None], lab, best_lab)
                best_in = torch.where(better, inertia, best_in)
        out[start:start + chunk] = best_lab.numpy()
    out[flat.numpy()] = 0
    return out


# -- polarity: which cluster is the foreground ----------------------------------------------
def polarity_masks(labels: np.ndarray, score: np.ndarray, grid: tuple[int, int], K: int) -> dict[str, np.ndarray]:
    """Foreground masks (M, N) of labelled problems by each rule.

    border: the background is the cluster with the largest share of its tokens on the image
    border (ties: the larger cluster); every other cluster is foreground.
    activation: the foreground is the cluster with the highest mean score (the sum of the
    normalised channels), the rule that flips when the channels are larger on the background."""
    labels = np.asarray(labels)
    M, N = labels.shape
    border = _border(grid).astype(np.float64)
    onehot = labels[..., None] == np.arange(K)  # (M, N, K)
    count = onehot.sum(1)  # (M, K)
    present = count > 0
    share = np.where(present, (onehot * border[None, :, None]).sum(1) / np.maximum(count, 1), -np.inf)
    # lexicographic (share, size): the size term is < 1 / N^2 of one border token's share
    key = share + np.where(present, count / (N * N + 1.0) ** 2, 0)
    background = key.argmax(1)
    mean = np.where(present, (onehot * np.asarray(score)[..., None]).sum(1) / np.maximum(count, 1), -np.inf)
    foreground = mean.argmax(1)
    single = present.sum(1) <= 1  # one cluster only: no split, no foreground
    border_mask = (labels != background[:, None]) & ~single[:, None]
    activation_mask = (labels == foreground[:, None]) & ~single[:, None]
    return {"border": border_mask, "activation": activation_mask}


def cluster_batch(tokens: torch.Tensor, channels, grid: tuple[int, int], K: int = 2, seed: int = 0,
                  backend: str = "batched") -> dict[str, np.ndarray]:
    """Cluster many images' tokens at once: tokens (R, N, D), channels one list for all rows or
    one list per row (all of the same length k). Returns labels (R, h, w), mask_border and
    mask_activation (R, h, w) bool, and score (R, h, w) = sum of the normalised channels."""
    if tokens.dim() != 3:
        raise ValueError(f"tokens must be (rows, tokens, channels), got {tuple(tokens.shape)}")
    R, n, d = tokens.shape
    if isinstance(channels, (str, bytes)) or is_int(channels) or not hasattr(channels, "__len__"):
        check_indices("channel", channels, d)  # raises: a bare int or string is not a channel list
    per_row = len(channels) > 0 and isinstance(channels[0], (list, tuple, np.ndarray, torch.Tensor))
    rows = [c for c in channels] if per_row else [channels] * R
    if len(rows) != R:
        raise ValueError(f"{len(rows)} channel lists for {R} rows")
    rows = [list(check_args(n, d, ch, grid, K)) for ch in rows]
    if len({len(c) for c in rows}) > 1:
        raise ValueError("every row needs the same number of channels k")
    idx = torch.tensor(rows, dtype=torch.long)  # (R, k)
    x = torch.gather(tokens.detach().float().cpu(), 2, idx[:, None, :].expand(R, n, idx.shape[1]))
    z = normalise(x)
    labels = kmeans(z, K, seed=seed, backend=backend)
    score = z.sum(-1).numpy()
    masks = polarity_masks(labels, score, grid, K)
    h, w = grid
    return {"labels": labels.reshape(R, h, w), "mask_border": masks["border"].reshape(R, h, w),
            "mask_activation": masks["activation"].reshape(R, h, w), "score": score.reshape(R, h, w)}


def cluster_tokens(tokens: torch.Tensor, channels: Sequence[int], grid: tuple[int, int], K: int = 2,
                   polarity: str = "border", seed: int = 0, backend: str = "batched") -> dict:
    """Cluster one image's tokens (N, D). Returns labels (h, w), the foreground mask (h, w)
    by the polarity rule, and the score map (h, w) = sum of the normalised channels."""
    if tokens.dim() != 2:
        raise ValueError(f"tokens must be (tokens, channels) for one image, got {tuple(tokens.shape)}")
    check_choice("polarity rule", polarity, POLARITY_RULES)
    out = cluster_batch(tokens[None], channels, grid, K, seed, backend)  # checks the rest
    return {"labels": out["labels"][0], "mask": out[f"mask_{polarity}"][0], "score": out["score"][0]}


def token_foreground_mask(tokens: torch.Tensor, channels_per_row, grid: tuple[int, int], K: int = 2,
                          polarity: str = "border") -> torch.Tensor:
    """(rows, N, D) -> bool (rows, N): the foreground token mask of each row.
    channels_per_row: one channel list for all rows, or one per row."""
    if tokens.dim() != 3:
        raise ValueError(f"tokens must be (rows, tokens, channels), got {tuple(tokens.shape)}")
    check_choice("polarity rule", polarity, POLARITY_RULES)
    per_row = isinstance(channels_per_row[0], (list, tuple))
    if per_row and len({len(c) for c in channels_per_row}) > 1:  # ragged: one row at a time
        return torch.stack([torch.from_numpy(cluster_tokens(tokens[r], channels_per_row[r], grid, K, polarity)
                                             ["mask"].reshape(-1)) for r in range(tokens.shape[0])])
    out = cluster_batch(tokens, channels_per_row, grid, K)
    return torch.from_numpy(out[f"mask_{polarity}"].reshape(tokens.shape[0], -1))


# -- scores -------------------------------------------------------------------------------
def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    union = (pred | truth).sum()
    return float((pred & truth).sum() / union) if union else 1.0


def oracle_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """The better of the mask and its complement: IoU with perfect polarity."""
    return max(iou(pred, truth), iou(~np.asarray(pred, bool), truth))


def batch_iou(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """IoU over the last two axes of broadcastable bool arrays (..., H, W) -> (...)."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    inter = (pred & truth).sum((-2, -1))
    union = (pred | truth).sum((-2, -1))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def grid_ceiling_iou(truth: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The best IoU any token-level mask can reach: a strict upper bound on the mIoU of a mask
    made of whole tokens (a clustering's), on coarse grids where a token covers a block of
    pixels and shape edges cannot be followed exactly.

    A token mask A holding tokens with f_i foreground pixels out of c has IoU
    sum f_i / (|truth| + sum (c - f_i)), a ratio that is maximised by a threshold set: the tokens
    whose foreground share is above some level. So the best mask is a prefix of the tokens
    sorted by foreground share, and the bound is the largest IoU over those prefixes (an empty
    truth: 1, reached by the empty mask).

    Args:
        truth: (..., H, W) bool pixel masks, H and W multiples of the grid.
        grid: (h, w) tokens.
    Returns:
        (...) float array of the bound per mask.
    """
    truth = np.asarray(truth, bool)
    H, W = truth.shape[-2:]
    h, w = grid
    if H % h or W % w:
        raise ValueError(f"image size {(H, W)} is not a multiple of the token grid {(h, w)}")
    c = (H // h) * (W // w)
    fg = truth.reshape(truth.shape[:-2] + (h, H // h, w, W // w)).sum(axis=(-3, -1)).reshape(truth.shape[:-2] + (-1,))
    fg = -np.sort(-fg, axis=-1).astype(np.float64)  # tokens by foreground, most first
    total = truth.sum(axis=(-2, -1)).astype(np.float64)
    inter = np.cumsum(fg, axis=-1)
    union = total[..., None] + np.cumsum(c - fg, axis=-1)
    best = (inter / np.maximum(union, 1)).max(axis=-1)
    return np.where(total > 0, best, 1.0)


def upsample_mask(mask: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """A token-grid mask (h, w) -> pixels (H, W) by nearest neighbour (H a multiple of h)."""
    H, W = (size, size) if isinstance(size, int) else size
    h, w = mask.shape[-2:]
    if H % h or W % w:
        raise ValueError(f"image size {(H, W)} is not a multiple of the token grid {(h, w)}")
    return np.asarray(mask).repeat(H // h, axis=-2).repeat(W // w, axis=-1)
