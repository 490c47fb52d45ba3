"""Channel ranking: which channels of each block are massive, and the control sets.

Scores come from ``ChannelStats.score(stat)`` — shape (blocks, channels). The paper ranks
by ``absmean`` = |mean over image tokens| (mean first, then the absolute value); a public
reproduction used ``meanabs`` = mean |x|; ``agreement`` shows how far the two differ.
A channel set is a dict block -> tuple of channel indices, the form ``EditSpec`` takes.

NaN scores are never ranked: a block that was not captured (all NaN) or a score with
some NaN or infinite entries is refused with an error, instead of sorting NaN as "top".

A control past the three arms: ``"energy"`` draws k random channels *outside* the top-k
(or outside a larger top-n, ``outside=n``: the clean control of a curve over k) whose summed
squared activation (``ChannelStats.energy()``) matches the top-k's within a relative
``tolerance`` (default ``ENERGY_TOLERANCE`` = 5%), separating "large" from "special". How
much of a token's squared norm a set holds, from kept tokens: ``token_energy_share``; per
block from the statistics: ``ChannelStats.ratio_table``.
"""
from __future__ import annotations

from typing import Iterable

import torch

import numpy as np

from .checks import WrongType, check_choice, check_finite, check_indices, check_int

#: top = highest score, bottom = lowest, random = a seeded uniform draw per block
ARMS = ("top", "bottom", "random")
#: controls that need more than the score: "energy" = random channels outside the top-k whose
#: summed squared activation matches the top-k's (pass energy=ChannelStats.energy())
CONTROL_ARMS = ("energy",)
ALL_ARMS = ARMS + CONTROL_ARMS
#: the default relative tolerance of the energy match: |E(set) - E(top-k)| <= 5% of E(top-k)
ENERGY_TOLERANCE = 0.05
#: random starts the energy match tries per block before giving up
ENERGY_RESTARTS = 20


def _check_score(score, name: str = "score") -> tuple[int, int]:
    if not isinstance(score, torch.Tensor) or score.dim() != 2:
        shape = f" of shape {tuple(score.shape)}" if isinstance(score, torch.Tensor) else ""
        raise WrongType(f"{name} must be a (blocks, channels) tensor, got {type(score).__name__}{shape}")
    return tuple(score.shape)


def _max_k(arm: str, width: int) -> tuple[int, str]:
    """The largest k an arm takes at this width, and the words that say why."""
    if arm == "energy":
        return width // 2, "the number of channels, at most half the width (the set avoids the top-k)"
    return width, "the number of channels"


def _check_energy(energy, shape: tuple[int, int]) -> None:
    """The energy arm's own input: (blocks, channels) squared activations of the score's shape."""
    if energy is None:
        raise ValueError("the energy arm matches squared activations: pass energy=calibration.stats.energy() "
                         "(shape (blocks, channels))")
    if _check_score(energy, "energy") != tuple(shape):
        raise ValueError(f"energy has shape {tuple(energy.shape)}; the score is {tuple(shape)} (blocks, channels)")


def _check_energy_outside(outside, k: int, width: int) -> int:
    """The energy arm's pool, from a k already checked against ``_max_k``: 0 (the set avoids the
    top-k) or n in k..width - k (it avoids the top-n: at least the top-k, and leaves k channels)."""
    outside = check_int("outside", outside, 0, what="top channels left out")
    if outside and not k <= outside <= width - k:
        raise ValueError(f"outside {outside} out of range for the energy arm at k={k}: give 0 (the set avoids the "
                         f"top-{k}) or {k}..{width - k} (the top channels it avoids: at least the top-{k}, leaving "
                         f"at least {k} of the {width} channels to draw from)")
    return outside


