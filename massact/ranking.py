"""Channel ranking: which channels of each block are massive, and the control sets.

Scores come from ``ChannelStats.score(stat)`` — shape (blocks, channels). The paper ranks
by ``absmean`` = |mean over image tokens| (mean first, then the absolute value); a public
reproduction used ``meanabs`` = mean |x|; ``agreement`` shows how far the two differ.
A channel set is a dict block -> tuple of channel indices, the form ``EditSpec`` takes.

NaN scores are never ranked: a block that was not captured (all NaN) or a score with
some NaN or infinite entries is refused with an error, instead of sorting NaN as "top".
"""
from __future__ import annotations

from typing import Iterable

import torch

from .checks import WrongType, check_choice, check_indices, check_int

#: top = highest score, bottom = lowest, random = a seeded uniform draw per block
ARMS = ("top", "bottom", "random")


def _check_score(score, name: str = "score") -> tuple[int, int]:
    if not isinstance(score, torch.Tensor) or score.dim() != 2:
        shape = f" of shape {tuple(score.shape)}" if isinstance(score, torch.Tensor) else ""
        raise WrongType(f"{name} must be a (blocks, channels) tensor, got {type(score).__name__}{shape}")
    return tuple(score.shape)


def _finite_block(score: torch.Tensor, b: int, name: str = "score") -> torch.Tensor:
    s = score[b].float()
    bad = ~torch.isfinite(s)
    if bad.all():
        raise ValueError(f"block {b} has no statistics (its {name} is all NaN: was it captured?)")
    if bad.any():
        idx = torch.nonzero(bad)[:, 0].tolist()
        raise ValueError(f"{name} of block {b} is NaN or infinite for channels {idx[:8]}"
                         f"{' ...' if len(idx) > 8 else ''}: NaN scores are never ranked; capture every step "
                         "you score over (or pass score=stats.score(..., steps=captured steps))")
    return s


def channel_set(score: torch.Tensor, k: int, arm: str = "top", blocks: Iterable[int] | None = None,
                seed: int = 0) -> dict[int, tuple[int, ...]]:
    """Per block, k channels of one arm.

    Args:
        score: (blocks, channels) scores, finite for every block asked for.
        k: channels per block, 1..channels.
        arm: "top" (the k highest scores), "bottom" (the k lowest) or "random" (k drawn
          uniformly, reproducible from seed; a different draw per block).
        blocks: the blocks to choose in (a sequence of ints; None = every block).
        seed: the random arm's draw (an int >= 0).
    Returns:
        {block: ascending tuple of k channel indices}.
    Raises:
        TypeError/ValueError for a bad k, arm, block, seed or a NaN score.
    """
    nb, width = _check_score(score)
    k = check_int("k", k, 1, width, what="the number of channels")
    check_choice("arm", arm, ARMS)
    seed = check_int("seed", seed, 0)
    blocks = range(nb) if blocks is None else check_indices("block", blocks, nb)
    out = {}
    for b in blocks:
        s = _finite_block(score, b)
        if arm == "top":
            idx = s.topk(k).indices
        elif arm == "bottom":
            idx = (-s).topk(k).indices
        else:
            g = torch.Generator("cpu").manual_seed(seed * 100_003 + int(b))
            idx = torch.randperm(width, generator=g)[:k]
        out[int(b)] = tuple(sorted(int(i) for i in idx))
    return out


def agreement(score_a: torch.Tensor, score_b: torch.Tensor, k: int) -> list[float]:
    """Per block, |top-k(a) ∩ top-k(b)| / k: how much two rankings agree.

    Args:
        score_a, score_b: (blocks, channels) scores of the same shape, finite.
        k: channels per block, 1..channels.
    Returns:
        one overlap fraction in [0, 1] per block.
    """
    shape = _check_score(score_a, "score_a")
    if _check_score(score_b, "score_b") != shape:
        raise ValueError(f"score_a has shape {shape} but score_b {tuple(score_b.shape)}: "
                         "rank the same blocks x channels")
    k = check_int("k", k, 1, shape[1], what="the number of channels")
    return [len(set(_finite_block(score_a, b, "score_a").topk(k).indices.tolist())
                & set(_finite_block(score_b, b, "score_b").topk(k).indices.tolist())) / k
            for b in range(shape[0])]


def massive_ratio(score: torch.Tensor) -> torch.Tensor:
    """Per block, top-1 score over the median score across channels (NaN for uncaptured blocks)."""
    _check_score(score)
    return score.max(dim=1).values / score.median(dim=1).values
