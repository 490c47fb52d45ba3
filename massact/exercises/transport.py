"""Notebook 03's exercises: predict which attribute the top channels carry, and write the
transport formula on tensors."""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..claims.transport import TransportSpec, adoption_metric, sweep
from .common import (CannotMeasure, Exercise, Measured, PredictionCheck, calibration_score, check_prediction,
                     crashed, failed, not_written, passed, unanswered)

PREDICTION_EXERCISE = Exercise(
    "03_transferable", "predict_transported_attribute",
    "**Predict first.** Transport the **top-16** channels of every block from the source into the target (alpha 1, "
    "every step, no mask). Which attribute will the target take from the source most often: `\"position\"`, "
    "`\"size\"`, `\"shape\"`, `\"color\"` or `\"background\"`? Write your prediction, then run the cell: the "
    "checker transports caption pairs of the toy world (each differs in three attributes) and the judge reads, "
    "for every attribute, the share of the pairs differing in it whose output shows the source's value, with a "
    "95% interval over those pairs. The cells below measure top-4 against its controls, and top-16 among the "
    "other settings.",
    "from massact.exercises import predict_transported_attribute\n"
    "PREDICTION = ...  # one of model.world.attributes\n"
    "prediction = predict_transported_attribute(model, PREDICTION)",
    before="pairs = model.world.caption_pairs(5)",
    heading="### Predict, then measure")


def measure_transported_attribute(model, k: int = 16, n_pairs: int = 10, num_steps: int = 8) -> Measured:
    """Source adoption of each attribute under top-k transport; the outcome is the most adopted.

    Args:
        model: the live model (its metrics must read attributes: the toy's judge).
        k: channels per block; n_pairs: the world's caption pairs (seed i for pair i);
        num_steps: sampler steps.
    Returns:
        a ``Measured`` whose outcome is the attribute with the largest adoption (ties: the
        first in the world's order; the text names every tie).
    Raises:
        CannotMeasure when the model has no world or its metrics read no attribute.
    """
    world = getattr(model, "world", None)
    if world is None:
        raise CannotMeasure("model.world is None, so there are no caption pairs")
    if not model.metrics().attributes:
        raise CannotMeasure(f"{getattr(model, 'name', 'this model')}'s metrics read no attribute (only the toy's "
                            "judge does)")
    pairs = world.caption_pairs(n_pairs)
    sw = sweep(model, [p.source for p in pairs], [p.target for p in pairs], list(range(n_pairs)),
               [TransportSpec("top", k)], calibration_score(model, num_steps, 4), num_steps=num_steps)
    adoption = {}
    for a in world.attributes:
        try:
            adoption[a] = sw.estimate(adoption_metric(a), arm="top")
        except ValueError:  # no pair differs in this attribute
            continue
    if not adoption:
        raise CannotMeasure(f"none of the {n_pairs} pairs differs in an attribute the judge reads")
    best = max(e.mean for e in adoption.values())
    tops = [a for a, e in adoption.items() if e.mean == best]
    text = (f"source adoption with the top-{k} channels, {n_pairs} pairs: "
            + ", ".join(f"{a} {e:.2f} (n={e.n})" for a, e in adoption.items())
            + (f"; tied first: {', '.join(tops)}" if len(tops) > 1 else ""))
    names = " and ".join(tops)
    why = (f"on this model the top-{k} channels carry {names} more than the other attributes: moving them from the "
           f"source replaces the target's {names} most often. An attribute whose adoption stays near 0 is carried "
           "elsewhere (the other channels, or the prompt through attention), and stays with the target.")
    return Measured(tops[0], text, why, also=tuple(tops[1:]))


def predict_transported_attribute(model, prediction, k: int = 16, n_pairs: int = 10,
                                  num_steps: int = 8) -> PredictionCheck | None:
    """Check a prediction: which attribute does top-k transport carry from the source most often?

    Args:
        model: the notebook's model.
        prediction: one of ``model.world.attributes`` (``...`` while unanswered).
        k, n_pairs, num_steps: the measurement (``measure_transported_attribute``).
    Returns:
        a ``PredictionCheck``, or None while unanswered.
    Raises:
        ValueError naming the options when ``prediction`` is not one of them.
    """
    options = tuple(getattr(getattr(model, "world", None), "attributes", ()))
    return check_prediction(PREDICTION_EXERCISE, prediction, options,
                            lambda: measure_transported_attribute(model, k, n_pairs, num_steps))

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
