"""Notebook 03's exercise: the transport formula on tensors."""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from .common import Exercise, crashed, failed, not_written, passed, unanswered

EXERCISE = Exercise(
    "03_transferable", "check_transport",
    "Write the transport formula: `my_mix(x_target, x_source, channels, alpha, token_mask=None)` returns "
    "X_t (1 - alpha M) + X_s alpha M with M = p m^T (p: the token mask, all ones when None; m: the indicator of "
    "`channels`). Tensors are (tokens, channels).",
    "from massact.exercises import check_transport\n"
    "def my_mix(x_target, x_source, channels, alpha, token_mask=None):\n"
    "    ...  # return a new tensor shaped like x_target\n"
    "check_transport(my_mix)")


def reference_mix(x_target: torch.Tensor, x_source: torch.Tensor, channels: Sequence[int], alpha: float,
                  token_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The reference answer of ``check_transport``: what ``EditSpec('mix')`` does to one image.

    Args:
        x_target, x_source: (tokens, channels); channels: the moved channels; alpha: in [0, 1];
        token_mask: (tokens,) or None for every token.
    Returns:
        x_target (1 - alpha M) + x_source alpha M, M[token, channel] = mask[token] * (channel in channels).
    """
    m = torch.zeros(x_target.shape[-1], dtype=x_target.dtype)
    m[list(channels)] = 1
    p = torch.ones(x_target.shape[0], 1, dtype=x_target.dtype) if token_mask is None else \
        token_mask.to(x_target.dtype)[:, None]
    M = p * m
    return x_target * (1 - alpha * M) + x_source * (alpha * M)


def _cases():
    g = torch.Generator("cpu").manual_seed(0)
    T, D = 16, 12
    xt, xs = torch.randn(T, D, generator=g), torch.randn(T, D, generator=g) * 5
    mask = torch.rand(T, generator=g) > 0.5
    return [(xt, xs, [0, 3, 5], 1.0, None), (xt, xs, [1, 2], 0.25, None), (xt, xs, [4, 7, 11], 0.5, mask),
            (xt, xs, [2, 9], 1.0, mask), (xt, xs, [6], 0.0, None)]


def check_transport(your_mix: Callable) -> bool:
    """Compare ``your_mix(x_target, x_source, channels, alpha, token_mask=None)`` with the
    transport formula on random (tokens, channels) tensors.

    Args:
        your_mix: the learner's function.
    Returns:
        True when every case matches the formula and no input was changed in place.
    """
    if not callable(your_mix):
        return unanswered(EXERCISE) if not_written(your_mix) else failed(
            f"check_transport takes your function, not a {type(your_mix).__name__}", "check_transport(my_mix)")
    for i, (xt, xs, ch, a, tm) in enumerate(_cases()):
        xt0, xs0 = xt.clone(), xs.clone()
        try:
            out = your_mix(xt, xs, list(ch), a, tm) if tm is not None else your_mix(xt, xs, list(ch), a)
        except Exception as exc:
            return crashed("your mix", exc)
        if not_written(out):
            return unanswered(EXERCISE)
        if not torch.equal(xt, xt0) or not torch.equal(xs, xs0):
            return failed("your function changed its inputs in place", "work on a copy: x_target.clone()")
        if not isinstance(out, torch.Tensor):
            return failed(f"your function returned {type(out).__name__}, not a tensor",
                          "return a tensor shaped like x_target")
        if tuple(out.shape) != tuple(xt.shape):
            return failed(f"output shape {tuple(out.shape)}, expected {tuple(xt.shape)}",
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
        for v, hint in variants.values():
            if torch.allclose(out.to(v.dtype), v, atol=1e-5):
                return failed(f"{case}: your result matches a different formula", hint)
        err = float((out.to(ref.dtype) - ref).abs().max())
        return failed(f"{case}: max difference {err:.3g} from the reference",
                      "x_target * (1 - alpha * M) + x_source * alpha * M, "
                      "M[token, channel] = mask[token] * (channel in channels)")
    return passed("your mix matches the transport formula: alpha 0 keeps the target, alpha 1 replaces the chosen "
                  "channels inside the mask, nothing else moves")
