"""Channel ranking: which channels of each block are massive, and the control sets.

Scores come from ``ChannelStats.score(stat)`` — shape (blocks, channels). The paper ranks
by ``absmean`` = |mean over image tokens| (mean first, then the absolute value); a public
reproduction used ``meanabs`` = mean |x|; ``agreement`` shows how far the two differ.
A channel set is a dict block -> tuple of channel indices, the form ``EditSpec`` takes.
"""
from __future__ import annotations

from typing import Iterable

import torch

ARMS = ("top", "bottom", "random")


def _check_k(k: int, width: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= width:
        raise ValueError(f"k {k!r} out of range: k must be in 1..{width} (the number of channels)")


def channel_set(score: torch.Tensor, k: int, arm: str = "top", blocks: Iterable[int] | None = None,
                seed: int = 0) -> dict[int, tuple[int, ...]]:
    """Per block, k channels: the k highest scores ("top"), the k lowest ("bottom"), or k
    drawn uniformly at random ("random", reproducible from seed; a different draw per block)."""
    nb, width = score.shape
    _check_k(k, width)
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; choose one of {ARMS}")
    blocks = range(nb) if blocks is None else list(blocks)
    out = {}
    for b in blocks:
        if not 0 <= b < nb:
            raise ValueError(f"block {b} out of range: valid blocks are 0..{nb - 1}")
        s = score[b].float()
        if torch.isnan(s).all():
            raise ValueError(f"block {b} has no statistics (was it captured?)")
        if arm == "top":
            idx = s.topk(k).indices
        elif arm == "bottom":
            idx = (-s).topk(k).indices
        else:
            g = torch.Generator("cpu").manual_seed(int(seed) * 100_003 + int(b))
            idx = torch.randperm(width, generator=g)[:k]
        out[int(b)] = tuple(sorted(int(i) for i in idx))
    return out


def agreement(score_a: torch.Tensor, score_b: torch.Tensor, k: int) -> list[float]:
    """Per block, |top-k(a) ∩ top-k(b)| / k: how much two rankings agree."""
    _check_k(k, score_a.shape[1])
    return [len(set(score_a[b].topk(k).indices.tolist()) & set(score_b[b].topk(k).indices.tolist())) / k
            for b in range(score_a.shape[0])]


def massive_ratio(score: torch.Tensor) -> torch.Tensor:
    """Per block, top-1 score over the median score across channels."""
    return score.max(dim=1).values / score.median(dim=1).values
