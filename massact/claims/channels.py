"""What a channel is: how its values split into a constant offset and changes over denoising
steps, prompts, seeds and tokens.

A channel whose value is the same at every token, step and prompt is a *bias*: it cannot carry a
prompt's semantics by transport, and zeroing it tests how much the network relies on a constant
(the mean-ablation control of ``critical``). A channel whose variation is mostly across prompts
carries something about the prompt. The decomposition is a balanced two-level ANOVA of the
captured image stream: for one block and channel, with x[p, s, t, n] its value for prompt p,
seed s, step t and token n, the mean square E[x^2] splits exactly into

* ``offset``: m^2, the square of the grand mean m;
* ``step``, ``prompt``, ``seed``, ``token``: the variance of each factor's means around m (its
  main effect);
* ``interaction``: everything else (how the factors combine, e.g. a token pattern that moves
  with the prompt: the subject's position).

The shares are fractions of E[x^2] and sum to 1 (float64 arithmetic on float32 captures).

What a channel's prompt share carries is read against the world's attributes (``attribute_shares``):
the share of the variance of its per-prompt means that the prompts' attribute words explain. A
channel whose variation is across prompts and explained by one attribute (e.g. the background
colour) is a code for that attribute.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch

from ..checks import check_int
from ..generation import generate
from ..specs import CaptureSpec
from ..world import world_of

#: the parts of a channel's mean square, in order
SOURCES = ("offset", "step", "prompt", "seed", "token", "interaction")


def variance_shares(x: torch.Tensor) -> torch.Tensor:
    """The share of each channel's mean square held by each source (``SOURCES``).

    Args:
        x: (prompts, seeds, steps, tokens, channels) values of one block's image stream.
    Returns:
        float64 tensor (channels, 6): offset, step, prompt, seed, token and interaction shares,
        each row summing to 1 (a channel that is 0 everywhere gets NaN).
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 5:
        raise ValueError("x must be a tensor (prompts, seeds, steps, tokens, channels), e.g. from stack_block")
    x = x.double()
    total = (x * x).mean(dim=(0, 1, 2, 3))
    m = x.mean(dim=(0, 1, 2, 3))
    parts = [m * m]
    for keep in ((2,), (0,), (1,), (3,)):  # step, prompt, seed, token
        dims = tuple(d for d in range(4) if d not in keep)
        f = x.mean(dim=dims)  # (levels, channels)
        parts.append(((f - m) ** 2).mean(dim=0))
    main = torch.stack(parts, dim=1)
    inter = (total - main.sum(dim=1)).clamp_min(0)
    out = torch.cat([main, inter[:, None]], dim=1)
    return out / total[:, None].where(total[:, None] > 0, torch.full_like(total[:, None], float("nan")))


