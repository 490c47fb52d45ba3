"""Token clustering on a channel subset: the spatial claim's core (shared with transport).

Image tokens (N, D) of one image are restricted to the chosen channels, each channel is
min-max normalised over the tokens, and k-means (scikit-learn, K=2 by default) splits
the tokens. Which cluster is the *foreground* is decided by a rule that does not depend
on the sign or size of the activations: the background is the cluster with the largest
share of its tokens on the image border (a subject rarely fills the frame edge), every
other cluster is foreground. The "higher summed activation" rule used by a public
reproduction flips whenever the massive channels are negative or larger on the
background; ``oracle_iou`` shows what a perfect polarity choice would give.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

POLARITY_RULES = ("border", "activation")


def _border(grid: tuple[int, int]) -> np.ndarray:
    h, w = grid
    b = np.zeros((h, w), dtype=bool)
    b[0, :] = b[-1, :] = b[:, 0] = b[:, -1] = True
    return b.reshape(-1)


def normalised_tokens(tokens: torch.Tensor, channels: Sequence[int]) -> np.ndarray:
    """(N, D) tokens -> (N, k) restricted to channels, each min-max normalised over tokens."""
    x = tokens[:, list(channels)].detach().float().cpu().numpy().astype(np.float64)
    lo, hi = x.min(0, keepdims=True), x.max(0, keepdims=True)
    return (x - lo) / np.where(hi - lo > 1e-12, hi - lo, 1.0)


def cluster_tokens(tokens: torch.Tensor, channels: Sequence[int], grid: tuple[int, int], K: int = 2,
                   polarity: str = "border", seed: int = 0) -> dict:
    """Cluster one image's tokens (N, D). Returns labels (N,), the foreground mask (h, w)
    by the polarity rule, and the score map (h, w) = sum of the normalised channels."""
    n, d = tokens.shape
    h, w = grid
    if h * w != n:
        raise ValueError(f"token grid {grid} has {h * w} tokens but the tensor has {n}")
    if not isinstance(K, int) or not 2 <= K <= min(16, n):
        raise ValueError(f"K {K!r} out of range: K must be in 2..{min(16, n)}")
    if len(channels) < 1:
        raise ValueError("no channels given: k must be at least 1")
    bad = [c for c in channels if not 0 <= int(c) < d]
    if bad:
        raise ValueError(f"channels {bad} out of range: valid channels are 0..{d - 1}")
    if polarity not in POLARITY_RULES:
        raise ValueError(f"unknown polarity rule {polarity!r}; choose one of {POLARITY_RULES}")
    from sklearn.cluster import KMeans

    z = normalised_tokens(tokens, channels)
    labels = KMeans(n_clusters=K, n_init=4, random_state=seed).fit_predict(z) if np.ptp(z) > 0 else np.zeros(n, int)
    score = z.sum(1)
    border = _border(grid)
    present = [c for c in range(K) if (labels == c).any()]
    if polarity == "border":
        share = {c: border[labels == c].mean() for c in present}
        background = max(present, key=lambda c: (share[c], (labels == c).sum()))
        fg = labels != background
    else:  # "activation": the cluster with the higher mean summed activation is foreground
        mean = {c: score[labels == c].mean() for c in present}
        fg = labels == max(present, key=lambda c: mean[c])
    return {"labels": labels.reshape(h, w), "mask": fg.reshape(h, w), "score": score.reshape(h, w)}


def token_foreground_mask(tokens: torch.Tensor, channels_per_row, grid: tuple[int, int], K: int = 2,
                          polarity: str = "border") -> torch.Tensor:
    """(rows, N, D) -> bool (rows, N): the foreground token mask of each row.
    channels_per_row: one channel list for all rows, or one per row."""
    if tokens.dim() != 3:
        raise ValueError(f"tokens must be (rows, tokens, channels), got {tuple(tokens.shape)}")
    out = []
    for r in range(tokens.shape[0]):
        ch = channels_per_row[r] if isinstance(channels_per_row[0], (list, tuple)) else channels_per_row
        out.append(torch.from_numpy(cluster_tokens(tokens[r], ch, grid, K, polarity)["mask"].reshape(-1)))
    return torch.stack(out)


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    union = (pred | truth).sum()
    return float((pred & truth).sum() / union) if union else 1.0


def oracle_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """The better of the mask and its complement: IoU with perfect polarity."""
    return max(iou(pred, truth), iou(~np.asarray(pred, bool), truth))


def upsample_mask(mask: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """A token-grid mask (h, w) -> pixels (H, W) by nearest neighbour (H a multiple of h)."""
    H, W = (size, size) if isinstance(size, int) else size
    h, w = mask.shape[-2:]
    if H % h or W % w:
        raise ValueError(f"image size {(H, W)} is not a multiple of the token grid {(h, w)}")
    return np.asarray(mask).repeat(H // h, axis=-2).repeat(W // w, axis=-1)