def _check_tolerance(tolerance) -> float:
    tolerance = check_finite("tolerance", tolerance, 0.0, 1.0, what="a relative tolerance, e.g. 0.05")
    if tolerance <= 0:
        raise ValueError("tolerance 0 asks for an exact energy match: give a relative tolerance in (0, 1], e.g. 0.05")
    return tolerance


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
                seed: int = 0, energy: torch.Tensor | None = None,
                tolerance: float = ENERGY_TOLERANCE) -> dict[int, tuple[int, ...]]:
    """Per block, k channels of one arm.

    The primitive under ``massact.Selection`` (which the claims and the explorers use): this
    entry checks its own arguments, then ranks as ``Selection.channels`` does.

    Args:
        score: (blocks, channels) scores, finite for every block asked for.
        k: channels per block, 1..channels (1..channels / 2 for "energy").
        arm: "top" (the k highest scores), "bottom" (the k lowest), "random" (k drawn
          uniformly, reproducible from seed; a different draw per block) or "energy" (k
          random channels outside the top-k with the top-k's summed energy, see
          ``energy_matched``).
        blocks: the blocks to choose in (a sequence of ints; None = every block).
        seed: the random arm's draw (an int >= 0).
        energy: for "energy" only, (blocks, channels) squared activations
          (``ChannelStats.energy()``, e.g. ``calibration.stats.energy()``).
        tolerance: for "energy" only, the relative tolerance of the match.
    Returns:
        {block: ascending tuple of k channel indices}.
    Raises:
        TypeError/ValueError for a bad k, arm, block, seed or a NaN score; for "energy" a
        ValueError when no set matches within the tolerance.
    """
    nb, width = _check_score(score)
    check_choice("arm", arm, ALL_ARMS)
    limit, what = _max_k(arm, width)
    k = check_int("k", k, 1, limit, what=what)
    seed = check_int("seed", seed, 0)
    blocks = range(nb) if blocks is None else check_indices("block", blocks, nb)
    if arm == "energy":
        _check_energy(energy, (nb, width))
        tolerance = _check_tolerance(tolerance)
    return _ranked(score, k, arm, blocks, seed, energy, tolerance)


def _ranked(score: torch.Tensor, k: int, arm: str, blocks: Iterable[int], seed: int,
            energy: torch.Tensor | None = None, tolerance: float = ENERGY_TOLERANCE,
            outside: int = 0) -> dict[int, tuple[int, ...]]:
    """{block: k channels} of one arm, from arguments already checked (by ``channel_set`` or
    ``Selection.channels``); only the scores' values (NaN) are read here. ``outside`` > 0: the
    random arm draws from the channels outside each block's top-``outside`` (a draw's sets stay
    nested across k for a fixed ``outside``), the energy arm matches among them."""
    if arm == "energy":
        return _matched(score, energy, k, blocks, seed, tolerance, ENERGY_RESTARTS, outside)
    width = score.shape[1]
    out = {}
    for b in blocks:
        s = _finite_block(score, b)
        if arm == "top":
            idx = s.topk(k).indices
        elif arm == "bottom":
            idx = (-s).topk(k).indices
        elif outside:
            g = torch.Generator("cpu").manual_seed(seed * 100_003 + int(b))
            rest = (-s).topk(width - outside).indices  # every channel but the top-``outside``
            idx = rest[torch.randperm(width - outside, generator=g)[:k]]
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


