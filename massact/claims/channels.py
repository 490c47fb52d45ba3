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
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..checks import check_int
from ..generation import generate
from ..specs import CaptureSpec

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
              num_steps: int | None = None) -> list[dict]:
    """Generate every prompt with every seed, keep one block's image stream at every step, and
    split the chosen channels' mean square into ``SOURCES``.

    Args:
        model: a massact model.
        prompts: at least 2 prompts; seeds: at least 2 seeds (each prompt is drawn with each).
        block: the block to read.
        channels: the channels to decompose (e.g. the block's top channels and a median one).
        num_steps: sampler steps (None: the model's default).
    Returns:
        one dict per channel: {"channel", "mean_square", "offset", "step", "prompt", "seed",
        "token", "interaction"} (shares of the mean square, summing to 1).
    """
    prompts, seeds = list(prompts), [int(s) for s in seeds]
    if len(prompts) < 2 or len(seeds) < 2:
        raise ValueError("decompose needs at least 2 prompts and 2 seeds (a factor with one level has no variance)")
    check_int("block", block, 0, model.num_blocks - 1, what="a block number")
    channels = [check_int("channel", c, 0, model.width - 1, what="a channel number") for c in channels]
    num_steps = model.default_steps if num_steps is None else num_steps
    rows_p = [p for p in prompts for _ in seeds]
    rows_s = [s for _ in prompts for s in seeds]
    spec = CaptureSpec(blocks=(), keep=tuple((block, st) for st in range(num_steps)), stats=False)
    g = generate(model, rows_p, rows_s, num_steps=num_steps, capture=spec)
    x = stack_block(g.tensors, block, len(prompts), len(seeds))[..., channels]
    shares = variance_shares(x)
    ms = (x.double() ** 2).mean(dim=(0, 1, 2, 3))
    return [{"channel": c, "mean_square": float(ms[i]), **{k: float(shares[i, j]) for j, k in enumerate(SOURCES)}}
            for i, c in enumerate(channels)]