def attribute_shares(x: torch.Tensor, labels: Mapping[str, Sequence]) -> dict[str, dict]:
    """How much of each channel's across-prompt variation each attribute explains.

    For one channel, m_p is prompt p's mean over seeds, steps and tokens (the means behind the
    ``prompt`` share of ``variance_shares``). Grouping the prompts by an attribute's value, the
    share is eta^2 = sum_g n_g (mean_g - M)^2 / sum_p (m_p - M)^2, with M the mean of the m_p: the
    between-group sum of squares over the total (the R^2 of predicting m_p from the attribute alone).
    Only prompts that name the attribute count. Groups fitted to noise give eta^2 > 0 too: with n
    prompts in k groups, a channel the attribute does not affect has an expected eta^2 of
    (k - 1) / (n - 1) (``chance``, for independent normal m_p), and (eta^2 - chance) / (1 - chance)
    is the adjusted R^2.

    Args:
        x: (prompts, seeds, steps, tokens, channels) values of one block's image stream.
        labels: attribute -> one value per prompt (None where the prompt does not name it).
    Returns:
        attribute -> {"eta2": float64 tensor (channels,), "chance": (k - 1) / (n - 1), "levels": k,
        "prompts": n}; eta2 is NaN for a channel whose m_p are all equal, and for every channel
        when the attribute takes fewer than 2 values on these prompts or each value is named by
        one prompt only (then chance is NaN too: the groups would fit any means exactly).
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 5:
        raise ValueError("x must be a tensor (prompts, seeds, steps, tokens, channels), e.g. from stack_block")
    means = x.double().mean(dim=(1, 2, 3))  # (prompts, channels)
    out = {}
    for attribute, values in labels.items():
        values = list(values)
        if len(values) != means.shape[0]:
            raise ValueError(f"attribute {attribute!r} has {len(values)} labels for {means.shape[0]} prompts")
        named = [i for i, v in enumerate(values) if v is not None]
        levels = sorted({values[i] for i in named}, key=str)
        nan = torch.full((means.shape[1],), float("nan"), dtype=torch.float64)
        n, k = len(named), len(levels)
        if k < 2 or n <= k:
            out[attribute] = {"eta2": nan, "chance": float("nan"), "levels": k, "prompts": n}
            continue
        m = means[named]
        total = ((m - m.mean(dim=0)) ** 2).sum(dim=0)
        between = torch.zeros_like(total)
        for level in levels:
            g = m[[j for j, i in enumerate(named) if values[i] == level]]
            between += g.shape[0] * (g.mean(dim=0) - m.mean(dim=0)) ** 2
        eta2 = torch.where(total > 0, between / total.where(total > 0, torch.ones_like(total)), nan)
        out[attribute] = {"eta2": eta2, "chance": (k - 1) / (n - 1), "levels": k, "prompts": n}
    return out


def prompt_labels(model, prompts: Sequence[str]) -> dict[str, list]:
    """The prompts' attribute words, read by the model's world (``World.prompt_attributes``).

    Args:
        model: a massact model whose world has attributes.
        prompts: the prompts.
    Returns:
        attribute -> one word per prompt (None where the prompt does not name it), for every
        attribute of the world.
    Raises:
        ValueError when the model has no world, or a world without attributes.
    """
    world = world_of(model, "attributes to read prompts by: attribute shares need a model whose world "
                            "names attributes (e.g. the toy)")
    if not world.attributes:
        raise ValueError(f"the {world.name!r} world names no attributes, so prompts have no attribute words to "
                         "explain a channel by (attribute shares need a world with attributes, e.g. the toy's)")
    found = world.prompt_attributes(list(prompts))
    return {a: [f.get(a) for f in found] for a in world.attributes}


def median_channel(scores: torch.Tensor) -> int:
    """The channel at the median of one block's scores (``torch.median``: the lower middle value
    for an even width, the median that ``ChannelStats.ratio_table`` divides by).

    Args:
        scores: (channels,) one block's statistic, e.g. ``ChannelStats.score("absmean")[block]``.
    Returns:
        the channel's index.
    """
    if not isinstance(scores, torch.Tensor) or scores.dim() != 1 or scores.isnan().any():
        raise ValueError("scores must be one block's (channels,) statistic without NaN, e.g. "
                         "stats.score('absmean')[block]")
    return int(scores.median(dim=0).indices)


def stack_block(tensors: dict, block: int, num_prompts: int, num_seeds: int) -> torch.Tensor:
    """One block's kept tensors as (prompts, seeds, steps, tokens, channels).

    Args:
        tensors: ``Generation.tensors`` ((block, step) -> (rows, tokens, channels)) of a run whose
          rows are prompt-major: row = prompt * num_seeds + seed.
        block: the block.
        num_prompts, num_seeds: how the rows factor.
    Returns:
        a float32 tensor, steps in increasing order.
    """
    steps = sorted(s for b, s in tensors if b == block)
    if not steps:
        raise ValueError(f"no tensors kept for block {block}; kept: {sorted(tensors)}")
    x = torch.stack([tensors[(block, s)].float() for s in steps], dim=1)  # (rows, steps, tokens, channels)
    if x.shape[0] != num_prompts * num_seeds:
        raise ValueError(f"{x.shape[0]} rows do not factor as {num_prompts} prompts x {num_seeds} seeds")
    return x.reshape(num_prompts, num_seeds, *x.shape[1:])


def decompose(model, prompts: Sequence[str], seeds: Sequence[int], block: int, channels: Sequence[int],
              num_steps: int | None = None, attributes: bool = False) -> list[dict]:
    """Generate every prompt with every seed, keep one block's image stream at every step, and
    split the chosen channels' mean square into ``SOURCES``.

    Args:
        model: a massact model.
        prompts: at least 2 prompts; seeds: at least 2 seeds (each prompt is drawn with each).
        block: the block to read.
        channels: the channels to decompose (e.g. the block's top channels and a median one).
        num_steps: sampler steps (None: the model's default).
        attributes: also read each channel's per-prompt means against the prompts' attribute
          words (``attribute_shares``; the model's world must name attributes: ``prompt_labels``).
    Returns:
        one dict per channel: {"channel", "mean_square", "offset", "step", "prompt", "seed",
        "token", "interaction"} (shares of the mean square, summing to 1); with attributes also
        "attribute_shares" (attribute -> eta^2, None where the attribute does not vary over the
        prompts) and "attribute_chance" (attribute -> the eta^2 expected by chance).
    """
    prompts, seeds = list(prompts), [int(s) for s in seeds]
    if len(prompts) < 2 or len(seeds) < 2:
        raise ValueError("decompose needs at least 2 prompts and 2 seeds (a factor with one level has no variance)")
    check_int("block", block, 0, model.num_blocks - 1, what="a block number")
    channels = [check_int("channel", c, 0, model.width - 1, what="a channel number") for c in channels]
    labels = prompt_labels(model, prompts) if attributes else None
    num_steps = model.default_steps if num_steps is None else num_steps
    rows_p = [p for p in prompts for _ in seeds]
    rows_s = [s for _ in prompts for s in seeds]
    spec = CaptureSpec(blocks=(), keep=tuple((block, st) for st in range(num_steps)), stats=False)
    g = generate(model, rows_p, rows_s, num_steps=num_steps, capture=spec)
    x = stack_block(g.tensors, block, len(prompts), len(seeds))[..., channels]
    shares = variance_shares(x)
    ms = (x.double() ** 2).mean(dim=(0, 1, 2, 3))
    rows = [{"channel": c, "mean_square": float(ms[i]), **{k: float(shares[i, j]) for j, k in enumerate(SOURCES)}}
            for i, c in enumerate(channels)]
    if labels is not None:
        by_attribute = attribute_shares(x, labels)
        for i, row in enumerate(rows):
            row["attribute_shares"] = {a: None if v["eta2"][i].isnan() else float(v["eta2"][i])
                                       for a, v in by_attribute.items()}
            row["attribute_chance"] = {a: None if math.isnan(v["chance"]) else v["chance"]
                                       for a, v in by_attribute.items()}
    return rows


def decompose_top(model, prompts: Sequence[str], seeds: Sequence[int], block: int, scores: torch.Tensor,
                  top: int = 4, num_steps: int | None = None, attributes: bool = False) -> list[dict]:
    """``decompose`` the block's top channels by a score, beside its median channel.

    Args:
        model, prompts, seeds, block, num_steps, attributes: as for ``decompose``.
        scores: (channels,) the block's statistic that ranks its channels, e.g.
          ``stats.score("absmean")[block]`` (the massive set's statistic).
        top: how many top channels (1..width - 1).
    Returns:
        ``decompose``'s rows, the top channels first, each with "rank" (1 = the largest score),
        "ratio_to_median" (its score over the block's median score) and "median" (True for the
        last row: the median channel, ``median_channel``).
    """
    median = median_channel(scores)
    top = check_int("top", top, 1, scores.shape[0] - 1, what="how many top channels")
    order = scores.argsort(descending=True).tolist()
    channels = [c for c in order if c != median][:top] + [median]
    rows = decompose(model, prompts, seeds, block, channels, num_steps=num_steps, attributes=attributes)
    for row in rows:
        row.update(rank=order.index(row["channel"]) + 1, median=row["channel"] == median,
                   ratio_to_median=float(scores[row["channel"]] / scores[median]))
    return rows