# -- the energy-matched control --------------------------------------------------------------
def _match_block(e: np.ndarray, left_out: np.ndarray, k: int, target: float, tol: float, gen: torch.Generator,
                 restarts: int) -> tuple[np.ndarray, float]:
    """(best set of k channels not in left_out, its energy): a random start, then random-order
    swaps, each replacing one member by a random outside channel that lands the sum within
    the tolerance (or, when none does, by the one that brings it closest); restarts from
    another random start when stuck."""
    cand = np.setdiff1d(np.arange(e.size), left_out)
    best, best_err = None, np.inf
    for _ in range(restarts):
        pick = torch.randperm(cand.size, generator=gen)[:k].numpy()
        inside = np.zeros(cand.size, bool)
        inside[pick] = True
        total = float(e[cand[inside]].sum())
        improved = True
        while abs(total - target) > tol * target and improved:
            improved = False
            members = np.flatnonzero(inside)
            for i in members[torch.randperm(members.size, generator=gen).numpy()]:
                out = np.flatnonzero(~inside)
                if out.size == 0:
                    break
                news = total - e[cand[i]] + e[cand[out]]  # the sum after swapping i for each outside channel
                ok = np.flatnonzero(np.abs(news - target) <= tol * target)
                if ok.size:  # any swap that lands within the tolerance, drawn at random (not the closest)
                    pick_j = int(ok[int(torch.randint(ok.size, (1,), generator=gen))])
                else:
                    pick_j = int(np.argmin(np.abs(news - target)))
                j, new = out[pick_j], float(news[pick_j])
                if abs(new - target) < abs(total - target) - 1e-12 * max(target, 1.0):
                    inside[i], inside[j], total, improved = False, True, new, True
                    break
        err = abs(total - target)
        if err < best_err:
            best, best_err = cand[inside].copy(), err
        if err <= tol * target:
            break
    return best, float(e[best].sum())


def energy_matched(score: torch.Tensor, energy: torch.Tensor, k: int, blocks: Iterable[int] | None = None,
                   seed: int = 0, tolerance: float = ENERGY_TOLERANCE, restarts: int = ENERGY_RESTARTS,
                   outside: int = 0) -> dict[int, tuple[int, ...]]:
    """Per block, k random channels outside the top-k (or the top-``outside``) whose summed
    energy matches the top-k's.

    The energy-matched control: if zeroing these hurts as much as zeroing the top-k, what
    matters is how *large* the removed activations are, not *which* channels they are.
    Each block's set starts as a seeded uniform draw of k channels of the pool (those outside
    the top-k, or outside the top-``outside``) and is improved by swaps until
    |E(set) - E(top-k)| <= tolerance x E(top-k), where E sums ``energy`` over the set. The same
    (score, energy, k, seed, outside) gives the same sets.

    Args:
        score: (blocks, channels) ranking scores (the top-k are taken from it).
        energy: (blocks, channels) squared activations, finite and >= 0, e.g.
          ``calibration.stats.energy()``.
        k: channels per block, 1..channels / 2 (the set avoids the top-k).
        blocks: blocks to choose in (None = every block).
        seed: the draw (an int >= 0); another seed, another set.
        tolerance: the relative tolerance, a finite number in (0, 1].
        restarts: random starts tried per block before giving up.
        outside: 0 (the pool is every channel outside the top-k) or n in k..channels - k (outside
          the top-n: the same pool for every k of a curve, as the clean random arm's).
    Returns:
        {block: ascending tuple of k channel indices}, disjoint from that block's top-k (top-n).
    Raises:
        ValueError when some block has no such set within the tolerance (the message gives
        the closest energy found and the tolerance that it would need), or for an outside
        out of its range (the message names the range).
    """
    nb, width = _check_score(score)
    _check_energy(energy, (nb, width))
    limit, what = _max_k("energy", width)
    k = check_int("k", k, 1, limit, what=what)
    seed = check_int("seed", seed, 0)
    restarts = check_int("restarts", restarts, 1)
    tolerance = _check_tolerance(tolerance)
    outside = _check_energy_outside(outside, k, width)
    blocks = range(nb) if blocks is None else check_indices("block", blocks, nb)
    return _matched(score, energy, k, blocks, seed, tolerance, restarts, outside)


def _matched(score: torch.Tensor, energy: torch.Tensor, k: int, blocks: Iterable[int], seed: int, tolerance: float,
             restarts: int, outside: int = 0) -> dict[int, tuple[int, ...]]:
    """``energy_matched`` on arguments already checked."""
    n = max(k, outside)
    out = {}
    for b in blocks:
        s = _finite_block(score, b)
        e = _finite_block(energy, b, "energy").double().numpy()
        if (e < 0).any():
            raise ValueError(f"energy of block {b} has negative entries: squared activations are >= 0")
        top = s.topk(k).indices.numpy()
        left_out = np.union1d(top, s.topk(n).indices.numpy())
        target = float(e[top].sum())
        if target <= 0:
            raise ValueError(f"the top-{k} channels of block {b} have zero energy: nothing to match")
        g = torch.Generator("cpu").manual_seed(seed * 100_003 + int(b) + 7_919)  # not the random arm's stream
        best, got = _match_block(e, left_out, k, target, tolerance, g, restarts)
        if abs(got - target) > tolerance * target:
            raise ValueError(f"no {k} channels of block {b} outside its top-{n} match the top-{k}'s summed energy "
                             f"{target:.4g} within {tolerance:.0%}: the closest found sums to {got:.4g} "
                             f"({got / target:.1%} of it; it would need tolerance={abs(got - target) / target:.3f}). "
                             "The top channels hold more energy than any equal-size set of others: use a smaller k "
                             "or a looser tolerance")
        out[int(b)] = tuple(sorted(int(i) for i in best))
    return out


def energy_match_ceiling(score: torch.Tensor, energy: torch.Tensor, k: int, outside: int = 0) -> list[float]:
    """Per block, the most of the top-k's summed energy that k channels of the control's pool can hold.

    The k highest-energy channels outside the top-k (or the top-``outside``; by ``score``) hold
    the largest energy any equal-size control set drawn there can have; this returns that sum
    over the top-k's. Below
    ``1 - ENERGY_TOLERANCE`` no energy-matched control exists at this k (``energy_matched``
    raises): the top channels are then larger than any k others, which is itself the answer
    to "large or special?" at that size.

    Args:
        score: (blocks, channels) ranking scores.
        energy: (blocks, channels) squared activations (``calibration.stats.energy()``).
        k: channels per block, 1..channels / 2.
        outside: the pool, as ``energy_matched`` takes it: 0 (outside the top-k) or n in
          k..channels - k (outside the top-n).
    Returns:
        one ratio per block (>= 1: a match may exist; < 1: the best possible fraction).
    Raises:
        ValueError for a k or an outside out of range (the message names the range).
    """
    nb, width = _check_score(score)
    if _check_score(energy, "energy") != (nb, width):
        raise ValueError(f"energy has shape {tuple(energy.shape)}; the score is {(nb, width)} (blocks, channels)")
    k = check_int("k", k, 1, width // 2, what="the number of channels, at most half the width")
    n = max(k, _check_energy_outside(outside, k, width))
    out = []
    for b in range(nb):
        e = _finite_block(energy, b, "energy").double()
        s = _finite_block(score, b)
        top = s.topk(k).indices
        rest = torch.ones(width, dtype=torch.bool)
        rest[top] = False
        rest[s.topk(n).indices] = False
        target = float(e[top].sum())
        out.append(float(e[rest].topk(k).values.sum()) / target if target > 0 else float("nan"))
    return out


# -- how massive, per block --------------------------------------------------------------------
def token_energy_share(x: torch.Tensor, channels) -> torch.Tensor:
    """Per row, the mean over tokens of each token's share of its squared norm held by channels.

    Args:
        x: (rows, tokens, width) image tokens (e.g. a kept tensor of a capture).
        channels: the channel indices (ints).
    Returns:
        (rows,) float32 in [0, 1].
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        raise WrongType(f"x must be a (rows, tokens, width) tensor, got {type(x).__name__}")
    idx = list(check_indices("channel", channels, x.shape[-1]))
    sq = x.float() ** 2
    return (sq[..., idx].sum(-1) / sq.sum(-1).clamp_min(1e-30)).mean(-1)
